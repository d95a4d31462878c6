"""nightly-stopper's schedule evaluation in Python (zoneinfo), as a team would write it: the
baseline of the schedules benchmark, and the generator of its fleet's states. The same rules
as the Rust code: inside a period with start and stop -> running; else the latest boundary
decides; a time in a spring-forward gap happens at the gap's end; a repeated time once."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SPANS = [8, 62, 400]


def parse_days(text: str) -> list[tuple[int, object]]:
    out = []
    for item in (i.strip().lower() for i in text.split(",")):
        if "#" in item:
            day, nth = item.split("#")
            out.append((DAYS.index(day), "L" if nth.upper() == "L" else int(nth)))
        elif "-" in item:
            a, b = (DAYS.index(x) for x in item.split("-"))
            d = a
            while True:
                out.append((d, None))
                if d == b:
                    break
                d = (d + 1) % 7
        else:
            out.append((DAYS.index(item), None))
    return out


def hhmm(text: str | None) -> time | None:
    if text is None:
        return None
    h, m = text.split(":")
    return time(int(h), int(m))


class Schedule:
    def __init__(self, name: str, body: dict):
        self.name = name
        self.tz = ZoneInfo(body.get("timezone", "UTC"))
        self.periods = [
            (parse_days(p.get("days", "mon-sun")), hhmm(p.get("start")), hhmm(p.get("stop")))
            for p in body["periods"]
        ]


def on(days: list[tuple[int, object]], d: date) -> bool:
    for wd, nth in days:
        if d.weekday() != wd:
            continue
        if nth is None:
            return True
        if nth == "L" and (d + timedelta(days=7)).month != d.month:
            return True
        if isinstance(nth, int) and (d.day - 1) // 7 + 1 == nth:
            return True
    return False


def instant(tz: ZoneInfo, d: date, t: time) -> datetime:
    naive = datetime.combine(d, t)
    for minutes in range(0, 24 * 60):
        local = (naive + timedelta(minutes=minutes)).replace(tzinfo=tz)
        utc = local.astimezone(timezone.utc)
        if utc.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
            return utc  # fold=0: the first of a repeated time; a gap moves to its end
    raise ValueError(f"no instant for {naive} in {tz}")


def boundaries(s: Schedule, first: date, last: date) -> list[tuple[datetime, str, datetime | None]]:
    out = []
    d = first
    while d <= last:
        for days, start, stop in s.periods:
            if not on(days, d):
                continue
            opened = None
            if start is not None:
                opened = instant(s.tz, d, start)
                out.append((opened, "running", None))
            if stop is not None:
                stop_day = d + timedelta(days=1) if start is not None and stop <= start else d
                out.append((instant(s.tz, stop_day, stop), "stopped", opened))
        d += timedelta(days=1)
    out.sort(key=lambda b: (b[0], b[1] == "running"))
    return out


def desired(s: Schedule, t: datetime) -> str | None:
    today = t.astimezone(s.tz).date()
    verdict = None
    for span in SPANS:
        all_ = boundaries(s, today - timedelta(days=span), today + timedelta(days=span))
        if any(b[0] > t and b[2] is not None and b[2] <= t for b in all_):
            return "running"
        past = [b for b in all_ if b[0] <= t]
        verdict = past[-1][1] if past else None
        if past and any(b[0] > t and b[1] == "running" for b in all_):
            return verdict
    return verdict


def schedules_of(doc: dict) -> dict[str, Schedule]:
    return {name: Schedule(name, body) for name, body in doc.items()}
