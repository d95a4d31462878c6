#!/usr/bin/env python3
"""make demo: run every fleetkeeper function as a real Lambda against a local AWS emulator.

Starts moto on a free loopback port, seeds a demo account (demo_seed), serves the functions
through cargo-lambda's local Runtime API (`cargo lambda watch`), sends each its sample events
with `cargo lambda invoke` (demo_steps), prints what each did, and stops everything. Then
organisation mode (demo_org): the state machine on moto's interpreter over three accounts. Exits
non-zero if any step did not do what it should.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from demo_clock import Evening, evening
from demo_org import org_rows
from demo_seed import GROUPS_PARAMETER, LAUNCH_CLAIMS_BUCKET, LAUNCHER_SECRET_PARAMETER, LEASE_SENDER, TEAM_SCHEDULES, World, seed
from demo_steps import Step, retime, steps
from harness import BIN, FAKE_CREDENTIALS, REGIONS, ROOT, start_moto, start_watch

LAUNCHER_SETTINGS = {
    "ALLOWED_SIZES": "small=t3.micro,medium=t3.small",
    "LAUNCH_TEMPLATE": "dev-box",
    "QUOTA_BUCKET": LAUNCH_CLAIMS_BUCKET,
    "SECRET_PARAMETER": LAUNCHER_SECRET_PARAMETER,
}


def invoke(port: int, function: str, event: Path) -> tuple[bool, object]:
    res = subprocess.run(
        [str(BIN / "cargo-lambda"), "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(port),
         "--data-file", str(event), "--output-format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    if res.returncode == 0:
        try:
            return True, json.loads(res.stdout)
        except json.JSONDecodeError:
            return True, res.stdout.strip()
    # cargo-lambda prints the function's error; keep the message lines only.
    lines = [l.strip(" │×") for l in (res.stdout + res.stderr).splitlines()]
    text = " ".join(l for l in lines if l and not l.startswith(("Was this", "Start a thread")))
    return False, text.replace("Error: ", "", 1)


def function_env(world: World) -> dict[str, str]:
    """What every function is started with under `cargo lambda watch`."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": world.endpoint,
        "AWS_REGION": REGIONS[0],
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
        "REGIONS": ",".join(REGIONS),
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        # moto has no SSM Automation; the reboot strategy shows the same guard rails.
        "RESTART_STRATEGY": "reboot",
        **LAUNCHER_SETTINGS,
        "GROUPS_PARAMETER": GROUPS_PARAMETER,
        "SCHEDULES": json.dumps(TEAM_SCHEDULES),
        # Every kind a schedule keeps, as the template's ScheduledResources does.
        "RESOURCES": "ec2,rds,aurora,asg,ecs",
        # snapshot-janitor copies its snapshots to a third region, for disaster recovery.
        "COPY_TO": "us-west-2",
        # ... and freezes the database around its set with the team's own SSM document.
        "CONSISTENCY_DOCUMENT": "fleetkeeper-db-freeze",
        "COMMAND_POLL_MS": "100",
        # ... and proves each backup restorable: every day here, a week by default.
        "RESTORE_DRILL_DAYS": "1",
        "DRILL_POLL_MS": "100",
        "SENDER": LEASE_SENDER,
        # lease-keeper mails warnings only within these domains (the owner tag is anyone's).
        "OWNER_DOMAINS": "example.com",
        "CHANGE_POLL_MS": "200",
    }


def run_step(step: Step, ev: Evening, world: World, work: Path, lambda_port: int, n: int) -> tuple[bool, str]:
    if step.before:
        step.before(world)
    if step.http:
        ok, out = step.http(world, f"http://127.0.0.1:{lambda_port}/lambda-url/{step.function}/")
        return step.check(world, ok, out)
    # The sample event, with the times it carries taken from the clock (never its literal date).
    event = retime(json.loads((ROOT / "events" / step.function / step.event).read_text()), step.time or ev.now)
    if step.edit:
        event = step.edit(world, event)
    sent = work / f"{step.function}-{n}.json"
    sent.write_text(json.dumps(event))
    ok, out = invoke(lambda_port, step.function, sent)
    return step.check(world, ok, out)


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows + [("function", "event", "result", "")]) for i in range(3)]
    print()
    print(f"{'function':<{widths[0]}}  {'event':<{widths[1]}}  {'result':<{widths[2]}}  what it did")
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    print()
    print("logs: .demo/watch.log (functions), .demo/moto.log (emulator)")


def build(functions: list[str]) -> None:
    print(f"demo: building {', '.join(functions)} ...", flush=True)
    subprocess.run(["cargo", "build", "--quiet"] + [a for f in functions for a in ("--bin", f)], cwd=ROOT, check=True)


def run(ev: Evening, only: set[str] | None = None) -> list[tuple[str, str, str, str]]:
    """Every step (or only those of the functions in `only`; "org" for organisation mode) at
    the times `ev` derives from its clock: the table's rows."""
    work = ROOT / ".demo"
    work.mkdir(exist_ok=True)
    chosen = [s for s in steps(ev) if only is None or s.function in only]
    moto, endpoint = start_moto(work, "moto.log")
    world = None
    watcher = None
    rows: list[tuple[str, str, str, str]] = []
    try:
        world = seed(endpoint)
        watcher, lambda_port = start_watch(work, function_env(world), "watch")
        for n, step in enumerate(chosen):
            passed, summary = run_step(step, ev, world, work, lambda_port, n)
            rows.append((step.function, step.what, "ok" if passed else "FAILED", summary))
    finally:
        if world:
            world.primary.stop()
        if watcher:
            watcher.stop()
        moto.stop()
    # Organisation mode: its own emulator, since moto must reach the functions to run a state machine.
    if only is None or "org" in only:
        rows += org_rows(work, ev)
    return rows


def main() -> int:
    ev = evening()
    build(sorted({s.function for s in steps(ev)} | {"org-targets"}))
    print(f"demo: the clock says {ev.now:%a %Y-%m-%d %H:%M} UTC; the evening is {ev.label(ev.open)} on {ev.tuesday}", flush=True)
    rows = run(ev)
    print_table(rows)
    failed = sum(1 for r in rows if r[2] != "ok")
    if failed:
        print(f"demo: {failed} step(s) failed", file=sys.stderr)
        return 1
    print(f"demo: all {len(rows)} steps did what they should")
    return 0


if __name__ == "__main__":
    sys.exit(main())
