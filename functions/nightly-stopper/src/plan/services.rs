//! ECS services' plan, pure. A service carrying the schedule tag is stopped by recording its
//! desired count (and its scalable target's min and max, where it has one) in
//! `fleetkeeper:ecs-size`, then setting the target to 0/0 and the desired count to 0; it is
//! started by restoring all of it exactly. A size tag that cannot be read is never guessed.

use std::collections::BTreeMap;

use fleetkeeper::Plan;
use jiff::Timestamp;

use super::groups::sized_by_hand;
use crate::config::Config;
use crate::model::{Act, ECS_SIZE_TAG, Service, ServiceSize};
use crate::schedule::{Schedules, State, Verdict};

/// One place's services: the plan (targets are service ARNs), each one's schedule, and what a
/// start restores.
#[derive(Debug, Clone, Default)]
pub struct ServicePlan {
    pub observed: Vec<Service>,
    pub plan: Plan<Act>,
    pub schedules: BTreeMap<String, String>,
    pub restore: BTreeMap<String, ServiceSize>,
    /// For a stop: the schedule's next start (the hours the stop saves).
    pub stopped_until: BTreeMap<String, Timestamp>,
}

pub fn evaluate_services(
    services: &[Service],
    schedules: &Schedules,
    verdicts: &BTreeMap<String, Verdict>,
    config: &Config,
    at: Timestamp,
) -> ServicePlan {
    let mut out = ServicePlan {
        observed: services.to_vec(),
        ..ServicePlan::default()
    };
    for svc in services {
        let id = svc.arn.as_str();
        let (s, v) = match super::schedule_of(&svc.tags, schedules, verdicts, config) {
            Ok(found) => found,
            Err(why) => {
                out.plan.skip(id, why);
                continue;
            }
        };
        out.schedules.insert(svc.arn.clone(), s.name.clone());
        let today = at.to_zoned(s.tz.clone()).date();
        if config.skip_dates.contains(&today) {
            out.plan
                .skip(id, format!("{today} is in SKIP_DATES ({})", s.tz_name));
            continue;
        }
        let Some(desired) = v.desired else {
            out.plan.skip(id, v.reason.clone());
            continue;
        };
        let running = !svc.stopped();
        if (desired == State::Running) == running {
            let now = match running {
                true => format!("running ({} tasks desired)", svc.size.desired),
                false => "stopped (0 tasks)".to_owned(),
            };
            out.plan.skip(id, format!("already {now} ({})", v.reason));
            continue;
        }
        if let Some(why) = sized_by_hand(&svc.tags, s, v) {
            out.plan.skip(id, why);
            continue;
        }
        match desired {
            State::Stopped => {
                out.plan.act(
                    id,
                    Act::Stop,
                    format!("{}; size {} recorded", v.reason, svc.size.tag()),
                );
                if let Some(until) = v.next_start {
                    out.stopped_until.insert(svc.arn.clone(), until);
                }
            }
            State::Running => match svc.tags.get(ECS_SIZE_TAG).map(|raw| ServiceSize::parse(raw)) {
                None => out.plan.skip(
                    id,
                    format!("at zero with no {ECS_SIZE_TAG} recorded: not ours to size; set its desired count by hand"),
                ),
                Some(Err(why)) => out.plan.skip(
                    id,
                    format!("{why}: never guessed; set the service's size by hand and delete the tag"),
                ),
                Some(Ok(size)) => {
                    out.plan.act(
                        id,
                        Act::Start,
                        format!("{}; size {} restored", v.reason, size.tag()),
                    );
                    out.restore.insert(svc.arn.clone(), size);
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LAST_ACTION_TAG;
    use crate::schedule::parse;
    use fleetkeeper::Env;
    use jiff::tz::TimeZone;

    const DOC: &str = r#"{"uk-support": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}}"#;

    fn service(
        name: &str,
        desired: i32,
        bounds: Option<(i32, i32)>,
        tags: &[(&str, &str)],
    ) -> Service {
        let mut all =
            BTreeMap::from([("fleetkeeper:schedule".to_owned(), "uk-support".to_owned())]);
        all.extend(tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Service {
            arn: format!("arn:aws:ecs:eu-west-1:123456789012:service/preview/{name}"),
            cluster: "preview".into(),
            name: name.into(),
            size: ServiceSize { desired, bounds },
            tags: all,
        }
    }

    fn run(services: &[Service], at: &str) -> ServicePlan {
        let s = parse(DOC, (&TimeZone::UTC, "UTC")).unwrap();
        let at: Timestamp = at.parse().unwrap();
        let config = Config::from_env(&Env::of(&[("RESOURCES", "ecs")])).unwrap();
        evaluate_services(services, &s, &s.verdicts(at), &config, at)
    }

    #[test]
    fn a_service_is_recorded_stopped_and_restored_with_its_bounds() {
        let p = run(
            &[service("api", 4, Some((2, 10)), &[])],
            "2026-12-01T18:05:00Z",
        );
        assert_eq!(p.plan.actions[0].action, Act::Stop);
        assert!(p.plan.actions[0].reason.ends_with("size 4,2,10 recorded"));
        let stopped = service("api", 0, Some((0, 0)), &[(ECS_SIZE_TAG, "4,2,10")]);
        let p = run(&[stopped], "2026-12-01T08:05:00Z");
        assert_eq!(p.plan.actions[0].action, Act::Start);
        assert_eq!(
            p.restore.values().next(),
            Some(&ServiceSize {
                desired: 4,
                bounds: Some((2, 10))
            })
        );
        // Without a scalable target, the desired count alone.
        let plain = service("worker", 0, None, &[(ECS_SIZE_TAG, "3")]);
        let p = run(&[plain], "2026-12-01T08:05:00Z");
        assert_eq!(
            p.restore.values().next(),
            Some(&ServiceSize {
                desired: 3,
                bounds: None
            })
        );
    }

    #[test]
    fn an_unreadable_size_is_never_guessed_and_a_hand_start_is_respected() {
        let p = run(
            &[service("api", 0, None, &[(ECS_SIZE_TAG, "lots")])],
            "2026-12-01T08:05:00Z",
        );
        assert!(p.plan.actions.is_empty());
        assert!(p.plan.skipped[0].reason.contains("never guessed"));
        let by_hand = service(
            "api",
            2,
            None,
            &[
                (ECS_SIZE_TAG, "4"),
                (LAST_ACTION_TAG, "stopped 2026-12-01T18:00:30Z"),
            ],
        );
        let p = run(&[by_hand], "2026-12-01T21:05:00Z");
        assert!(
            p.plan.skipped[0]
                .reason
                .starts_with("given capacity by hand")
        );
    }
}
