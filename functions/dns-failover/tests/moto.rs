//! dns-failover against moto (Route 53 and SSM Parameter Store), with a local HTTP server
//! playing the primary and the fault proxy in front of moto to count calls and to throttle.
//! moto always answers INSYNC; the PENDING path is in tests/insync.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
    Vpc, VpcRegion,
};
use dns_failover::config::{Config, GroupsSource};
use dns_failover::handler::{Answer, run};
use dns_failover::ports::App;
use dns_failover::ports::Prober;
use dns_failover::ports::StateStore;
use dns_failover::ports::{Dns, Route53};
use dns_failover::report::FailoverReport;
use fleetkeeper::Error;
use fleetkeeper::exec::Budget;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::http::{Reply, serve};
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule, clock};
use jiff::Timestamp;
use serde_json::{Value, json};

/// A primary whose /health answers 200 "ok" or 503, as `healthy` says.
async fn primary(healthy: Arc<AtomicBool>) -> u16 {
    serve(move |_| {
        if healthy.load(Ordering::SeqCst) {
            Reply::new(200, "ok")
        } else {
            Reply::new(503, "down")
        }
    })
    .await
}

struct World {
    _moto: Moto,
    proxy: FaultProxy,
    r53: aws_sdk_route53::Client,
    ssm: aws_sdk_ssm::Client,
    healthy: Arc<AtomicBool>,
    port: u16,
    public: String,
    private: String,
}

fn a(name: &str, ip: &str) -> Change {
    Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(
            ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::A)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

async fn zone(r53: &aws_sdk_route53::Client, name: &str, private: bool) -> String {
    let mut call = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("{name}-{private}"))
        .hosted_zone_config(HostedZoneConfig::builder().private_zone(private).build());
    if private {
        call = call.vpc(
            Vpc::builder()
                .vpc_id("vpc-0123456789abcdef0")
                .vpc_region(VpcRegion::UsEast1)
                .build(),
        );
    }
    let out = call.send().await.unwrap();
    out.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}

async fn world() -> World {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let aws = Moto::aws(&moto.env(&[])).await;
    let r53 = aws.client("ROUTE_53", aws_sdk_route53::Client::new);
    // The zone, and decoys: a subdomain zone and a private zone of the same name.
    let public = zone(&r53, "example.com", false).await;
    let _sub = zone(&r53, "sub.example.com", false).await;
    let private = zone(&r53, "example.com", true).await;
    for (z, ip) in [(&public, "192.0.2.10"), (&private, "10.0.0.10")] {
        r53.change_resource_record_sets()
            .hosted_zone_id(z)
            .change_batch(
                ChangeBatch::builder()
                    .changes(a("www.example.com", ip))
                    .changes(a("api.example.com", ip))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let healthy = Arc::new(AtomicBool::new(true));
    let port = primary(healthy.clone()).await;
    World {
        ssm: aws.client("SSM", aws_sdk_ssm::Client::new),
        _moto: moto,
        proxy,
        r53,
        healthy,
        port,
        public,
        private,
    }
}

impl World {
    fn groups(&self, fail_after: u32) -> String {
        let group = |name: &str, record: &str| {
            json!({
                "name": name, "zone": "example.com", "record": record, "type": "A",
                "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
                "health_check": {"url": format!("http://127.0.0.1:{}/health", self.port), "body_contains": "ok", "timeout_ms": 500},
                "fail_after": fail_after, "recover_after": 2, "alarm": format!("fleetkeeper-{name}-primary")
            })
        };
        json!([
            group("web", "www.example.com"),
            group("api", "api.example.com")
        ])
        .to_string()
    }

    async fn app(&self, settings: &[(&str, &str)]) -> (App, Config) {
        let groups = self.groups(2);
        let mut pairs = vec![
            ("FAILOVER_GROUPS", groups.as_str()),
            ("CHANGE_POLL_MS", "20"),
        ];
        pairs.extend_from_slice(settings);
        let env = Moto::env_for(&self.proxy.endpoint(), &pairs);
        let config = Config::from_env(&env).unwrap();
        let aws = Moto::aws(&env).await;
        let GroupsSource::Inline(groups) = &config.groups else {
            panic!()
        };
        let app = App {
            route53: Route53 {
                client: aws.client("ROUTE_53", aws_sdk_route53::Client::new),
                backoff: Duration::from_millis(10),
            },
            store: StateStore {
                ssm: aws.client("SSM", aws_sdk_ssm::Client::new),
                prefix: config.state_prefix.clone(),
                command_prefix: config.command_prefix.clone(),
            },
            prober: Prober::new().unwrap(),
            secret: None,
            groups: groups.clone(),
        };
        (app, config)
    }

    async fn record(&self, zone: &str, name: &str) -> Vec<String> {
        let out = self
            .r53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|r| r.name() == name && r.r#type() == &RrType::A)
            .flat_map(|r| r.resource_records().iter().map(|v| v.value().to_owned()))
            .collect()
    }

    fn changes(&self) -> u64 {
        self.proxy.count("route53:ChangeResourceRecordSets")
    }
}

async fn invoke(app: &App, config: &Config, payload: Value) -> Result<Answer, Error> {
    let mut metrics = Metrics::for_function("dns-failover");
    run(
        app,
        config,
        payload,
        Timestamp::now(),
        Budget::unlimited(),
        &mut metrics,
    )
    .await
}

async fn schedule(app: &App, config: &Config) -> FailoverReport {
    match invoke(app, config, json!({"trigger": "schedule"}))
        .await
        .unwrap()
    {
        Answer::Report(r) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zone_lookup_skips_the_decoys() {
    let w = world().await;
    let (app, _) = w.app(&[]).await;
    let mut g = app.groups[0].clone();
    assert_eq!(app.route53.zone_id(&g).await.unwrap(), w.public);
    g.private = true;
    assert_eq!(app.route53.zone_id(&g).await.unwrap(), w.private);
    g.zone = "nothere.example.com.".into();
    let err = app.route53.zone_id(&g).await.unwrap_err();
    assert!(
        err.contains("no private hosted zone named nothere.example.com."),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fails_over_in_one_batch_reruns_idempotently_and_fails_back() {
    let w = world().await;
    let (app, config) = w.app(&[]).await;
    let www = "www.example.com.";
    let api = "api.example.com.";

    // Healthy: nothing changes.
    let r = schedule(&app, &config).await;
    assert!(r.fields.groups.iter().all(|g| g.action == "none" && g.side_after == Some(dns_failover::model::Side::Primary)), "{r:?}");
    assert_eq!(w.changes(), 0);

    // Down once: counted, not yet moved (FAIL_AFTER=2).
    w.healthy.store(false, Ordering::SeqCst);
    let r = schedule(&app, &config).await;
    assert_eq!(r.fields.groups[0].failures, 1);
    assert_eq!(
        r.fields.groups[0].probe.as_ref().unwrap().detail,
        "HTTP 503 (expected 200-399)"
    );
    assert_eq!(w.changes(), 0);

    // Down twice: both groups move, in one atomic batch for the zone.
    let r = schedule(&app, &config).await;
    assert_eq!(w.changes(), 1, "one ChangeResourceRecordSets for the zone");
    for g in &r.fields.groups {
        assert_eq!(g.flip, Some(dns_failover::plan::Flip::Failover), "{g:?}");
        assert_eq!(g.change_status.as_deref(), Some("INSYNC"));
    }
    assert_eq!(r.fields.groups[0].change_id, r.fields.groups[1].change_id);
    assert_eq!(w.record(&w.public, www).await, ["198.51.100.20"]);
    assert_eq!(w.record(&w.public, api).await, ["198.51.100.20"]);
    // The private zone of the same name is untouched.
    assert_eq!(w.record(&w.private, www).await, ["10.0.0.10"]);

    // Still down: nothing more to change.
    let r = schedule(&app, &config).await;
    assert!(r.fields.groups.iter().all(|g| g.action == "none"));
    assert_eq!(w.changes(), 1);

    // Healthy twice (RECOVER_AFTER=2): back to the primary, again one batch.
    w.healthy.store(true, Ordering::SeqCst);
    schedule(&app, &config).await;
    assert_eq!(w.changes(), 1);
    let r = schedule(&app, &config).await;
    assert_eq!(w.changes(), 2);
    assert!(
        r.fields
            .groups
            .iter()
            .all(|g| g.flip == Some(dns_failover::plan::Flip::Failback))
    );
    assert_eq!(w.record(&w.public, www).await, ["192.0.2.10"]);

    // The state lives in SSM, one parameter per group.
    let p = w
        .ssm
        .get_parameter()
        .name("/fleetkeeper/dns-failover/web")
        .send()
        .await
        .unwrap();
    let state: Value = serde_json::from_str(p.parameter().unwrap().value().unwrap()).unwrap();
    assert_eq!(state["side"], "primary");
}

#[tokio::test(flavor = "multi_thread")]
async fn rides_over_throttling_and_prior_request_not_complete() {
    let w = world().await;
    let (app, config) = w.app(&[]).await;
    w.proxy
        .add(
            Rule::new(Fault::Throttle)
                .on("route53:ChangeResourceRecordSets")
                .first(1),
        )
        .add(
            Rule::new(Fault::PriorRequestNotComplete)
                .on("route53:ChangeResourceRecordSets")
                .first(2),
        )
        .add(
            Rule::new(Fault::Throttle)
                .on("route53:ListResourceRecordSets")
                .first(1),
        );
    w.healthy.store(false, Ordering::SeqCst);
    schedule(&app, &config).await;
    let r = schedule(&app, &config).await;
    assert!(
        r.fields
            .groups
            .iter()
            .all(|g| g.error.is_none() && g.action == "upsert"),
        "{r:?}"
    );
    // Three faults in a row outlast the SDK's three attempts: the batch was sent again.
    assert_eq!(w.proxy.injected("route53:ChangeResourceRecordSets"), 3);
    assert_eq!(
        w.record(&w.public, "www.example.com.").await,
        ["198.51.100.20"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_and_manual_calls() {
    let w = world().await;
    let (app, config) = w.app(&[]).await;
    // State change times from the real clock, a minute apart.
    let stamp = |minutes| clock::alarm_stamp(clock::minutes_after(clock::now(), minutes));
    let alarm = |state: &str, stamp: &str| {
        let mut e = fleetkeeper_tests::event("dns-failover", "alarm");
        e["detail"]["alarmName"] = "fleetkeeper-web-primary".into();
        e["detail"]["state"]["value"] = state.into();
        e["detail"]["state"]["timestamp"] = stamp.into();
        e
    };
    // Two ALARM changes reach FAIL_AFTER=2; a repeated delivery is not counted.
    invoke(&app, &config, alarm("ALARM", &stamp(0)))
        .await
        .unwrap();
    let Answer::Report(r) = invoke(&app, &config, alarm("ALARM", &stamp(0)))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        r.fields.groups.len(),
        1,
        "only the group watching the alarm"
    );
    assert!(
        r.fields.groups[0]
            .note
            .as_deref()
            .unwrap()
            .contains("already counted")
    );
    assert_eq!(w.changes(), 0);
    invoke(&app, &config, alarm("ALARM", &stamp(1)))
        .await
        .unwrap();
    assert_eq!(
        w.record(&w.public, "www.example.com.").await,
        ["198.51.100.20"]
    );
    assert_eq!(
        w.record(&w.public, "api.example.com.").await,
        ["192.0.2.10"]
    );

    // Manual: fail back, then fail over and hold while the primary is healthy.
    let call = |name: &str| fleetkeeper_tests::event("dns-failover", name);
    let Answer::Http(res) = invoke(&app, &config, call("http-failback")).await.unwrap() else {
        panic!()
    };
    assert_eq!(res.status_code, 200);
    assert_eq!(
        w.record(&w.public, "www.example.com.").await,
        ["192.0.2.10"]
    );
    let Answer::Http(res) = invoke(&app, &config, call("http-failover")).await.unwrap() else {
        panic!()
    };
    let body: Value = serde_json::from_str(res.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["groups"][0]["held"], true);
    for _ in 0..3 {
        schedule(&app, &config).await;
    }
    assert_eq!(
        w.record(&w.public, "www.example.com.").await,
        ["198.51.100.20"],
        "held on the standby"
    );
    let Answer::Http(res) = invoke(&app, &config, call("http-status")).await.unwrap() else {
        panic!()
    };
    let body: Value = serde_json::from_str(res.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["groups"][0]["side_after"], "standby");
    assert_eq!(body["groups"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_changes_nothing() {
    let w = world().await;
    let (app, config) = w.app(&[]).await;
    let mut unknown_alarm = fleetkeeper_tests::event("dns-failover", "alarm");
    unknown_alarm["detail"]["alarmName"] = "someone-elses-alarm".into();
    let err = invoke(&app, &config, unknown_alarm).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no failover group watches alarm \"someone-elses-alarm\""),
        "{err}"
    );
    for bad in [
        fleetkeeper_tests::event("dns-failover", "bad-input"),
        json!("failover"),
        json!({"detail-type": "CloudWatch Alarm State Change", "detail": {}}),
    ] {
        let err = invoke(&app, &config, bad).await.unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
    }
    let mut unknown_group = fleetkeeper_tests::event("dns-failover", "http-failover");
    unknown_group["body"] = json!({"action": "failover", "group": "mail"})
        .to_string()
        .into();
    let Answer::Http(res) = invoke(&app, &config, unknown_group).await.unwrap() else {
        panic!()
    };
    assert_eq!(res.status_code, 404);
    assert!(res.body.unwrap().contains("groups: web, api"));
    let mut garbage = fleetkeeper_tests::event("dns-failover", "http-failover");
    garbage["body"] = "{not json".into();
    let Answer::Http(res) = invoke(&app, &config, garbage).await.unwrap() else {
        panic!()
    };
    assert_eq!(res.status_code, 400);
    let mut anonymous = fleetkeeper_tests::event("dns-failover", "http-failover");
    anonymous["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let Answer::Http(res) = invoke(&app, &config, anonymous).await.unwrap() else {
        panic!()
    };
    assert_eq!(res.status_code, 401);
    assert_eq!(w.changes(), 0);
    assert_eq!(w.proxy.count("ssm:PutParameter"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_decides_but_changes_nothing() {
    let w = world().await;
    let (app, config) = w.app(&[("DRY_RUN", "true")]).await;
    w.healthy.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        let r = schedule(&app, &config).await;
        assert!(r.mode.is_dry_run());
    }
    // Without saved state each dry run starts from the record: one failure each time.
    let r = schedule(&app, &config).await;
    assert_eq!(r.fields.groups[0].failures, 1);
    assert_eq!(w.changes(), 0);
    assert_eq!(w.proxy.count("ssm:PutParameter"), 0);
    // With FAIL_AFTER=1 the dry run says what it would do.
    let mut app = app;
    for g in &mut app.groups {
        g.fail_after = 1;
    }
    let r = schedule(&app, &config).await;
    assert!(
        r.fields.groups.iter().all(|g| g.action == "would-upsert"),
        "{r:?}"
    );
    assert_eq!(w.changes(), 0);
}

/// A URL call from `caller` (an IAM ARN), with a request id of its own.
fn call_by(name: &str, caller: &str, n: usize) -> Value {
    let mut e = fleetkeeper_tests::event("dns-failover", name);
    e["requestContext"]["authorizer"]["iam"]["userArn"] = caller.into();
    e["requestContext"]["requestId"] = format!("req-{name}-{n}").into();
    e
}

async fn http(app: &App, config: &Config, payload: Value) -> (u16, Value) {
    let Answer::Http(res) = invoke(app, config, payload).await.unwrap() else {
        panic!("not an HTTP answer")
    };
    let body = serde_json::from_str(res.body.as_deref().unwrap_or("null")).unwrap();
    (res.status_code as u16, body)
}

const ONCALL: &str = "arn:aws:iam::123456789012:user/oncall";

#[tokio::test(flavor = "multi_thread")]
async fn the_url_side_asks_and_the_scheduled_run_moves_saying_who_asked() {
    let w = world().await;
    let (worker, worker_config) = w.app(&[]).await;
    let (control, control_config) = w.app(&[("CONTROL_ONLY", "true")]).await;
    let control = Arc::new(control);
    let control_config = Arc::new(control_config);
    schedule(&worker, &worker_config).await;
    let puts_before = w.proxy.count("ssm:PutParameter");

    // The URL side writes the command and nothing else: no record, no state.
    let (code, body) = http(
        &control,
        &control_config,
        call_by("http-failover", ONCALL, 0),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["by"], ONCALL);
    assert_eq!(w.changes(), 0);
    assert_eq!(w.proxy.count("ssm:PutParameter"), puts_before + 1);
    assert_eq!(
        w.record(&w.public, "www.example.com.").await,
        ["192.0.2.10"]
    );
    // The URL side takes no schedule or alarm: they are the scheduled function's.
    let err = invoke(&control, &control_config, json!({"trigger": "schedule"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CONTROL_ONLY"), "{err}");

    // A flood on the URL side while the scheduled function runs: every run probes every
    // group, and the flood writes nothing more (the same command is waiting; another is
    // spaced). The two sides share no concurrency; in moto they share only the emulator.
    let flood: Vec<_> = (1..=120)
        .map(|n| {
            let (control, config) = (control.clone(), control_config.clone());
            let name = ["http-status", "http-failover", "http-failback"][n % 3];
            tokio::spawn(async move { http(&control, &config, call_by(name, ONCALL, n)).await.0 })
        })
        .collect();
    let run = schedule(&worker, &worker_config).await;
    let mut codes = Vec::new();
    for f in flood {
        codes.push(f.await.unwrap());
    }
    assert!(
        codes.iter().all(|c| [200, 202, 409, 429].contains(c)),
        "{codes:?}"
    );
    assert!(
        w.proxy.count("ssm:PutParameter") <= puts_before + 1 + 1 + 2,
        "the flood wrote little"
    );
    // The scheduled run applied the waiting command (whichever was last asked) and said who.
    let web = &run.fields.groups[0];
    assert!(web.probe.is_some(), "the run probed");
    assert_eq!(web.by.as_deref(), Some(ONCALL), "{web:?}");
    assert!(web.note.as_deref().unwrap().contains(ONCALL));
    let state: Value = serde_json::from_str(
        w.ssm
            .get_parameter()
            .name("/fleetkeeper/dns-failover/web")
            .send()
            .await
            .unwrap()
            .parameter()
            .unwrap()
            .value()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["last_manual"]["by"], ONCALL);
    // Applied once: the next run moves nothing and names nobody.
    let changes = w.changes();
    let next = schedule(&worker, &worker_config).await;
    assert_eq!(next.fields.groups[0].by, None);
    assert_eq!(w.changes(), changes);
    // Status on the URL side shows the last manual move and who asked.
    let (code, body) = http(
        &control,
        &control_config,
        call_by("http-status", ONCALL, 999),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["groups"][0]["last_manual"]["by"], ONCALL, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_control_principals_move_records_and_a_session_name_is_no_one() {
    let w = world().await;
    let (app, config) = w
        .app(&[(
            "CONTROL_PRINCIPALS",
            "arn:aws:iam::123456789012:role/oncall",
        )])
        .await;
    schedule(&app, &config).await;
    let puts = w.proxy.count("ssm:PutParameter");
    // Someone else, and someone who called their session of another role "oncall": refused,
    // nothing written or moved; both may read status.
    for (n, caller) in [
        ONCALL,
        "arn:aws:sts::123456789012:assumed-role/developer/oncall",
    ]
    .into_iter()
    .enumerate()
    {
        let (code, body) = http(&app, &config, call_by("http-failover", caller, n)).await;
        assert_eq!(code, 403, "{caller}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("CONTROL_PRINCIPALS")
        );
        assert_eq!(
            http(&app, &config, call_by("http-status", caller, n))
                .await
                .0,
            200
        );
    }
    assert_eq!(w.proxy.count("ssm:PutParameter"), puts);
    assert_eq!(w.changes(), 0);
    // Any session of the oncall role may, and is recorded as the session it is.
    let session = "arn:aws:sts::123456789012:assumed-role/oncall/maria";
    let (code, body) = http(&app, &config, call_by("http-failover", session, 7)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["groups"][0]["by"], session);
    assert_eq!(body["groups"][0]["held"], true);
    assert_eq!(
        w.record(&w.public, "www.example.com.").await,
        ["198.51.100.20"]
    );
    // A federated user names itself: refused.
    let fed = "arn:aws:sts::123456789012:federated-user/oncall";
    assert_eq!(
        http(&app, &config, call_by("http-failback", fed, 8))
            .await
            .0,
        403
    );
}
