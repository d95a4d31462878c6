"""The demo's steps: what each function is sent, in order, and how each result is checked
against the seeded `World` and what moto holds afterwards. Every function adds its own steps
to STEPS."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from dataclasses import dataclass
from html import unescape
from typing import Callable

from demo_clock import UTC, Evening, rfc3339
from demo_seed import IMAGES, World
from harness import REGIONS, url_request

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")

# Given the seeded world and the invocation's (ok, output): (passed, one-line summary).
Check = Callable[["World", bool, object], "tuple[bool, str]"]
# An HTTP call to a function's URL, given the world and the URL.
Http = Callable[["World", str], "tuple[bool, object]"]


@dataclass
class Step:
    function: str
    event: str  # file under events/<function>/
    what: str
    # Given the invocation's (ok, output), returns (passed, one-line summary).
    check: Check
    # Rewrites the event file before sending it, for events that must name seeded resources.
    edit: Callable[[World, dict], dict] | None = None
    # Instead of an event: an HTTP call to the function's URL (given its base URL).
    http: Http | None = None
    # Run before the step (start or stop a demo server, say).
    before: Callable[[World], None] | None = None
    # The time the event carries (its `time`, an alarm's state timestamp, an S3 record's
    # eventTime); the demo's start when None. Always from the real clock (demo_clock).
    time: datetime | None = None


def www_record(world: World) -> str:
    r53 = world.client("route53")
    sets = r53.list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]
    return ",".join(v["Value"] for s in sets if s["Name"] == "www.example.com." and s["Type"] == "A"
                    for v in s["ResourceRecords"])


def resizer(want_written: int, want_skip: str | None) -> Check:
    """Checks an image-resizer run and what the bucket holds under resized/."""

    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        s3 = world.client("s3")
        listed = s3.list_objects_v2(Bucket=IMAGES, Prefix="resized/").get("Contents", [])
        written, skipped = out["done"], out["skipped"]
        right = len(written) == want_written and not out["failed"]
        if want_skip:
            right &= any(want_skip in s["reason"] for s in skipped)
        parts = []
        for src in out["sources"]:
            # Before and after: the upright source size, then each rendition's.
            made = ", ".join(f"{w['detail']['rendition']} {w['detail']['width']}x{w['detail']['height']}"
                             f" ({w['detail']['bytes'] // 1024} KiB)"
                             for w in written if w["reason"].endswith(" of " + src["source"]))
            if made:
                size = "x".join(map(str, src.get("size", [])))
                parts.append(f"{src['source'].rsplit('/', 1)[-1]} {size} -> {made} (decoded in {src['decode_ms']} ms)")
        parts += [f"skipped {(s.get('detail') or {}).get('rendition', '*')}: {s['reason']}" for s in skipped]
        parts += [f"failed {f['target']}: {f['error']}" for f in out["failed"]]
        return right, "; ".join(parts) + f"; {len(listed)} object(s) under resized/"

    return check


def failover(want_record: str, want_action: str) -> Check:
    """Checks a dns-failover run (report or HTTP answer) and the record in the emulator."""

    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if isinstance(out, tuple):
            status, body = out
            ok, out = status == 200, json.loads(body) if body.startswith("{") else body
        if not ok or not isinstance(out, dict) or not out.get("groups"):
            return False, f"failed: {out}"
        g = out["groups"][0]
        probe = f"probe {g['probe']['detail']}, " if g.get("probe") else ""
        flip = f"{g['flip']}: " if g.get("flip") else ""
        record = www_record(world)
        right = record == want_record and g["action"] == want_action and not g.get("error")
        counters = f"failures {g['failures']}, successes {g['successes']}" + (", held" if g["held"] else "")
        change = f", change {g['change_id']} {g['change_status']}" if g.get("change_id") else ""
        return right, f"{probe}{flip}{g['side_before']} -> {g['side_after']} ({counters}){change}; www.example.com = {record}"

    return check


def failover_call(action: str) -> Http:
    body = json.dumps({"action": action, "group": "web"}).encode()
    return lambda world, url: url_request(url, "POST", body, "application/json", world.launcher_secret)


def census_summary(world: World, ok: bool, out: object) -> tuple[bool, str]:
    if not ok or not isinstance(out, dict):
        return False, f"failed: {out}"
    parts, right = [], out.get("status") == "ok"
    for r in out.get("regions", []):
        want = world.counts.get(r["region"], {})
        right &= r["total"] == want.get("total") and r["opted_in"] == want.get("opted_in")
        states = ", ".join(f"{n} {s}" for s, n in sorted(r["by_state"].items()))
        asg = f" ({r['opted_in_asg_members']} in an Auto Scaling group)" if r['opted_in_asg_members'] else ""
        kinds = {k: c["scheduled"] for k, c in r.get("by_kind", {}).items() if k != "ec2"}
        right &= kinds == want.get("kinds", {"rds": 0, "aurora": 0, "asg": 0, "ecs": 0})
        others = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
        parts.append(f"{r['region']}: {r['total']} ({states}), {r['opted_in']} opted in{asg}"
                     + (f"; scheduled too: {others}" if others else ""))
    right &= len(out.get("regions", [])) == len(REGIONS)
    return right, "; ".join(parts)


def states(world: World) -> dict[str, str]:
    """Name tag -> instance state, read back from the emulator; and the other kinds' by name:
    a database `available` is running, a group or a service is running while it wants capacity."""
    out = {}
    for name, (region, iid) in world.names.items():
        ec2 = world.client("ec2", region)
        out[name] = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    for name, (region, kind, target) in world.others.items():
        if kind == "aurora":
            status = world.client("rds", region).describe_db_clusters(DBClusterIdentifier=target)["DBClusters"][0]["Status"]
            out[name] = {"available": "running"}.get(status, status)
        elif kind == "asg":
            g = world.client("autoscaling", region).describe_auto_scaling_groups(AutoScalingGroupNames=[target])["AutoScalingGroups"][0]
            out[name] = "running" if g["DesiredCapacity"] or g["MinSize"] else "stopped"
        elif kind == "ecs":
            svc = world.client("ecs", region).describe_services(cluster="preview", services=[target])["services"][0]
            out[name] = "running" if svc["desiredCount"] else "stopped"
    return out


def named(world: World) -> dict[str, str]:
    """Report target -> the name the demo shows: instance ids and the other kinds' targets."""
    return {**{iid: name for name, (_, iid) in world.names.items()},
            **{target: name for name, (_, _, target) in world.others.items()}}


def stopper(want_done: dict[str, str], want: dict[str, str]) -> Check:
    """Checks a nightly-stopper run: what it did to which instances (name -> stop or start),
    and the states afterwards."""
    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        by_id = named(world)
        done = {by_id.get(a["target"], a["target"]): a["action"] for a in out["done"]}
        now = states(world)
        right = out["status"] == "ok" and done == want_done and all(now[n] == s for n, s in want.items())
        parts = []
        for verb, acts in (("stopped", ("stop", "hibernate")), ("started", ("start",))):
            names = sorted(n for n, a in done.items() if a in acts)
            if names:
                why = "; ".join(sorted({a["reason"] for a in out["done"] if a["action"] in acts}))
                parts.append(f"{verb} {', '.join(names)} ({why})")
        kept = [f"{by_id.get(k['target'], k['target'])}: {k['reason']}" for k in out["skipped"]
                if not k["reason"].startswith(("already", "member of"))]
        failed = "; ".join(f"{by_id.get(f['target'], f['target'])}: {f['error']}" for f in out["failed"])
        summary = "; ".join(parts) or "nothing to do"
        summary += f"; {len(out['skipped'])} left as they are" + (f" [{'; '.join(kept)}]" if kept else "")
        return right, summary + (f"; FAILED {failed}" if failed else "")

    return check


def preview(world: World, ok: bool, out: object) -> tuple[bool, str]:
    """Checks a preview: boundaries listed per schedule, nothing changed."""
    if not ok or not isinstance(out, dict):
        return False, f"failed: {out}"
    by_id = named(world)
    parts, changes = [], 0
    for s in out.get("preview") or []:
        for b in s["boundaries"]:
            names = ", ".join(by_id.get(i["id"], i["id"]) for i in b["instances"]) or "nothing to change"
            changes += len(b["instances"])
            parts.append(f"{s['schedule']} {b['action']} {b['local']} {s['timezone']}: {names}")
    right = out["status"] == "ok" and not out["done"] and changes > 0
    return right, "; ".join(parts)


def retime(event: object, t: datetime) -> object:
    """The event with every time it carries set to `t`, each in its own format: `time` and
    `eventTime` anywhere, and the alarm states' `timestamp`s."""
    def stamp(old: str) -> str:
        if old.endswith("+0000"):
            return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        if "." in old:
            return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return rfc3339(t)

    def walk(v: object, key: str = "", parent: str = "") -> object:
        if isinstance(v, dict):
            return {k: walk(x, k, key) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, key, parent) for x in v]
        if isinstance(v, str) and RFC3339.match(v) and (
                key in ("time", "eventTime") or (key == "timestamp" and parent.endswith("tate"))):
            return stamp(v)
        return v

    return walk(event)


def at(time: datetime, action: str = "evaluate", hours: int | None = None) -> Callable[[World, dict], dict]:
    """An event for `time` (as the scheduler sends it)."""
    def edit(world: World, event: dict) -> dict:
        event = {"action": action, "time": rfc3339(time)}
        if hours is not None:
            event["hours"] = hours
        return event

    return edit


def start_by_hand(name: str) -> Callable[[World], None]:
    def before(world: World) -> None:
        region, iid = world.names[name]
        world.client("ec2", region).start_instances(InstanceIds=[iid])

    return before


def janitor(want_created: set[str], want_sets: set[str], want_copies: int) -> Check:
    """Checks a snapshot-janitor run: which volumes got a snapshot, which instances a set, and
    how many copies went to the copy region."""

    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        def of(entries: list, action: str) -> list:
            return [e for e in entries if e["action"] == action]
        by_id = {iid: name for name, (_, iid) in world.names.items()}
        created = {world.volumes.get(c["target"], c["target"]) for c in of(out["done"], "create-snapshot")}
        sets = of(out["done"], "create-snapshot-set")
        set_names = {by_id.get(s["target"], s["target"]) for s in sets}
        copies = of(out["done"], "copy-snapshot")
        skipped = "; ".join(f"{world.volumes.get(s['target'], by_id.get(s['target'], s['target']))}: {s['reason']}"
                            for s in of(out["skipped"], "create-snapshot"))
        frozen = all(s["detail"].get("consistency") == "application"
                     for s in sets if by_id.get(s["target"]) == "db-server")
        right = (out["status"] == "ok" and created == want_created and set_names == want_sets
                 and len(copies) == want_copies and not out["failed"] and frozen)
        did = f"created {len(created)}" + (f" ({', '.join(sorted(created))})" if created else "")
        for s in sets:
            detail = s["detail"]
            did += f"; set of {by_id.get(s['target'], s['target'])}: {len(detail['snapshots'])} volumes at one instant"
            if detail.get("consistency") == "application":
                did += f", application-consistent (frozen {detail['freeze_ms']} ms)"
        regions = sorted({c["region"] for c in copies})
        did += f"; copied {len(copies)}" + (f" to {', '.join(regions)}" if copies else "")
        drills = out.get("restore_drills", [])
        ok = [d for d in drills if d["status"] == "ok"]
        if drills:
            did += f"; restore drills: {len(ok)} of {len(drills)} ok"
            right = right and all(d["status"] in ("ok", "not-ours") for d in drills)
        deleted = len(of(out["done"], "delete-snapshot"))
        return right, f"{did}; deleted {deleted}" + (f"; skipped [{skipped}]" if skipped else "")

    return check


def forge_a_backup(world: World) -> None:
    """Someone with only ec2:CreateTags copies every tag of the janitor's db-data snapshot,
    its seal included, onto a snapshot of their own scratch volume."""
    ec2 = world.client("ec2")
    ours = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:fleetkeeper:managed-by", "Values": ["snapshot-janitor"]},
        {"Name": "tag:Name", "Values": ["db-data"]}])["Snapshots"][0]
    scratch = next(v for v, n in world.volumes.items() if n == "scratch")
    theirs = ec2.create_snapshot(VolumeId=scratch, Description="before the migration: keep")["SnapshotId"]
    ec2.create_tags(Resources=[theirs], Tags=ours["Tags"])
    world.volumes[theirs] = "scratch's snapshot with copied tags"


def forged(world: World, ok: bool, out: object) -> tuple[bool, str]:
    """Checks that the snapshot with copied tags was left alone, said so and was counted."""
    if not ok or not isinstance(out, dict):
        return False, f"failed: {out}"
    theirs = next(i for i, n in world.volumes.items() if n == "scratch's snapshot with copied tags")
    left = [s for s in out["skipped"] if s["target"] == theirs]
    still = world.client("ec2").describe_snapshots(SnapshotIds=[theirs])["Snapshots"]
    right = (out["status"] == "ok" and out.get("forged") == 1 and bool(left) and bool(still)
             and left[0]["reason"].startswith("fleetkeeper tags without a valid seal: not ours"))
    return right, (f"{theirs} (every tag of db-data's snapshot, seal included): {left[0]['reason'] if left else 'NOT REPORTED'}; "
                   f"forged {out.get('forged')}; still there: {bool(still)}")


def leased(world: World) -> tuple[str, str]:
    """The instance launched from the form (dev@example.com's) and its lease's end."""
    ec2 = world.client("ec2")
    out = ec2.describe_instances(Filters=[{"Name": "tag:fleetkeeper:owner", "Values": ["dev@example.com"]}])
    i = out["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
    return i["InstanceId"], tags["fleetkeeper:expires-at"]


def lease_time(hours_after_expiry: float) -> Callable[[World, dict], dict]:
    """The scheduled event, timed relative to the launched instance's lease."""
    def edit(world: World, event: dict) -> dict:
        _, expires = leased(world)
        at = datetime.fromisoformat(expires.replace("Z", "+00:00")) + timedelta(hours=hours_after_expiry)
        return {**event, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}

    return edit


def lease(want: str) -> Check:
    """Checks a lease-keeper run: it did `want` to the launched instance, and what moto holds."""
    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        iid, expires = leased(world)
        done = [d for d in out["done"] if d["target"] == iid]
        right = out["status"] == "ok" and [d["action"] for d in done] == [want]
        what = f"at {out['time']} (lease ends {expires}): "
        if want == "warn" and done:
            # SES counts what it sends: one more mail must have gone out. (moto's data.json,
            # which would show the mail itself, fails once the demo holds RDS resources; the
            # recipient is checked by lease-keeper's moto test.)
            sent = int(world.client("ses").get_send_quota()["SentLast24Hours"])
            right &= sent == world.mails_sent + 1
            world.mails_sent = sent
            what += f"e-mailed dev@example.com \"{done[0]['detail']['subject']}\""
        elif want == "stop":
            state = world.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
            right &= state in ("stopping", "stopped")
            what += f"stopped {iid} ({state})"
        elif want == "terminate" and done:
            snaps = done[0]["detail"]["final_snapshots"]
            what += f"terminated {iid} after final snapshot(s) {', '.join(s['snapshot_id'] for s in snaps)}"
            right &= bool(snaps)
        else:
            what += f"{out['done']} {out['skipped']}"
        return right, what

    return check


def extend_from_page(hours: int) -> Http:
    """The owner presses Extend on "your instances" for the instance the form launched."""
    def call(world: World, url: str) -> tuple[bool, object]:
        iid, _ = leased(world)
        form = {"instance_id": iid, "action": "extend", "hours": str(hours), "owner": "dev@example.com"}
        return url_request(url + "mine", "POST", urllib.parse.urlencode(form).encode(),
                           "application/x-www-form-urlencoded", world.launcher_secret, 60)

    return call


def extended(world: World, ok: bool, out: object) -> tuple[bool, str]:
    """Checks the page's answer to Extend and the lease tags moto holds afterwards."""
    if not ok or not isinstance(out, tuple):
        return False, f"failed: {out}"
    status, html = out
    iid, expires = leased(world)
    tags = {t["Key"]: t["Value"] for t in world.client("ec2").describe_instances(InstanceIds=[iid])
            ["Reservations"][0]["Instances"][0].get("Tags", [])}
    banner = re.search(r'<p class="ok" role="status">(.*?)</p>', html)
    right = (status == 200 and banner is not None and tags.get("fleetkeeper:extensions") == "1"
             and "fleetkeeper:warned-for" not in tags)
    shown = unescape(banner.group(1)) if banner else f"HTTP {status}"
    return right, f"page says \"{shown}\"; lease now ends {expires}, warning cleared, extensions used: {tags.get('fleetkeeper:extensions')}"


def restart_history(world: World, name: str) -> list[str]:
    region, iid = world.names[name]
    ec2 = world.client("ec2", region)
    tags = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0].get("Tags", [])
    value = next((t["Value"] for t in tags if t["Key"] == "fleetkeeper:restart-history"), "")
    return value.split()


def alarm_for(name: str, state: str = "ALARM", previous: str = "OK") -> Callable[[World, dict], dict]:
    """Points the documented alarm event at a seeded instance."""

    def edit(world: World, event: dict) -> dict:
        detail = event["detail"]
        detail["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = world.names[name][1]
        detail["state"]["value"], detail["previousState"]["value"] = state, previous
        return event

    return edit


def restarter(want: str, want_history: int) -> Check:
    """Checks an alarm-restarter run: restarted or skipped (with which code), and the history."""

    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        by_id = {iid: name for name, (_, iid) in world.names.items()}
        done = [f"{out['strategy']} {by_id.get(d['target'], d['target'])}" for d in out["done"]]
        skipped = [f"{by_id.get(k['target'], k['target'])} {k['action']}: {k['reason']}" for k in out["skipped"]]
        history = restart_history(world, "app-1")
        got = "restarted" if done else (out["skipped"][0]["action"] if out["skipped"] else "nothing")
        right = got == want and len(history) == want_history and not out["failed"]
        return right, "; ".join(done + skipped) + f"; history tag holds {len(history)} restart(s)"

    return check


def http_call(method: str, form: dict | None = None, secret: bool = True) -> Http:
    """A request to a function URL, as a browser behind the proxy would send it."""

    def call(world: World, url: str) -> tuple[bool, object]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        ctype = "application/x-www-form-urlencoded" if data is not None else None
        return url_request(url, method, data, ctype, world.launcher_secret if secret else None, 60)

    return call


def owned_instances(world: World, owner: str) -> list[dict]:
    ec2 = world.client("ec2")
    res = ec2.describe_instances(Filters=[{"Name": "tag:fleetkeeper:owner", "Values": [owner]}])
    return [i for r in res["Reservations"] for i in r["Instances"]]


def launcher(want_status: int, want_owned: int) -> Check:
    """Checks an instance-launcher answer and the instances dev@example.com owns afterwards."""

    def check(world: World, ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, tuple):
            return False, f"failed: {out}"
        status, html = out
        owned = owned_instances(world, "dev@example.com")
        right = status == want_status and len(owned) == want_owned
        if status == 201:
            inst = owned[-1]
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            what = (f"launched {inst['InstanceId']} ({inst['InstanceType']}) from template dev-box for "
                    f"{tags.get('fleetkeeper:owner')}, expires {tags.get('fleetkeeper:expires-at')}, "
                    f"schedule {tags.get('fleetkeeper:schedule', 'none')}")
        elif status == 200 and "<form" in html:
            sizes = html.count("<option value=") - 1
            nonce = "present" if 'name="nonce"' in html else "MISSING"
            what = f"form served ({sizes} sizes, nonce {nonce})"
        elif status == 200 and "already submitted" in html:
            shown = re.search(r'data-field="instance">([^<]+)<', html)
            what = f"same nonce: answered with the earlier launch {shown.group(1) if shown else '?'}, launched nothing"
        else:
            errors = re.findall(r'<p class="error" id="([a-z_]+)-error">(.*?)</p>', html)
            message = re.search(r"<p>(.*?)</p>", html)
            detail = "; ".join(f"{f}: {unescape(m)}" for f, m in errors) if errors else (
                unescape(message.group(1)) if message else "")
            what = f"HTTP {status}, nothing launched: {detail}"
        return right, f"{what}; dev@example.com owns {len(owned)} instance(s)"

    return check


GOOD_LAUNCH = {"nonce": "demo-0001", "size": "small", "name": "dev-box-1", "owner": "dev@example.com",
               "purpose": "demo of the launch form", "hours": "4", "nightly_stop": "on"}
BAD_LAUNCH = {"nonce": "demo-0002", "size": "huge", "name": "<b>x</b>", "owner": "dev@example.com",
              "purpose": "", "hours": "999"}


def refused(world: World, ok: bool, out: object) -> tuple[bool, str]:
    text = str(out)
    return (not ok and "invalid input" in text), ("refused: " + text.splitlines()[0] if not ok else f"accepted: {out}")


OFFICE = {"web-1", "web-2", "eu-web-1", "batch-1"}
UK = {"support-1", "support-2"}
TEAMS_UP = {n: "running" for n in {"web-1", "web-2", "eu-web-1"} | UK}
ALWAYS_ON = {"asg-member": "running", "database": "running", "eu-build": "running"}
# eu-west-1's other kinds on office hours (reports-db, their database, is checked by name).
PREVIEW = {"preview-web", "preview-api"}

def steps(ev: Evening) -> list[Step]:
    """The demo's steps, every event time taken from `ev` (the real clock, see demo_clock)."""
    minutes = lambda n: ev.now + timedelta(minutes=n)  # noqa: E731
    return [
        Step("fleet-census", "scheduled.json", "daily census", census_summary),
        Step("fleet-census", "bad-input.json", "bad input", refused),
        Step("nightly-stopper", "evaluate.json", ev.label(ev.open), stopper({"build-farm": "stop", "batch-1": "start"}, {"build-farm": "stopped", "batch-1": "running", **TEAMS_UP, **ALWAYS_ON}), edit=at(ev.open)),
        Step("nightly-stopper", "evaluate.json", ev.label(ev.closed), stopper({**{n: "stop" for n in OFFICE | UK | PREVIEW}}, {**{n: "stopped" for n in OFFICE | UK | PREVIEW}, "reports-db": "running", **ALWAYS_ON}), edit=at(ev.closed)),
        Step("nightly-stopper", "evaluate.json", ev.label(ev.closed) + " again, apps down", stopper({"reports-db": "stop"}, {**{n: "stopped" for n in OFFICE | UK | PREVIEW}, "reports-db": "stopped", **ALWAYS_ON}), edit=at(ev.closed)),
        Step("nightly-stopper", "evaluate.json", ev.label(ev.late) + ", started by hand", stopper({}, {"support-1": "running", "support-2": "stopped", **ALWAYS_ON}), edit=at(ev.late), before=start_by_hand("support-1")),
        Step("nightly-stopper", "preview.json", "preview the night", preview, edit=at(ev.late, "preview", 12)),
        Step("nightly-stopper", "evaluate.json", ev.label(ev.morning) + ", databases first", stopper({n: "start" for n in (OFFICE - {"eu-web-1"}) | {"support-2", "reports-db"}}, {**{n: "running" for n in (OFFICE - {"eu-web-1"}) | UK}, "reports-db": "running", "eu-web-1": "stopped", **{n: "stopped" for n in PREVIEW}, "build-farm": "stopped", **ALWAYS_ON}), edit=at(ev.morning)),
        Step("nightly-stopper", "evaluate.json", ev.label(ev.morning + timedelta(minutes=5)) + ", database up", stopper({n: "start" for n in {"eu-web-1"} | PREVIEW}, {**{n: "running" for n in OFFICE | UK | PREVIEW}, "reports-db": "running", "build-farm": "stopped", **ALWAYS_ON}), edit=at(ev.morning + timedelta(minutes=5))),
        Step("nightly-stopper", "unknown-action.json", "bad input", refused),
        Step("snapshot-janitor", "scheduled.json", "nightly backup", janitor({"db-data"}, {"db-server"}, 0), time=ev.backup),
        Step("snapshot-janitor", "scheduled.json", "run again: copies", janitor(set(), set(), 3), time=ev.backup),
        Step("snapshot-janitor", "scheduled.json", "once more", janitor(set(), set(), 0), time=ev.backup),
        Step("snapshot-janitor", "scheduled.json", "tags copied onto a foreign snapshot", forged, before=forge_a_backup, time=ev.backup),
        Step("snapshot-janitor", "bad-input.json", "bad input", refused),
        Step("alarm-restarter", "metric-alarm.json", "alarm fires", restarter("restarted", 1), alarm_for("app-1"), time=minutes(0)),
        Step("alarm-restarter", "metric-alarm.json", "same event again", restarter("duplicate", 1), alarm_for("app-1"), time=minutes(0)),
        Step("alarm-restarter", "ok.json", "alarm clears", restarter("ignored", 1), alarm_for("app-1", "OK", "ALARM"), time=minutes(5)),
        Step("alarm-restarter", "metric-alarm.json", "untagged instance", restarter("not-opted-in", 1), alarm_for("database"), time=minutes(10)),
        Step("alarm-restarter", "bad-input.json", "bad input", refused),
        Step("instance-launcher", "", "GET form", launcher(200, 0), http=http_call("GET")),
        Step("instance-launcher", "", "POST launch", launcher(201, 1), http=http_call("POST", GOOD_LAUNCH)),
        Step("instance-launcher", "", "same form again", launcher(200, 1), http=http_call("POST", GOOD_LAUNCH)),
        Step("instance-launcher", "", "invalid form", launcher(400, 1), http=http_call("POST", BAD_LAUNCH)),
        Step("instance-launcher", "", "no secret", launcher(401, 1), http=http_call("GET", secret=False)),
        Step("instance-launcher", "bad-input.json", "bad input", refused),
        Step("lease-keeper", "scheduled.json", "2 h before the end", lease("warn"), edit=lease_time(-2)),
        Step("instance-launcher", "", "extend from the page", extended, http=extend_from_page(24)),
        Step("lease-keeper", "scheduled.json", "2 h before the new end", lease("warn"), edit=lease_time(-2)),
        Step("lease-keeper", "scheduled.json", "1 h after the end", lease("stop"), edit=lease_time(1)),
        Step("lease-keeper", "scheduled.json", "8 days later", lease("terminate"), edit=lease_time(24 * 8)),
        Step("lease-keeper", "bad-input.json", "bad input", refused),
        Step("image-resizer", "upload.json", "photo and PNG uploaded", resizer(4, None)),
        Step("image-resizer", "upload.json", "same event again", resizer(0, "already made from this ETag")),
        Step("image-resizer", "own-output.json", "own output", resizer(0, "OUTPUT_PREFIX")),
        Step("image-resizer", "text-named-jpg.json", "text named .jpg", resizer(0, "not a JPEG")),
        Step("image-resizer", "bad-input.json", "bad input", refused),
        Step("dns-failover", "schedule.json", "primary up", failover("192.0.2.10", "none"), before=lambda w: w.primary.start()),
        Step("dns-failover", "schedule.json", "primary stopped", failover("192.0.2.10", "none"), before=lambda w: w.primary.stop()),
        Step("dns-failover", "schedule.json", "still down", failover("198.51.100.20", "upsert")),
        Step("dns-failover", "schedule.json", "primary back", failover("198.51.100.20", "none"), before=lambda w: w.primary.start()),
        Step("dns-failover", "schedule.json", "still up", failover("192.0.2.10", "upsert")),
        Step("dns-failover", "", "manual failover", failover("198.51.100.20", "upsert"), http=failover_call("failover")),
        Step("dns-failover", "schedule.json", "held", failover("198.51.100.20", "none")),
        Step("dns-failover", "", "manual failback", failover("192.0.2.10", "upsert"), http=failover_call("failback")),
        Step("dns-failover", "bad-input.json", "bad input", refused),
    ]
