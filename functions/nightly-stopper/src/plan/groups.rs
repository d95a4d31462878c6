//! Auto Scaling groups' plan, pure. A group carrying the schedule tag is stopped by recording
//! its min, desired and max in `fleetkeeper:asg-size` and setting min and desired to 0; it is
//! started by restoring exactly what was recorded, so a size changed by hand during the day is
//! what comes back. A group given capacity by hand while stopped is a person's start,
//! respected until the next boundary. A size tag that cannot be read is never guessed.

use std::collections::BTreeMap;

use fleetkeeper::Plan;
use jiff::Timestamp;

use crate::config::Config;
use crate::model::{ASG_SIZE_TAG, Act, Group, LAST_ACTION_TAG, LastAction, Size, Verb};
use crate::schedule::{Schedule, Schedules, State, Verdict};

/// One place's groups: the plan (targets are group names), each one's schedule, and the size
/// a start restores.
#[derive(Debug, Clone, Default)]
pub struct GroupPlan {
    pub observed: Vec<Group>,
    pub plan: Plan<Act>,
    pub schedules: BTreeMap<String, String>,
    pub restore: BTreeMap<String, Size>,
    /// For a stop: the schedule's next start (the hours the stop saves).
    pub stopped_until: BTreeMap<String, Timestamp>,
}

pub fn evaluate_groups(
    groups: &[Group],
    schedules: &Schedules,
    verdicts: &BTreeMap<String, Verdict>,
    config: &Config,
    at: Timestamp,
) -> GroupPlan {
    let mut out = GroupPlan {
        observed: groups.to_vec(),
        ..GroupPlan::default()
    };
    for g in groups {
        let (schedule, v) = match super::schedule_of(&g.tags, schedules, verdicts, config) {
            Ok(found) => found,
            Err(why) => {
                out.plan.skip(&g.name, why);
                continue;
            }
        };
        out.schedules.insert(g.name.clone(), schedule.name.clone());
        decide(&mut out, g, schedule, v, config, at);
        let stops = out
            .plan
            .actions
            .iter()
            .any(|a| a.target == g.name && a.action == Act::Stop);
        if let (Some(until), true) = (v.next_start, stops) {
            out.stopped_until.insert(g.name.clone(), until);
        }
    }
    out
}

/// Our last action since the boundary, and the resource is not where we left it: a person
/// sized it. Respected until the next boundary, unless the schedule is enforced.
pub(super) fn sized_by_hand(
    tags: &BTreeMap<String, String>,
    s: &Schedule,
    v: &Verdict,
) -> Option<String> {
    let enforced = s.enforced || s.hold.is_some();
    let last = tags.get(LAST_ACTION_TAG).and_then(|t| LastAction::parse(t));
    let boundary = v.last.as_ref().map(|b| b.at);
    let l = last.filter(|l| !enforced && boundary.is_some_and(|b| l.at > b))?;
    let (ours, by_hand) = match l.verb {
        Verb::Stopped => ("we stopped it", "given capacity by hand"),
        _ => ("we started it", "scaled to zero by hand"),
    };
    Some(format!(
        "{by_hand} since {ours} at {}; left as it is until the next boundary of {} (it is not enforced)",
        l.at, s.name
    ))
}

fn decide(
    out: &mut GroupPlan,
    g: &Group,
    s: &Schedule,
    v: &Verdict,
    config: &Config,
    at: Timestamp,
) {
    let plan = &mut out.plan;
    let id = g.name.as_str();
    let today = at.to_zoned(s.tz.clone()).date();
    if config.skip_dates.contains(&today) {
        return plan.skip(id, format!("{today} is in SKIP_DATES ({})", s.tz_name));
    }
    let Some(desired) = v.desired else {
        return plan.skip(id, v.reason.clone());
    };
    let size = g.size;
    let running = !g.stopped();
    if (desired == State::Running) == running {
        let now = match running {
            true => format!(
                "running ({} of min {}, max {})",
                size.desired, size.min, size.max
            ),
            false => "stopped (min and desired 0)".to_owned(),
        };
        return plan.skip(id, format!("already {now} ({})", v.reason));
    }
    if let Some(why) = sized_by_hand(&g.tags, s, v) {
        return plan.skip(id, why);
    }
    match desired {
        State::Stopped => plan.act(
            id,
            Act::Stop,
            format!("{}; size {} recorded", v.reason, size.tag()),
        ),
        State::Running => {
            let Some(raw) = g.tags.get(ASG_SIZE_TAG) else {
                return plan.skip(
                    id,
                    format!("at zero with no {ASG_SIZE_TAG} recorded: not ours to size; set its size by hand"),
                );
            };
            match Size::parse(raw) {
                Ok(recorded) if recorded.desired > 0 || recorded.min > 0 => {
                    plan.act(
                        id,
                        Act::Start,
                        format!("{}; size {} restored", v.reason, recorded.tag()),
                    );
                    out.restore.insert(g.name.clone(), recorded);
                }
                Ok(_) => plan.skip(
                    id,
                    format!("{ASG_SIZE_TAG} records a size of zero: nothing to restore"),
                ),
                Err(why) => plan.skip(
                    id,
                    format!(
                        "{why}: never guessed; set the group's size by hand and delete the tag"
                    ),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::parse;
    use fleetkeeper::Env;
    use jiff::tz::TimeZone;

    const DOC: &str = r#"{"uk-support": {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
        "nth": {"timezone": "Europe/London", "periods": [{"days": "tue#1", "start": "08:00", "stop": "18:00"}]}}"#;
    const EVENING: &str = "2026-12-01T18:05:00Z";
    const MORNING: &str = "2026-12-01T08:05:00Z";

    fn group(name: &str, size: (i32, i32, i32), tags: &[(&str, &str)]) -> Group {
        let mut all =
            BTreeMap::from([("fleetkeeper:schedule".to_owned(), "uk-support".to_owned())]);
        all.extend(tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Group {
            name: name.into(),
            size: Size {
                min: size.0,
                desired: size.1,
                max: size.2,
            },
            tags: all,
        }
    }

    fn run(groups: &[Group], at: &str) -> GroupPlan {
        let s = parse(DOC, (&TimeZone::UTC, "UTC")).unwrap();
        let at: Timestamp = at.parse().unwrap();
        let config = Config::from_env(&Env::of(&[("RESOURCES", "ec2,asg")])).unwrap();
        evaluate_groups(groups, &s, &s.verdicts(at), &config, at)
    }

    fn why<'a>(p: &'a GroupPlan, id: &str) -> &'a str {
        &p.plan
            .skipped
            .iter()
            .find(|s| s.target == id)
            .expect(id)
            .reason
    }

    #[test]
    fn a_group_is_stopped_with_its_size_recorded_and_started_to_exactly_that() {
        let p = run(&[group("web", (2, 3, 6), &[])], EVENING);
        assert_eq!(p.plan.actions[0].action, Act::Stop);
        assert!(p.plan.actions[0].reason.ends_with("size 2,3,6 recorded"));
        let stopped = group("web", (0, 0, 6), &[(ASG_SIZE_TAG, "2,3,6")]);
        let p = run(&[stopped], MORNING);
        assert_eq!(p.plan.actions[0].action, Act::Start);
        assert_eq!(
            p.restore["web"],
            Size {
                min: 2,
                desired: 3,
                max: 6
            }
        );
        // An nth-weekday schedule works as any other (Tuesday 1 December is the first).
        let mut nth = group("batch", (0, 0, 4), &[(ASG_SIZE_TAG, "1,1,4")]);
        nth.tags.insert("fleetkeeper:schedule".into(), "nth".into());
        assert_eq!(run(&[nth], MORNING).plan.actions[0].action, Act::Start);
    }

    #[test]
    fn an_unreadable_or_missing_size_is_never_guessed() {
        let p = run(
            &[
                group("web", (0, 0, 6), &[(ASG_SIZE_TAG, "three")]),
                group("api", (0, 0, 6), &[(ASG_SIZE_TAG, "4,2,6")]),
                group("bare", (0, 0, 6), &[]),
            ],
            MORNING,
        );
        assert!(p.plan.actions.is_empty());
        assert!(why(&p, "web").contains("never guessed; set the group's size by hand"));
        assert!(why(&p, "api").contains("min <= desired <= max"));
        assert!(why(&p, "bare").contains("no fleetkeeper:asg-size recorded"));
    }

    #[test]
    fn capacity_given_by_hand_while_stopped_is_respected() {
        let by_hand = group(
            "web",
            (1, 1, 6),
            &[
                (ASG_SIZE_TAG, "2,3,6"),
                (LAST_ACTION_TAG, "stopped 2026-12-01T18:00:30Z"),
            ],
        );
        let p = run(&[by_hand], "2026-12-01T21:05:00Z");
        assert!(p.plan.actions.is_empty());
        assert!(why(&p, "web").starts_with("given capacity by hand since we stopped it"));
    }
}
