//! dns-failover deployed in three regions, against moto: each deployment is the real cold
//! start (`dns_failover::init`) with its own AWS_REGION, all keeping their state in us-east-1,
//! invoked at chosen times (a minute apart, from the real clock). Each region reaches the one
//! primary through its own fault proxy, so one region's network can break while the primary
//! stays healthy for the others. The SSM calls go through another fault proxy, which counts
//! them and, for the race, slows the writes so that both deciders read before either claims.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use dns_failover::Lambda;
use dns_failover::handler::{Answer, run};
use dns_failover::report::FailoverReport;
use fleetkeeper::exec::Budget;
use fleetkeeper::lambda::Boot;
use fleetkeeper::telemetry::Metrics;
use fleetkeeper_tests::http::{Reply, serve};
use fleetkeeper_tests::{Fault, FaultProxy, Moto, Rule, clock};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const WWW: &str = "www.example.com.";
const PRIMARY: &str = "192.0.2.10";
const STANDBY: &str = "198.51.100.20";
const DEPLOY: &str = "arn:aws:sts::123456789012:assumed-role/deploy/pipeline";

struct World {
    _moto: Moto,
    /// In front of moto: counts the SSM and Route 53 calls.
    aws: FaultProxy,
    /// Each region's path to the primary.
    networks: Vec<FaultProxy>,
    r53: aws_sdk_route53::Client,
    zone: String,
    healthy: Arc<AtomicBool>,
    /// The start of a minute: every run's time is an offset from it.
    t0: Timestamp,
}

fn a_record(ip: &str) -> ChangeBatch {
    ChangeBatch::builder()
        .changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(
                    ResourceRecordSet::builder()
                        .name(WWW)
                        .r#type(RrType::A)
                        .ttl(60)
                        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

async fn world() -> World {
    let moto = Moto::start();
    let aws = FaultProxy::start(&moto.endpoint());
    let sdk = Moto::aws(&moto.env(&[])).await;
    let r53 = sdk.client("ROUTE_53", aws_sdk_route53::Client::new);
    let zone = r53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("regions")
        .send()
        .await
        .unwrap()
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(a_record(PRIMARY))
        .send()
        .await
        .unwrap();
    let healthy = Arc::new(AtomicBool::new(true));
    let up = healthy.clone();
    let port = serve(move |_| {
        if up.load(Ordering::SeqCst) {
            Reply::new(200, "ok")
        } else {
            Reply::new(503, "down")
        }
    })
    .await;
    let networks = REGIONS
        .iter()
        .map(|_| FaultProxy::start(&format!("http://127.0.0.1:{port}")))
        .collect();
    // Aligned on a minute, so that offsets of a few seconds stay within one round.
    let now = clock::now().as_second();
    let t0 = Timestamp::from_second(now - now.rem_euclid(60)).unwrap();
    World {
        _moto: moto,
        aws,
        networks,
        r53,
        zone,
        healthy,
        t0,
    }
}

impl World {
    /// `minutes` and `seconds` after the start.
    fn at(&self, minutes: i64, seconds: i64) -> Timestamp {
        self.t0 + SignedDuration::from_secs(minutes * 60 + seconds)
    }

    /// One region's network to the primary breaks (or heals).
    fn cut(&self, region: usize, broken: bool) {
        if broken {
            self.networks[region].add(Rule::new(Fault::Drop));
        } else {
            self.networks[region].clear();
        }
    }

    /// The cold start of the stack in `REGIONS[region]`, every group as `group` says.
    async fn deploy(&self, region: usize, group: Value) -> Lambda {
        let mut group = group;
        group["health_check"] = json!({
            "url": format!("{}/health", self.networks[region].endpoint()),
            "body_contains": "ok", "timeout_ms": 500
        });
        let groups = json!([group]).to_string();
        let env = Moto::env_for(
            &self.aws.endpoint(),
            &[
                ("FAILOVER_GROUPS", groups.as_str()),
                ("AWS_REGION", REGIONS[region]),
                ("STATE_REGION", "us-east-1"),
                ("CHANGE_POLL_MS", "20"),
                // moto is always INSYNC; a loser waits for the winner this long at most.
                ("CHANGE_WAIT_SECONDS", "0"),
            ],
        );
        let aws = Moto::aws(&env).await;
        let boot = Boot {
            env,
            aws,
            function_name: "dns-failover".into(),
        };
        dns_failover::init(&boot).await.unwrap()
    }

    /// The stacks of all three regions.
    async fn deploy_all(&self, group: Value) -> Vec<Lambda> {
        let mut out = Vec::new();
        for r in 0..REGIONS.len() {
            out.push(self.deploy(r, group.clone()).await);
        }
        out
    }

    async fn record(&self) -> Vec<String> {
        let out = self
            .r53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .send()
            .await
            .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|r| r.name() == WWW && r.r#type() == &RrType::A)
            .flat_map(|r| r.resource_records().iter().map(|v| v.value().to_owned()))
            .collect()
    }

    /// Someone else's controller writes the record.
    async fn overwrite(&self, ip: &str) {
        self.r53
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .change_batch(a_record(ip))
            .send()
            .await
            .unwrap();
    }

    /// An SSM client on the state region, as a person at a console would read it.
    async fn ssm(&self) -> aws_sdk_ssm::Client {
        Moto::aws(&Moto::env_for(&self.aws.endpoint(), &[]))
            .await
            .client("SSM", aws_sdk_ssm::Client::new)
    }

    async fn claims_left(&self) -> usize {
        self.ssm()
            .await
            .get_parameters_by_path()
            .path("/fleetkeeper/dns-failover/web/claims")
            .send()
            .await
            .unwrap()
            .parameters()
            .len()
    }

    fn changes(&self) -> u64 {
        self.aws.count("route53:ChangeResourceRecordSets")
    }
}

/// A group probed from the three regions.
fn group(quorum: usize, extra: Value) -> Value {
    let mut g = json!({
        "name": "web", "zone": "example.com", "record": "www.example.com", "type": "A",
        "primary": [PRIMARY], "standby": [STANDBY],
        "fail_after": 1, "recover_after": 1,
        "probe_regions": REGIONS, "quorum": quorum,
        "health_check": {"url": "http://127.0.0.1:1/health"}
    });
    for (k, v) in extra.as_object().unwrap() {
        g[k] = v.clone();
    }
    g
}

/// One invocation; its report and the EMF metrics it wrote.
async fn invoke(lambda: &Lambda, payload: Value, now: Timestamp) -> (Answer, Vec<Value>) {
    let mut metrics = Metrics::for_function("dns-failover");
    let answer = run(
        &lambda.app,
        &lambda.config,
        payload,
        now,
        Budget::unlimited(),
        &mut metrics,
    )
    .await
    .unwrap();
    let lines = metrics
        .lines(now)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (answer, lines)
}

async fn probe(lambda: &Lambda, now: Timestamp) -> (FailoverReport, Vec<Value>) {
    match invoke(lambda, json!({"trigger": "schedule"}), now).await {
        (Answer::Report(r), m) => (r, m),
        other => panic!("{other:?}"),
    }
}

/// A metric's value in one run's EMF lines.
fn metric(lines: &[Value], name: &str) -> f64 {
    lines
        .iter()
        .find_map(|l| l.get(name).and_then(Value::as_f64))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

/// A manual action through the URL (the function with both sides, as locally).
async fn ask(lambda: &Lambda, body: Value, n: usize, now: Timestamp) -> (u16, Value) {
    let mut e = fleetkeeper_tests::event("dns-failover", "http-failover");
    e["requestContext"]["authorizer"]["iam"]["userArn"] = DEPLOY.into();
    e["requestContext"]["requestId"] = format!("req-{n}").into();
    e["body"] = body.to_string().into();
    match invoke(lambda, e, now).await {
        (Answer::Http(res), _) => (
            res.status_code as u16,
            serde_json::from_str(res.body.as_deref().unwrap_or("null")).unwrap(),
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_region_failing_moves_nothing_two_move_the_record() {
    let w = world().await;
    let stacks = w.deploy_all(group(2, json!({}))).await;
    // us-east-1's network to the primary breaks; the primary is fine for the others.
    w.cut(0, true);
    for minute in 0..3 {
        for (r, stack) in stacks.iter().enumerate() {
            let (report, _) = probe(stack, w.at(minute, 5 + 10 * r as i64)).await;
            let g = &report.fields.groups[0];
            assert_eq!(g.flip, None, "minute {minute}, {}: {g:?}", REGIONS[r]);
            assert_eq!(g.votes.len(), 3);
        }
    }
    assert_eq!(w.record().await, [PRIMARY]);
    assert_eq!(w.changes(), 0);
    // eu-west-1's breaks too: two regions of three see the primary failing.
    w.cut(1, true);
    let (second, metrics) = probe(&stacks[1], w.at(3, 15)).await;
    let g = &second.fields.groups[0];
    assert_eq!(
        g.flip,
        Some(dns_failover::plan::Flip::Failover),
        "{second:?}"
    );
    assert_eq!(w.record().await, [STANDBY]);
    assert_eq!(metric(&metrics, "Failovers"), 1.0);
    let unhealthy = g.votes.iter().filter(|v| v.healthy == Some(false)).count();
    assert_eq!(unhealthy, 2);
    // The third region in the same minute votes and moves nothing.
    let (third, _) = probe(&stacks[2], w.at(3, 25)).await;
    assert!(
        third.fields.groups[0]
            .note
            .as_deref()
            .unwrap()
            .contains("decided already, by eu-west-1")
    );
    assert_eq!(w.changes(), 1);
    // The votes live in the state region, one parameter per region.
    let vote = w
        .ssm()
        .await
        .get_parameter()
        .name("/fleetkeeper/dns-failover/web/votes/eu-west-1")
        .send()
        .await
        .unwrap();
    let vote: Value = serde_json::from_str(vote.parameter().unwrap().value().unwrap()).unwrap();
    assert_eq!(vote["healthy"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_region_is_ignored_and_named() {
    let w = world().await;
    let stacks = w.deploy_all(group(2, json!({}))).await;
    for (r, stack) in stacks.iter().enumerate() {
        probe(stack, w.at(0, 5 + 10 * r as i64)).await;
    }
    // ap-southeast-2's stack stops running; us-east-1's network breaks. Four minutes on,
    // one unhealthy fresh vote and one healthy: no quorum either way.
    w.cut(0, true);
    probe(&stacks[1], w.at(4, 15)).await;
    let (report, metrics) = probe(&stacks[0], w.at(4, 20)).await;
    let g = &report.fields.groups[0];
    assert_eq!(
        g.stale_votes,
        ["ap-southeast-2: last vote 3 min old"],
        "{g:?}"
    );
    assert_eq!(metric(&metrics, "StaleVotes"), 1.0);
    let note = g.note.as_deref().unwrap();
    assert!(
        note.contains("2 fresh votes of 3 regions (quorum 2): 1 unhealthy, 1 healthy; no verdict, nothing moves"),
        "{note}"
    );
    assert_eq!(w.changes(), 0);
    // With eu-west-1 gone quiet too, one fresh vote is fewer than the quorum: nothing moves.
    let (alone, _) = probe(&stacks[0], w.at(9, 5)).await;
    let g = &alone.fields.groups[0];
    assert_eq!(g.stale_votes.len(), 2, "{g:?}");
    assert_eq!(g.flip, None);
    assert_eq!(w.record().await, [PRIMARY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_deciders_racing_in_the_same_minute_flip_once() {
    let w = world().await;
    let stacks = w.deploy_all(group(2, json!({}))).await;
    w.cut(0, true);
    w.cut(1, true);
    for r in [0, 1] {
        probe(&stacks[r], w.at(0, 50)).await;
    }
    assert_eq!(
        w.record().await,
        [STANDBY],
        "the first minute's decider moved it"
    );
    let changes = w.changes();
    // Both networks heal; the next minute, two regions decide at the same instant. Every
    // SSM write is slowed, so both have read the state before either claims it.
    w.cut(0, false);
    w.cut(1, false);
    probe(&stacks[2], w.at(1, 1)).await;
    w.aws
        .add(Rule::new(Fault::Latency(Duration::from_millis(300))).on("ssm:PutParameter"));
    let now = w.at(2, 10);
    let (a, b) = tokio::join!(probe(&stacks[0], now), probe(&stacks[1], now));
    let flips: Vec<_> = [&a.0, &b.0]
        .iter()
        .filter_map(|r| r.fields.groups[0].flip)
        .collect();
    assert_eq!(flips, [dns_failover::plan::Flip::Failback], "{a:?} {b:?}");
    assert_eq!(w.changes(), changes + 1, "one record change");
    assert_eq!(w.record().await, [PRIMARY]);
    let loser = [&a.0, &b.0]
        .into_iter()
        .find(|r| r.fields.groups[0].flip.is_none())
        .unwrap();
    let note = loser.fields.groups[0].note.as_deref().unwrap();
    assert!(note.contains("decided again after"), "{note}");
    assert!(note.contains("decided already"), "{note}");
    assert_eq!(w.claims_left().await, 0, "no claim is left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_claim_elsewhere_waits_and_a_dead_runs_claim_is_stepped_over() {
    let w = world().await;
    // A quorum of one: us-east-1's failure alone decides.
    let stacks = w.deploy_all(group(1, json!({}))).await;
    let held = json!({"by": "eu-west-1", "at": w.at(0, 0).to_string()}).to_string();
    w.ssm()
        .await
        .put_parameter()
        .name("/fleetkeeper/dns-failover/web/claims/1")
        .value(held)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    w.healthy.store(false, Ordering::SeqCst);
    // eu-west-1 is deciding right now: this run waits for it, then says so and moves nothing.
    let (report, _) = probe(&stacks[0], w.at(0, 5)).await;
    let g = &report.fields.groups[0];
    let note = g.note.as_deref().unwrap();
    assert!(
        note.contains("eu-west-1 was deciding this group") && note.contains("had not saved it"),
        "{note}"
    );
    assert_eq!((g.flip, w.changes()), (None, 0));
    // Twenty minutes on, that claim is a dead run's (no run lasts 15): stepped over.
    let (report, _) = probe(&stacks[0], w.at(20, 5)).await;
    assert_eq!(
        report.fields.groups[0].flip,
        Some(dns_failover::plan::Flip::Failover),
        "{report:?}"
    );
    assert_eq!(w.record().await, [STANDBY]);
    let state = w
        .ssm()
        .await
        .get_parameter()
        .name("/fleetkeeper/dns-failover/web")
        .send()
        .await
        .unwrap();
    let state: Value = serde_json::from_str(state.parameter().unwrap().value().unwrap()).unwrap();
    assert_eq!(state["version"], 2, "version 1 was the dead run's");
    assert_eq!(
        w.claims_left().await,
        0,
        "the dead run's claim is cleaned up too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_failback_holds_the_standby_against_healthy_votes() {
    let w = world().await;
    let stacks = w.deploy_all(group(2, json!({"failback": "manual"}))).await;
    w.healthy.store(false, Ordering::SeqCst);
    for (r, stack) in stacks.iter().enumerate() {
        probe(stack, w.at(0, 5 + 10 * r as i64)).await;
    }
    assert_eq!(w.record().await, [STANDBY]);
    w.healthy.store(true, Ordering::SeqCst);
    for minute in 1..5 {
        for (r, stack) in stacks.iter().enumerate() {
            probe(stack, w.at(minute, 5 + 10 * r as i64)).await;
        }
    }
    let (report, _) = probe(&stacks[0], w.at(5, 5)).await;
    let g = &report.fields.groups[0];
    assert_eq!(w.record().await, [STANDBY], "{g:?}");
    assert!(
        g.note.as_deref().unwrap().contains("failback is manual"),
        "{g:?}"
    );
    // A person fails back.
    let (code, body) = ask(
        &stacks[1],
        json!({"action": "failback", "group": "web"}),
        1,
        w.at(5, 30),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["groups"][0]["by"], DEPLOY);
    assert_eq!(w.record().await, [PRIMARY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_suppresses_both_directions_and_ends_on_time() {
    let w = world().await;
    let stacks = w.deploy_all(group(2, json!({}))).await;
    let every_region = |minute: i64| {
        let stacks = &stacks;
        let w = &w;
        async move {
            let mut flips = Vec::new();
            for (r, stack) in stacks.iter().enumerate() {
                let (report, _) = probe(stack, w.at(minute, 5 + 10 * r as i64)).await;
                flips.extend(report.fields.groups[0].flip);
            }
            flips
        }
    };
    let hold = |n: usize, minute: i64| {
        let stacks = &stacks;
        let w = &w;
        async move {
            let (code, body) = ask(
                &stacks[0],
                json!({"action": "hold", "group": "web", "minutes": 30}),
                n,
                w.at(minute, 0),
            )
            .await;
            assert_eq!(code, 200, "{body}");
            assert_eq!(body["groups"][0]["hold"]["by"], DEPLOY);
        }
    };
    // A deploy pipeline holds the group, then restarts the primary: every region sees it
    // down, and nothing moves.
    hold(1, 0).await;
    w.healthy.store(false, Ordering::SeqCst);
    for minute in 1..4 {
        assert_eq!(every_region(minute).await, []);
    }
    assert_eq!(w.record().await, [PRIMARY]);
    // Released, the same failure moves the record.
    let (code, _) = ask(
        &stacks[1],
        json!({"action": "release", "group": "web"}),
        2,
        w.at(4, 0),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(every_region(4).await.len(), 1);
    assert_eq!(w.record().await, [STANDBY]);
    // Held again on the standby: the primary heals, and nothing takes the record back.
    hold(3, 5).await;
    w.healthy.store(true, Ordering::SeqCst);
    for minute in 6..9 {
        assert_eq!(every_region(minute).await, []);
    }
    let (report, _) = probe(&stacks[0], w.at(9, 5)).await;
    let note = report.fields.groups[0].note.clone().unwrap();
    assert!(
        note.contains(&format!("held for maintenance by {DEPLOY} until")),
        "{note}"
    );
    assert_eq!(w.record().await, [STANDBY]);
    // Thirty minutes after it was asked, the hold is over: the next decision fails back.
    let flips = every_region(35).await;
    assert_eq!(flips, [dns_failover::plan::Flip::Failback]);
    assert_eq!(w.record().await, [PRIMARY]);
    let (report, _) = probe(&stacks[0], w.at(36, 5)).await;
    assert!(report.fields.groups[0].hold.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contested_record_is_put_back_once_then_left_and_alarmed() {
    let w = world().await;
    let stacks = w.deploy_all(group(2, json!({}))).await;
    for (r, stack) in stacks.iter().enumerate() {
        probe(stack, w.at(0, 5 + 10 * r as i64)).await;
    }
    // Another controller writes its own value: put back once.
    w.overwrite("203.0.113.7").await;
    let (report, _) = probe(&stacks[0], w.at(1, 5)).await;
    assert_eq!(report.fields.groups[0].action, "upsert", "{report:?}");
    assert_eq!(w.record().await, [PRIMARY]);
    let changes = w.changes();
    // It writes again ten minutes later: contested, left alone and alarmed, by every region.
    w.overwrite("203.0.113.7").await;
    for (r, stack) in stacks.iter().enumerate() {
        let (report, metrics) = probe(stack, w.at(11, 5 + 10 * r as i64)).await;
        let g = &report.fields.groups[0];
        let c = g.contested.as_ref().unwrap_or_else(|| panic!("{g:?}"));
        assert_eq!(c.ours, [PRIMARY]);
        assert_eq!(c.found, ["203.0.113.7"]);
        assert_eq!(metric(&metrics, "RecordContested"), 1.0);
    }
    assert_eq!(w.changes(), changes, "no ping-pong");
    assert_eq!(w.record().await, ["203.0.113.7"]);
    // A person resolves it: put back once more, and watched again.
    let (code, body) = ask(
        &stacks[2],
        json!({"action": "resolve", "group": "web"}),
        1,
        w.at(12, 0),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(w.record().await, [PRIMARY]);
    assert!(body["groups"][0].get("contested").is_none(), "{body}");
}
