"""The demo's organisation-mode steps: an organisation of three member accounts in two regions,
run through the state machine the template deploys (moto's ASL interpreter, the real
binaries): the evening run (plan, cap, apply, summary), and a morning run the organisation
cap refuses."""

from __future__ import annotations

from pathlib import Path

import org
from demo_clock import Evening, rfc3339
from harness import REGIONS


def org_rows(work: Path, ev: Evening) -> list[tuple[str, str, str, str]]:
    """The evening and morning runs at `ev`'s clock-derived times."""
    rows: list[tuple[str, str, str, str]] = []
    world = org.start(work)
    try:
        ou, accounts = org.organisation(world, ["team-a", "team-b", "team-c"])
        fleet = {(a, r): org.tagged_instances(world, a, r, 2, {"fleetkeeper:schedule": "office-hours"})
                 for a in accounts for r in REGIONS}
        env = {"ORGANIZATION_UNITS": ou, "REGIONS": ",".join(REGIONS), "MAX_CONCURRENCY": "6", "ORG_MAX_ACTIONS": "100"}
        world.serve(env)

        run = world.execute("nightly-stopper", {"action": "evaluate", "time": rfc3339(ev.org_evening)})
        out = run.get("output", {})
        stopped = sum(s == "stopped" for (a, r), ids in fleet.items() for s in org.states(world, a, r, ids))
        ok = run["status"] == "SUCCEEDED" and out.get("actions_done") == 12 and stopped == 12
        rows.append(("org: nightly-stopper", "evening, 3 accounts x 2 regions", "ok" if ok else "FAILED",
                     f"{out.get('targets')} targets planned in a dry run, cap passed, applied: {out.get('actions_done')} stops, "
                     f"by status {out.get('by_status')}; summary in s3://{org.BUCKET}/{out.get('summary_key')}"))

        world.serve({**env, "ORG_MAX_ACTIONS": "5"})
        run = world.execute("nightly-stopper", {"action": "evaluate", "time": rfc3339(ev.morning)})
        out = run.get("output", {})
        still = sum(s == "stopped" for (a, r), ids in fleet.items() for s in org.states(world, a, r, ids))
        ok = run["status"] == "SUCCEEDED" and out.get("status") == "refused" and still == 12
        rows.append(("org: nightly-stopper", "morning, ORG_MAX_ACTIONS=5", "ok" if ok else "FAILED",
                     f"refused: {out.get('tally', {}).get('refused')}; all {still} instances still stopped"))
    finally:
        world.stop()
    return rows
