//! When a schedule wants its instances running or stopped at a given instant, the boundary
//! that made it so, and the next start. Pure: the instant is an argument.
//!
//! A period with a start and a stop is an interval (a stop at or before the start ends the
//! next day); inside any interval the schedule wants `running`. Outside them, the latest
//! boundary decides: a stop (stop-only periods too) wants `stopped`, a start of a start-only
//! period wants `running`. Local times are read in the schedule's zone: a time that a
//! spring-forward gap skips happens at the first instant after the gap, a time that a
//! fall-back repeats happens once, at its first occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};

use super::{Schedule, State};

/// How far back a last boundary and ahead a next start are looked for: a yearly period
/// (`months: "dec"`) still has both.
pub const HORIZON_DAYS: i64 = 400;

/// A start or a stop of one period, on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary {
    pub at: Timestamp,
    /// `running` for a start, `stopped` for a stop.
    pub to: State,
    /// The index of the period in the schedule.
    pub period: usize,
    /// The wall-clock time the period names, in the schedule's zone.
    pub local: DateTime,
    /// For the stop of a period that has a start: when that period began.
    pub opened_at: Option<Timestamp>,
}

/// What a schedule wants at one instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// None when the schedule has no boundary within the horizon: it has no opinion.
    pub desired: Option<State>,
    pub reason: String,
    /// The boundary that made `desired` so (None under an override).
    pub last: Option<Boundary>,
    /// The next start after the instant, if any (how long a stop saves).
    pub next_start: Option<Timestamp>,
}

/// The instant a local time of `tz` names, by the rules above.
pub fn instant(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        // The earlier of the two: the boundary happens once.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        // Read with the later offset, the time lies before the gap; the transition that
        // follows is the gap's end.
        AmbiguousOffset::Gap { after, .. } => {
            let before_gap = after.to_timestamp(dt).ok()?;
            tz.following(before_gap).next().map(|t| t.timestamp())
        }
    }
}

/// Every boundary of local days `from..=to`, in time order.
pub fn boundaries(s: &Schedule, from: Date, to: Date) -> Vec<Boundary> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        for (i, p) in s.periods.iter().enumerate() {
            if !p.on(day) {
                continue;
            }
            let mut opened_at = None;
            if let Some(start) = p.start {
                let local = day.to_datetime(start);
                if let Some(at) = instant(&s.tz, local) {
                    opened_at = Some(at);
                    out.push(Boundary {
                        at,
                        to: State::Running,
                        period: i,
                        local,
                        opened_at: None,
                    });
                }
            }
            if let Some(stop) = p.stop {
                let stop_day = if p.overnight() {
                    day.tomorrow().unwrap_or(day)
                } else {
                    day
                };
                let local = stop_day.to_datetime(stop);
                if let Some(at) = instant(&s.tz, local) {
                    out.push(Boundary {
                        at,
                        to: State::Stopped,
                        period: i,
                        local,
                        opened_at,
                    });
                }
            }
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    out.sort_by_key(|b| (b.at, b.to == State::Running));
    out
}

/// The local days `span` days either side of `t`.
fn around(s: &Schedule, t: Timestamp, span: i64) -> (Date, Date) {
    let today = t.to_zoned(s.tz.clone()).date();
    let span = span.days();
    (
        today.checked_sub(span).unwrap_or(today),
        today.checked_add(span).unwrap_or(today),
    )
}

/// Most schedules have a boundary within days: look near first, then wider.
const SPANS: [i64; 3] = [8, 62, HORIZON_DAYS];

pub fn evaluate(s: &Schedule, t: Timestamp) -> Verdict {
    let mut verdict = None;
    for span in SPANS {
        let (from, to) = around(s, t, span);
        let v = evaluate_in(s, t, &boundaries(s, from, to));
        let complete = (v.last.is_some() || s.hold.is_some()) && v.next_start.is_some();
        verdict = Some(v);
        if complete {
            break;
        }
    }
    verdict.expect("SPANS is not empty")
}

/// [`evaluate`] over boundaries already listed (a preview evaluates many instants).
pub fn evaluate_in(s: &Schedule, t: Timestamp, all: &[Boundary]) -> Verdict {
    let next_start = all
        .iter()
        .find(|b| b.at > t && b.to == State::Running)
        .map(|b| b.at);
    if let Some(hold) = s.hold {
        return Verdict {
            desired: Some(hold),
            reason: format!("{} is held {hold} by its override", s.name),
            last: None,
            next_start,
        };
    }
    let today = t.to_zoned(s.tz.clone()).date();
    // Inside an interval: the latest one that began.
    let inside = all
        .iter()
        .filter(|b| b.at > t && b.opened_at.is_some_and(|o| o <= t))
        .max_by_key(|b| b.opened_at);
    if let Some(stop) = inside {
        let opened = stop.opened_at.expect("filtered on opened_at");
        let start = all
            .iter()
            .rev()
            .find(|b| b.at == opened && b.to == State::Running && b.period == stop.period)
            .cloned();
        return Verdict {
            desired: Some(State::Running),
            reason: format!(
                "inside {}: start at {}, stop at {}",
                s.name,
                when(start.as_ref().map_or(stop.local, |b| b.local), today, s),
                when(stop.local, today, s)
            ),
            last: start,
            next_start,
        };
    }
    let Some(last) = all.iter().rev().find(|b| b.at <= t).cloned() else {
        return Verdict {
            desired: None,
            reason: format!(
                "{} has no start or stop in the {HORIZON_DAYS} days before",
                s.name
            ),
            last: None,
            next_start,
        };
    };
    let reason = match last.to {
        State::Running => format!(
            "inside {}: start at {} (a period without a stop)",
            s.name,
            when(last.local, today, s)
        ),
        State::Stopped => format!("outside {}: stop at {}", s.name, when(last.local, today, s)),
    };
    Verdict {
        desired: Some(last.to),
        reason,
        last: Some(last),
        next_start,
    }
}

/// `18:00 Europe/London`, with the day when it is not `today`.
fn when(local: DateTime, today: Date, s: &Schedule) -> String {
    if local.date() == today {
        format!("{} {}", local.strftime("%H:%M"), s.tz_name)
    } else {
        format!(
            "{} {} on {}",
            local.strftime("%H:%M"),
            s.tz_name,
            local.strftime("%a %Y-%m-%d")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::parse;

    fn schedule(doc: &str) -> Schedule {
        let mut all = parse(doc, (&TimeZone::UTC, "UTC")).unwrap();
        all.by_name.pop_first().unwrap().1
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn desired(s: &Schedule, t: &str) -> Option<State> {
        evaluate(s, ts(t)).desired
    }

    use State::{Running as R, Stopped as S};

    const OFFICE: &str = r#"{"office-hours": {"timezone": "Europe/Berlin",
        "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]}}"#;

    #[test]
    fn weekday_hours_in_their_zone() {
        let s = schedule(OFFICE);
        // Wednesday 2026-12-02, CET = UTC+1.
        assert_eq!(desired(&s, "2026-12-02T05:59:00Z"), Some(S));
        let v = evaluate(&s, ts("2026-12-02T06:00:00Z"));
        assert_eq!(v.desired, Some(R));
        assert_eq!(
            v.reason,
            "inside office-hours: start at 07:00 Europe/Berlin, stop at 19:00 Europe/Berlin"
        );
        assert_eq!(v.last.unwrap().at, ts("2026-12-02T06:00:00Z"));
        let v = evaluate(&s, ts("2026-12-02T18:00:00Z"));
        assert_eq!(v.desired, Some(S));
        assert_eq!(
            v.reason,
            "outside office-hours: stop at 19:00 Europe/Berlin"
        );
        assert_eq!(v.next_start, Some(ts("2026-12-03T06:00:00Z")));
        // Early Wednesday: the last boundary is Tuesday's stop.
        let v = evaluate(&s, ts("2026-12-02T03:00:00Z"));
        assert_eq!(
            v.reason,
            "outside office-hours: stop at 19:00 Europe/Berlin on Tue 2026-12-01"
        );
        // The weekend: stopped since Friday, until Monday 07:00.
        let v = evaluate(&s, ts("2026-12-05T12:00:00Z"));
        assert_eq!(v.desired, Some(S));
        assert_eq!(v.last.unwrap().at, ts("2026-12-04T18:00:00Z"));
        assert_eq!(v.next_start, Some(ts("2026-12-07T06:00:00Z")));
    }

    #[test]
    fn two_periods_and_a_saturday_morning() {
        let s = schedule(
            r#"{"uk-support": {"timezone": "Europe/London", "periods": [
                {"days": "mon-fri", "start": "08:00", "stop": "18:00"},
                {"days": "sat", "start": "09:00", "stop": "13:00"}]}}"#,
        );
        assert_eq!(desired(&s, "2026-12-05T10:00:00Z"), Some(R));
        let v = evaluate(&s, ts("2026-12-05T13:30:00Z"));
        assert_eq!(v.desired, Some(S));
        assert_eq!(v.reason, "outside uk-support: stop at 13:00 Europe/London");
        assert_eq!(desired(&s, "2026-12-06T10:00:00Z"), Some(S), "Sunday");
    }

    #[test]
    fn overlapping_and_back_to_back_periods_keep_running() {
        let s = schedule(
            r#"{"a": {"periods": [{"start": "07:00", "stop": "19:00"}, {"start": "09:00", "stop": "13:00"},
                {"start": "19:00", "stop": "21:00"}]}}"#,
        );
        assert_eq!(
            desired(&s, "2026-12-02T14:00:00Z"),
            Some(R),
            "after the inner stop"
        );
        assert_eq!(
            desired(&s, "2026-12-02T19:00:00Z"),
            Some(R),
            "one ends as the next begins"
        );
        assert_eq!(desired(&s, "2026-12-02T21:00:00Z"), Some(S));
    }

    #[test]
    fn stop_only_and_start_only() {
        let nightly =
            schedule(r#"{"stop-nightly": {"periods": [{"days": "mon-sun", "stop": "22:00"}]}}"#);
        let v = evaluate(&nightly, ts("2026-12-02T10:00:00Z"));
        assert_eq!(v.desired, Some(S));
        assert_eq!(v.last.unwrap().at, ts("2026-12-01T22:00:00Z"));
        assert_eq!(v.next_start, None, "nothing ever starts it");
        let morning = schedule(r#"{"m": {"periods": [{"days": "mon-fri", "start": "06:00"}]}}"#);
        let v = evaluate(&morning, ts("2026-12-05T12:00:00Z"));
        assert_eq!(v.desired, Some(R), "started Friday, never stopped");
        assert!(v.reason.contains("a period without a stop"), "{}", v.reason);
    }

    #[test]
    fn a_period_past_midnight() {
        let s = schedule(
            r#"{"night": {"periods": [{"days": "mon-fri", "start": "22:00", "stop": "06:00"}]}}"#,
        );
        assert_eq!(desired(&s, "2026-12-04T23:00:00Z"), Some(R), "Friday night");
        assert_eq!(
            desired(&s, "2026-12-05T05:59:00Z"),
            Some(R),
            "into Saturday"
        );
        assert_eq!(desired(&s, "2026-12-05T06:00:00Z"), Some(S));
        assert_eq!(
            desired(&s, "2026-12-05T23:00:00Z"),
            Some(S),
            "Saturday is not a day of it"
        );
        assert_eq!(desired(&s, "2026-12-07T21:00:00Z"), Some(S));
    }

    #[test]
    fn nth_and_last_weekdays() {
        let month_end = schedule(
            r#"{"month-end": {"timezone": "America/New_York",
                "periods": [{"days": "fri#L", "start": "06:00", "stop": "23:00"}]}}"#,
        );
        // November 2026's Fridays: 6, 13, 20, 27. EST = UTC-5.
        assert_eq!(desired(&month_end, "2026-11-27T17:00:00Z"), Some(R));
        assert_eq!(desired(&month_end, "2026-11-20T17:00:00Z"), Some(S));
        let v = evaluate(&month_end, ts("2026-11-28T17:00:00Z"));
        assert_eq!(
            v.next_start,
            Some(ts("2026-12-25T11:00:00Z")),
            "the last Friday of December"
        );
        let third = schedule(
            r#"{"t": {"periods": [{"days": "fri#3", "start": "06:00", "stop": "23:00"}]}}"#,
        );
        assert_eq!(desired(&third, "2026-11-20T12:00:00Z"), Some(R));
        assert_eq!(desired(&third, "2026-11-13T12:00:00Z"), Some(S));
        assert_eq!(desired(&third, "2026-11-27T12:00:00Z"), Some(S));
    }

    #[test]
    fn the_last_day_of_the_month_and_29_february() {
        let last = schedule(
            r#"{"l": {"periods": [{"monthdays": "L", "start": "00:00", "stop": "23:59"}]}}"#,
        );
        assert_eq!(desired(&last, "2027-02-28T12:00:00Z"), Some(R));
        assert_eq!(
            desired(&last, "2028-02-28T12:00:00Z"),
            Some(S),
            "2028 is a leap year"
        );
        assert_eq!(desired(&last, "2028-02-29T12:00:00Z"), Some(R));
        let leap = schedule(
            r#"{"l": {"periods": [{"monthdays": "29", "months": "feb", "start": "00:00", "stop": "23:59"}]}}"#,
        );
        assert_eq!(desired(&leap, "2028-02-29T12:00:00Z"), Some(R));
        let v = evaluate(&leap, ts("2027-03-01T12:00:00Z"));
        assert_eq!(v.desired, None, "no 29 February within the horizon before");
        assert_eq!(v.next_start, Some(ts("2028-02-29T00:00:00Z")));
    }

    #[test]
    fn spring_forward_in_berlin_and_new_york() {
        let berlin = schedule(
            r#"{"b": {"timezone": "Europe/Berlin", "periods": [{"start": "02:30", "stop": "07:00"}]}}"#,
        );
        let days = boundaries(
            &berlin,
            "2026-03-28".parse().unwrap(),
            "2026-03-30".parse().unwrap(),
        );
        let starts: Vec<Timestamp> = days.iter().filter(|b| b.to == R).map(|b| b.at).collect();
        // 02:30 CET; on the 29th 02:30 does not exist: 03:00 CEST, the gap's end; then CEST.
        assert_eq!(
            starts,
            [
                ts("2026-03-28T01:30:00Z"),
                ts("2026-03-29T01:00:00Z"),
                ts("2026-03-30T00:30:00Z")
            ]
        );
        let new_york =
            schedule(r#"{"n": {"timezone": "America/New_York", "periods": [{"stop": "02:15"}]}}"#);
        let days = boundaries(
            &new_york,
            "2026-03-08".parse().unwrap(),
            "2026-03-08".parse().unwrap(),
        );
        assert_eq!(days[0].at, ts("2026-03-08T07:00:00Z"), "03:00 EDT");
        // Office hours the day after keep their wall-clock time.
        let office = schedule(OFFICE);
        assert_eq!(desired(&office, "2026-03-30T04:59:00Z"), Some(S));
        assert_eq!(
            desired(&office, "2026-03-30T05:00:00Z"),
            Some(R),
            "07:00 CEST"
        );
    }

    #[test]
    fn fall_back_happens_once() {
        let berlin =
            schedule(r#"{"b": {"timezone": "Europe/Berlin", "periods": [{"stop": "02:30"}]}}"#);
        let day: Date = "2026-10-25".parse().unwrap();
        let stops = boundaries(&berlin, day, day);
        assert_eq!(stops.len(), 1);
        assert_eq!(
            stops[0].at,
            ts("2026-10-25T00:30:00Z"),
            "the first 02:30, CEST"
        );
        let new_york = schedule(
            r#"{"n": {"timezone": "America/New_York", "periods": [{"start": "01:30", "stop": "23:00"}]}}"#,
        );
        let day: Date = "2026-11-01".parse().unwrap();
        let b = boundaries(&new_york, day, day);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].at, ts("2026-11-01T05:30:00Z"), "the first 01:30, EDT");
        // The second 01:30 (EST) is inside the period, not a new start.
        assert_eq!(desired(&new_york, "2026-11-01T06:30:00Z"), Some(R));
        assert_eq!(
            evaluate(&new_york, ts("2026-11-01T06:30:00Z"))
                .last
                .unwrap()
                .at,
            b[0].at
        );
    }

    #[test]
    fn an_override_holds_every_instance() {
        let s = schedule(
            r#"{"o": {"override": "running", "periods": [{"start": "07:00", "stop": "19:00"}]}}"#,
        );
        let v = evaluate(&s, ts("2026-12-02T23:00:00Z"));
        assert_eq!(v.desired, Some(R));
        assert_eq!(v.reason, "o is held running by its override");
        assert_eq!(v.last, None);
    }
}
