#!/usr/bin/env python3
"""The demo's nightly-stopper and organisation steps on awkward days (part of `make test`).

The demo derives every event time from the clock (demo_clock): the next Tuesday evening after
today, in Berlin's local time. This runs those steps, against moto and the real binaries, as if
the demo were started:
- on a Monday evening (the Tuesday is tomorrow),
- late on a Sunday in UTC, which is already Monday in Berlin (the zone decides the date),
- on the Monday before a month whose last day is a Tuesday (the evening is the last day of
  the month, the morning the first of the next),
- on the Saturday before Europe's next daylight-saving change (the steps fall after it, so
  every UTC time shifts by an hour and the teams' hours must still hold).
Each fake "now" is later than the real clock and is seen only by the step builder; the
functions keep the real clock, and moto its real stamps. Exits non-zero if any step fails.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta

import demo
from demo_clock import BERLIN, TUESDAY, UTC, evening, real_now


def next_day(now: datetime, weekday: int, hh_mm: str) -> datetime:
    """The first `weekday` after `now`'s date, at `hh:mm` UTC."""
    day = now.date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    h, m = map(int, hh_mm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)


def month_ending_on_a_tuesday(now: datetime) -> datetime:
    """Noon UTC of the Monday before the next month-end that is a Tuesday."""
    day = now.date() + timedelta(days=2)
    while not (day.weekday() == TUESDAY and (day + timedelta(days=1)).day == 1):
        day += timedelta(days=1)
    monday = day - timedelta(days=1)
    return datetime(monday.year, monday.month, monday.day, 12, 0, tzinfo=UTC)


def before_dst_change(now: datetime) -> datetime:
    """Noon UTC of the Saturday before Berlin's next change of UTC offset."""
    day = now.date() + timedelta(days=1)
    def offset(d: date) -> timedelta:
        return datetime(d.year, d.month, d.day, 12, tzinfo=UTC).astimezone(BERLIN).utcoffset()
    while offset(day) == offset(day + timedelta(days=1)):
        day += timedelta(days=1)
    # `day` is the last noon before the change, which comes in the small hours of a Sunday.
    assert day.weekday() == 5, day
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)


def main() -> int:
    now = real_now()
    days = [
        ("a Monday evening", next_day(now, 0, "20:00")),
        ("a Sunday, 23:30 UTC (Monday in Berlin)", next_day(now, 6, "23:30")),
        ("the Monday before a month ends on a Tuesday", month_ending_on_a_tuesday(now)),
        ("the Saturday before a daylight-saving change", before_dst_change(now)),
    ]
    demo.build(["nightly-stopper", "org-targets"])
    failed = 0
    for what, fake in days:
        ev = evening(fake)
        # The awkward cases must be what they claim, or this test proves nothing.
        assert fake > now, (what, fake, now)
        assert ev.tuesday.weekday() == TUESDAY and ev.open > fake, (what, ev)
        if "month" in what:
            assert ev.morning.month != ev.open.month, (what, ev)
        if "daylight" in what:
            assert fake.astimezone(BERLIN).utcoffset() != ev.open.astimezone(BERLIN).utcoffset(), (what, ev)
        print(f"demo-days: as if started {fake:%a %Y-%m-%d %H:%M} UTC ({what}): the evening is "
              f"{ev.open:%a %Y-%m-%d %H:%M} UTC, the morning {ev.morning:%a %Y-%m-%d %H:%M} UTC", flush=True)
        rows = demo.run(ev, {"nightly-stopper", "org"})
        for r in rows:
            print(f"demo-days:   {'ok  ' if r[2] == 'ok' else 'FAIL'} {r[0]} {r[1]}: {r[3][:160]}")
        failed += sum(1 for r in rows if r[2] != "ok")
    if failed:
        print(f"demo-days: {failed} step(s) failed", file=sys.stderr)
        return 1
    print(f"demo-days: every nightly-stopper and organisation step passed on all {len(days)} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
