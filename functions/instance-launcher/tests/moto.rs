//! instance-launcher against moto: a launch template holding a moto AMI, the tags on the
//! instance and its volume, a double submit, the per-owner quota, the shared secret read from
//! an SSM SecureString, and requests refused before anything is launched.
//!
//! moto ignores RunInstances' ClientToken (real EC2 honours it), so the double-submit test
//! proves the function's own check (the launch-token tag) on its own.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use aws_sdk_ssm::types::ParameterType;
use fleetkeeper::http::SecretSource;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::ec2::{any_image, instance_state, instance_tag};
use fleetkeeper_tests::fault::{Fault, Rule};
use fleetkeeper_tests::{FaultProxy, Moto};
use instance_launcher::config::Config;
use instance_launcher::handler::run;
use instance_launcher::ports::App;
use instance_launcher::ports::Ec2;
use jiff::Timestamp;
use serde_json::Value;

const SECRET: &str = "correct horse battery staple";
const QUOTA_BUCKET: &str = "fleetkeeper-launch-claims";

struct World {
    moto: Moto,
    proxy: FaultProxy,
    ec2: aws_sdk_ec2::Client,
    template_id: String,
}

async fn world() -> World {
    // Launches at once race for the quota's conditional writes: moto must answer each
    // without preemption mid-request, as S3 does atomically (see Moto::start_unpreempted).
    let moto = Moto::start_unpreempted();
    let proxy = FaultProxy::start(&moto.endpoint());
    let aws = Moto::aws(&moto.env(&[])).await;
    let ec2 = aws.client("EC2", aws_sdk_ec2::Client::new);
    let data = RequestLaunchTemplateData::builder()
        .image_id(any_image(&ec2).await)
        .instance_type(InstanceType::T3Micro)
        .build();
    let lt = ec2
        .create_launch_template()
        .launch_template_name("dev-box")
        .launch_template_data(data)
        .send()
        .await
        .unwrap();
    let template_id = lt
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_owned();
    aws.client("SSM", aws_sdk_ssm::Client::new)
        .put_parameter()
        .name("/fleetkeeper/launcher-secret")
        .value(SECRET)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    aws.client("S3", aws_sdk_s3::Client::new)
        .create_bucket()
        .bucket(QUOTA_BUCKET)
        .send()
        .await
        .unwrap();
    World {
        moto,
        proxy,
        ec2,
        template_id,
    }
}

impl World {
    /// The function as main.rs wires it, through the counting proxy.
    async fn launcher(&self, settings: &[(&str, &str)]) -> (App, Config) {
        let mut pairs = vec![
            ("ALLOWED_SIZES", "small=t3.micro,medium=t3.small"),
            ("LAUNCH_TEMPLATE", self.template_id.as_str()),
            ("MAX_PER_OWNER", "2"),
            ("QUOTA_BUCKET", QUOTA_BUCKET),
        ];
        pairs.extend_from_slice(settings);
        let env = Moto::env_for(&self.proxy.endpoint(), &pairs);
        let config = Config::from_env(&env).unwrap();
        let aws = Moto::aws(&env).await;
        let ssm = aws.client("SSM", aws_sdk_ssm::Client::new);
        let secret = SecretSource::for_mode(&config.auth, ssm);
        // The seal key, as the template creates it (once per moto).
        fleetkeeper_tests::seal::create_key(&env).await;
        let app = App {
            ec2: Ec2 {
                client: aws.client("EC2", aws_sdk_ec2::Client::new),
            },
            secret,
            region: "us-east-1".into(),
            keys: fleetkeeper::seal::Keys::Secret(fleetkeeper::seal::SecretKeys::new(
                aws.client("SECRETS_MANAGER", aws_sdk_secretsmanager::Client::new),
                &config.seal_secret,
            )),
            claims: instance_launcher::ports::S3Claims {
                client: aws.client("S3", aws_sdk_s3::Client::new),
                bucket: config.quota_bucket.clone(),
            },
        };
        (app, config)
    }

    async fn live_instances(&self) -> Vec<String> {
        let out = self.ec2.describe_instances().send().await.unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect()
    }
}

async fn send(app: &App, config: &Config, event: Value) -> LambdaFunctionUrlResponse {
    let mut metrics = Metrics::for_function("instance-launcher");
    run(app, config, event, Timestamp::now(), &mut metrics)
        .await
        .unwrap()
}

fn event(name: &str) -> Value {
    fleetkeeper_tests::event("instance-launcher", name)
}

fn body_json(r: &LambdaFunctionUrlResponse) -> Value {
    serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn launches_from_the_template_with_tags_on_instance_and_volume() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let r = send(&app, &config, event("post-form")).await;
    assert_eq!(r.status_code, 201, "{:?}", r.body);
    let html = r.body.unwrap();
    let ids = w.live_instances().await;
    assert_eq!(ids.len(), 1);
    let id = &ids[0];
    assert!(
        html.contains(&format!("<dd data-field=\"instance\">{id}</dd>")),
        "{html}"
    );
    assert!(html.contains("InstanceDetails:instanceId="));

    let described = w
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let instance = &described.reservations()[0].instances()[0];
    assert_eq!(instance.instance_type().unwrap().as_str(), "t3.micro");
    for (key, want) in [
        ("Name", Some("build-box")),
        ("fleetkeeper:owner", Some("jane@example.com")),
        ("fleetkeeper:purpose", Some("try the new compiler")),
        ("fleetkeeper:schedule", Some("office-hours")),
        (
            "fleetkeeper:launched-by",
            Some("arn:aws:iam::123456789012:user/jane"),
        ),
    ] {
        assert_eq!(
            instance_tag(&w.ec2, id, key).await.as_deref(),
            want,
            "{key}"
        );
    }
    let expires: Timestamp = instance_tag(&w.ec2, id, "fleetkeeper:expires-at")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let hours = (expires - Timestamp::now()).get_seconds() as f64 / 3600.0;
    assert!((3.9..=4.0).contains(&hours), "expires in {hours} h");
    // The root volume carries the same tags.
    let vols = w
        .ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vol = &vols.volumes()[0];
    let vol_tag = |k: &str| {
        vol.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
    };
    assert_eq!(vol_tag("fleetkeeper:owner"), Some("jane@example.com"));
    assert_eq!(vol_tag("Name"), Some("build-box"));

    // JSON from a script: medium, opted out of the nightly stop.
    let r = send(&app, &config, event("post-json")).await;
    assert_eq!(r.status_code, 201, "{:?}", r.body);
    let body = body_json(&r);
    let id = body["instance_id"].as_str().unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["done"][0]["target"], id);
    assert_eq!(body["instance_type"], "t3.micro");
    assert_eq!(instance_tag(&w.ec2, id, "fleetkeeper:schedule").await, None);
    assert_eq!(body["tags"]["fleetkeeper:owner"], "ops@example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_double_submit_launches_one_instance() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let first = send(&app, &config, event("post-form")).await;
    let second = send(&app, &config, event("post-form")).await;
    assert_eq!((first.status_code, second.status_code), (201, 200));
    assert!(second.body.unwrap().contains("already submitted"));
    assert_eq!(w.live_instances().await.len(), 1);
    assert_eq!(w.proxy.count("ec2:RunInstances"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_may_post_only_from_the_forms_own_origin() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let host = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
    let with = |headers: &[(&str, &str)], nonce: &str| {
        let mut e = event("post-form");
        for (k, v) in headers {
            e["headers"][*k] = (*v).into();
        }
        e["body"] = e["body"]
            .as_str()
            .unwrap()
            .replace("nonce=", &format!("nonce={nonce}-"))
            .into();
        e
    };
    // Another function URL is the same site (on.aws), a page elsewhere another site, and a
    // page with no Sec-Fetch-Site still names its origin: all refused, nothing launched.
    for (n, headers) in [
        vec![("sec-fetch-site", "same-site")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "https://evil.lambda-url.us-east-1.on.aws")],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example"),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let r = send(&app, &config, with(&headers, &format!("csrf-{n}"))).await;
        assert_eq!(r.status_code, 403, "{headers:?}");
        assert!(r.body.unwrap().contains("refused"));
    }
    assert!(w.live_instances().await.is_empty());
    assert_eq!(w.proxy.count("ec2:RunInstances"), 0);
    // The form's own page launches.
    let own = [
        ("sec-fetch-site", "same-origin"),
        ("origin", &*format!("https://{host}")),
    ];
    assert_eq!(
        send(&app, &config, with(&own, "own")).await.status_code,
        201
    );
    // Behind a proxy, PUBLIC_URL's origin is the form's own, and only it.
    let (app, config) = w
        .launcher(&[("PUBLIC_URL", "https://launch.example.com/")])
        .await;
    let proxied = [("origin", "https://launch.example.com")];
    assert_eq!(
        send(&app, &config, with(&proxied, "proxied"))
            .await
            .status_code,
        201
    );
    let direct = [("origin", &*format!("https://{host}"))];
    assert_eq!(
        send(&app, &config, with(&direct, "direct"))
            .await
            .status_code,
        403
    );
    assert_eq!(w.live_instances().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_quota_holds() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    for n in 0..3 {
        let mut e = event("post-json");
        let mut body = serde_json::from_str::<Value>(e["body"].as_str().unwrap()).unwrap();
        body["nonce"] = format!("quota-{n}").into();
        e["body"] = body.to_string().into();
        let r = send(&app, &config, e).await;
        let want = if n < 2 { 201 } else { 409 };
        assert_eq!(r.status_code, want, "submit {n}: {:?}", r.body);
        if n == 2 {
            assert!(
                body_json(&r)["error"]
                    .as_str()
                    .unwrap()
                    .contains("MAX_PER_OWNER=2")
            );
            assert_eq!(body_json(&r)["status"], "refused");
        }
    }
    assert_eq!(w.live_instances().await.len(), 2);
    // The quota is the signed-in caller's: typing another owner on the form does not escape it.
    let r = send(&app, &config, event("post-form")).await;
    assert_eq!(r.status_code, 409, "{:?}", r.body);
    // Stopped instances count too: stopping one frees nothing.
    let jane: Vec<String> = w.live_instances().await;
    w.ec2
        .stop_instances()
        .instance_ids(&jane[0])
        .send()
        .await
        .unwrap();
    let mut again = event("post-form");
    again["body"] = again["body"]
        .as_str()
        .unwrap()
        .replace("nonce=", "nonce=after-stop-")
        .into();
    assert_eq!(send(&app, &config, again).await.status_code, 409);
    // Another caller is not held back by Jane's instances.
    let mut bob = event("post-form");
    bob["requestContext"]["authorizer"]["iam"]["userArn"] = BOB.into();
    assert_eq!(send(&app, &config, bob).await.status_code, 201);
}

/// A launch request from `caller` with its own nonce.
fn launch_by(caller: &str, nonce: &str) -> Value {
    let mut e = event("post-json");
    let mut body = serde_json::from_str::<Value>(e["body"].as_str().unwrap()).unwrap();
    body["nonce"] = nonce.into();
    e["body"] = body.to_string().into();
    e["requestContext"]["authorizer"]["iam"]["userArn"] = caller.into();
    e["requestContext"]["requestId"] = format!("req-{nonce}").into();
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_launches_at_once_hold_the_quota() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let app = std::sync::Arc::new(app);
    let config = std::sync::Arc::new(config);
    // Ten at once from one caller (MAX_PER_OWNER=2): counting and then launching would let
    // them all count nothing and all launch.
    let sent: Vec<_> = (0..10)
        .map(|n| {
            let (app, config) = (app.clone(), config.clone());
            tokio::spawn(async move {
                send(&app, &config, launch_by(JANE, &format!("burst-{n}"))).await
            })
        })
        .collect();
    let mut codes = Vec::new();
    for s in sent {
        codes.push(s.await.unwrap().status_code);
    }
    codes.sort();
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 2, "{codes:?}");
    assert!(codes.iter().all(|c| [201, 409].contains(c)), "{codes:?}");
    assert_eq!(w.live_instances().await.len(), 2);
    assert_eq!(w.proxy.count("ec2:RunInstances"), 2);
    // The book holds no claim that outlives its launch: terminating one frees a place.
    let jane = w.live_instances().await;
    w.ec2
        .terminate_instances()
        .instance_ids(&jane[0])
        .send()
        .await
        .unwrap();
    assert_eq!(
        send(&app, &config, launch_by(JANE, "after"))
            .await
            .status_code,
        201
    );
    assert_eq!(
        send(&app, &config, launch_by(JANE, "over"))
            .await
            .status_code,
        409
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_launch_gives_its_place_back() {
    let w = world().await;
    let (app, config) = w.launcher(&[("MAX_PER_OWNER", "1")]).await;
    // EC2 refuses the first launch (moto cannot be made to; the fault proxy answers for it).
    w.proxy.add(
        Rule::new(Fault::Status(400))
            .on("ec2:RunInstances")
            .first(1),
    );
    assert_eq!(
        send(&app, &config, launch_by(JANE, "refused"))
            .await
            .status_code,
        502
    );
    assert!(w.live_instances().await.is_empty());
    // Its claim was given back: the only place is free.
    assert_eq!(
        send(&app, &config, launch_by(JANE, "next"))
            .await
            .status_code,
        201
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_nonce_shows_nobody_elses_instance() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let jane = send(&app, &config, launch_by(JANE, "seen-in-a-log")).await;
    assert_eq!(jane.status_code, 201);
    let jane_box = body_json(&jane)["instance_id"].as_str().unwrap().to_owned();
    // Bob sends Jane's nonce: his own launch, not an answer naming Jane's instance.
    let bob = send(&app, &config, launch_by(BOB, "seen-in-a-log")).await;
    assert_eq!(bob.status_code, 201, "{:?}", bob.body);
    let body = bob.body.unwrap();
    assert!(!body.contains(&jane_box), "{body}");
    // Jane's own repeat still finds her first launch.
    let again = send(&app, &config, launch_by(JANE, "seen-in-a-log")).await;
    assert_eq!(again.status_code, 200);
    assert!(again.body.unwrap().contains(&jane_box));
    assert_eq!(w.live_instances().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_name_takes_nobodys_instances() {
    let w = world().await;
    let (app, config) = w
        .launcher(&[
            ("SESSION_ROLES", "AWSReservedSSO_*"),
            ("MAX_PER_OWNER", "3"),
        ])
        .await;
    let jane_box = {
        let r = send(&app, &config, launch_by(JANE, "jane-1")).await;
        body_json(&r)["instance_id"].as_str().unwrap().to_owned()
    };
    // Anyone who may assume "developer" can name the session "jane": they are the role,
    // and the role has nothing of Jane's to list, extend or terminate.
    let spoof = "arn:aws:sts::123456789012:assumed-role/developer/jane";
    let r = send(&app, &config, mine_event("GET", "", None, Some(spoof))).await;
    assert_eq!(r.status_code, 200);
    assert!(!r.body.as_deref().unwrap().contains(&jane_box));
    let terminate =
        serde_json::json!({"instance_id": jane_box, "action": "terminate", "confirm": true});
    let r = send(
        &app,
        &config,
        mine_event("POST", "", Some(terminate), Some(spoof)),
    )
    .await;
    assert!(r.status_code >= 400, "{:?}", r.body);
    assert_eq!(instance_state(&w.ec2, &jane_box).await, "running");
    // What the role launches is the role's, whatever each session is called.
    let r = send(&app, &config, launch_by(spoof, "role-1")).await;
    assert_eq!(
        body_json(&r)["tags"]["fleetkeeper:launched-by"],
        "arn:aws:iam::123456789012:role/developer"
    );
    let other = "arn:aws:sts::123456789012:assumed-role/developer/bob";
    let r = send(&app, &config, mine_event("GET", "", None, Some(other))).await;
    assert_eq!(
        body_json(&r)["instances"].as_array().unwrap().len(),
        1,
        "{:?}",
        r.body
    );
    // An identity provider's role (SESSION_ROLES) keeps its people apart.
    let sso =
        |who: &str| format!("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0a1b/{who}");
    assert_eq!(
        send(&app, &config, launch_by(&sso("ann"), "ann-1"))
            .await
            .status_code,
        201
    );
    let r = send(
        &app,
        &config,
        mine_event("GET", "", None, Some(&sso("ben"))),
    )
    .await;
    assert_eq!(
        body_json(&r)["instances"].as_array().unwrap().len(),
        0,
        "{:?}",
        r.body
    );
    // A federated user names itself: refused, nothing launched.
    let before = w.live_instances().await.len();
    let r = send(
        &app,
        &config,
        launch_by("arn:aws:sts::123456789012:federated-user/jane", "fed-1"),
    )
    .await;
    assert_eq!(r.status_code, 403);
    assert!(r.body.unwrap().contains("GetFederationToken"));
    assert_eq!(w.live_instances().await.len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_secret_from_ssm() {
    let w = world().await;
    let (app, config) = w
        .launcher(&[("SECRET_PARAMETER", "/fleetkeeper/launcher-secret")])
        .await;
    let with = |secret: Option<&str>| {
        let mut e = event("post-form");
        e["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        if let Some(s) = secret {
            e["headers"]["x-fleetkeeper-secret"] = s.into();
        }
        e
    };
    assert_eq!(send(&app, &config, with(None)).await.status_code, 401);
    assert_eq!(
        send(&app, &config, with(Some("wrong"))).await.status_code,
        403
    );
    assert_eq!(send(&app, &config, with(Some(""))).await.status_code, 403);
    assert!(w.live_instances().await.is_empty());
    let r = send(&app, &config, with(Some(SECRET))).await;
    assert_eq!(r.status_code, 201, "{:?}", r.body);
    // The secret was read once and cached, and never appears in a response.
    assert_eq!(w.proxy.count("ssm:GetParameter"), 1);
    assert!(!r.body.unwrap().contains(SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_launch_nothing() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;

    // IAM mode with no caller (a URL switched to AuthType NONE): refused.
    let mut anonymous = event("get-form");
    anonymous["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    assert_eq!(send(&app, &config, anonymous).await.status_code, 401);

    let get = send(&app, &config, event("get-form")).await;
    assert_eq!(get.status_code, 200);
    assert!(
        get.body
            .unwrap()
            .contains("name=\"nonce\" value=\"c8ef6f2d-6b7e-4c1f-9a3b-8c7d6e5f4a3b\"")
    );

    let invalid = send(&app, &config, event("post-invalid")).await;
    assert_eq!(invalid.status_code, 400);
    let html = invalid.body.unwrap();
    for field in ["size", "name", "owner", "purpose", "hours"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\"")),
            "{field}: {html}"
        );
    }
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let delete = send(&app, &config, event("delete")).await;
    assert_eq!(delete.status_code, 405);
    assert_eq!(delete.headers["allow"], "GET, HEAD, POST");

    let mut xml = event("post-form");
    xml["headers"]["content-type"] = "text/xml".into();
    assert_eq!(send(&app, &config, xml).await.status_code, 415);

    let mut big = event("post-form");
    big["body"] = format!(
        "{}&pad={}",
        big["body"].as_str().unwrap(),
        "x".repeat(20_000)
    )
    .into();
    assert_eq!(send(&app, &config, big).await.status_code, 413);

    let mut other_path = event("get-form");
    other_path["rawPath"] = "/admin".into();
    assert_eq!(send(&app, &config, other_path).await.status_code, 404);

    let mut metrics = Metrics::for_function("instance-launcher");
    let err = run(
        &app,
        &config,
        event("bad-input"),
        Timestamp::now(),
        &mut metrics,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("function URL request"), "{err}");

    assert!(w.live_instances().await.is_empty());
    assert_eq!(w.proxy.count("ec2:RunInstances"), 0);
    drop(w.moto);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_asks_ec2_and_launches_nothing() {
    let w = world().await;
    let (app, config) = w.launcher(&[("DRY_RUN", "true")]).await;
    let r = send(&app, &config, event("post-json")).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    let body = body_json(&r);
    assert_eq!(body["mode"], "dry-run");
    assert_eq!(body["status"], "dry-run");
    assert_eq!(body["counts"]["planned"], 1);
    assert_eq!(body["instance_id"], Value::Null);
    assert_eq!(w.proxy.count("ec2:RunInstances"), 1);
    assert!(w.live_instances().await.is_empty());
}

/// A request to `/mine` from a script signed in as `caller` (None: shared-secret mode).
fn mine_event(method: &str, query: &str, body: Option<Value>, caller: Option<&str>) -> Value {
    let mut e = event("post-json");
    e["rawPath"] = "/mine".into();
    e["rawQueryString"] = query.into();
    e["requestContext"]["http"]["method"] = method.into();
    e["requestContext"]["http"]["path"] = "/mine".into();
    e["requestContext"]["requestId"] = format!("mine-{}", rand_suffix()).into();
    e["body"] = body.map_or(Value::Null, |b| b.to_string().into());
    match caller {
        Some(arn) => e["requestContext"]["authorizer"]["iam"]["userArn"] = arn.into(),
        None => {
            e["requestContext"]
                .as_object_mut()
                .unwrap()
                .remove("authorizer");
            e["headers"]["x-fleetkeeper-secret"] = SECRET.into();
        }
    }
    e
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

const JANE: &str = "arn:aws:iam::123456789012:user/jane";
const BOB: &str = "arn:aws:iam::123456789012:user/bob";

#[tokio::test(flavor = "multi_thread")]
async fn your_instances_extend_stop_and_terminate_only_your_own() {
    let w = world().await;
    let (app, config) = w.launcher(&[("MAX_EXTENSIONS", "2")]).await;
    // Jane's instance (the script event is signed by jane) and one of Bob's.
    let r = send(&app, &config, event("post-json")).await;
    let jane_box = body_json(&r)["instance_id"].as_str().unwrap().to_owned();
    let mut e = event("post-form");
    e["requestContext"]["authorizer"]["iam"]["userArn"] = BOB.into();
    assert_eq!(send(&app, &config, e).await.status_code, 201);
    let bob_box = w
        .live_instances()
        .await
        .into_iter()
        .find(|i| *i != jane_box)
        .unwrap();

    // The list: only Jane's.
    let r = send(&app, &config, mine_event("GET", "", None, Some(JANE))).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    let list = body_json(&r)["instances"].clone();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["instance_id"], jane_box.as_str());
    assert_eq!(list[0]["extensions_left"], 2);

    // lease-keeper had warned her: an extension starts the lease again.
    w.ec2
        .create_tags()
        .resources(&jane_box)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("fleetkeeper:warned-for")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let extend = |hours: Value, id: &str| {
        mine_event(
            "POST",
            "",
            Some(serde_json::json!({"instance_id": id, "action": "extend", "hours": hours})),
            Some(JANE),
        )
    };
    let before = Timestamp::now();
    let r = send(&app, &config, extend(10.into(), &jane_box)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    let body = body_json(&r);
    assert_eq!(
        (body["status"].as_str(), body["extensions"].as_u64()),
        (Some("ok"), Some(1))
    );
    let expires: Timestamp = instance_tag(&w.ec2, &jane_box, "fleetkeeper:expires-at")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let hours = (expires - before).get_seconds() as f64 / 3600.0;
    assert!((9.9..=10.1).contains(&hours), "expires in {hours} h");
    assert_eq!(body["expires_at"], expires.to_string());
    assert_eq!(
        instance_tag(&w.ec2, &jane_box, "fleetkeeper:warned-for").await,
        None
    );
    assert_eq!(
        instance_tag(&w.ec2, &jane_box, "fleetkeeper:extensions")
            .await
            .as_deref(),
        Some("1")
    );

    // Beyond MAX_HOURS: 400 naming the field, nothing changed.
    let r = send(&app, &config, extend(73.into(), &jane_box)).await;
    assert_eq!(r.status_code, 400);
    assert!(
        body_json(&r)["fields"]["hours"]
            .as_str()
            .unwrap()
            .contains("MAX_HOURS")
    );
    let after: Timestamp = instance_tag(&w.ec2, &jane_box, "fleetkeeper:expires-at")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(after, expires);

    // Expired and stopped by lease-keeper: the second (last) extension starts it again.
    w.ec2
        .stop_instances()
        .instance_ids(&jane_box)
        .send()
        .await
        .unwrap();
    w.ec2
        .create_tags()
        .resources(&jane_box)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("fleetkeeper:expired-at")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // lease-keeper seals the lease again when it marks the expiry.
    let ring = fleetkeeper_tests::seal::create_key(&w.moto.env(&[])).await;
    fleetkeeper_tests::seal::seal_lease(&w.ec2, &ring, &jane_box).await;
    let r = send(&app, &config, extend(2.into(), &jane_box)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(instance_state(&w.ec2, &jane_box).await, "running");
    assert_eq!(
        instance_tag(&w.ec2, &jane_box, "fleetkeeper:expired-at").await,
        None
    );
    let r = send(&app, &config, extend(2.into(), &jane_box)).await;
    assert_eq!(r.status_code, 400);
    assert!(
        body_json(&r)["fields"]["action"]
            .as_str()
            .unwrap()
            .contains("MAX_EXTENSIONS=2")
    );

    // Bob's instance is not hers: 404, and it keeps running.
    let stop = |id: &str, who: &str| {
        mine_event(
            "POST",
            "",
            Some(serde_json::json!({"instance_id": id, "action": "stop"})),
            Some(who),
        )
    };
    assert_eq!(
        send(&app, &config, stop(&bob_box, JANE)).await.status_code,
        404
    );
    assert_eq!(
        send(&app, &config, stop("i-0123456789abcdef0", JANE))
            .await
            .status_code,
        404
    );
    assert_eq!(instance_state(&w.ec2, &bob_box).await, "running");

    // Stop, then a second stop changes nothing.
    let r = send(&app, &config, stop(&jane_box, JANE)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(instance_state(&w.ec2, &jane_box).await, "stopped");
    let r = send(&app, &config, stop(&jane_box, JANE)).await;
    assert_eq!(
        (r.status_code, body_json(&r)["repeated"].as_bool()),
        (200, Some(true))
    );

    // Terminate needs confirm; then a repeat is answered with the first result.
    let terminate = |confirm: Option<bool>| {
        let mut b = serde_json::json!({"instance_id": jane_box, "action": "terminate"});
        if let Some(c) = confirm {
            b["confirm"] = c.into();
        }
        mine_event("POST", "", Some(b), Some(JANE))
    };
    let r = send(&app, &config, terminate(None)).await;
    assert_eq!(r.status_code, 400);
    assert!(
        body_json(&r)["fields"]["confirm"]
            .as_str()
            .unwrap()
            .contains("vol-"),
        "{:?}",
        r.body
    );
    assert_eq!(instance_state(&w.ec2, &jane_box).await, "stopped");
    let first = body_json(&send(&app, &config, terminate(Some(true))).await);
    assert_eq!(first["status"], "ok", "{first}");
    assert!(matches!(
        instance_state(&w.ec2, &jane_box).await.as_str(),
        "shutting-down" | "terminated"
    ));
    let r = send(&app, &config, terminate(Some(true))).await;
    let again = body_json(&r);
    assert_eq!(
        (r.status_code, again["repeated"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(again["terminated_at"], first["terminated_at"]);
    assert_eq!(w.proxy.count("ec2:TerminateInstances"), 1);
    assert_eq!(instance_state(&w.ec2, &bob_box).await, "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn your_instances_by_owner_e_mail_behind_the_shared_secret_and_in_a_dry_run() {
    let w = world().await;
    let (app, config) = w
        .launcher(&[("SECRET_PARAMETER", "/fleetkeeper/launcher-secret")])
        .await;
    let mut e = mine_event("POST", "", None, None);
    e["rawPath"] = "/".into();
    e["requestContext"]["http"]["path"] = "/".into();
    e["body"] = event("post-json")["body"].clone();
    let r = send(&app, &config, e).await;
    assert_eq!(r.status_code, 201, "{:?}", r.body);
    let id = body_json(&r)["instance_id"].as_str().unwrap().to_owned();

    let r = send(
        &app,
        &config,
        mine_event("GET", "owner=Ops%40example.com", None, None),
    )
    .await;
    assert_eq!(body_json(&r)["instances"][0]["instance_id"], id.as_str());
    let r = send(
        &app,
        &config,
        mine_event("GET", "owner=nobody%40example.com", None, None),
    )
    .await;
    assert_eq!(body_json(&r)["instances"], serde_json::json!([]));
    // No owner, or a bad one: 400 naming it (JSON); the page asks for one (HTML).
    let r = send(
        &app,
        &config,
        mine_event("GET", "owner=%3Cx%3E", None, None),
    )
    .await;
    assert_eq!(r.status_code, 400);
    assert!(body_json(&r)["fields"]["owner"].is_string());
    let mut e = mine_event("GET", "", None, None);
    e["headers"]["accept"] = "text/html".into();
    e["headers"].as_object_mut().unwrap().remove("content-type");
    let r = send(&app, &config, e).await;
    assert_eq!(r.status_code, 200);
    assert!(r.body.unwrap().contains("Show instances"));
    // Someone else's e-mail cannot stop it.
    let stop = |owner: &str| {
        mine_event(
            "POST",
            "",
            Some(serde_json::json!({"instance_id": id, "action": "stop", "owner": owner})),
            None,
        )
    };
    assert_eq!(
        send(&app, &config, stop("bob@example.com"))
            .await
            .status_code,
        404
    );
    assert_eq!(instance_state(&w.ec2, &id).await, "running");

    // A dry run answers what it would do and changes nothing.
    let (dry, dry_config) = w
        .launcher(&[
            ("SECRET_PARAMETER", "/fleetkeeper/launcher-secret"),
            ("DRY_RUN", "true"),
        ])
        .await;
    let r = send(&dry, &dry_config, stop("ops@example.com")).await;
    let body = body_json(&r);
    assert_eq!(
        (r.status_code, body["status"].as_str()),
        (200, Some("dry-run")),
        "{body}"
    );
    assert_eq!(instance_state(&w.ec2, &id).await, "running");
    assert_eq!(w.proxy.count("ec2:StopInstances"), 0);
    // Live, it stops.
    let r = send(&app, &config, stop("ops@example.com")).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(instance_state(&w.ec2, &id).await, "stopped");
}

/// Every tag of Jane's genuine instance, its seal included, copied onto an instance someone
/// else launched by hand: "your instances" neither lists it nor acts on it; Jane's own is
/// listed and stopped as before (the control that proves the test can fail).
#[tokio::test(flavor = "multi_thread")]
async fn copied_tags_make_no_instance_yours() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let r = send(&app, &config, event("post-json")).await;
    let jane_box = body_json(&r)["instance_id"].as_str().unwrap().to_owned();
    assert!(
        instance_tag(&w.ec2, &jane_box, "fleetkeeper:seal")
            .await
            .is_some(),
        "what it launches, it seals"
    );
    let foreign = fleetkeeper_tests::ec2::launch(&w.ec2, 1, &[("Name", "payments-db")])
        .await
        .remove(0);
    fleetkeeper_tests::seal::copy_every_instance_tag(&w.ec2, &jane_box, &foreign).await;

    let r = send(&app, &config, mine_event("GET", "", None, Some(JANE))).await;
    let list = body_json(&r)["instances"].clone();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [jane_box.as_str()], "{list}");
    let stop = |id: &str| {
        mine_event(
            "POST",
            "",
            Some(serde_json::json!({"instance_id": id, "action": "stop"})),
            Some(JANE),
        )
    };
    assert_eq!(send(&app, &config, stop(&foreign)).await.status_code, 404);
    assert_eq!(instance_state(&w.ec2, &foreign).await, "running");
    assert_eq!(send(&app, &config, stop(&jane_box)).await.status_code, 200);
    assert!(matches!(
        instance_state(&w.ec2, &jane_box).await.as_str(),
        "stopping" | "stopped"
    ));
}

/// The shared secret: one shorter than 16 characters stops the cold start, naming the
/// parameter; after a rotation the previous value still works for SECRET_OVERLAP, then not.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_secret_stops_the_cold_start_and_a_rotation_overlaps() {
    use fleetkeeper::http::{AuthMode, SecretSource};
    let moto = Moto::start();
    let aws = Moto::aws(&moto.env(&[])).await;
    let ssm = aws.client("SSM", aws_sdk_ssm::Client::new);
    let put = |value: &str| {
        ssm.put_parameter()
            .name("/test/secret")
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
    };
    put("hunter2").await.unwrap();
    let mode = |overlap: &str| {
        AuthMode::from_env(&moto.env(&[
            ("SECRET_PARAMETER", "/test/secret"),
            ("SECRET_OVERLAP", overlap),
        ]))
        .unwrap()
    };
    let short = SecretSource::for_mode(&mode("600"), ssm.clone()).unwrap();
    let e = short.check().await.unwrap_err().to_string();
    assert!(
        e.contains("/test/secret") && e.contains("fewer than 16"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "the value is never shown: {e}");

    let old = "the old secret, long enough";
    let new = "the new secret, long enough too";
    put(old).await.unwrap();
    // Read again at every use (ttl 0), as after five minutes.
    let source = |overlap: &str| SecretSource::for_mode(&mode(overlap), ssm.clone()).unwrap();
    for (overlap, old_still_works) in [("600", true), ("0", false)] {
        put(old).await.unwrap();
        let s = source(overlap).with_ttl(std::time::Duration::ZERO);
        s.check().await.unwrap();
        assert!(s.accepts(old).await.unwrap());
        put(new).await.unwrap();
        assert!(s.accepts(new).await.unwrap(), "the new one at once");
        assert_eq!(
            s.accepts(old).await.unwrap(),
            old_still_works,
            "SECRET_OVERLAP={overlap}"
        );
        assert!(!s.accepts("neither of them, but long").await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_elsewhere_cannot_act_on_your_instances() {
    let w = world().await;
    let (app, config) = w.launcher(&[]).await;
    let r = send(&app, &config, launch_by(JANE, "csrf-mine")).await;
    let id = body_json(&r)["instance_id"].as_str().unwrap().to_owned();
    let expires = instance_tag(&w.ec2, &id, "fleetkeeper:expires-at").await;
    // Extend, stop and terminate posted from another site, another function URL (same
    // site, on.aws) or a foreign origin: refused, nothing changes.
    for (n, (action, headers)) in [
        ("extend", vec![("sec-fetch-site", "cross-site")]),
        ("stop", vec![("sec-fetch-site", "same-site")]),
        (
            "terminate",
            vec![("origin", "https://evil.lambda-url.us-east-1.on.aws")],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let body =
            serde_json::json!({"instance_id": id, "action": action, "hours": 5, "confirm": true});
        let mut e = mine_event("POST", "", Some(body), Some(JANE));
        for (k, v) in headers {
            e["headers"][k] = v.into();
        }
        let r = send(&app, &config, e).await;
        assert_eq!(r.status_code, 403, "{n} {action}: {:?}", r.body);
    }
    assert_eq!(instance_state(&w.ec2, &id).await, "running");
    assert_eq!(
        instance_tag(&w.ec2, &id, "fleetkeeper:expires-at").await,
        expires
    );
    // A client that sends neither header (curl, a script) still acts.
    let body = serde_json::json!({"instance_id": id, "action": "stop"});
    let r = send(
        &app,
        &config,
        mine_event("POST", "", Some(body), Some(JANE)),
    )
    .await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
}
