//! Event times for tests against moto, computed from the real clock at run time.
//!
//! moto stamps launch times, snapshot start times and its own records with the real clock, so
//! an event time written as a literal date is overtaken by the resources a test makes once the
//! calendar passes it. Every event time a moto test sends comes from here instead: "the next
//! Tuesday 18:30 in Berlin after today" and the times that follow from it. Literal dates stay
//! in the pure unit tests, where nothing stamps a real time.

use std::sync::LazyLock;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The real clock, read once per test binary and cut to whole seconds: the `now` a test hands
/// to a handler for events without a time, so the tags it writes can be compared exactly.
pub fn now() -> Timestamp {
    static NOW: LazyLock<Timestamp> =
        LazyLock::new(|| Timestamp::from_second(Timestamp::now().as_second()).unwrap());
    *NOW
}

/// The first `weekday` after today (never today) in the zone `tz`: at least a few hours
/// ahead of anything the test makes, and at most eight days.
pub fn next(weekday: Weekday, tz: &str) -> Date {
    let today = now().to_zoned(zone(tz)).date();
    let mut day = today.tomorrow().unwrap();
    while day.weekday() != weekday {
        day = day.tomorrow().unwrap();
    }
    day
}

/// Tomorrow (in `tz`) at the local time `hh:mm`: a scheduled run's time after anything the
/// test makes today.
pub fn tomorrow_at(hh_mm: &str, tz: &str) -> Timestamp {
    let tomorrow = now().to_zoned(zone(tz)).date().tomorrow().unwrap();
    at(tomorrow, hh_mm, tz)
}

/// `day` at the local time `hh:mm` in `tz`, as an instant (daylight saving applied).
pub fn at(day: Date, hh_mm: &str, tz: &str) -> Timestamp {
    let time: Time = hh_mm.parse().unwrap_or_else(|e| panic!("{hh_mm:?}: {e}"));
    day.to_datetime(time)
        .to_zoned(zone(tz))
        .unwrap()
        .timestamp()
}

/// `hours` after `t` (negative for before).
pub fn hours_after(t: Timestamp, hours: i64) -> Timestamp {
    t.checked_add(hours.hours()).unwrap()
}

/// `minutes` after `t`.
pub fn minutes_after(t: Timestamp, minutes: i64) -> Timestamp {
    t.checked_add(minutes.minutes()).unwrap()
}

/// An instant as events carry it: `2026-12-01T17:30:00Z`.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// As an organisation run's id names its time: `2026-12-01T17-30-00Z`.
pub fn run_stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H-%M-%SZ").to_string()
}

/// As a CloudWatch alarm's state timestamp: `2026-12-01T17:30:00.000+0000`.
pub fn alarm_stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn zone(tz: &str) -> TimeZone {
    TimeZone::get(tz).unwrap_or_else(|e| panic!("{tz}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_weekday_is_ahead_and_local_times_follow_daylight_saving() {
        let tue = next(Weekday::Tuesday, "Europe/Berlin");
        assert_eq!(tue.weekday(), Weekday::Tuesday);
        let evening = at(tue, "18:30", "Europe/Berlin");
        assert!(evening > now(), "{evening} is not after {}", now());
        assert!(evening < hours_after(now(), 9 * 24));
        // Berlin is UTC+1 in winter and UTC+2 in summer.
        let winter = at("2026-12-01".parse().unwrap(), "18:30", "Europe/Berlin");
        let summer = at("2026-07-07".parse().unwrap(), "18:30", "Europe/Berlin");
        assert_eq!(rfc3339(winter), "2026-12-01T17:30:00Z");
        assert_eq!(rfc3339(summer), "2026-07-07T16:30:00Z");
        assert_eq!(alarm_stamp(winter), "2026-12-01T17:30:00.000+0000");
    }
}
