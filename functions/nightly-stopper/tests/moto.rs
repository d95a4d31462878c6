//! nightly-stopper against moto: two regions, 1,200 tagged instances (pagination), the
//! instances it must leave alone, idempotence, start again, and the same end state with the
//! fault proxy throttling 30% of calls (moto never throttles; the proxy plays AWS).

use std::collections::BTreeMap;

use fleetkeeper::exec::Budget;
use fleetkeeper::report::Status;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::clock::{self, rfc3339};
use fleetkeeper_tests::ec2::launch;
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule};
use jiff::Timestamp;
use jiff::civil::Weekday;
use nightly_stopper::config::Config;
use nightly_stopper::handler::run;
use nightly_stopper::ports::{App, targets};
use nightly_stopper::report::StopperReport;
use serde_json::json;

const REGIONS: &str = "us-east-1,eu-west-1";

async fn ec2(endpoint: &str, region: &str) -> aws_sdk_ec2::Client {
    let aws = Moto::aws(&Moto::env_for(endpoint, &[("AWS_REGION", region)])).await;
    aws.client("EC2", aws_sdk_ec2::Client::new)
}

/// What the test seeded, by role.
struct Seeded {
    eligible: Vec<(String, String)>,
    left_alone: Vec<(String, String)>,
}

async fn seed(endpoint: &str) -> Seeded {
    let office = ("fleetkeeper:schedule", "office-hours");
    let east = ec2(endpoint, "us-east-1").await;
    let west = ec2(endpoint, "eu-west-1").await;
    let mut eligible = Vec::new();
    let mut left_alone = Vec::new();
    for id in launch(&east, 1150, &[office]).await {
        eligible.push(("us-east-1".to_owned(), id));
    }
    for id in launch(&west, 50, &[office]).await {
        eligible.push(("eu-west-1".to_owned(), id));
    }
    for id in launch(&east, 3, &[]).await {
        left_alone.push(("us-east-1".to_owned(), id));
    }
    for id in launch(&east, 1, &[office, ("aws:autoscaling:groupName", "web")]).await {
        left_alone.push(("us-east-1".to_owned(), id));
    }
    for id in launch(
        &west,
        1,
        &[office, ("fleetkeeper:keep-running-until", "2099-12-31")],
    )
    .await
    {
        left_alone.push(("eu-west-1".to_owned(), id));
    }
    let stopped = launch(&west, 1, &[office]).await;
    west.stop_instances()
        .set_instance_ids(Some(stopped.clone()))
        .send()
        .await
        .unwrap();
    Seeded {
        eligible,
        left_alone,
    }
}

/// id -> (state, last-action tag) over both regions.
async fn states(endpoint: &str) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for region in REGIONS.split(',') {
        let client = ec2(endpoint, region).await;
        let mut pages = client
            .describe_instances()
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for i in page
                .unwrap()
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
            {
                let tag = i
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("fleetkeeper:last-action"))
                    .and_then(|t| t.value().map(str::to_owned));
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .unwrap()
                    .as_str()
                    .to_owned();
                out.insert(i.instance_id().unwrap().to_owned(), (state, tag));
            }
        }
    }
    out
}

async fn invoke(
    endpoint: &str,
    extra: &[(&str, &str)],
    payload: serde_json::Value,
) -> StopperReport {
    try_invoke(endpoint, extra, payload).await.unwrap()
}

async fn try_invoke(
    endpoint: &str,
    extra: &[(&str, &str)],
    payload: serde_json::Value,
) -> Result<StopperReport, fleetkeeper::Error> {
    let mut vars = vec![("REGIONS", REGIONS), ("MAX_ACTIONS", "5000")];
    vars.extend_from_slice(extra);
    let env = Moto::env_for(endpoint, &vars);
    let config = Config::from_env(&env).unwrap();
    let aws = Moto::aws(&env).await;
    let targets = targets(&aws, &config).await;
    let stopper = App::new(targets, aws.client("SSM", aws_sdk_ssm::Client::new));
    // A manual stop or start has no time: the run uses the clock.
    let now = clock::now();
    let mut metrics = Metrics::for_function("nightly-stopper");
    run(
        &stopper,
        &config,
        &payload,
        now,
        Budget::unlimited(),
        &mut metrics,
    )
    .await
}

fn assert_end_state(
    after: &BTreeMap<String, (String, Option<String>)>,
    seeded: &Seeded,
    state: &str,
    tag: &str,
) {
    for (_, id) in &seeded.eligible {
        assert_eq!(after[id].0, state, "{id}");
        assert_eq!(after[id].1.as_deref(), Some(tag), "{id}");
    }
    for (_, id) in &seeded.left_alone {
        assert_eq!(after[id].0, "running", "{id} must be left running");
        assert_eq!(after[id].1, None, "{id} must not be tagged");
    }
}

#[tokio::test]
async fn stop_is_exact_idempotent_and_start_undoes_it() {
    let moto = Moto::start();
    let seeded = seed(&moto.endpoint()).await;

    let report = invoke(&moto.endpoint(), &[], json!({"action": "stop"})).await;
    assert_eq!(report.status(), Status::Ok, "{:?}", report.failed);
    assert_eq!(report.done.len(), 1200);
    // 1200 eligible + ASG member + keep-running + the one already stopped.
    assert_eq!(report.fields.matched, 1203);
    let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("Auto Scaling group")));
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("keep-running-until 2099-12-31 is in the future"))
    );
    assert!(reasons.contains(&"already stopped"));
    assert_end_state(
        &states(&moto.endpoint()).await,
        &seeded,
        "stopped",
        &format!("stopped {}", rfc3339(clock::now())),
    );

    let again = invoke(&moto.endpoint(), &[], json!({"action": "stop"})).await;
    assert!(again.done.is_empty(), "a second run changes nothing");
    assert_eq!(again.skipped.len(), 1203);

    let started = invoke(&moto.endpoint(), &[], json!({"action": "start"})).await;
    assert_eq!(started.status(), Status::Ok, "{:?}", started.failed);
    assert_eq!(
        started.done.len(),
        1201,
        "the 1200 and the one stopped before"
    );
    let after = states(&moto.endpoint()).await;
    for (_, id) in &seeded.eligible {
        assert_eq!(
            after[id],
            (
                "running".to_owned(),
                Some(format!("started {}", rfc3339(clock::now())))
            )
        );
    }
}

#[tokio::test]
async fn same_end_state_with_30_percent_of_calls_throttled() {
    let moto = Moto::start();
    let seeded = seed(&moto.endpoint()).await;
    let proxy = FaultProxy::start(&moto.endpoint());
    proxy.add(Rule::new(Fault::Throttle).on("ec2:").rate(0.3));
    let retries = [("AWS_MAX_ATTEMPTS", "10")];

    let report = invoke(&proxy.endpoint(), &retries, json!({"action": "stop"})).await;
    assert_eq!(report.status(), Status::Ok, "{:?}", report.failed);
    assert_end_state(
        &states(&moto.endpoint()).await,
        &seeded,
        "stopped",
        &format!("stopped {}", rfc3339(clock::now())),
    );
    let throttled: u64 = proxy.counts().keys().map(|a| proxy.injected(a)).sum();
    assert!(
        throttled > 0,
        "the proxy throttled nothing: {:?}",
        proxy.counts()
    );
}

#[tokio::test]
async fn dry_run_and_the_cap_change_nothing() {
    let moto = Moto::start();
    let seeded = seed(&moto.endpoint()).await;
    let before = states(&moto.endpoint()).await;

    let dry = invoke(
        &moto.endpoint(),
        &[("DRY_RUN", "true")],
        json!({"action": "stop"}),
    )
    .await;
    assert_eq!(dry.status(), Status::DryRun, "{:?}", dry.failed);
    assert!(dry.mode.is_dry_run());
    assert_eq!(dry.planned.len(), 1200);
    assert!(dry.done.is_empty());

    let capped = invoke(
        &moto.endpoint(),
        &[("MAX_ACTIONS", "1000")],
        json!({"action": "stop"}),
    )
    .await;
    assert_eq!(capped.status(), Status::Refused);
    assert!(
        capped
            .refused
            .as_deref()
            .unwrap()
            .contains("MAX_ACTIONS=1000")
    );
    assert!(capped.done.is_empty());

    for bad in [
        json!({"action": "reboot"}),
        json!("stop"),
        json!({"detail-type": "Other"}),
    ] {
        let err = try_invoke(&moto.endpoint(), &[], bad.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, fleetkeeper::Error::Input(_)), "{bad}: {err}");
    }

    assert_eq!(states(&moto.endpoint()).await, before, "nothing changed");
    assert_eq!(seeded.eligible.len(), 1200);
}

#[tokio::test]
async fn role_arns_act_in_the_other_account_only() {
    let moto = Moto::start();
    let role = "arn:aws:iam::111122223333:role/fleetkeeper-stopper";
    // moto keeps one state per account, chosen by the credentials: assumed-role credentials
    // act in the role's account, as on AWS.
    let base = Moto::aws(&Moto::env_for(&moto.endpoint(), &[])).await;
    let other = base
        .assume_role(role, "seed")
        .await
        .client("EC2", aws_sdk_ec2::Client::new);
    let office = ("fleetkeeper:schedule", "office-hours");
    let theirs = launch(&other, 2, &[office]).await;
    let ours = launch(&base.client("EC2", aws_sdk_ec2::Client::new), 1, &[office]).await;

    let report = invoke(
        &moto.endpoint(),
        &[("REGIONS", "us-east-1"), ("ROLE_ARNS", role)],
        json!({"action": "stop"}),
    )
    .await;
    assert_eq!(report.status(), Status::Ok, "{:?}", report.failed);
    let acted: Vec<&str> = report.done.iter().map(|a| a.target.as_str()).collect();
    assert_eq!(acted.len(), 2, "{acted:?}");
    assert!(theirs.iter().all(|id| acted.contains(&id.as_str())));
    assert_eq!(
        report.done[0].region.as_deref(),
        Some("111122223333/us-east-1")
    );
    let mine = base.client("EC2", aws_sdk_ec2::Client::new);
    let state = mine
        .describe_instances()
        .instance_ids(&ours[0])
        .send()
        .await
        .unwrap();
    let i = &state.reservations()[0].instances()[0];
    assert_eq!(
        i.state().and_then(|s| s.name()).unwrap().as_str(),
        "running",
        "our own account is untouched"
    );
}

#[tokio::test]
async fn max_actions_counts_every_region_of_the_run() {
    // Three instances in each region: each region alone is under MAX_ACTIONS=5, the run is not.
    let moto = Moto::start();
    let office = ("fleetkeeper:schedule", "office-hours");
    for region in REGIONS.split(',') {
        launch(&ec2(&moto.endpoint(), region).await, 3, &[office]).await;
    }
    let before = states(&moto.endpoint()).await;
    let capped = invoke(
        &moto.endpoint(),
        &[("MAX_ACTIONS", "5")],
        json!({"action": "stop"}),
    )
    .await;
    assert_eq!(capped.status(), Status::Refused, "{capped:?}");
    assert!(
        capped.refused.as_deref().unwrap().contains("6 actions"),
        "{:?}",
        capped.refused
    );
    assert!(capped.done.is_empty());
    assert_eq!(states(&moto.endpoint()).await, before, "nothing changed");

    let allowed = invoke(
        &moto.endpoint(),
        &[("MAX_ACTIONS", "6")],
        json!({"action": "stop"}),
    )
    .await;
    assert_eq!(allowed.status(), Status::Ok, "{:?}", allowed.failed);
    assert_eq!(allowed.done.len(), 6);
}

const TEAMS: &str = r#"{
    "office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]},
    "uk-support": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"},
                                                             {"days": "sat", "start": "09:00", "stop": "13:00"}]},
    "stop-nightly": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "22:00"}]}
}"#;

/// One invocation with the teams' schedules, evaluated at `at` (which is also the clock).
/// One run of the payload; the clock is the real one, so the event's own time must win.
async fn at_time(
    endpoint: &str,
    payload: serde_json::Value,
) -> (StopperReport, Vec<serde_json::Value>) {
    let env = Moto::env_for(endpoint, &[("REGIONS", "eu-west-1"), ("SCHEDULES", TEAMS)]);
    let config = Config::from_env(&env).unwrap();
    let aws = Moto::aws(&env).await;
    let stopper = App::new(
        targets(&aws, &config).await,
        aws.client("SSM", aws_sdk_ssm::Client::new),
    );
    let mut metrics = Metrics::for_function("nightly-stopper");
    let report = run(
        &stopper,
        &config,
        &payload,
        clock::now(),
        Budget::unlimited(),
        &mut metrics,
    )
    .await
    .unwrap();
    let lines = metrics
        .lines(Timestamp::UNIX_EPOCH)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (report, lines)
}

fn evaluate(at: Timestamp) -> serde_json::Value {
    // As EventBridge sends it: the scheduled time in `time`.
    json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": rfc3339(at), "detail": {}})
}

/// The teams' evening and morning, from the real clock: the next Tuesday after today, at
/// Berlin's local times (so London, which moves its clocks with Berlin, keeps its place too).
struct Evening {
    /// Tue 18:30 Berlin: both offices inside their hours.
    open: Timestamp,
    /// Tue 19:05 Berlin (18:05 London): both closed.
    closed: Timestamp,
    /// Tue 22:05 Berlin.
    late: Timestamp,
    /// Wed 09:05 Berlin (08:05 London): both open again.
    morning: Timestamp,
    wednesday: jiff::civil::Date,
}

fn evening() -> Evening {
    let tue = clock::next(Weekday::Tuesday, "Europe/Berlin");
    let wed = tue.tomorrow().unwrap();
    let berlin = |day, t| clock::at(day, t, "Europe/Berlin");
    Evening {
        open: berlin(tue, "18:30"),
        closed: berlin(tue, "19:05"),
        late: berlin(tue, "22:05"),
        morning: berlin(wed, "09:05"),
        wednesday: wed,
    }
}

fn ids(entries: &[fleetkeeper::report::Entry]) -> Vec<String> {
    let mut v: Vec<String> = entries.iter().map(|e| e.target.clone()).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn three_teams_through_an_evening_and_a_morning() {
    let moto = Moto::start();
    let ep = moto.endpoint();
    let west = ec2(&ep, "eu-west-1").await;
    let berlin = launch(&west, 2, &[("fleetkeeper:schedule", "office-hours")]).await;
    let london = launch(&west, 2, &[("fleetkeeper:schedule", "uk-support")]).await;
    let farm = launch(&west, 2, &[("fleetkeeper:schedule", "stop-nightly")]).await;
    let stray = launch(&west, 1, &[("fleetkeeper:schedule", "night-owls")]).await;
    let e = evening();

    // Tuesday 18:30 in Berlin (17:30 in London): both are inside their hours;
    // the build farm has wanted stopping since Monday 22:00.
    let (r, _) = at_time(&ep, evaluate(e.open)).await;
    assert_eq!(ids(&r.done), sorted(farm.clone()), "{:?}", r.skipped);
    assert_eq!(r.fields.action, "evaluate");
    assert_eq!(
        r.fields.time,
        rfc3339(e.open),
        "the event's time, not the clock"
    );
    let stray_skip = r.skipped.iter().find(|s| s.target == stray[0]).unwrap();
    assert!(
        stray_skip.reason.contains(
            "\"night-owls\" names no schedule (known: office-hours, stop-nightly, uk-support)"
        ),
        "{}",
        stray_skip.reason
    );

    // Berlin 19:05 and London 18:05 are outside; both teams stop.
    let (r, metrics) = at_time(&ep, evaluate(e.closed)).await;
    let mut want: Vec<String> = berlin.iter().chain(&london).cloned().collect();
    want.sort();
    assert_eq!(ids(&r.done), want);
    let london_stop = r.done.iter().find(|d| d.target == london[0]).unwrap();
    assert_eq!(
        london_stop.reason,
        "outside uk-support: stop at 18:00 Europe/London"
    );
    let detail = london_stop.detail.as_ref().unwrap();
    assert_eq!(
        detail["stopped_until"],
        rfc3339(clock::at(e.wednesday, "08:00", "Europe/London"))
    );
    assert_eq!(detail["stop_hours"], 13.9);
    let hours = metrics
        .iter()
        .find(|l| l["InstanceType"] == "t3.micro")
        .expect("ScheduledStopHours by instance type");
    // Two Berlin stops until 07:00 Berlin (11.9 h each), two London stops until 08:00 London
    // (13.9 h each).
    assert!(
        (hours["ScheduledStopHours"].as_f64().unwrap() - 51.6).abs() < 1e-9,
        "{hours}"
    );
    assert!(
        metrics
            .iter()
            .any(|l| l["Schedule"] == "uk-support" && l["InstancesStopped"] == 2.0)
    );

    // The same time again changes nothing.
    let (again, _) = at_time(&ep, evaluate(e.closed)).await;
    assert!(again.done.is_empty(), "{:?}", again.done);

    // Someone in London starts one instance again in the evening; it keeps running.
    west.start_instances()
        .instance_ids(&london[0])
        .send()
        .await
        .unwrap();
    let (r, _) = at_time(&ep, evaluate(e.late)).await;
    assert!(r.done.is_empty(), "{:?}", r.done);
    let kept = r.skipped.iter().find(|s| s.target == london[0]).unwrap();
    assert!(
        kept.reason
            .contains("left running until the next boundary of uk-support"),
        "{}",
        kept.reason
    );

    // A preview of the night and the morning: what each boundary would do.
    let (p, _) = at_time(
        &ep,
        json!({"action": "preview", "time": rfc3339(e.late), "hours": 12}),
    )
    .await;
    assert!(p.done.is_empty() && p.planned.is_empty());
    let preview = p.fields.preview.as_ref().unwrap();
    let office = preview
        .iter()
        .find(|s| s.schedule == "office-hours")
        .unwrap();
    assert_eq!(office.boundaries.len(), 1);
    assert_eq!(
        office.boundaries[0].local,
        format!("Wed {} 07:00", e.wednesday)
    );
    assert_eq!(office.boundaries[0].instances.len(), 2);
    let nightly = preview
        .iter()
        .find(|s| s.schedule == "stop-nightly")
        .unwrap();
    assert_eq!(nightly.boundaries[0].action, "stop");
    assert!(
        nightly.boundaries[0].instances.is_empty(),
        "already stopped"
    );

    // Wednesday, Berlin 09:05 and London 08:05: both start; the farm stays stopped.
    let (r, _) = at_time(&ep, evaluate(e.morning)).await;
    let mut want: Vec<String> = berlin.iter().chain(&london[1..]).cloned().collect();
    want.sort();
    assert_eq!(ids(&r.done), want);
    assert!(r.done.iter().all(|d| d.action == "start"));
    let after = states(&ep).await;
    for id in &farm {
        assert_eq!(after[id].0, "stopped");
    }
    for id in berlin.iter().chain(&london) {
        assert_eq!(after[id].0, "running", "{id}");
    }
}

#[tokio::test]
async fn a_start_that_does_not_hold_is_reported_once() {
    // moto never refuses to run an instance for a KMS key; the proxy makes the state reason
    // EC2 gives such an instance (Client.InternalError) out of moto's own stop reason.
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let west = ec2(&moto.endpoint(), "eu-west-1").await;
    let box_ = launch(&west, 1, &[("fleetkeeper:schedule", "uk-support")]).await;
    let e = evening();
    west.stop_instances()
        .instance_ids(&box_[0])
        .send()
        .await
        .unwrap();

    let (r, _) = at_time(&proxy.endpoint(), evaluate(e.morning)).await;
    assert_eq!(ids(&r.done), box_);
    // EC2 accepted the start; the volume's key then stopped the instance again.
    west.stop_instances()
        .instance_ids(&box_[0])
        .send()
        .await
        .unwrap();
    proxy.add(
        Rule::new(Fault::Rewrite {
            from: "Client.UserInitiatedShutdown".into(),
            to: "Client.InternalError".into(),
        })
        .on("ec2:DescribeInstances"),
    );
    let (r, metrics) = at_time(
        &proxy.endpoint(),
        evaluate(clock::minutes_after(e.morning, 5)),
    )
    .await;
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    let f = &r.failed[0];
    assert_eq!(
        (f.target.as_str(), f.action.as_str()),
        (box_[0].as_str(), "start")
    );
    assert_eq!(f.code.as_deref(), Some("Client.InternalError"));
    assert!(f.error.contains("KmsKeyArns"), "{}", f.error);
    assert_eq!(r.status(), Status::Failed);
    assert_eq!(metrics[0]["StartFailures"], 1.0);

    let (r, _) = at_time(
        &proxy.endpoint(),
        evaluate(clock::minutes_after(e.morning, 10)),
    )
    .await;
    assert!(r.failed.is_empty() && r.done.is_empty(), "{r:?}");
    assert!(r.skipped[0].reason.contains("our start did not hold"));
}

#[tokio::test]
async fn schedules_from_a_parameter_are_read_again_and_a_bad_one_changes_nothing() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let name = "/fleetkeeper/schedules";
    let env = Moto::env_for(
        &proxy.endpoint(),
        &[("REGIONS", "eu-west-1"), ("SCHEDULES_PARAMETER", name)],
    );
    let aws = Moto::aws(&env).await;
    let ssm = aws.client("SSM", aws_sdk_ssm::Client::new);
    let put = |value: &str| {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
    };
    put(TEAMS).await.unwrap();
    let west = ec2(&moto.endpoint(), "eu-west-1").await;
    let london = launch(&west, 1, &[("fleetkeeper:schedule", "uk-support")]).await;

    let config = Config::from_env(&env).unwrap();
    let stopper = App::new(targets(&aws, &config).await, ssm.clone());
    let e = evening();
    let run_at = |at: Timestamp| {
        let stopper = &stopper;
        let config = &config;
        async move {
            let mut metrics = Metrics::for_function("nightly-stopper");
            run(
                stopper,
                config,
                &evaluate(at),
                clock::now(),
                Budget::unlimited(),
                &mut metrics,
            )
            .await
        }
    };
    let r = run_at(e.closed).await.unwrap();
    assert_eq!(ids(&r.done), london);
    run_at(clock::minutes_after(e.closed, 5)).await.unwrap();
    assert_eq!(proxy.count("ssm:GetParameter"), 1, "kept for five minutes");

    // A broken document in a fresh function: the run fails, naming the parameter, and
    // nothing changes.
    put(r#"{"uk-support": {"periods": [{"days": "mon-fry", "start": "08:00"}]}}"#)
        .await
        .unwrap();
    let fresh = App::new(targets(&aws, &config).await, ssm.clone());
    let mut metrics = Metrics::for_function("nightly-stopper");
    let err = run(
        &fresh,
        &config,
        &evaluate(e.morning),
        clock::now(),
        Budget::unlimited(),
        &mut metrics,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "SSM parameter /fleetkeeper/schedules (SCHEDULES_PARAMETER) is not a valid schedules document: schedule \"uk-support\": periods[0].days \"mon-fry\": unknown day name \"fry\""
        ),
        "{err}"
    );
    assert_eq!(
        states(&moto.endpoint()).await[&london[0]].0,
        "stopped",
        "not started"
    );
    assert_eq!(proxy.count("ec2:StartInstances"), 0);
}
