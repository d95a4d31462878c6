"""Event times for the demo, the end-to-end scripts and the benchmarks, computed from the real
clock at run time.

moto stamps launch times, snapshot start times and its own records with the real clock. An
event time written as a literal date is overtaken by the resources a run makes as soon as the
calendar passes it (nightly-stopper then reads every seeded instance as started by hand after
the boundary). So every time that goes into an event comes from here: "the next Tuesday after
today, 18:30 in Berlin" and the times that follow from it, in the teams' own zones, so daylight
saving moves them with the teams.

`now` is a parameter for one reason: `local/demo_days.py` runs the demo's steps as if it were
started on a Monday, a Sunday, the day before a month's last day or before a daylight-saving
change. Those fake "now"s are always later than the real clock, and only these step builders
see them; the functions under test keep the real clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = 1  # date.weekday()


def real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def next_weekday(weekday: int, tz: ZoneInfo, now: datetime) -> date:
    """The first `weekday` after `now`'s date in `tz` (never that date itself)."""
    day = now.astimezone(tz).date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def at(day: date, hh_mm: str, tz: ZoneInfo) -> datetime:
    """`day` at the local time `hh:mm` in `tz`, in UTC."""
    return datetime.combine(day, time.fromisoformat(hh_mm), tz).astimezone(UTC)


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Evening:
    """The demo's evening and morning: the next Tuesday after `now` and the Wednesday after it,
    at Berlin's local times. Berlin and London change their clocks on the same day, so each
    step keeps its place against both offices' hours in every season."""
    now: datetime
    tuesday: date
    open: datetime      # Tue 18:30 Berlin (17:30 London): both offices inside their hours
    closed: datetime    # Tue 19:05 Berlin (18:05 London): both outside
    late: datetime      # Tue 22:05 Berlin: someone starts an instance by hand
    org_evening: datetime  # Tue 21:00 UTC: the organisation's evening run (its default
                           # office-hours schedule is 07:00-20:00 UTC)
    morning: datetime   # Wed 09:05 Berlin (08:05 London): both inside again
    backup: datetime    # the night's backup run: Wed 02:00 UTC

    def label(self, t: datetime) -> str:
        """`Tue 18:30 Berlin`, as the demo's table shows a step's time."""
        return t.astimezone(BERLIN).strftime("%a %H:%M Berlin")


def evening(now: datetime | None = None) -> Evening:
    now = now or real_now()
    tue = next_weekday(TUESDAY, BERLIN, now)
    wed = tue + timedelta(days=1)
    return Evening(
        now=now,
        tuesday=tue,
        open=at(tue, "18:30", BERLIN),
        closed=at(tue, "19:05", BERLIN),
        late=at(tue, "22:05", BERLIN),
        org_evening=at(tue, "21:00", ZoneInfo("UTC")),
        morning=at(wed, "09:05", BERLIN),
        backup=at(wed, "02:00", ZoneInfo("UTC")),
    )
