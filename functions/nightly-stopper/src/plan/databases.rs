//! The databases' plan, pure: each RDS DB instance and Aurora cluster carrying the schedule
//! tag brought to the state its schedule wants (`available` in hours, `stopped` outside),
//! with the reason for every one left alone: a cluster's member (the cluster is scheduled), a
//! read replica or its source (RDS stops neither), a cluster RDS cannot stop, a status in
//! transition, a start or stop by hand since our last action (respected until the next
//! boundary, unless the schedule is enforced).

use std::collections::BTreeMap;

use fleetkeeper::Plan;
use jiff::Timestamp;

use crate::config::Config;
use crate::model::{Act, Database, Kind, LAST_ACTION_TAG, LastAction, Verb};
use crate::schedule::{Schedule, Schedules, State, Verdict};
use fleetkeeper::ec2::{Instance, InstanceState};

use super::RegionPlan;

/// Databases before the apps that need them, per schedule in one place (unless the schedule
/// says `"order": "none"`). Its instances start only once every database of the schedule there
/// is `available`; until then each is skipped, "waiting for database db-1 (starting)". Its
/// databases stop only once none of its instances there is still up; until then they wait.
/// A run every few minutes carries each side out in turn.
pub fn order(
    region_plan: &mut RegionPlan,
    instances: &[Instance],
    schedules: &Schedules,
    key: &str,
) {
    let RegionPlan {
        plan,
        databases,
        groups,
        services,
        ..
    } = region_plan;
    // The schedule a resource's tags name, compared without a copy.
    let on = |tags: &BTreeMap<String, String>, name: &str| tags.get(key).is_some_and(|s| s == name);
    // Each schedule's instances, in one pass over the fleet (not one per schedule).
    let mut compute_of: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
    for i in instances {
        if let Some(s) = i.tags.get(key) {
            compute_of.entry(s.as_str()).or_default().push(i);
        }
    }
    for (name, schedule) in schedules.iter() {
        if !schedule.databases_first {
            continue;
        }
        let name = name.as_str();
        let dbs: Vec<&Database> = databases
            .observed
            .iter()
            .filter(|d| on(&d.tags, name) && d.cluster.is_none())
            .collect();
        if dbs.is_empty() {
            continue;
        }
        let compute: &[&Instance] = compute_of.get(name).map_or(&[], Vec::as_slice);
        let ids: std::collections::BTreeSet<&str> = compute.iter().map(|i| i.id.as_str()).collect();
        let is_ours = |id: &str| ids.contains(id);
        let service_of = |arn: &str| {
            services
                .observed
                .iter()
                .find(|s| s.arn == arn)
                .is_some_and(|s| on(&s.tags, name))
        };
        let group_of = |group: &str| {
            groups
                .observed
                .iter()
                .find(|g| g.name == group)
                .is_some_and(|g| on(&g.tags, name))
        };
        if let Some(db) = dbs.iter().find(|d| d.status != "available") {
            let more = dbs.iter().filter(|d| d.status != "available").count() - 1;
            let why = format!(
                "waiting for database {} ({}){}: {name} starts its databases first",
                db.id,
                db.status,
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            defer(plan, Act::Start, |id| is_ours(id), &why);
            defer(&mut groups.plan, Act::Start, group_of, &why);
            defer(&mut services.plan, Act::Start, service_of, &why);
        }
        let mut up: Vec<String> = compute
            .iter()
            .filter(|i| !matches!(i.state, InstanceState::Stopped | InstanceState::Terminated))
            .map(|i| format!("{} {}", i.id, i.state))
            .collect();
        up.extend(
            groups
                .observed
                .iter()
                .filter(|g| on(&g.tags, name) && !g.stopped())
                .map(|g| format!("group {} at {}", g.name, g.size.desired)),
        );
        up.extend(
            services
                .observed
                .iter()
                .filter(|s| on(&s.tags, name) && !s.stopped())
                .map(|s| format!("service {} at {}", s.name, s.size.desired)),
        );
        if let Some(first) = up.first() {
            let why = format!(
                "waiting for {name}'s instances to stop first ({first}{})",
                if up.len() > 1 {
                    format!(" and {} more", up.len() - 1)
                } else {
                    String::new()
                }
            );
            let ours = |id: &str| dbs.iter().any(|d| d.id == id);
            defer(&mut databases.plan, Act::Stop, ours, &why);
        }
    }
}

/// Moves the `act` actions whose target `waits` picks to the skipped, with `why`.
fn defer(plan: &mut Plan<Act>, act: Act, waits: impl Fn(&str) -> bool, why: &str) {
    let (waiting, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.actions)
        .into_iter()
        .partition(|a| a.action == act && waits(&a.target));
    plan.actions = rest;
    for a in waiting {
        plan.skip(&a.target, why);
    }
}

/// One region's databases: the plan (targets are identifiers) and each target's kind and
/// schedule, which the apply and the report need.
#[derive(Debug, Clone, Default)]
pub struct DatabasePlan {
    /// The databases as read (the apply needs their ARNs).
    pub observed: Vec<Database>,
    pub plan: Plan<Act>,
    pub kinds: BTreeMap<String, Kind>,
    pub schedules: BTreeMap<String, String>,
    /// For a stop: the schedule's next start (the hours the stop saves).
    pub stopped_until: BTreeMap<String, Timestamp>,
}

pub fn evaluate_databases(
    databases: &[Database],
    schedules: &Schedules,
    verdicts: &BTreeMap<String, Verdict>,
    config: &Config,
    at: Timestamp,
) -> DatabasePlan {
    let mut out = DatabasePlan {
        observed: databases.to_vec(),
        ..DatabasePlan::default()
    };
    for db in databases {
        // A DB instance and a DB cluster may share an identifier: the report could not tell
        // them apart, so the second is left alone until one is renamed or untagged.
        if let Some(first) = out.kinds.get(&db.id) {
            out.plan.skip(
                &db.id,
                format!(
                    "shares its identifier with a {} also tagged: rename or untag one",
                    first.as_str()
                ),
            );
            continue;
        }
        out.kinds.insert(db.id.clone(), db.kind());
        let (schedule, v) = match super::schedule_of(&db.tags, schedules, verdicts, config) {
            Ok(found) => found,
            Err(why) => {
                out.plan.skip(&db.id, why);
                continue;
            }
        };
        out.schedules.insert(db.id.clone(), schedule.name.clone());
        decide(&mut out.plan, db, schedule, v, config, at);
        let stops = out
            .plan
            .actions
            .iter()
            .any(|a| a.target == db.id && a.action == Act::Stop);
        if let (Some(until), true) = (v.next_start, stops) {
            out.stopped_until.insert(db.id.clone(), until);
        }
    }
    out
}

fn decide(
    plan: &mut Plan<Act>,
    db: &Database,
    s: &Schedule,
    v: &Verdict,
    config: &Config,
    at: Timestamp,
) {
    let id = db.id.as_str();
    let today = at.to_zoned(s.tz.clone()).date();
    if config.skip_dates.contains(&today) {
        return plan.skip(id, format!("{today} is in SKIP_DATES ({})", s.tz_name));
    }
    let Some(desired) = v.desired else {
        return plan.skip(id, v.reason.clone());
    };
    if let Some(cluster) = &db.cluster {
        return plan.skip(
            id,
            format!("a member of DB cluster {cluster}: the cluster is what is scheduled (RESOURCES aurora, and its tag)"),
        );
    }
    if let Some(source) = &db.replica_of {
        return plan.skip(
            id,
            format!("a read replica of {source}: RDS cannot stop a read replica"),
        );
    }
    if db.replicas > 0 {
        return plan.skip(
            id,
            format!(
                "the source of {} read replica(s): RDS cannot stop it",
                db.replicas
            ),
        );
    }
    if let Some(why) = &db.unstoppable {
        return plan.skip(id, why.clone());
    }
    let wanted = match desired {
        State::Running => "available",
        State::Stopped => "stopped",
    };
    if db.status == wanted {
        return plan.skip(id, format!("already {wanted} ({})", v.reason));
    }
    if db.status != "available" && db.status != "stopped" {
        return plan.skip(id, format!("{}: the next run decides", db.status));
    }
    // Our last action since the boundary, and the database is not where we left it: a person
    // moved it. Respected until the next boundary, unless the schedule is enforced.
    let enforced = s.enforced || s.hold.is_some();
    let last = db
        .tags
        .get(LAST_ACTION_TAG)
        .and_then(|t| LastAction::parse(t));
    let boundary = v.last.as_ref().map(|b| b.at);
    if !enforced && let Some(l) = last.filter(|l| boundary.is_some_and(|b| l.at > b)) {
        let ours = match l.verb {
            Verb::Started | Verb::StartFailed => "we started it",
            Verb::Stopped => "we stopped it",
            // RDS's own start after seven days stopped: no person's; the schedule decides.
            Verb::RestartedByAws => {
                let act = match desired {
                    State::Running => Act::Start,
                    State::Stopped => Act::Stop,
                };
                let why = format!(
                    "{}; RDS started it itself at {} (seven days stopped)",
                    v.reason, l.at
                );
                return plan.act(id, act, why);
            }
        };
        let by_hand = if db.status == "available" {
            "started"
        } else {
            "stopped"
        };
        return plan.skip(
            id,
            format!(
                "{by_hand} by hand since {ours} at {}; left {} until the next boundary of {} (it is not enforced)",
                l.at, db.status, s.name
            ),
        );
    }
    let act = match desired {
        State::Running => Act::Start,
        State::Stopped => Act::Stop,
    };
    plan.act(id, act, v.reason.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::parse;
    use fleetkeeper::Env;
    use jiff::tz::TimeZone;

    const DOC: &str = r#"{
        "uk-support": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
        "strict": {"timezone": "Europe/London", "enforced": true, "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}}"#;
    // Tuesday 2026-12-01 in London (GMT = UTC).
    const EVENING: &str = "2026-12-01T18:05:00Z";
    const MORNING: &str = "2026-12-02T08:05:00Z";

    fn db(id: &str, kind: Kind, status: &str, schedule: &str) -> Database {
        Database {
            id: id.into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:db:{id}"),
            kind: Some(kind),
            status: status.into(),
            tags: BTreeMap::from([("fleetkeeper:schedule".to_owned(), schedule.to_owned())]),
            ..Database::default()
        }
    }

    fn run(dbs: &[Database], at: &str) -> DatabasePlan {
        let s = parse(DOC, (&TimeZone::UTC, "UTC")).unwrap();
        let at: Timestamp = at.parse().unwrap();
        let config = Config::from_env(&Env::of(&[("RESOURCES", "ec2,rds,aurora")])).unwrap();
        evaluate_databases(dbs, &s, &s.verdicts(at), &config, at)
    }

    fn acted(p: &DatabasePlan) -> Vec<(&str, Act)> {
        p.plan
            .actions
            .iter()
            .map(|a| (a.target.as_str(), a.action))
            .collect()
    }

    fn why<'a>(p: &'a DatabasePlan, id: &str) -> &'a str {
        &p.plan
            .skipped
            .iter()
            .find(|s| s.target == id)
            .expect(id)
            .reason
    }

    #[test]
    fn databases_stop_in_the_evening_and_start_in_the_morning() {
        let evening = [
            db("db-1", Kind::Rds, "available", "uk-support"),
            db("orders", Kind::Aurora, "available", "uk-support"),
            db("db-off", Kind::Rds, "stopped", "uk-support"),
        ];
        let p = run(&evening, EVENING);
        assert_eq!(acted(&p), [("db-1", Act::Stop), ("orders", Act::Stop)]);
        assert_eq!(p.kinds["orders"], Kind::Aurora);
        let until: Timestamp = "2026-12-02T08:00:00Z".parse().unwrap();
        assert_eq!(p.stopped_until["db-1"], until, "the hours a stop saves");
        assert_eq!(p.schedules["db-1"], "uk-support");
        assert!(why(&p, "db-off").starts_with("already stopped"));
        let morning = [
            db("db-1", Kind::Rds, "stopped", "uk-support"),
            db("orders", Kind::Aurora, "stopped", "uk-support"),
        ];
        let p = run(&morning, MORNING);
        assert_eq!(acted(&p), [("db-1", Act::Start), ("orders", Act::Start)]);
    }

    #[test]
    fn what_rds_cannot_stop_is_left_with_the_reason() {
        let mut member = db("db-member", Kind::Rds, "available", "uk-support");
        member.cluster = Some("orders".into());
        let mut replica = db("db-replica", Kind::Rds, "available", "uk-support");
        replica.replica_of = Some("db-main".into());
        let mut source = db("db-main", Kind::Rds, "available", "uk-support");
        source.replicas = 1;
        let mut v1 = db("old-serverless", Kind::Aurora, "available", "uk-support");
        v1.unstoppable = Some("an Aurora Serverless v1 cluster cannot be stopped".into());
        let busy = db("db-busy", Kind::Rds, "modifying", "uk-support");
        let p = run(&[member, replica, source, v1, busy], EVENING);
        assert!(acted(&p).is_empty());
        assert!(why(&p, "db-member").contains("member of DB cluster orders"));
        assert!(why(&p, "db-replica").contains("read replica of db-main"));
        assert!(why(&p, "db-main").contains("source of 1 read replica"));
        assert!(why(&p, "old-serverless").contains("Serverless v1"));
        assert_eq!(why(&p, "db-busy"), "modifying: the next run decides");
    }

    #[test]
    fn a_database_started_by_hand_is_respected_until_the_next_boundary() {
        let mut started = db("db-1", Kind::Rds, "available", "uk-support");
        started.tags.insert(
            LAST_ACTION_TAG.into(),
            "stopped 2026-12-01T18:00:30Z".into(),
        );
        let p = run(std::slice::from_ref(&started), "2026-12-01T21:05:00Z");
        assert!(acted(&p).is_empty());
        assert!(why(&p, "db-1").starts_with("started by hand since we stopped it"));
        started
            .tags
            .insert("fleetkeeper:schedule".into(), "strict".into());
        let p = run(&[started], "2026-12-01T21:05:00Z");
        assert_eq!(acted(&p), [("db-1", Act::Stop)], "enforced");
    }

    #[test]
    fn an_instance_and_a_cluster_of_one_name_are_not_confused() {
        let p = run(
            &[
                db("shared", Kind::Rds, "available", "uk-support"),
                db("shared", Kind::Aurora, "available", "uk-support"),
            ],
            EVENING,
        );
        assert_eq!(acted(&p), [("shared", Act::Stop)]);
        assert!(why(&p, "shared").contains("shares its identifier with a rds"));
    }

    fn instance(id: &str, state: &str, schedule: &str) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            tags: BTreeMap::from([("fleetkeeper:schedule".to_owned(), schedule.to_owned())]),
            instance_type: "t3.micro".into(),
            ..Default::default()
        }
    }

    /// Instances and databases of one place, evaluated and ordered as a run does.
    fn ordered(instances: &[Instance], dbs: &[Database], at: &str, doc: &str) -> RegionPlan {
        let s = parse(doc, (&TimeZone::UTC, "UTC")).unwrap();
        let at: Timestamp = at.parse().unwrap();
        let config = Config::from_env(&Env::of(&[("RESOURCES", "ec2,rds,aurora")])).unwrap();
        let v = s.verdicts(at);
        let mut rp = super::super::evaluate(instances, &s, &v, &config, at);
        rp.databases = evaluate_databases(dbs, &s, &v, &config, at);
        order(&mut rp, instances, &s, "fleetkeeper:schedule");
        rp
    }

    fn acts(plan: &Plan<Act>) -> Vec<(&str, Act)> {
        plan.actions
            .iter()
            .map(|a| (a.target.as_str(), a.action))
            .collect()
    }

    fn skipped<'a>(plan: &'a Plan<Act>, id: &str) -> &'a str {
        &plan
            .skipped
            .iter()
            .find(|s| s.target == id)
            .expect(id)
            .reason
    }

    #[test]
    fn databases_start_before_the_apps_and_stop_after_them() {
        let app = || instance("i-app", "stopped", "uk-support");
        // Morning: the database starts; the app waits for it.
        let rp = ordered(
            &[app()],
            &[db("db-1", Kind::Rds, "stopped", "uk-support")],
            MORNING,
            DOC,
        );
        assert_eq!(acts(&rp.databases.plan), [("db-1", Act::Start)]);
        assert!(acts(&rp.plan).is_empty());
        assert_eq!(
            skipped(&rp.plan, "i-app"),
            "waiting for database db-1 (stopped): uk-support starts its databases first"
        );
        // Five minutes on it is starting: still waiting, and said.
        let rp = ordered(
            &[app()],
            &[db("db-1", Kind::Rds, "starting", "uk-support")],
            MORNING,
            DOC,
        );
        assert!(skipped(&rp.plan, "i-app").starts_with("waiting for database db-1 (starting)"));
        // Available: the app starts.
        let rp = ordered(
            &[app()],
            &[db("db-1", Kind::Rds, "available", "uk-support")],
            MORNING,
            DOC,
        );
        assert_eq!(acts(&rp.plan), [("i-app", Act::Start)]);
        // Evening: the app stops first; the database waits while it is up.
        let running = instance("i-app", "running", "uk-support");
        let up = db("db-1", Kind::Rds, "available", "uk-support");
        let rp = ordered(&[running], std::slice::from_ref(&up), EVENING, DOC);
        assert_eq!(acts(&rp.plan), [("i-app", Act::Stop)]);
        assert!(acts(&rp.databases.plan).is_empty());
        assert!(
            skipped(&rp.databases.plan, "db-1")
                .starts_with("waiting for uk-support's instances to stop first (i-app running)")
        );
        // The next run: the app is stopped, the database stops.
        let rp = ordered(
            &[instance("i-app", "stopped", "uk-support")],
            &[up],
            EVENING,
            DOC,
        );
        assert_eq!(acts(&rp.databases.plan), [("db-1", Act::Stop)]);
    }

    #[test]
    fn order_none_acts_on_everything_at_once_and_other_schedules_do_not_wait() {
        let doc = r#"{"uk-support": {"timezone": "Europe/London", "order": "none",
            "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
            "strict": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}}"#;
        let rp = ordered(
            &[
                instance("i-app", "stopped", "uk-support"),
                instance("i-other", "stopped", "strict"),
            ],
            &[db("db-1", Kind::Rds, "stopped", "uk-support")],
            MORNING,
            doc,
        );
        assert_eq!(
            acts(&rp.plan),
            [("i-app", Act::Start), ("i-other", Act::Start)]
        );
        assert_eq!(acts(&rp.databases.plan), [("db-1", Act::Start)]);
    }

    #[test]
    fn a_database_rds_restarted_itself_is_stopped_again() {
        let mut restarted = db("db-1", Kind::Rds, "available", "uk-support");
        restarted.tags.insert(
            LAST_ACTION_TAG.into(),
            "restarted-by-aws 2026-12-01T20:00:00Z".into(),
        );
        let p = run(&[restarted], "2026-12-01T21:05:00Z");
        assert_eq!(acted(&p), [("db-1", Act::Stop)]);
        assert!(p.plan.actions[0].reason.contains("RDS started it itself"));
    }

    #[test]
    fn a_manual_stop_and_start_reach_every_kind() {
        use crate::event::Action;
        use crate::model::{ASG_SIZE_TAG, Group, Scheduled, Size};
        let config = Config::from_env(&Env::of(&[("RESOURCES", "ec2,rds,aurora,asg")])).unwrap();
        let now: Timestamp = MORNING.parse().unwrap();
        let mut member = db("db-member", Kind::Rds, "available", "uk-support");
        member.cluster = Some("orders".into());
        let up = Scheduled {
            instances: vec![instance("i-app", "running", "uk-support")],
            databases: vec![db("db-1", Kind::Rds, "available", "uk-support"), member],
            groups: vec![Group {
                name: "web".into(),
                size: Size {
                    min: 1,
                    desired: 2,
                    max: 4,
                },
                tags: BTreeMap::from([(
                    "fleetkeeper:schedule".to_owned(),
                    "uk-support".to_owned(),
                )]),
            }],
            services: vec![],
        };
        let rp = super::super::manual_all(Action::Stop, &up, &config, now);
        assert_eq!(acts(&rp.plan), [("i-app", Act::Stop)]);
        assert_eq!(acts(&rp.databases.plan), [("db-1", Act::Stop)]);
        assert!(skipped(&rp.databases.plan, "db-member").contains("member of DB cluster"));
        assert_eq!(acts(&rp.groups.plan), [("web", Act::Stop)]);
        assert!(rp.groups.plan.actions[0].reason.starts_with("manual stop"));
        // A manual start restores the group's recorded size.
        let mut down = up.clone();
        down.databases[0].status = "stopped".into();
        down.groups[0].size = Size {
            min: 0,
            desired: 0,
            max: 4,
        };
        down.groups[0]
            .tags
            .insert(ASG_SIZE_TAG.into(), "1,2,4".into());
        let rp = super::super::manual_all(Action::Start, &down, &config, now);
        assert_eq!(acts(&rp.databases.plan), [("db-1", Act::Start)]);
        assert_eq!(
            rp.groups.restore["web"],
            Size {
                min: 1,
                desired: 2,
                max: 4
            }
        );
    }
}
