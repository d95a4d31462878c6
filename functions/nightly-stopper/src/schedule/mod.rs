//! Schedules as data: named schedules of periods, each in its own time zone, read from one
//! JSON document ([`parse`]), and when each wants its instances running or stopped
//! ([`eval`], pure: every answer carries its reason and the boundary it comes from).

pub mod eval;
pub mod parse;

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Serialize;

pub use eval::{Boundary, Verdict, evaluate};
pub use parse::{default_schedules, parse};

/// The state a schedule wants its instances in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Stopped,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Running => "running",
            State::Stopped => "stopped",
        })
    }
}

/// Every schedule of the document, by name.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub by_name: BTreeMap<String, Schedule>,
}

impl Schedules {
    pub fn get(&self, name: &str) -> Option<&Schedule> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Schedule)> {
        self.by_name.iter()
    }

    /// Every schedule's verdict at `at`, evaluated once for a run.
    pub fn verdicts(&self, at: Timestamp) -> BTreeMap<String, Verdict> {
        self.by_name
            .iter()
            .map(|(name, s)| (name.clone(), evaluate(s, at)))
            .collect()
    }

    /// The names, for a reason that lists them.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.join(", ")
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub tz: TimeZone,
    pub tz_name: String,
    pub periods: Vec<Period>,
    /// Put instances back into the scheduled state at every run, not only after a boundary.
    pub enforced: bool,
    /// An instance already running when a period began (started by hand) is not stopped at
    /// that period's end.
    pub retain_running: bool,
    /// Stop with hibernation (falls back to a plain stop where EC2 refuses it).
    pub hibernate: bool,
    /// Hold every instance of the schedule in this state (maintenance).
    pub hold: Option<State>,
    /// `"order": "databases-first"` (the default): in one place, the schedule's databases start
    /// before its instances and stop after them. `"none"`: everything at once.
    pub databases_first: bool,
}

/// Days, months and times at which a schedule starts or stops its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub days: Vec<DayRule>,
    /// None: any day of the month.
    pub monthdays: Option<Vec<MonthDay>>,
    /// Months 1-12; None: every month.
    pub months: Option<Vec<i8>>,
    pub start: Option<Time>,
    pub stop: Option<Time>,
}

/// One item of `days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayRule {
    Every(Weekday),
    /// `fri#3`: the third Friday of the month.
    Nth(Weekday, i8),
    /// `fri#L`: the last Friday of the month.
    Last(Weekday),
}

/// One item of `monthdays`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthDay {
    /// Days from..=to of the month (a day past the month's end never matches).
    Range(i8, i8),
    /// `L`: the last day of the month.
    Last,
}

impl Period {
    /// Whether the period's days, month days and months all admit `d`.
    pub fn on(&self, d: Date) -> bool {
        let day = self.days.iter().any(|r| match *r {
            DayRule::Every(w) => d.weekday() == w,
            DayRule::Nth(w, n) => d.weekday() == w && (d.day() - 1) / 7 + 1 == n,
            DayRule::Last(w) => d.weekday() == w && d.day() + 7 > d.days_in_month(),
        });
        let monthday = self.monthdays.as_ref().is_none_or(|m| {
            m.iter().any(|r| match *r {
                MonthDay::Range(from, to) => (from..=to).contains(&d.day()),
                MonthDay::Last => d.day() == d.days_in_month(),
            })
        });
        let month = self.months.as_ref().is_none_or(|m| m.contains(&d.month()));
        day && monthday && month
    }

    /// A stop at or before the start belongs to the next day (`22:00` to `06:00`).
    pub fn overnight(&self) -> bool {
        matches!((self.start, self.stop), (Some(a), Some(b)) if b <= a)
    }
}
