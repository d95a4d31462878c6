//! alarm-restarter against moto (EC2 and SSM Run Command are real enough there), with the
//! fault proxy in front to count the mutating calls and to make SSM fail. The automation
//! strategy is in tests/automation.rs: moto does not implement StartAutomationExecution.

use alarm_restarter::config::Config;
use alarm_restarter::handler::run;
use alarm_restarter::history::{EventKey, History};
use alarm_restarter::ports::Region;
use alarm_restarter::report::RestarterReport;
use fleetkeeper::Error;
use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::clock;
use fleetkeeper_tests::ec2::{instance_tag, launch};
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule};
use jiff::Timestamp;
use serde_json::{Value, json};

const HISTORY: &str = "fleetkeeper:restart-history";
const OPT_IN: (&str, &str) = ("fleetkeeper:auto-restart", "true");

struct World {
    _moto: Moto,
    proxy: FaultProxy,
    region: Region,
    ec2: aws_sdk_ec2::Client,
}

async fn world() -> World {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let aws = Moto::aws(&Moto::env_for(&proxy.endpoint(), &[])).await;
    let direct = Moto::aws(&moto.env(&[])).await;
    World {
        region: Region {
            name: "us-east-1".into(),
            ec2: aws.client("EC2", aws_sdk_ec2::Client::new),
            ssm: aws.client("SSM", aws_sdk_ssm::Client::new),
        },
        ec2: direct.client("EC2", aws_sdk_ec2::Client::new),
        proxy,
        _moto: moto,
    }
}

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_env(&Moto::env_for("http://unused", pairs)).unwrap()
}

/// The documented EventBridge metric alarm event, naming `ids`, entered ALARM at `stamp`.
fn alarm(ids: &[&str], stamp: &str) -> Value {
    let mut event = fleetkeeper_tests::event("alarm-restarter", "metric-alarm");
    let template = event["detail"]["configuration"]["metrics"][0].clone();
    let metrics: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut m = template.clone();
            m["id"] = format!("m{i}").into();
            m["metricStat"]["metric"]["dimensions"]["InstanceId"] = (*id).into();
            m
        })
        .collect();
    event["detail"]["configuration"]["metrics"] = metrics.into();
    event["detail"]["state"]["timestamp"] = stamp.into();
    event
}

/// An alarm state timestamp `minutes` after the real clock's now (the run's clock too).
fn stamp(minutes: i64) -> String {
    clock::alarm_stamp(clock::minutes_after(clock::now(), minutes))
}

async fn history(ec2: &aws_sdk_ec2::Client, id: &str) -> Option<String> {
    instance_tag(ec2, id, HISTORY).await
}

async fn invoke(w: &World, cfg: &Config, event: &Value) -> (Result<RestarterReport, Error>, Value) {
    let mut metrics = Metrics::for_function("alarm-restarter");
    let report = run(
        std::slice::from_ref(&w.region),
        cfg,
        event,
        clock::now(),
        &mut metrics,
    )
    .await;
    let line = metrics.lines(Timestamp::now());
    let emf = line
        .first()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or(Value::Null);
    (report, emf)
}

fn skipped(r: &RestarterReport, id: &str) -> String {
    r.skipped
        .iter()
        .find(|s| s.target == id)
        .map(|s| s.action.clone())
        .unwrap_or_else(|| panic!("{id} not skipped: {}", serde_json::to_string(r).unwrap()))
}

#[tokio::test(flavor = "multi_thread")]
async fn reboot_strategy_keeps_its_history_on_the_instance() {
    let w = world().await;
    let tagged = launch(&w.ec2, 1, &[OPT_IN]).await.remove(0);
    let untagged = launch(&w.ec2, 1, &[]).await.remove(0);
    let stopped = launch(&w.ec2, 1, &[OPT_IN]).await.remove(0);
    w.ec2
        .stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .unwrap();
    let missing = "i-0123456789abcdef0";
    let ids = [
        tagged.as_str(),
        untagged.as_str(),
        stopped.as_str(),
        missing,
    ];
    let base = [
        ("RESTART_STRATEGY", "reboot"),
        ("COOLDOWN_MINUTES", "0"),
        ("MAX_RESTARTS", "2"),
    ];

    // Dry run: EC2's DryRun check only; no reboot, no history.
    let dry = config(&[base[0], base[1], base[2], ("DRY_RUN", "true")]);
    let (r, _) = invoke(&w, &dry, &alarm(&ids, &stamp(0))).await;
    let r = r.unwrap();
    assert_eq!(r.status(), Status::DryRun);
    assert_eq!(r.planned[0].target, tagged);
    assert!(r.done.is_empty());
    assert_eq!(history(&w.ec2, &tagged).await, None);

    // Live: the tagged running instance is rebooted; each other one is skipped, with its code.
    let live = config(&base);
    let first = alarm(&ids, &stamp(0));
    let (r, emf) = invoke(&w, &live, &first).await;
    let r = r.unwrap();
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(r.done.len(), 1);
    assert_eq!(r.done[0].target, tagged);
    assert_eq!(
        w.proxy.count("ec2:RebootInstances"),
        2,
        "one dry run, one real"
    );
    assert_eq!(skipped(&r, &untagged), "not-opted-in");
    assert_eq!(skipped(&r, &stopped), "not-running");
    assert_eq!(skipped(&r, missing), "not-found");
    assert_eq!(
        (
            emf["RestartsRequested"].as_f64(),
            emf["RestartsSkipped"].as_f64()
        ),
        (Some(1.0), Some(3.0))
    );
    let h = History::parse(&history(&w.ec2, &tagged).await.unwrap()).unwrap();
    assert!(h.contains(EventKey::of("fleetkeeper-web-1-status-check", &stamp(0))));
    assert_eq!(history(&w.ec2, &untagged).await, None);

    // The same event again: a duplicate, no second reboot, history unchanged.
    let before = history(&w.ec2, &tagged).await;
    let (r, _) = invoke(&w, &live, &first).await;
    assert_eq!(skipped(&r.unwrap(), &tagged), "duplicate");
    assert_eq!(w.proxy.count("ec2:RebootInstances"), 2);
    assert_eq!(history(&w.ec2, &tagged).await, before);

    // A new change: the second restart in the window.
    let (r, _) = invoke(&w, &live, &alarm(&ids, &stamp(55))).await;
    assert_eq!(r.unwrap().done.len(), 1);
    assert_eq!(
        History::parse(&history(&w.ec2, &tagged).await.unwrap())
            .unwrap()
            .entries()
            .len(),
        2
    );

    // A third: MAX_RESTARTS=2 is reached, nothing is rebooted and the metric says so.
    let (r, emf) = invoke(&w, &live, &alarm(&ids, &stamp(115))).await;
    let r = r.unwrap();
    assert_eq!(skipped(&r, &tagged), "cap-reached");
    assert_eq!(r.fields.cap_reached, 1);
    assert_eq!(emf["RestartCapReached"].as_f64(), Some(1.0));
    assert_eq!(w.proxy.count("ec2:RebootInstances"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_command_strategy_and_changes_that_restart_nothing() {
    let w = world().await;
    let id = launch(&w.ec2, 1, &[OPT_IN]).await.remove(0);
    let cfg = config(&[("RESTART_STRATEGY", "run-command")]);

    // OK, ALARM -> ALARM and a configuration change: nothing read, nothing sent.
    let mut ok = alarm(&[&id], &stamp(15));
    ok["detail"]["state"]["value"] = "OK".into();
    ok["detail"]["previousState"]["value"] = "ALARM".into();
    let mut again = alarm(&[&id], &stamp(25));
    again["detail"]["previousState"]["value"] = "ALARM".into();
    let mut config_change = alarm(&[&id], &stamp(35));
    config_change["detail-type"] = "CloudWatch Alarm Configuration Change".into();
    for event in [&ok, &again, &config_change] {
        let (r, _) = invoke(&w, &cfg, event).await;
        let r = r.unwrap();
        assert_eq!(r.skipped[0].action, "ignored");
        assert!(r.planned.is_empty());
    }
    assert_eq!(w.proxy.count("ec2:DescribeInstances"), 0);
    assert_eq!(w.proxy.count("ssm:SendCommand"), 0);

    let (r, _) = invoke(&w, &cfg, &alarm(&[&id], &stamp(0))).await;
    let r = r.unwrap();
    let command_id = r.done[0].detail.as_ref().unwrap()["command-id"]
        .as_str()
        .unwrap()
        .to_owned();
    // What moto received: the shell document, on this instance, exiting 194.
    let listed = w
        .region
        .ssm
        .list_commands()
        .command_id(&command_id)
        .send()
        .await
        .unwrap();
    let command = &listed.commands()[0];
    assert_eq!(command.document_name(), Some("AWS-RunShellScript"));
    assert_eq!(command.instance_ids(), std::slice::from_ref(&id));
    let script = &command.parameters().unwrap()["commands"][0];
    assert!(script.ends_with("exit 194"), "{script}");
    assert!(history(&w.ec2, &id).await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_restarts_nothing() {
    let w = world().await;
    let id = launch(
        &w.ec2,
        1,
        &[OPT_IN, (HISTORY, "restarted twice, last Tuesday")],
    )
    .await
    .remove(0);
    let cfg = config(&[("RESTART_STRATEGY", "reboot")]);

    // A history someone edited: no restart, the tag left as it is, an error-level skip.
    let (r, emf) = invoke(&w, &cfg, &alarm(&[&id], &stamp(0))).await;
    let r = r.unwrap();
    assert_eq!(skipped(&r, &id), "history-unreadable");
    assert_eq!(emf["RestartsRequested"].as_f64(), Some(0.0));
    assert_eq!(
        history(&w.ec2, &id).await.as_deref(),
        Some("restarted twice, last Tuesday")
    );

    // Malformed payloads: a clear error naming the problem, and no call to AWS at all.
    let mut unknown_state = alarm(&[&id], &stamp(55));
    unknown_state["detail"]["state"]["value"] = "ON_FIRE".into();
    let mut no_state = alarm(&[&id], &stamp(55));
    no_state["detail"].as_object_mut().unwrap().remove("state");
    let mut other_region = alarm(&[&id], &stamp(55));
    other_region["region"] = "eu-west-1".into();
    for (event, needle) in [
        (Value::String("{not json".into()), "not JSON"),
        (json!({"hello": "world"}), "not a CloudWatch alarm event"),
        (unknown_state, "ON_FIRE"),
        (no_state, "missing field detail.state"),
        (other_region, "add it to REGIONS"),
    ] {
        let before = w.proxy.counts();
        let (r, _) = invoke(&w, &cfg, &event).await;
        let err = r.unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
        assert_eq!(w.proxy.counts(), before, "{needle}: AWS was called");
    }
    assert_eq!(w.proxy.count("ec2:RebootInstances"), 0);
    assert_eq!(w.proxy.count("ec2:CreateTags"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_restart_puts_the_history_back_and_asks_lambda_to_retry() {
    let w = world().await;
    let old = format!("{}:0badc0de", Timestamp::now().as_second() - 3 * 3600);
    let id = launch(&w.ec2, 1, &[OPT_IN, (HISTORY, old.as_str())])
        .await
        .remove(0);
    let cfg = config(&[("RESTART_STRATEGY", "run-command")]);
    let event = alarm(&[&id], &stamp(0));

    // SSM answers 503 to every try the SDK makes.
    w.proxy.add(
        Rule::new(Fault::Status(503))
            .on("ssm:SendCommand")
            .first(50),
    );
    let (r, _) = invoke(&w, &cfg, &event).await;
    let err = r.unwrap_err();
    assert!(err.to_string().contains("Lambda will retry"), "{err}");
    assert!(
        w.proxy.injected("ssm:SendCommand") >= 3,
        "the SDK retried first"
    );
    assert_eq!(
        history(&w.ec2, &id).await,
        Some(old.clone()),
        "history restored"
    );
    assert_eq!(w.proxy.count("ec2:CreateTags"), 2, "written, then put back");

    // Lambda's retry of the same event, with SSM healthy again, restarts: not a duplicate.
    w.proxy.clear();
    let (r, _) = invoke(&w, &cfg, &event).await;
    let r = r.unwrap();
    assert_eq!(r.done.len(), 1, "{}", serde_json::to_string(&r).unwrap());
    let h = History::parse(&history(&w.ec2, &id).await.unwrap()).unwrap();
    assert_eq!(h.entries().len(), 2);
}
