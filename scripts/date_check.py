#!/usr/bin/env python3
"""make lint: no literal date in an event that the demo, an end-to-end script, a benchmark or
a moto test builds.

moto stamps launch times, snapshot start times and its own records with the real clock, so an
event time written as a literal date is overtaken by the resources made on a later day: the
demo and CI that passed on 2026-11-30 failed on 2026-12-05. Event times come from the clock
(local/demo_clock.py, tests/src/clock.rs). Pure unit tests (src/) keep their literal dates:
nothing stamps a real time there, and exactness is their point.

Every RFC 3339 date-time literal (2026-12-01T18:05) in the files below fails the check, unless
an entry of ALLOWED (file, the literal's line text, why) covers it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What builds events against the emulator: the demo and its steps, the end-to-end and
# organisation scripts, the benchmarks, the browser test, and every integration test.
CHECKED = [
    "local/*.py", "scripts/bench*.py",
    "bench/*.py", "e2e/*.mjs", "functions/*/tests/*.rs", "tests/tests/*.rs", "tests/src/*.rs",
]

DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")

# (file, a piece of the line, why it may stay). Keep this list short and each reason honest.
ALLOWED = [
    ("tests/src/clock.rs", "2026-12-01T17:30", "the clock helper's own unit test of a known winter date (pure)"),
    ("tests/src/clock.rs", "2026-07-07T16:30", "the clock helper's own unit test of a known summer date (pure)"),
    ("tests/src/clock.rs", "`2026-12-01T", "documentation of the output format"),
    ("scripts/bench.py", "<launchTime>2026-11-01T07:00:00.000Z</launchTime>",
     "the launch time inside a synthetic DescribeInstances page the benchmark serves itself (no "
     "emulator stamps it); it is earlier than any clock-derived evaluation time"),
]


def allowed(path: str, line: str, used: set[int]) -> bool:
    hits = [i for i, (f, piece, _) in enumerate(ALLOWED) if path == f and piece in line]
    used.update(hits)
    return bool(hits)


def main() -> int:
    found = []
    used: set[int] = set()
    files = sorted({p for pattern in CHECKED for p in ROOT.glob(pattern)})
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "scripts/date_check.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if DATE_TIME.search(line) and not allowed(rel, line, used):
                found.append(f"{rel}:{n}: {line.strip()}")
    # An entry that covers nothing any more is stale: the list only ever shrinks on purpose.
    found += [f"ALLOWED entry covers nothing: {f} {piece!r}" for i, (f, piece, _) in enumerate(ALLOWED)
              if i not in used]
    if found:
        print("date_check: literal dates in events built against the emulator (compute them from "
              "the clock: local/demo_clock.py, tests/src/clock.rs; or add a commented ALLOWED "
              "entry in scripts/date_check.py):", file=sys.stderr)
        for f in found:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"date_check: {len(files)} files, no literal event date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
