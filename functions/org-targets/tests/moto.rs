//! org-targets against moto: an organisation with nested OUs, a suspended account and an
//! exclusion; an unknown OU and an organisation with nothing to target refused before anything
//! is written; the tally and the summary over summaries in S3 as the functions write them.

use aws_sdk_organizations::types::OrganizationFeatureSet;
use fleetkeeper::org::{Phase, Summary, Target, report_key};
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::{Moto, clock};
use jiff::Timestamp;
use org_targets::config::Config;
use org_targets::handler::{App, run};
use org_targets::ports::{Bucket, Organizations};
use serde_json::{Value, json};

const BUCKET: &str = "org-runs";

struct Org {
    moto: Moto,
    org: aws_sdk_organizations::Client,
    s3: aws_sdk_s3::Client,
    root: String,
    eng: String,
    sandbox: String,
    /// eng: a1 (directly), a2 (in eng/teams), a3 (suspended); sandbox: a4.
    accounts: Vec<String>,
}

async fn org() -> Org {
    let moto = Moto::start();
    let aws = Moto::aws(&moto.env(&[])).await;
    let org = aws.client("Organizations", aws_sdk_organizations::Client::new);
    let s3 = aws.s3();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let ou = |parent: String, name: &'static str| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap()
                .organizational_unit()
                .unwrap()
                .id()
                .unwrap()
                .to_owned()
        }
    };
    let eng = ou(root.clone(), "eng").await;
    let teams = ou(eng.clone(), "teams").await;
    let sandbox = ou(root.clone(), "sandbox").await;
    let mut accounts = Vec::new();
    for (n, parent) in [(1, &eng), (2, &teams), (3, &eng), (4, &sandbox)] {
        let status = org
            .create_account()
            .account_name(format!("acct-{n}"))
            .email(format!("acct-{n}@example.com"))
            .send()
            .await
            .unwrap();
        let id = status
            .create_account_status()
            .unwrap()
            .account_id()
            .unwrap()
            .to_owned();
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(parent)
            .send()
            .await
            .unwrap();
        accounts.push(id);
    }
    org.close_account()
        .account_id(&accounts[2])
        .send()
        .await
        .unwrap();
    Org {
        moto,
        org,
        s3,
        root,
        eng,
        sandbox,
        accounts,
    }
}

impl Org {
    async fn app(&self, settings: &[(&str, &str)]) -> (App<Organizations, Bucket>, Config) {
        let mut pairs = vec![("REGIONS", "us-east-1,eu-west-1"), ("BUCKET", BUCKET)];
        pairs.extend_from_slice(settings);
        let env = self.moto.env(&pairs);
        let config = Config::from_env(&env).unwrap();
        let aws = Moto::aws(&env).await;
        let app = App {
            organization: Organizations {
                client: aws.client("Organizations", aws_sdk_organizations::Client::new),
            },
            store: Bucket {
                client: aws.s3(),
                name: BUCKET.into(),
            },
        };
        (app, config)
    }

    async fn keys(&self) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    async fn object(&self, key: &str) -> Value {
        let out = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
    }

    async fn put_summary(&self, run: &str, s: &Summary) {
        let t = Target {
            account_id: s.account_id.clone(),
            region: s.region.clone(),
            role_arn: String::new(),
        };
        let body = json!({"summary": s, "report": {"function": "snapshot-janitor"}});
        self.s3
            .put_object()
            .bucket(BUCKET)
            .key(report_key(run, s.phase, &t, s.round))
            .body(body.to_string().into_bytes().into())
            .send()
            .await
            .unwrap();
    }
}

async fn call(
    app: &App<Organizations, Bucket>,
    config: &Config,
    payload: Value,
) -> Result<Value, fleetkeeper::Error> {
    let mut metrics = Metrics::for_function("org-targets");
    run(app, config, &payload, clock::now(), &mut metrics).await
}

fn targets_request(function: &str) -> Value {
    json!({"action": "targets", "function": function, "event": {"time": clock::rfc3339(run_time())}})
}

/// The run's scheduled time: tomorrow 03:00 UTC, from the real clock.
fn run_time() -> Timestamp {
    clock::tomorrow_at("03:00", "UTC")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_holds_active_accounts_below_the_ous_crossed_with_regions() {
    let o = org().await;
    let (app, config) = o.app(&[("ORGANIZATION_UNITS", &o.eng)]).await;
    let out = call(&app, &config, targets_request("snapshot-janitor"))
        .await
        .unwrap();
    assert_eq!(
        out["run"],
        format!("snapshot-janitor/{}", clock::run_stamp(run_time()))
    );
    assert_eq!(
        (out["count"].as_u64(), out["accounts"].as_u64()),
        (Some(4), Some(2)),
        "{out}"
    );
    assert_eq!(out["max_concurrency"], 100);
    // The suspended account is named as left out.
    assert_eq!(out["skipped"][0]["target"], o.accounts[2].as_str());
    assert!(
        out["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("SUSPENDED")
    );
    let manifest = o.object(out["key"].as_str().unwrap()).await;
    let mut ids: Vec<String> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["account_id"].as_str().unwrap().to_owned())
        .collect();
    ids.dedup();
    assert_eq!(ids, [o.accounts[0].clone(), o.accounts[1].clone()]);
    assert_eq!(
        manifest[0]["role_arn"],
        format!("arn:aws:iam::{}:role/fleetkeeper-member", o.accounts[0])
    );

    // From the root, excluding the nested one: a1 and a4, and the management account itself.
    let excluded = o.accounts[1].clone();
    let (app, config) = o
        .app(&[
            ("ORGANIZATION_UNITS", &o.root),
            ("EXCLUDE_ACCOUNTS", &excluded),
        ])
        .await;
    let out = call(&app, &config, targets_request("nightly-stopper"))
        .await
        .unwrap();
    let manifest = o.object(out["key"].as_str().unwrap()).await;
    let ids: Vec<&str> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["account_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&o.accounts[0].as_str()) && ids.contains(&o.accounts[3].as_str()));
    assert!(!ids.contains(&excluded.as_str()) && !ids.contains(&o.accounts[2].as_str()));
    let _ = &o.org;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_ou_or_nothing_to_target_starts_nothing() {
    let o = org().await;
    let (app, config) = o.app(&[("ORGANIZATION_UNITS", "ou-zzzz-zzzzzzzz")]).await;
    let e = call(&app, &config, targets_request("nightly-stopper"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ou-zzzz-zzzzzzzz") && e.contains("nothing was started"),
        "{e}"
    );
    let only = o.accounts[3].clone();
    let (app, config) = o
        .app(&[
            ("ORGANIZATION_UNITS", &o.sandbox),
            ("EXCLUDE_ACCOUNTS", &only),
        ])
        .await;
    let e = call(&app, &config, targets_request("nightly-stopper"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no account to target") && e.contains("EXCLUDE_ACCOUNTS"),
        "{e}"
    );
    assert!(
        o.keys().await.is_empty(),
        "nothing written: {:?}",
        o.keys().await
    );
    // A tally for a run that never listed its targets is refused too.
    let e = call(
        &app,
        &config,
        json!({"action": "tally", "function": "nightly-stopper", "run": "nightly-stopper/never"}),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("no manifest"), "{e}");
}

fn summary(
    account: &str,
    region: &str,
    phase: Phase,
    round: u32,
    deletes: usize,
    done: usize,
    remaining: usize,
) -> Summary {
    Summary {
        account_id: account.into(),
        region: region.into(),
        phase,
        round,
        status: if phase == Phase::Plan {
            fleetkeeper::report::Status::DryRun
        } else if remaining > 0 {
            fleetkeeper::report::Status::Partial
        } else {
            fleetkeeper::report::Status::Ok
        },
        planned: deletes,
        planned_by_action: [("delete-snapshot".to_owned(), deletes)].into(),
        done,
        skipped: 0,
        failed: 0,
        remaining,
        error: None,
        ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_and_the_summary_read_what_the_targets_wrote() {
    let o = org().await;
    let list = format!("{},{}", o.accounts[0], o.accounts[1]);
    let (app, config) = o
        .app(&[("ACCOUNT_IDS", &list), ("ORG_MAX_DELETES", "100")])
        .await;
    let out = call(&app, &config, targets_request("snapshot-janitor"))
        .await
        .unwrap();
    let run = out["run"].as_str().unwrap().to_owned();
    let (a, b) = (o.accounts[0].as_str(), o.accounts[1].as_str());
    for (acct, region, n) in [
        (a, "us-east-1", 60),
        (a, "eu-west-1", 0),
        (b, "us-east-1", 30),
    ] {
        o.put_summary(&run, &summary(acct, region, Phase::Plan, 0, n, 0, 0))
            .await;
    }
    let mut failed = summary(b, "eu-west-1", Phase::Plan, 0, 0, 0, 0);
    failed.status = fleetkeeper::report::Status::Failed;
    failed.error = Some(format!(
        "account {b} region eu-west-1: arn:aws:iam::{b}:role/fleetkeeper-member cannot be assumed"
    ));
    o.put_summary(&run, &failed).await;
    let tally_request = json!({"action": "tally", "function": "snapshot-janitor", "run": run});
    let out = call(&app, &config, tally_request.clone()).await.unwrap();
    // A target that failed its plan is listed; the others go on to apply.
    assert_ne!(out["status"], "refused", "{out}");
    assert_eq!(
        (out["counted"].as_u64(), out["failed_targets"].as_u64()),
        (Some(90), Some(1))
    );
    assert_eq!(out["failed"][0]["target"], b);
    assert!(
        out["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot be assumed")
    );
    // The apply phase reads the tally's list: the target whose plan failed is not on it.
    assert_eq!(
        (out["apply_targets"].as_u64(), out["held_back"].as_u64()),
        (Some(3), Some(1)),
        "{out}"
    );
    let listed = o.object(out["apply_key"].as_str().unwrap()).await;
    let listed: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["account_id"].as_str().unwrap(),
                t["region"].as_str().unwrap()
            )
        })
        .collect();
    assert!(!listed.contains(&format!("{b}/eu-west-1")), "{listed:?}");
    assert_eq!(listed.len(), 3);

    // Over the organisation cap: refused as a whole.
    o.put_summary(&run, &summary(b, "us-east-1", Phase::Plan, 0, 41, 0, 0))
        .await;
    let out = call(&app, &config, tally_request).await.unwrap();
    assert_eq!(out["status"], "refused", "{out}");
    assert!(
        out["refused"]
            .as_str()
            .unwrap()
            .contains("ORG_MAX_DELETES=100")
    );

    // The apply phase: a backlog drained over two rounds, one target with no report at all.
    o.put_summary(&run, &summary(a, "us-east-1", Phase::Apply, 0, 60, 40, 20))
        .await;
    o.put_summary(&run, &summary(a, "us-east-1", Phase::Apply, 1, 20, 20, 0))
        .await;
    o.put_summary(&run, &summary(a, "eu-west-1", Phase::Apply, 0, 0, 0, 0))
        .await;
    o.put_summary(&run, &summary(b, "us-east-1", Phase::Apply, 0, 30, 30, 0))
        .await;
    let out = call(
        &app,
        &config,
        json!({"action": "summary", "function": "snapshot-janitor", "run": run}),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["targets"].as_u64(), out["actions_done"].as_u64()),
        (Some(4), Some(90)),
        "{out}"
    );
    assert_eq!(
        (
            out["continued_targets"].as_u64(),
            out["failed_targets"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(out["by_account"][a]["ok"], 2);
    // The target held back is failed with its plan's reason, not as a missing apply report.
    let why = out["failed"][0]["error"].as_str().unwrap();
    assert_eq!(out["failed"][0]["target"], b, "{out}");
    assert!(
        why.starts_with("not applied in this run: its plan did not succeed")
            && why.contains("cannot be assumed"),
        "{why}"
    );
    let full = o.object(out["summary_key"].as_str().unwrap()).await;
    assert_eq!(full["targets"].as_array().unwrap().len(), 4);
}
