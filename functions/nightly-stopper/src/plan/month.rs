//! A simulated month, pure: 30 days of runs every 5 minutes over a place holding every kind on
//! three schedules, with RDS's seven-day restart, a person's start, a group sized by hand and
//! databases slow to become available. Each run plans as the function does and the world
//! answers as AWS would; the month must show that nothing stays outside its schedule for longer
//! than one run except while it waits for a database (or its databases for it), that no
//! compute starts before its databases are available, and that every group and service comes
//! back to exactly the size it had when stopped.

use std::collections::BTreeMap;

use fleetkeeper::Env;
use fleetkeeper::ec2::{Instance, InstanceState};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::evaluate_all;
use crate::config::Config;
use crate::model::{
    ASG_SIZE_TAG, Act, Database, ECS_SIZE_TAG, Group, Kind, LAST_ACTION_TAG, Scheduled, Service,
    ServiceSize, Size,
};
use crate::schedule::{State, parse};

const DOC: &str = r#"{
    "office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]},
    "uk-support": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"},
                                                             {"days": "sat", "start": "09:00", "stop": "13:00"}]},
    "night-shift": {"timezone": "UTC", "periods": [{"days": "mon-sun", "start": "22:00", "stop": "06:00"}]}
}"#;
const SCHEDULES: [&str; 3] = ["office-hours", "uk-support", "night-shift"];
/// How many runs a database takes to go from starting to available.
const SLOW_START: u32 = 3;

fn tags(schedule: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("fleetkeeper:schedule".to_owned(), schedule.to_owned())])
}

struct World {
    place: Scheduled,
    /// Runs left before a starting database is available.
    starting: BTreeMap<String, u32>,
    /// The size each group and service had when we stopped it.
    stopped_at: BTreeMap<String, String>,
}

impl World {
    fn new() -> Self {
        let mut place = Scheduled::default();
        for (n, s) in SCHEDULES.iter().enumerate() {
            place.instances.push(Instance {
                id: format!("i-{n}"),
                state: InstanceState::Running,
                tags: tags(s),
                instance_type: "t3.micro".into(),
                ..Instance::default()
            });
            place.databases.push(Database {
                id: format!("db-{n}"),
                arn: format!("arn:db-{n}"),
                kind: Some(if n == 1 { Kind::Aurora } else { Kind::Rds }),
                status: "available".into(),
                tags: tags(s),
                ..Database::default()
            });
            place.groups.push(Group {
                name: format!("asg-{n}"),
                size: Size {
                    min: 1,
                    desired: 2,
                    max: 4,
                },
                tags: tags(s),
            });
            place.services.push(Service {
                arn: format!("arn:svc-{n}"),
                cluster: "c".into(),
                name: format!("svc-{n}"),
                size: ServiceSize {
                    desired: 3,
                    bounds: Some((1, 6)),
                },
                tags: tags(s),
            });
        }
        World {
            place,
            starting: BTreeMap::new(),
            stopped_at: BTreeMap::new(),
        }
    }

    fn schedule_of(tags: &BTreeMap<String, String>) -> String {
        tags["fleetkeeper:schedule"].clone()
    }

    /// Whether every database of `schedule` is available.
    fn databases_up(&self, schedule: &str) -> bool {
        self.place
            .databases
            .iter()
            .filter(|d| Self::schedule_of(&d.tags) == schedule)
            .all(|d| d.status == "available")
    }

    /// One run at `at`: plan as the function does, check the plan, carry it out as AWS would.
    fn run(&mut self, config: &Config, at: Timestamp) {
        let schedules = parse(DOC, (&TimeZone::UTC, "UTC")).unwrap();
        let verdicts = schedules.verdicts(at);
        let rp = evaluate_all(&self.place, &schedules, &verdicts, config, at);
        let stamp = at.to_string();
        // Databases come up slowly.
        for d in &mut self.place.databases {
            if let Some(left) = self.starting.get_mut(&d.id) {
                *left -= 1;
                if *left == 0 {
                    d.status = "available".into();
                    self.starting.remove(&d.id);
                }
            }
        }
        let starts = |plan: &fleetkeeper::Plan<Act>| -> Vec<String> {
            plan.runnable()
                .iter()
                .filter(|a| a.action == Act::Start)
                .map(|a| a.target.clone())
                .collect()
        };
        let stops = |plan: &fleetkeeper::Plan<Act>| -> Vec<String> {
            plan.runnable()
                .iter()
                .filter(|a| a.action != Act::Start)
                .map(|a| a.target.clone())
                .collect()
        };
        // No compute starts before its databases are available.
        for i in &mut self.place.instances {
            let s = Self::schedule_of(&i.tags);
            if starts(&rp.plan).contains(&i.id) {
                let up = self
                    .place
                    .databases
                    .iter()
                    .filter(|d| Self::schedule_of(&d.tags) == s)
                    .all(|d| d.status == "available");
                assert!(up, "{at}: {} started before the databases of {s}", i.id);
                i.state = InstanceState::Running;
                i.launched_at = Some(at);
                i.tags
                    .insert(LAST_ACTION_TAG.into(), format!("started {stamp}"));
            }
            if stops(&rp.plan).contains(&i.id) {
                i.state = InstanceState::Stopped;
                i.tags
                    .insert(LAST_ACTION_TAG.into(), format!("stopped {stamp}"));
            }
        }
        for d in &mut self.place.databases {
            if starts(&rp.databases.plan).contains(&d.id) {
                d.status = "starting".into();
                self.starting.insert(d.id.clone(), SLOW_START);
                d.tags
                    .insert(LAST_ACTION_TAG.into(), format!("started {stamp}"));
            }
            if stops(&rp.databases.plan).contains(&d.id) {
                d.status = "stopped".into();
                d.tags
                    .insert(LAST_ACTION_TAG.into(), format!("stopped {stamp}"));
            }
        }
        let groups_ok: Vec<bool> = self
            .place
            .groups
            .iter()
            .map(|g| {
                !starts(&rp.groups.plan).contains(&g.name)
                    || self.databases_up(&Self::schedule_of(&g.tags))
            })
            .collect();
        assert!(
            groups_ok.iter().all(|ok| *ok),
            "{at}: a group started before its databases"
        );
        for g in &mut self.place.groups {
            if starts(&rp.groups.plan).contains(&g.name) {
                let size = rp.groups.restore[&g.name];
                assert_eq!(
                    size.tag(),
                    self.stopped_at[&g.name],
                    "{at}: {} restored exactly",
                    g.name
                );
                g.size = size;
                g.tags
                    .insert(LAST_ACTION_TAG.into(), format!("started {stamp}"));
            }
            if stops(&rp.groups.plan).contains(&g.name) {
                g.tags.insert(ASG_SIZE_TAG.into(), g.size.tag());
                self.stopped_at.insert(g.name.clone(), g.size.tag());
                g.size = Size {
                    min: 0,
                    desired: 0,
                    max: g.size.max,
                };
                g.tags
                    .insert(LAST_ACTION_TAG.into(), format!("stopped {stamp}"));
            }
        }
        let services_ok: Vec<bool> = self
            .place
            .services
            .iter()
            .map(|s| {
                !starts(&rp.services.plan).contains(&s.arn)
                    || self.databases_up(&Self::schedule_of(&s.tags))
            })
            .collect();
        assert!(
            services_ok.iter().all(|ok| *ok),
            "{at}: a service started before its databases"
        );
        for s in &mut self.place.services {
            if starts(&rp.services.plan).contains(&s.arn) {
                let size = rp.services.restore[&s.arn];
                assert_eq!(
                    size.tag(),
                    self.stopped_at[&s.arn],
                    "{at}: {} restored exactly",
                    s.name
                );
                s.size = size;
                s.tags
                    .insert(LAST_ACTION_TAG.into(), format!("started {stamp}"));
            }
            if stops(&rp.services.plan).contains(&s.arn) {
                s.tags.insert(ECS_SIZE_TAG.into(), s.size.tag());
                self.stopped_at.insert(s.arn.clone(), s.size.tag());
                s.size = ServiceSize {
                    desired: 0,
                    bounds: s.size.bounds.map(|_| (0, 0)),
                };
                s.tags
                    .insert(LAST_ACTION_TAG.into(), format!("stopped {stamp}"));
            }
        }
    }

    /// Each resource, whether it runs, with its schedule.
    fn running(&self) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for i in &self.place.instances {
            out.push((
                i.id.clone(),
                Self::schedule_of(&i.tags),
                i.state == InstanceState::Running,
            ));
        }
        for d in &self.place.databases {
            out.push((
                d.id.clone(),
                Self::schedule_of(&d.tags),
                d.status != "stopped",
            ));
        }
        for g in &self.place.groups {
            out.push((g.name.clone(), Self::schedule_of(&g.tags), !g.stopped()));
        }
        for s in &self.place.services {
            out.push((s.name.clone(), Self::schedule_of(&s.tags), !s.stopped()));
        }
        out
    }
}

#[test]
fn a_month_every_five_minutes_over_every_kind() {
    let config = Config::from_env(&Env::of(&[
        ("RESOURCES", "ec2,rds,aurora,asg,ecs"),
        ("SCHEDULES", DOC),
    ]))
    .unwrap();
    let schedules = parse(DOC, (&TimeZone::UTC, "UTC")).unwrap();
    let mut world = World::new();
    let start: Timestamp = "2026-11-02T00:00:00Z".parse().unwrap();
    let step = SignedDuration::from_mins(5);
    // How many runs in a row each resource has been outside its schedule, unexcused.
    let mut outside: BTreeMap<String, u32> = BTreeMap::new();
    let mut person_started: Option<(String, Timestamp)> = None;
    for n in 0..(30 * 24 * 12) {
        let at = start + step * n;
        // Day 5, 12:00 UTC: a person sizes office-hours' group by hand (it comes back so).
        if at == "2026-11-06T12:00:00Z".parse().unwrap() {
            world.place.groups[0].size = Size {
                min: 1,
                desired: 4,
                max: 6,
            };
        }
        // Day 10, 03:00 UTC: RDS starts office-hours' database itself after seven days.
        if at == "2026-11-11T03:00:00Z".parse().unwrap() {
            let db = &mut world.place.databases[0];
            db.status = "available".into();
            db.tags
                .insert(LAST_ACTION_TAG.into(), format!("restarted-by-aws {at}"));
        }
        // Day 12, 21:00 UTC: a person starts uk-support's instance; it stays until 08:00.
        if at == "2026-11-13T21:00:00Z".parse().unwrap() {
            let i = &mut world.place.instances[1];
            i.state = InstanceState::Running;
            i.launched_at = Some(at);
            person_started = Some((i.id.clone(), at));
        }
        world.run(&config, at);
        let verdicts = schedules.verdicts(at);
        let resources = world.running();
        let compute_up = |schedule: &str| {
            resources
                .iter()
                .any(|(id, s, up)| s == schedule && *up && !id.starts_with("db-"))
        };
        for (id, schedule, running) in resources.clone() {
            let Some(wanted) = verdicts[&schedule].desired else {
                continue;
            };
            let excused = match wanted {
                // Compute waits for its databases; a database for nothing.
                State::Running => !world.databases_up(&schedule) && !id.starts_with("db-"),
                // Databases wait for their compute to stop; a person's start until the boundary.
                State::Stopped => {
                    (id.starts_with("db-") && compute_up(&schedule))
                        || person_started.as_ref().is_some_and(|(p, since)| {
                            *p == id
                                && verdicts[&schedule]
                                    .last
                                    .as_ref()
                                    .is_some_and(|b| b.at < *since)
                        })
                }
            };
            let off = (wanted == State::Running) != running;
            let streak = outside.entry(id.clone()).or_default();
            *streak = if off && !excused { *streak + 1 } else { 0 };
            assert!(
                *streak <= 1,
                "{at}: {id} outside {schedule} for {} runs",
                *streak
            );
        }
    }
    // The group sized by hand came back as it was sized.
    assert!(
        world.stopped_at.values().any(|s| s == "1,4,6"),
        "{:?}",
        world.stopped_at
    );
}
