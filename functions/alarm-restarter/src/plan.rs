//! The guard rails, as a pure function of the alarm change, the instances as observed, the
//! settings and the time: which instances to restart and, for each of the others, why not.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use fleetkeeper::ec2::{Instance, InstanceState};

use crate::config::Config;
use crate::history::{EventKey, History};
use fleetkeeper::alarm::{AlarmChange, AlarmKind};

/// Why an instance is not restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NotAnInstanceId,
    NotFound,
    NotRunning(InstanceState),
    NotOptedIn,
    HistoryUnreadable(String),
    Duplicate,
    Cooldown { last: Timestamp, until: Timestamp },
    CapReached { count: usize },
}

impl Skip {
    /// A stable code for the report's `action` field and for filtering logs.
    pub fn code(&self) -> &'static str {
        match self {
            Skip::NotAnInstanceId => "not-an-instance-id",
            Skip::NotFound => "not-found",
            Skip::NotRunning(_) => "not-running",
            Skip::NotOptedIn => "not-opted-in",
            Skip::HistoryUnreadable(_) => "history-unreadable",
            Skip::Duplicate => "duplicate",
            Skip::Cooldown { .. } => "cooldown",
            Skip::CapReached { .. } => "cap-reached",
        }
    }

    pub fn is_cap_reached(&self) -> bool {
        matches!(self, Skip::CapReached { .. })
    }

    /// Cases a human must look at: logged at error level.
    pub fn needs_a_human(&self) -> bool {
        matches!(self, Skip::CapReached { .. } | Skip::HistoryUnreadable(_))
    }

    pub fn reason(&self, config: &Config) -> String {
        match self {
            Skip::NotAnInstanceId => {
                "the alarm's InstanceId dimension is not an EC2 instance id".into()
            }
            Skip::NotFound => "no such instance in this account and region".into(),
            Skip::NotRunning(state) => {
                format!("instance is {state}: only running instances are restarted")
            }
            Skip::NotOptedIn => format!(
                "not tagged {}=true (set ALLOW_ALL=true to restart any instance)",
                config.tag_key
            ),
            Skip::HistoryUnreadable(why) => format!(
                "tag {} is unreadable ({why}): no restart until it is fixed or removed",
                config.history_tag
            ),
            Skip::Duplicate => "this alarm change was already handled (a repeated delivery)".into(),
            Skip::Cooldown { last, until } => format!(
                "restarted at {last}; COOLDOWN_MINUTES={} lasts until {until}",
                config.cooldown.as_mins()
            ),
            Skip::CapReached { count } => format!(
                "restarted {count} times in the last {} hours (MAX_RESTARTS={}): a human must look",
                config.window.as_hours(),
                config.max_restarts
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Restart {
        /// The history tag as found (None: no tag), restored if the restart call fails.
        previous: Option<String>,
        /// The history tag to write before restarting.
        history: String,
        /// Restarts in the window, this one included.
        count: usize,
    },
    Skip(Skip),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    pub id: String,
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmPlan {
    /// The change restarts nothing, whatever the instances.
    Ignored(String),
    Instances(Vec<InstancePlan>),
}

/// `i-` and 8 or 17 lowercase hex digits.
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Why this change restarts nothing, before any instance is looked at.
pub fn ignored(change: &AlarmChange, config: &Config) -> Option<String> {
    if !change.alarm_name.starts_with(&config.alarm_prefix) {
        return Some(format!(
            "alarm name does not start with ALARM_NAME_PREFIX={:?}",
            config.alarm_prefix
        ));
    }
    if !change.entered_alarm() {
        let from = change.previous.map_or("unknown", |p| p.as_str());
        return Some(format!(
            "state {} (from {from}): only a change into ALARM restarts",
            change.state.as_str()
        ));
    }
    if change.kind == AlarmKind::Composite {
        return Some("composite alarm: it names no instance".into());
    }
    if change.instances.is_empty() {
        return Some("no metric of the alarm has an InstanceId dimension".into());
    }
    None
}

pub fn plan(
    change: &AlarmChange,
    observed: &BTreeMap<String, Instance>,
    config: &Config,
    now: Timestamp,
) -> AlarmPlan {
    if let Some(why) = ignored(change, config) {
        return AlarmPlan::Ignored(why);
    }
    let event = EventKey::of(&change.alarm_name, &change.state_timestamp);
    AlarmPlan::Instances(
        change
            .instances
            .iter()
            .map(|id| InstancePlan {
                id: id.clone(),
                decision: decide(id, observed.get(id), config, event, now),
            })
            .collect(),
    )
}

fn decide(
    id: &str,
    instance: Option<&Instance>,
    config: &Config,
    event: EventKey,
    now: Timestamp,
) -> Decision {
    let skip = |s| Decision::Skip(s);
    if !is_instance_id(id) {
        return skip(Skip::NotAnInstanceId);
    }
    let Some(instance) = instance else {
        return skip(Skip::NotFound);
    };
    if instance.state != InstanceState::Running {
        return skip(Skip::NotRunning(instance.state));
    }
    let opted_in = instance
        .tags
        .get(&config.tag_key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !opted_in && !config.allow_all {
        return skip(Skip::NotOptedIn);
    }
    let previous = instance.tags.get(&config.history_tag).cloned();
    let history = match History::parse(previous.as_deref().unwrap_or("")) {
        Ok(h) => h,
        Err(why) => return skip(Skip::HistoryUnreadable(why)),
    };
    if history.contains(event) {
        return skip(Skip::Duplicate);
    }
    if let Some(last) = history.last() {
        let until = last + config.cooldown;
        if now < until && config.cooldown > SignedDuration::ZERO {
            return skip(Skip::Cooldown { last, until });
        }
    }
    let count = history.count_within(now, config.window);
    if count >= config.max_restarts {
        return skip(Skip::CapReached { count });
    }
    Decision::Restart {
        previous,
        history: history.with_restart(now, event, config.window).to_string(),
        count: count + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetkeeper::Env;
    use fleetkeeper::alarm::{Delivery, State};

    const ID: &str = "i-0a1b2c3d4e5f60718";
    const T0: i64 = 1_763_658_280;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&Env::of(pairs)).unwrap()
    }

    fn change(stamp: &str) -> AlarmChange {
        AlarmChange {
            delivery: Delivery::EventBridge,
            alarm_name: "web-1-status".into(),
            alarm_arn: None,
            region: Some("us-east-1".into()),
            account: None,
            kind: AlarmKind::Metric,
            state: State::Alarm,
            state_timestamp: stamp.into(),
            previous: Some(State::Ok),
            instances: vec![ID.into()],
        }
    }

    fn instance(state: &str, tags: &[(&str, &str)]) -> BTreeMap<String, Instance> {
        let i = Instance {
            id: ID.into(),
            state: state.into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        };
        BTreeMap::from([(ID.to_owned(), i)])
    }

    fn tagged(history: &str) -> BTreeMap<String, Instance> {
        instance(
            "running",
            &[
                ("fleetkeeper:auto-restart", "true"),
                ("fleetkeeper:restart-history", history),
            ],
        )
    }

    fn one(plan: AlarmPlan) -> Decision {
        match plan {
            AlarmPlan::Instances(mut v) if v.len() == 1 => v.remove(0).decision,
            other => panic!("{other:?}"),
        }
    }

    fn decide_at(history: &str, now: i64, cfg: &Config) -> Decision {
        one(plan(&change("s-new"), &tagged(history), cfg, at(now)))
    }

    /// `n` restarts at T0, T0+1h, ... each from a different alarm change.
    fn restarts(times: &[i64]) -> String {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{t}:{:08x}", i + 1))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn first_restart_writes_history() {
        let d = decide_at("", T0, &config(&[]));
        let key = EventKey::of("web-1-status", "s-new");
        assert_eq!(
            d,
            Decision::Restart {
                previous: Some(String::new()),
                history: format!("{T0}:{key}"),
                count: 1
            }
        );
        // No history tag at all: the same, and `previous` says there was none.
        let d = one(plan(
            &change("s-new"),
            &instance("running", &[("fleetkeeper:auto-restart", "true")]),
            &config(&[]),
            at(T0),
        ));
        assert!(matches!(
            d,
            Decision::Restart {
                previous: None,
                count: 1,
                ..
            }
        ));
    }

    #[test]
    fn cooldown_edges() {
        let cfg = config(&[("COOLDOWN_MINUTES", "15")]);
        let h = restarts(&[T0]);
        // One second before the cooldown ends: skipped; at its end: restarted.
        let d = decide_at(&h, T0 + 15 * 60 - 1, &cfg);
        assert_eq!(
            d,
            Decision::Skip(Skip::Cooldown {
                last: at(T0),
                until: at(T0 + 900)
            })
        );
        assert!(matches!(
            decide_at(&h, T0 + 15 * 60, &cfg),
            Decision::Restart { count: 2, .. }
        ));
        // A cooldown of zero never holds back.
        let cfg = config(&[("COOLDOWN_MINUTES", "0")]);
        assert!(matches!(decide_at(&h, T0, &cfg), Decision::Restart { .. }));
    }

    #[test]
    fn cap_edges() {
        let cfg = config(&[
            ("COOLDOWN_MINUTES", "0"),
            ("MAX_RESTARTS", "3"),
            ("WINDOW_HOURS", "6"),
        ]);
        // Two in the window: the third is allowed and is the last one.
        let two = restarts(&[T0, T0 + 3600]);
        assert!(matches!(
            decide_at(&two, T0 + 7200, &cfg),
            Decision::Restart { count: 3, .. }
        ));
        // Three in the window: capped.
        let three = restarts(&[T0, T0 + 3600, T0 + 7200]);
        let d = decide_at(&three, T0 + 7300, &cfg);
        assert_eq!(d, Decision::Skip(Skip::CapReached { count: 3 }));
        let Decision::Skip(s) = d else { unreachable!() };
        assert!(s.needs_a_human());
        assert!(s.reason(&cfg).contains("MAX_RESTARTS=3"));
    }

    #[test]
    fn window_slides() {
        let cfg = config(&[
            ("COOLDOWN_MINUTES", "0"),
            ("MAX_RESTARTS", "3"),
            ("WINDOW_HOURS", "6"),
        ]);
        let three = restarts(&[T0, T0 + 3600, T0 + 7200]);
        let six_hours = 6 * 3600;
        // The oldest restart is exactly six hours old: it has slid out.
        assert!(matches!(
            decide_at(&three, T0 + six_hours, &cfg),
            Decision::Restart { count: 3, .. }
        ));
        // One second earlier it still counts.
        assert_eq!(
            decide_at(&three, T0 + six_hours - 1, &cfg),
            Decision::Skip(Skip::CapReached { count: 3 })
        );
        // The new history keeps the old entries for duplicate detection (under a day old).
        let Decision::Restart { history, .. } = decide_at(&three, T0 + six_hours, &cfg) else {
            unreachable!()
        };
        assert_eq!(History::parse(&history).unwrap().entries().len(), 4);
    }

    #[test]
    fn duplicate_delivery_restarts_once() {
        let cfg = config(&[("COOLDOWN_MINUTES", "0")]);
        let Decision::Restart { history, .. } = decide_at("", T0, &cfg) else {
            panic!()
        };
        // The same change again, even with no cooldown: a duplicate.
        assert_eq!(
            decide_at(&history, T0 + 5, &cfg),
            Decision::Skip(Skip::Duplicate)
        );
        // A new change of the same alarm is not.
        let d = one(plan(
            &change("s-later"),
            &tagged(&history),
            &cfg,
            at(T0 + 5),
        ));
        assert!(matches!(d, Decision::Restart { count: 2, .. }));
    }

    #[test]
    fn instance_guards() {
        let cfg = config(&[]);
        let c = change("s");
        for state in [
            "stopped",
            "stopping",
            "terminated",
            "pending",
            "shutting-down",
        ] {
            let d = one(plan(
                &c,
                &instance(state, &[("fleetkeeper:auto-restart", "true")]),
                &cfg,
                at(T0),
            ));
            assert_eq!(d, Decision::Skip(Skip::NotRunning(state.into())));
        }
        for tags in [
            &[][..],
            &[("fleetkeeper:auto-restart", "false")][..],
            &[("fleetkeeper:auto-restart", "yes")][..],
        ] {
            let d = one(plan(&c, &instance("running", tags), &cfg, at(T0)));
            assert_eq!(d, Decision::Skip(Skip::NotOptedIn));
        }
        let all = config(&[("ALLOW_ALL", "true")]);
        assert!(matches!(
            one(plan(&c, &instance("running", &[]), &all, at(T0))),
            Decision::Restart { .. }
        ));
        let custom = config(&[("RESTART_TAG_KEY", "ops:restart")]);
        assert!(matches!(
            one(plan(
                &c,
                &instance("running", &[("ops:restart", "TRUE")]),
                &custom,
                at(T0)
            )),
            Decision::Restart { .. }
        ));
        assert_eq!(
            one(plan(&c, &BTreeMap::new(), &cfg, at(T0))),
            Decision::Skip(Skip::NotFound)
        );
        let mut bad = c.clone();
        bad.instances = vec!["web-1".into()];
        assert_eq!(
            one(plan(&bad, &BTreeMap::new(), &cfg, at(T0))),
            Decision::Skip(Skip::NotAnInstanceId)
        );
    }

    #[test]
    fn edited_history_stops_restarts() {
        let d = decide_at("restarted twice last week", T0, &config(&[]));
        let Decision::Skip(s @ Skip::HistoryUnreadable(_)) = d else {
            panic!("{d:?}")
        };
        assert!(s.needs_a_human());
        assert!(
            s.reason(&config(&[]))
                .contains("fleetkeeper:restart-history")
        );
    }

    #[test]
    fn changes_that_restart_nothing() {
        let cfg = config(&[]);
        let obs = tagged("");
        let mut ok = change("s");
        (ok.previous, ok.state) = (Some(State::Alarm), State::Ok);
        let mut again = change("s");
        again.previous = Some(State::Alarm);
        let mut insufficient = change("s");
        insufficient.state = State::InsufficientData;
        let mut composite = change("s");
        (composite.kind, composite.instances) = (AlarmKind::Composite, vec![]);
        let mut none = change("s");
        none.instances.clear();
        for (c, needle) in [
            (ok, "state OK (from ALARM)"),
            (again, "state ALARM (from ALARM)"),
            (insufficient, "state INSUFFICIENT_DATA"),
            (composite, "composite"),
            (none, "InstanceId"),
        ] {
            match plan(&c, &obs, &cfg, at(T0)) {
                AlarmPlan::Ignored(why) => assert!(why.contains(needle), "{why}"),
                other => panic!("{other:?}"),
            }
        }
        let prefixed = config(&[("ALARM_NAME_PREFIX", "fleetkeeper-")]);
        assert!(matches!(
            plan(&change("s"), &obs, &prefixed, at(T0)),
            AlarmPlan::Ignored(_)
        ));
    }

    #[test]
    fn several_instances_each_decided() {
        let mut c = change("s");
        let other = "i-0f1e2d3c4b5a69788";
        c.instances.push(other.into());
        let mut obs = tagged("");
        let mut stopped = obs[ID].clone();
        (stopped.id, stopped.state) = (other.into(), "stopped".into());
        obs.insert(other.into(), stopped);
        let AlarmPlan::Instances(p) = plan(&c, &obs, &config(&[]), at(T0)) else {
            panic!()
        };
        assert!(matches!(p[0].decision, Decision::Restart { .. }));
        assert_eq!(
            p[1].decision,
            Decision::Skip(Skip::NotRunning("stopped".into()))
        );
    }

    #[test]
    fn instance_ids() {
        assert!(is_instance_id("i-0a1b2c3d4e5f60718"));
        assert!(is_instance_id("i-1234abcd"));
        for bad in [
            "i-",
            "i-XYZ12345",
            "web-1",
            "i-0a1b2c3d4e5f6071",
            "I-1234abcd",
            "",
        ] {
            assert!(!is_instance_id(bad), "{bad}");
        }
    }
}
