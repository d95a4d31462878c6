#!/usr/bin/env python3
"""Organisation-mode benchmark (`make bench BENCH_ARGS="--only org"`).

200 member accounts x 3 regions = 600 targets, each region of each account with 2 instances on
the office-hours schedule, run through the organisation state machine on moto's ASL
interpreter against the release binaries (cargo lambda watch --release): evening (stop),
morning (start), evening again. Measured per run: the wall time of the whole execution, the
time per target inside the function (each invocation, from the router's view: it includes
cargo-lambda's dispatch), and the most invocations in flight.

Baseline, in the same run: the single-invocation path, nightly-stopper with ROLE_ARNS (as many
role ARNs as Lambda's 4 KB of environment holds: 60) x the same 3 regions in one invocation.

From the figures it prints the arithmetic for 5,000 targets at the default MaxConcurrency of
100, against Lambda's 15-minute limit for the single invocation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "local"))
import org  # noqa: E402
from demo_clock import TUESDAY, at, next_weekday, real_now, rfc3339  # noqa: E402
from harness import BIN, ROOT  # noqa: E402

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
# From the real clock (demo_clock): the next Tuesday's 21:00 UTC, then morning (start),
# evening (stop), morning (start): every run has instances to act on.
_TUESDAY = next_weekday(TUESDAY, ZoneInfo("UTC"), real_now())
BASELINE_AT = rfc3339(at(_TUESDAY, "21:00", ZoneInfo("UTC")))
RUNS_AT = [rfc3339(at(_TUESDAY + timedelta(days=d), t, ZoneInfo("UTC")))
           for d, t in ((1, "08:05"), (1, "21:00"), (2, "08:05"))]
SINGLE_PATH_ACCOUNTS = 60


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that overlap at one instant."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def seed(world: org.OrgWorld, accounts: int) -> tuple[str, list[str]]:
    started = time.monotonic()
    ou, ids = org.organisation(world, [f"member-{n:03d}" for n in range(accounts)])
    for n, account in enumerate(ids):
        for region in REGIONS:
            org.tagged_instances(world, account, region, 2, {"fleetkeeper:schedule": "office-hours"})
        if n % 50 == 49:
            print(f"bench: seeded {n + 1} accounts ({time.monotonic() - started:.0f}s)", flush=True)
    return ou, ids


def single_invocation(world: org.OrgWorld, ids: list[str], at: str) -> dict:
    """nightly-stopper over ROLE_ARNS x REGIONS in one invocation, as a single-account
    deployment with ROLE_ARNS runs."""
    arns = ",".join(f"arn:aws:iam::{a}:role/{org.MEMBER_ROLE}" for a in ids[:SINGLE_PATH_ACCOUNTS])
    event = world.work / "bench-single.json"
    event.write_text(json.dumps({"action": "evaluate", "time": at}))
    world.serve({"ROLE_ARNS": arns, "REGIONS": ",".join(REGIONS), "MAX_ACTIONS": "100000"}, ("--release",), workers=1)
    started = time.monotonic()
    res = subprocess.run([str(BIN / "cargo-lambda"), "lambda", "invoke", "nightly-stopper", "-A", "127.0.0.1",
                          "-P", str(world.invoke_port()), "--data-file", str(event),
                          "--output-format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - started
    out = json.loads(res.stdout) if res.returncode == 0 else {}
    return {"targets": min(len(ids), SINGLE_PATH_ACCOUNTS) * len(REGIONS), "wall_s": wall, "done": len(out.get("done", [])),
            "ok": res.returncode == 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=100, help="the map's MaxConcurrency")
    ap.add_argument("--workers", type=int, default=8,
                    help="cargo lambda watch servers (each runs one invocation at a time): the local stand-in for Lambda's concurrency")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = ROOT / ".demo"
    work.mkdir(exist_ok=True)
    print("bench: building org-targets and nightly-stopper (release) ...", flush=True)
    subprocess.run(["cargo", "build", "--quiet", "--release", "--bin", "org-targets", "--bin", "nightly-stopper"],
                   cwd=ROOT, check=True)
    world = org.start(work)
    rows = []
    try:
        ou, ids = seed(world, args.accounts)
        targets = args.accounts * len(REGIONS)
        # Baseline first, in the evening; the organisation runs then start, stop, start.
        baseline = single_invocation(world, ids, BASELINE_AT)
        world.serve({"ORGANIZATION_UNITS": ou, "REGIONS": ",".join(REGIONS), "MAX_CONCURRENCY": str(args.concurrency),
                     "ORG_MAX_ACTIONS": "1000000", "MAX_ACTIONS": "100000"}, ("--release",), workers=args.workers)
        for at in RUNS_AT:
            world.router.invocations.clear()
            world.router.most_in_flight = 0
            started = time.monotonic()
            run = world.execute("nightly-stopper", {"action": "evaluate", "time": at}, timeout=3600)
            wall = time.monotonic() - started
            out = run.get("output", {})
            inside = {phase: [i for i in world.router.invocations if i.function == "nightly-stopper"
                              and i.request.get("phase") == phase and isinstance(i.response, dict)]
                      for phase in ("plan", "apply")}
            per = {phase: [i.response.get("ms", 0) / 1000 for i in invs] for phase, invs in inside.items()}
            reached = most_at_once([(i.ended - i.response.get("ms", 0) / 1000, i.ended)
                                    for invs in inside.values() for i in invs])
            rows.append({"at": at, "status": run["status"], "targets": out.get("targets"), "done": out.get("actions_done"),
                         "wall_s": wall, "plan_ms": 1000 * statistics.median(per["plan"]) if per["plan"] else None,
                         "apply_ms": 1000 * statistics.median(per["apply"]) if per["apply"] else None,
                         "apply_p90_ms": 1000 * statistics.quantiles(per["apply"], n=10)[-1] if len(per["apply"]) > 1 else None,
                         "concurrency": reached, "requests_in_flight": world.router.most_in_flight})
            print(f"bench: run at {at}: {run['status']}, {out.get('actions_done')} actions over {out.get('targets')} targets "
                  f"in {wall:.1f}s; {reached} targets at once inside the function, {world.router.most_in_flight} requests in flight", flush=True)
    finally:
        world.stop()

    wall = statistics.median(r["wall_s"] for r in rows)
    plan_ms = statistics.median(r["plan_ms"] for r in rows)
    apply_ms = statistics.median(r["apply_ms"] for r in rows)
    conc = statistics.median(r["concurrency"] for r in rows)
    single_per_target = baseline["wall_s"] / baseline["targets"]
    org_per_target = wall / targets
    print(f"\norganisation mode: {args.accounts} accounts x {len(REGIONS)} regions = {targets} targets, 2 instances each; "
          f"medians of {len(rows)} runs on moto (release builds)")
    print(f"  {'':38} {'wall':>9} {'per target':>11}")
    print(f"  {'state machine, MaxConcurrency ' + str(args.concurrency):38} {wall:8.1f}s {1000 * org_per_target:9.0f}ms"
          f"   (ratio to baseline per target: {org_per_target / single_per_target:.2f}x)")
    print(f"  {'single invocation, ROLE_ARNS (baseline)':38} {baseline['wall_s']:8.1f}s "
          f"{1000 * single_per_target:9.0f}ms   ({baseline['targets']} targets, {baseline['done']} actions)")
    print(f"  time per target inside the function: plan {plan_ms:.0f} ms, apply {apply_ms:.0f} ms (medians); "
          f"most targets at once inside the function: {conc:.0f}")
    # 5,000 targets: two phases, each ceil(5000 / 100) waves of one target's time.
    waves = -(-5000 // 100)
    fan_out = waves * (plan_ms + apply_ms) / 1000
    single = 5000 * single_per_target
    print(f"  5,000 targets at MaxConcurrency 100: {waves} waves x ({plan_ms:.0f} + {apply_ms:.0f}) ms = {fan_out:.0f} s of "
          f"function time; the single invocation at {1000 * single_per_target:.0f} ms a target needs {single:.0f} s "
          f"({single / 900:.1f}x Lambda's 900 s limit)")
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "baseline": baseline}, indent=2))
    return 0 if all(r["status"] == "SUCCEEDED" for r in rows) and baseline["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
