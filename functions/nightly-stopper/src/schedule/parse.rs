//! Reading the schedules document. Every mistake names the schedule and the field, and the
//! whole document is refused: a schedule half read would stop the wrong instances.

use std::collections::BTreeMap;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::{DayRule, MonthDay, Period, Schedule, Schedules, State};

/// EC2 tag values are at most 256 characters: a longer name could never be tagged.
const MAX_NAME: usize = 256;

const SCHEDULE_FIELDS: &[&str] = &[
    "timezone",
    "periods",
    "enforced",
    "retain_running",
    "hibernate",
    "override",
    "order",
    "description",
];
const PERIOD_FIELDS: &[&str] = &["days", "monthdays", "months", "start", "stop"];

/// The schedule used when no document is given: `name` (SCHEDULE_TAG_VALUE) on weekdays
/// 07:00-20:00 in the zone of SCHEDULE_TIMEZONE, the hours the cron rules used to hold.
pub fn default_schedules(name: &str, tz: &TimeZone, tz_name: &str) -> Schedules {
    let period = Period {
        days: (1..=5)
            .map(|n| DayRule::Every(Weekday::from_monday_one_offset(n).expect("1..=5")))
            .collect(),
        monthdays: None,
        months: None,
        start: Some(Time::constant(7, 0, 0, 0)),
        stop: Some(Time::constant(20, 0, 0, 0)),
    };
    let schedule = Schedule {
        name: name.to_owned(),
        tz: tz.clone(),
        tz_name: tz_name.to_owned(),
        periods: vec![period],
        enforced: false,
        retain_running: false,
        hibernate: false,
        hold: None,
        databases_first: true,
    };
    Schedules {
        by_name: BTreeMap::from([(name.to_owned(), schedule)]),
    }
}

/// Reads the document. `default_tz` is for schedules that name no `timezone`. The error is
/// the sentence a user reads, without the document's origin (the caller knows it).
pub fn parse(text: &str, default_tz: (&TimeZone, &str)) -> Result<Schedules, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(doc) = doc else {
        return Err("expected a JSON object of schedules by name, such as \
            {\"office-hours\": {\"timezone\": \"Europe/Berlin\", \"periods\": [...]}}"
            .into());
    };
    if doc.is_empty() {
        return Err("the document defines no schedule".into());
    }
    let mut by_name = BTreeMap::new();
    for (name, body) in &doc {
        let schedule =
            schedule(name, body, default_tz).map_err(|e| format!("schedule {name:?}: {e}"))?;
        by_name.insert(name.clone(), schedule);
    }
    Ok(Schedules { by_name })
}

fn schedule(name: &str, body: &Value, default_tz: (&TimeZone, &str)) -> Result<Schedule, String> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(format!(
            "a name must be 1 to {MAX_NAME} characters (a tag value)"
        ));
    }
    let body = object(body, "the schedule", SCHEDULE_FIELDS)?;
    let (tz, tz_name) = match body.get("timezone") {
        None => (default_tz.0.clone(), default_tz.1.to_owned()),
        Some(Value::String(z)) => (
            TimeZone::get(z).map_err(|_| {
                format!("timezone {z:?} is not an IANA time zone such as Europe/Berlin or UTC")
            })?,
            z.clone(),
        ),
        Some(other) => return Err(format!("timezone must be a string, got {other}")),
    };
    let flag = |field: &str| match body.get(field) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{field} must be true or false, got {other}")),
    };
    let hold = match body.get("override") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "running" => Some(State::Running),
        Some(Value::String(s)) if s == "stopped" => Some(State::Stopped),
        Some(other) => {
            return Err(format!(
                "override must be \"running\" or \"stopped\", got {other}"
            ));
        }
    };
    let periods = match body.get("periods") {
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, p)| period(p, &format!("periods[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        None if hold.is_some() => Vec::new(),
        Some(Value::Array(_)) | None => {
            return Err("periods: give at least one period (or an override)".into());
        }
        Some(other) => return Err(format!("periods must be a list, got {other}")),
    };
    let databases_first = match body.get("order") {
        None => true,
        Some(Value::String(s)) if s == "databases-first" => true,
        Some(Value::String(s)) if s == "none" => false,
        Some(other) => {
            return Err(format!(
                "order must be \"databases-first\" or \"none\", got {other}"
            ));
        }
    };
    Ok(Schedule {
        name: name.to_owned(),
        tz,
        tz_name,
        periods,
        enforced: flag("enforced")?,
        retain_running: flag("retain_running")?,
        hibernate: flag("hibernate")?,
        hold,
        databases_first,
    })
}

/// An object whose fields are all known: a misspelt field is a mistake, not a default.
fn object<'a>(v: &'a Value, what: &str, known: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let Value::Object(map) = v else {
        return Err(format!("{what} must be a JSON object, got {v}"));
    };
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "unknown field {unknown:?} (known: {})",
            known.join(", ")
        ));
    }
    Ok(map)
}

/// `at` (`periods[1]`) starts every error.
fn period(v: &Value, at: &str) -> Result<Period, String> {
    let map = object(v, "a period", PERIOD_FIELDS).map_err(|e| format!("{at}: {e}"))?;
    let text = |field: &str| match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("{at}.{field} must be a string, got {other}")),
    };
    let time = |field: &str| -> Result<Option<Time>, String> {
        text(field)?
            .map(|s| {
                time_of_day(s).ok_or_else(|| {
                    format!("{at}.{field} {s:?} is not a time of day (HH:MM, 00:00 to 23:59)")
                })
            })
            .transpose()
    };
    let days = match text("days")? {
        Some(s) => days(s).map_err(|e| format!("{at}.days {s:?}: {e}"))?,
        None => (1..=7)
            .map(|n| DayRule::Every(Weekday::from_monday_one_offset(n).expect("1..=7")))
            .collect(),
    };
    let monthdays = text("monthdays")?
        .map(|s| monthdays(s).map_err(|e| format!("{at}.monthdays {s:?}: {e}")))
        .transpose()?;
    let months = text("months")?
        .map(|s| months(s).map_err(|e| format!("{at}.months {s:?}: {e}")))
        .transpose()?;
    let (start, stop) = (time("start")?, time("stop")?);
    if start.is_none() && stop.is_none() {
        return Err(format!("{at}: a period needs a start, a stop, or both"));
    }
    Ok(Period {
        days,
        monthdays,
        months,
        start,
        stop,
    })
}

fn time_of_day(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    Time::new(h, m, 0, 0).ok()
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday(s: &str) -> Result<Weekday, String> {
    let s = s.trim().to_ascii_lowercase();
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    DAY_NAMES
        .iter()
        .zip(full)
        .position(|(short, long)| s == *short || s == long)
        .map(|i| Weekday::from_monday_one_offset(i as i8 + 1).expect("1..=7"))
        .ok_or_else(|| format!("unknown day name {s:?} (use mon, tue, wed, thu, fri, sat, sun)"))
}

/// `mon-fri`, `sat`, `mon,wed,fri`, `fri-mon` (wraps), `fri#3`, `fri#L`.
fn days(s: &str) -> Result<Vec<DayRule>, String> {
    let mut out = Vec::new();
    for item in list(s)? {
        if let Some((day, nth)) = item.split_once('#') {
            let w = weekday(day)?;
            out.push(match nth.trim() {
                "L" | "l" => DayRule::Last(w),
                n => match n.parse::<i8>() {
                    Ok(n @ 1..=5) => DayRule::Nth(w, n),
                    _ => {
                        return Err(format!(
                            "{item}: the week of the month must be 1 to 5, or L for the last"
                        ));
                    }
                },
            });
        } else if let Some((from, to)) = item.split_once('-') {
            let (from, to) = (weekday(from)?, weekday(to)?);
            let mut w = from;
            loop {
                out.push(DayRule::Every(w));
                if w == to {
                    break;
                }
                w = w.wrapping_add(1);
            }
        } else {
            out.push(DayRule::Every(weekday(item)?));
        }
    }
    Ok(out)
}

/// `1-7`, `15`, `L`, lists of those.
fn monthdays(s: &str) -> Result<Vec<MonthDay>, String> {
    let day = |t: &str| match t.trim().parse::<i8>() {
        Ok(d @ 1..=31) => Ok(d),
        _ => Err(format!("{t:?} is not a day of the month (1 to 31, or L)")),
    };
    list(s)?
        .into_iter()
        .map(|item| {
            if item.eq_ignore_ascii_case("L") {
                return Ok(MonthDay::Last);
            }
            let (from, to) = match item.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None => (day(item)?, day(item)?),
            };
            if from > to {
                return Err(format!("{item}: a range runs from the smaller day"));
            }
            Ok(MonthDay::Range(from, to))
        })
        .collect()
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `jan-mar`, `12`, `jun,dec`.
fn months(s: &str) -> Result<Vec<i8>, String> {
    let month = |t: &str| -> Result<i8, String> {
        let t = t.trim().to_ascii_lowercase();
        if let Some(i) = MONTH_NAMES
            .iter()
            .position(|m| t == *m || t.starts_with(m) && t.len() > 3)
        {
            return Ok(i as i8 + 1);
        }
        match t.parse::<i8>() {
            Ok(m @ 1..=12) => Ok(m),
            _ => Err(format!("{t:?} is not a month (jan to dec, or 1 to 12)")),
        }
    };
    let mut out = Vec::new();
    for item in list(s)? {
        match item.split_once('-') {
            Some((a, b)) => {
                let (from, to) = (month(a)?, month(b)?);
                let mut m = from;
                loop {
                    out.push(m);
                    if m == to {
                        break;
                    }
                    m = m % 12 + 1;
                }
            }
            None => out.push(month(item)?),
        }
    }
    Ok(out)
}

fn list(s: &str) -> Result<Vec<&str>, String> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err("an empty item in the list".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: (&TimeZone, &str) = (&TimeZone::UTC, "UTC");

    const EXAMPLE: &str = r#"{
        "office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]},
        "uk-support":   {"timezone": "Europe/London", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"},
                                                                   {"days": "sat", "start": "09:00", "stop": "13:00"}]},
        "stop-nightly": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "22:00"}]},
        "month-end":    {"timezone": "America/New_York", "periods": [{"days": "fri#L", "start": "06:00", "stop": "23:00"}]}
    }"#;

    #[test]
    fn the_example_document() {
        let s = parse(EXAMPLE, UTC).unwrap();
        assert_eq!(
            s.names(),
            "month-end, office-hours, stop-nightly, uk-support"
        );
        let uk = s.get("uk-support").unwrap();
        assert_eq!(uk.tz_name, "Europe/London");
        assert_eq!(uk.periods.len(), 2);
        assert_eq!(uk.periods[1].days, [DayRule::Every(Weekday::Saturday)]);
        assert_eq!(uk.periods[1].start, Some(Time::constant(9, 0, 0, 0)));
        let nightly = s.get("stop-nightly").unwrap();
        assert_eq!(nightly.periods[0].start, None);
        assert_eq!(nightly.periods[0].days.len(), 7);
        let month_end = s.get("month-end").unwrap();
        assert_eq!(month_end.periods[0].days, [DayRule::Last(Weekday::Friday)]);
    }

    #[test]
    fn day_month_and_flag_forms() {
        let doc = r#"{"a": {"periods": [{"days": "fri-mon, wed#2", "monthdays": "1-7,L",
            "months": "nov-feb", "start": "22:00", "stop": "6:00"}],
            "enforced": true, "retain_running": true, "hibernate": true}}"#;
        let a = parse(doc, UTC).unwrap().by_name.remove("a").unwrap();
        assert_eq!(a.tz_name, "UTC", "the default zone");
        assert!(a.enforced && a.retain_running && a.hibernate);
        let p = &a.periods[0];
        use Weekday::*;
        assert_eq!(
            p.days,
            [
                DayRule::Every(Friday),
                DayRule::Every(Saturday),
                DayRule::Every(Sunday),
                DayRule::Every(Monday),
                DayRule::Nth(Wednesday, 2)
            ]
        );
        assert_eq!(
            p.monthdays,
            Some(vec![MonthDay::Range(1, 7), MonthDay::Last])
        );
        assert_eq!(p.months, Some(vec![11, 12, 1, 2]));
        assert!(p.overnight());
        let held = parse(r#"{"m": {"override": "stopped"}}"#, UTC).unwrap();
        assert_eq!(held.get("m").unwrap().hold, Some(State::Stopped));
    }

    #[test]
    fn mistakes_name_the_schedule_and_the_field() {
        let cases = [
            (
                r#"{"uk-support": {"periods": [{"start": "08:00", "stop": "18:00"}, {"days": "sat", "start": "25:00"}]}}"#,
                r#"schedule "uk-support": periods[1].start "25:00" is not a time of day"#,
            ),
            (
                r#"{"a": {"timezone": "Europe/Atlantis", "periods": [{"stop": "22:00"}]}}"#,
                r#"schedule "a": timezone "Europe/Atlantis" is not an IANA time zone"#,
            ),
            (
                r#"{"a": {"periods": [{"days": "mon-fry", "stop": "22:00"}]}}"#,
                r#"schedule "a": periods[0].days "mon-fry": unknown day name "fry""#,
            ),
            (
                r#"{"a": {"periods": [{"days": "mon"}]}}"#,
                r#"schedule "a": periods[0]: a period needs a start, a stop, or both"#,
            ),
            (
                r#"{"a": {"periods": [{"days": "fri#6", "stop": "22:00"}]}}"#,
                r#"schedule "a": periods[0].days "fri#6": fri#6: the week of the month must be 1 to 5"#,
            ),
            ("{}", "the document defines no schedule"),
            ("[]", "expected a JSON object of schedules"),
            ("{", "not valid JSON"),
            (
                r#"{"a": {"timzone": "UTC", "periods": [{"stop": "22:00"}]}}"#,
                r#"schedule "a": unknown field "timzone""#,
            ),
            (
                r#"{"a": {"periods": [{"stop": "22:00", "day": "mon"}]}}"#,
                r#"schedule "a": periods[0]: unknown field "day""#,
            ),
            (
                r#"{"a": {"periods": []}}"#,
                r#"schedule "a": periods: give at least one period"#,
            ),
            (
                r#"{"a": {"override": "paused"}}"#,
                r#"schedule "a": override must be "running" or "stopped""#,
            ),
            (
                r#"{"a": {"enforced": "yes", "periods": [{"stop": "22:00"}]}}"#,
                r#"schedule "a": enforced must be true or false"#,
            ),
            (
                r#"{"a": {"order": "apps-first", "periods": [{"stop": "22:00"}]}}"#,
                r#"schedule "a": order must be "databases-first" or "none""#,
            ),
            (
                r#"{"a": {"periods": [{"monthdays": "0-7", "stop": "22:00"}]}}"#,
                r#"schedule "a": periods[0].monthdays "0-7": "0" is not a day of the month"#,
            ),
            (
                r#"{"a": {"periods": [{"months": "jan-foo", "stop": "22:00"}]}}"#,
                r#"schedule "a": periods[0].months "jan-foo": "foo" is not a month"#,
            ),
            (
                r#"{"a": {"periods": [{"stop": "7pm"}]}}"#,
                r#"schedule "a": periods[0].stop "7pm" is not a time of day"#,
            ),
        ];
        for (doc, want) in cases {
            let err = parse(doc, UTC).unwrap_err();
            assert!(err.starts_with(want), "{doc}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn the_default_keeps_todays_hours() {
        let s = default_schedules("office-hours", &TimeZone::UTC, "UTC");
        let o = s.get("office-hours").unwrap();
        assert_eq!(o.periods[0].days.len(), 5);
        assert_eq!(o.periods[0].stop, Some(Time::constant(20, 0, 0, 0)));
    }
}
