#!/usr/bin/env python3
"""Organisation mode end to end (part of `make test`): the state machine file the template
deploys, run by moto's ASL interpreter against the real function binaries.

An organisation of three member accounts (dev, stage, prod) in two regions, each region with
two instances on the office-hours schedule; prod's member role cannot be assumed.

1. nightly-stopper in the evening with an organisation cap of 5: 8 stops planned, refused,
   nothing stopped anywhere.
2. The same with a cap of 100: dev's and stage's instances stopped, prod's two targets failed by
   name, the others unaffected.
3. snapshot-janitor with a backlog of 25 snapshots in dev/us-east-1 and MAX_DELETES=10 a run:
   drained in three rounds of the same target, the same night.
4. Bad input (an event time that is not a time) fails the run at its first step: no target is
   planned.
5. The morning, with dev/us-east-1's plan crashing: that target is never applied and is failed
   by name; the other targets start their instances.
6. A dry run of the same morning: the two starts it would do, where, and nothing changed.

Prints one line per check; exits non-zero at the first that fails.
"""

from __future__ import annotations

import sys
import time

import org
from demo_clock import evening, rfc3339
from harness import ROOT, REGIONS

# The next Tuesday's 21:00 UTC, from the real clock: after every instance and snapshot moto
# stamps during this run.
EVENING = rfc3339(evening().org_evening)
MORNING = rfc3339(evening().morning)


def check(ok: bool, what: str) -> None:
    print(f"org-e2e: {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        raise SystemExit(1)


def main() -> int:
    work = ROOT / ".demo"
    work.mkdir(exist_ok=True)
    started = time.monotonic()
    world = org.start(work)
    try:
        ou, (dev, stage, prod) = org.organisation(world, ["dev", "stage", "prod"])
        world.router.denied.add(f"arn:aws:iam::{prod}:role/{org.MEMBER_ROLE}")
        fleet = {(a, r): org.tagged_instances(world, a, r, 2, {"fleetkeeper:schedule": "office-hours"})
                 for a in (dev, stage, prod) for r in REGIONS}
        backlog = org.snapshot_backlog(world, dev, REGIONS[0], 25)
        env = {"ORGANIZATION_UNITS": ou, "REGIONS": ",".join(REGIONS), "MAX_CONCURRENCY": "4",
               "MAX_ROUNDS": "5", "KEEP_LAST": "1", "MAX_DELETES": "10", "ORG_MAX_ACTIONS": "5"}
        world.serve(env)

        # 1. Above the organisation cap: refused, nothing stopped anywhere.
        run = world.execute("nightly-stopper", {"action": "evaluate", "time": EVENING})
        out = run.get("output", {})
        check(run["status"] == "SUCCEEDED" and out.get("status") == "refused",
              f"cap: {out.get('tally', {}).get('counted')} stops planned over the organisation, refused: {out.get('tally', {}).get('refused')}")
        running = all(s == "running" for (a, r), ids in fleet.items() for s in org.states(world, a, r, ids))
        check(running, "cap: every instance in every account still running")

        # 2. Within the cap: applied everywhere the role works; prod failed by name.
        world.serve({**env, "ORG_MAX_ACTIONS": "100"})
        run = world.execute("nightly-stopper", {"action": "evaluate", "time": EVENING})
        out = run.get("output", {})
        failed = {(f["target"], f["region"]) for f in out.get("failed", [])}
        check(run["status"] == "SUCCEEDED" and out.get("targets") == 6 and out.get("actions_done") == 8
              and failed == {(prod, r) for r in REGIONS},
              f"apply: {out.get('targets')} targets, {out.get('actions_done')} stops done, failed {sorted(failed)}")
        check(all("cannot be assumed" in f["error"] and prod in f["error"] for f in out["failed"]),
              f"apply: prod's failure says why: {out['failed'][0]['error'][:120]}")
        stopped = {(a, r): org.states(world, a, r, ids) for (a, r), ids in fleet.items()}
        check(all(s == ["stopped", "stopped"] for (a, _), s in stopped.items() if a != prod)
              and all(s == ["running", "running"] for (a, _), s in stopped.items() if a == prod),
              "apply: dev and stage stopped in both regions, prod untouched")

        # 3. A deletion backlog drained by rounds of the same target, the same night.
        before = org.snapshot_count(world, dev, REGIONS[0], backlog)
        run = world.execute("snapshot-janitor", {"time": EVENING})
        out = run.get("output", {})
        after = org.snapshot_count(world, dev, REGIONS[0], backlog)
        rounds = [i.request for i in world.router.invocations
                  if i.function == "snapshot-janitor" and i.request.get("phase") == "apply"
                  and i.request["target"] == {"account_id": dev, "region": REGIONS[0],
                                        "role_arn": f"arn:aws:iam::{dev}:role/{org.MEMBER_ROLE}"}]
        check(run["status"] == "SUCCEEDED" and after == 1 and len(rounds) == 3 and out.get("continued_targets") == 1,
              f"backlog: {before} snapshots -> {after} in {len(rounds)} rounds of dev/{REGIONS[0]} (MAX_DELETES=10 a round)")

        # 4. Bad input fails the run before any target is planned.
        planned_before = sum(1 for i in world.router.invocations if i.request.get("phase") == "plan")
        run = world.execute("nightly-stopper", {"action": "evaluate", "time": "soon"})
        planned_after = sum(1 for i in world.router.invocations if i.request.get("phase") == "plan")
        check(run["status"] == "FAILED" and planned_after == planned_before and "RFC 3339" in run.get("cause", ""),
              f"bad input: the run failed at its first step ({run.get('error')}: {run.get('cause', '')[:300]}), no target planned")
        # 5. A plan that crashes: that target is never applied (its actions were never counted
        #    against the cap), and the summary names it as failed. The morning wants the
        #    instances dev and stage stopped last night started again.
        world.router.crash.add(("plan", dev, REGIONS[0]))
        run = world.execute("nightly-stopper", {"action": "evaluate", "time": MORNING})
        world.router.crash.clear()
        out = run.get("output", {})
        applied_there = [i for i in world.router.invocations if i.request.get("phase") == "apply"
                         and i.request.get("run") == out.get("run")
                         and (i.request["target"]["account_id"], i.request["target"]["region"]) == (dev, REGIONS[0])]
        failed = {(f["target"], f["region"]): f["error"] for f in out.get("failed", [])}
        check(run["status"] == "SUCCEEDED" and not applied_there and (dev, REGIONS[0]) in failed
              and "not applied in this run" in failed[(dev, REGIONS[0])],
              f"crashed plan: {dev}/{REGIONS[0]} not applied, failed: {failed.get((dev, REGIONS[0]), '')[:140]}")
        states_now = {(a, r): org.states(world, a, r, ids) for (a, r), ids in fleet.items()}
        check(states_now[(dev, REGIONS[0])] == ["stopped", "stopped"] and out.get("actions_done") == 6
              and all(states_now[(a, r)] == ["running", "running"] for a in (dev, stage) for r in REGIONS
                      if (a, r) != (dev, REGIONS[0])),
              f"crashed plan: {out.get('actions_done')} starts done elsewhere, the crashed target's instances still stopped; "
              f"output: {out.get('done', [{}])[0].get('reason')}")

        # 6. A dry run shows what the run would do everywhere: the two starts left.
        run = world.execute("nightly-stopper", {"action": "evaluate", "time": MORNING, "dry_run": True})
        out = run.get("output", {})
        planned = [(p["target"], p.get("region"), p["reason"]) for p in out.get("planned", [])]
        check(run["status"] == "SUCCEEDED" and out.get("mode") == "dry-run" and out.get("actions_planned") == 2
              and out.get("planned_by_action") == {"start": 2} and planned == [(dev, REGIONS[0], "would do: start 2")]
              and dev in out.get("by_account", {}),
              f"dry run: {out.get('actions_planned')} planned {out.get('planned_by_action')}, {planned}; "
              f"{(out.get('skipped') or [{}])[0].get('reason')}")
        check(org.states(world, dev, REGIONS[0], fleet[(dev, REGIONS[0])]) == ["stopped", "stopped"],
              "dry run: nothing changed")
        print(f"org-e2e: passed in {time.monotonic() - started:.0f}s; most concurrent invocations: {world.router.most_in_flight}")
        return 0
    finally:
        world.stop()


if __name__ == "__main__":
    sys.exit(main())
