#!/usr/bin/env python3
"""make demo: run every fleetkeeper function as a real Lambda against a local AWS emulator.

Starts moto on a free loopback port, seeds a demo account, serves the functions through
cargo-lambda's local Runtime API (`cargo lambda watch`), sends each its sample events with
`cargo lambda invoke`, prints what each did, and stops everything. Exits non-zero if any step
did not do what it should. Every function adds its own step to STEPS.
"""

from __future__ import annotations

import json
import re
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from html import unescape
from pathlib import Path
from typing import Callable

import boto3

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
REGIONS = ["us-east-1", "eu-west-1"]
# moto's placeholder credentials; nothing here reaches AWS.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"demo: {what} did not come up within {timeout:.0f}s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except Exception:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Background:
    """A process in its own process group, stopped with everything it started."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_moto(work: Path, log: str) -> tuple[Background, str]:
    """moto_server on a free loopback port; returns it and its endpoint once it answers."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = Background([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], work / log)
    try:
        wait_until(lambda: answers(f"{endpoint}/moto-api/"), "moto")
    except BaseException:
        moto.stop()
        raise
    os.environ.update(FAKE_CREDENTIALS)
    return moto, endpoint


def start_watch(work: Path, env: dict[str, str], log: str, extra: tuple[str, ...] = ()) -> tuple[Background, int]:
    """`cargo lambda watch` serving every function (and its URL) with `env` (`extra`: more
    watch options, such as --release); returns it and its port once it listens."""
    port = free_port()
    env_file = work / f"{log}.env"
    # Quoted: values such as ALLOWED_SIZES hold '=' signs.
    env_file.write_text("".join(f'{k}="{v}"\n' for k, v in env.items()))
    watcher = Background(
        [str(BIN / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1",
         "-P", str(port), "--env-file", str(env_file), *extra],
        work / f"{log}.log",
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    try:
        wait_until(lambda: port_open(port), "cargo lambda watch")
    except BaseException:
        watcher.stop()
        raise
    return watcher, port


def url_request(url: str, method: str, body: bytes | None = None, content_type: str | None = None,
                secret: str | None = None, timeout: float = 120) -> tuple[bool, object]:
    """One request to a function URL: (True, (status, body)) for any HTTP answer."""
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("content-type", content_type)
    if secret is not None:
        req.add_header("x-fleetkeeper-secret", secret)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return True, (res.status, res.read().decode())
    except urllib.error.HTTPError as e:
        return True, (e.code, e.read().decode())
    except OSError as e:
        return False, str(e)


# ---- seeding -------------------------------------------------------------------------------

SEEDED: dict[str, dict] = {}
NAMES: dict[str, tuple[str, str]] = {}  # Name tag -> (region, instance id)
ENDPOINT = ""
VOLUMES: dict[str, str] = {}  # volume id -> Name tag


def seed_fleet(endpoint: str) -> None:
    """Instances in two regions: opted in, opted in but in an Auto Scaling group, untagged."""
    plan = {
        "us-east-1": [
            ("web-1", {"fleetkeeper:schedule": "office-hours"}, "running"),
            ("web-2", {"fleetkeeper:schedule": "office-hours"}, "running"),
            ("batch-1", {"fleetkeeper:schedule": "office-hours"}, "stopped"),
            ("asg-member", {"fleetkeeper:schedule": "office-hours", "aws:autoscaling:groupName": "web-asg"}, "running"),
            ("database", {}, "running"),
            ("app-1", {"fleetkeeper:auto-restart": "true"}, "running"),
        ],
        "eu-west-1": [
            ("eu-web-1", {"fleetkeeper:schedule": "office-hours"}, "running"),
            ("eu-build", {}, "running"),
        ],
    }
    for region, instances in plan.items():
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for name, tags, state in instances:
            tags = {"Name": name, **tags}
            out = ec2.run_instances(
                ImageId=image,
                InstanceType="t3.micro",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
            )
            NAMES[name] = (region, out["Instances"][0]["InstanceId"])
            if state == "stopped":
                ec2.stop_instances(InstanceIds=[out["Instances"][0]["InstanceId"]])
        if region == "us-east-1":
            for vname, vtags in [("db-data", {"fleetkeeper:backup": "daily"}), ("scratch", {})]:
                vol = ec2.create_volume(
                    AvailabilityZone=f"{region}a", Size=8,
                    TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in {"Name": vname, **vtags}.items()]}],
                )
                VOLUMES[vol["VolumeId"]] = vname
        if region == "us-east-1":
            ec2.create_launch_template(LaunchTemplateName="dev-box", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
        SEEDED[region] = {
            "total": len(instances),
            "opted_in": sum(1 for _, t, _ in instances if t.get("fleetkeeper:schedule") == "office-hours"),
        }


def seed_launcher_secret(endpoint: str) -> str:
    """A fresh shared secret for instance-launcher, stored as moto's SecureString; never printed."""
    value = secrets.token_urlsafe(24)
    ssm = boto3.client("ssm", region_name=REGIONS[0], endpoint_url=endpoint)
    ssm.put_parameter(Name=LAUNCHER_SECRET_PARAMETER, Value=value, Type="SecureString")
    return value


class Primary:
    """The failover group's primary: /health answers 200 "ok" while it runs."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"ok"
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Primary.Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


PRIMARY = Primary()
ZONE_ID = ""
GROUPS_PARAMETER = "/fleetkeeper/demo/failover-groups"


def seed_failover(endpoint: str) -> None:
    """example.com with www on the primary, a private decoy zone of the same name, and the
    failover group (read by the function from an SSM parameter)."""
    global ZONE_ID
    r53 = boto3.client("route53", region_name=REGIONS[0], endpoint_url=endpoint)
    for private in (False, True):
        extra = {"VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-0123456789abcdef0"}} if private else {}
        zone = r53.create_hosted_zone(Name="example.com", CallerReference=f"demo-{private}",
                                      HostedZoneConfig={"PrivateZone": private}, **extra)["HostedZone"]["Id"]
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "www.example.com", "Type": "A", "TTL": 60,
            "ResourceRecords": [{"Value": "10.0.0.10" if private else "192.0.2.10"}]}}]})
        if not private:
            ZONE_ID = zone
    groups = [{
        "name": "web", "zone": "example.com", "record": "www.example.com", "type": "A", "ttl": 60,
        "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
        "health_check": {"url": f"http://127.0.0.1:{PRIMARY.port}/health", "body_contains": "ok", "timeout_ms": 1000},
        "fail_after": 2, "recover_after": 2,
    }]
    boto3.client("ssm", region_name=REGIONS[0], endpoint_url=endpoint).put_parameter(
        Name=GROUPS_PARAMETER, Value=json.dumps(groups), Type="String")


def www_record() -> str:
    r53 = boto3.client("route53", region_name=REGIONS[0], endpoint_url=ENDPOINT)
    sets = r53.list_resource_record_sets(HostedZoneId=ZONE_ID)["ResourceRecordSets"]
    return ",".join(v["Value"] for s in sets if s["Name"] == "www.example.com." and s["Type"] == "A"
                    for v in s["ResourceRecords"])


IMAGES = "fleetkeeper-images"


PHOTO_KEY = "uploads/holiday/beach day \u2014 caf\u00e9.jpg"


def phone_photo() -> bytes:
    """A photo-like 12 MP JPEG as a phone stores a portrait shot: 4032x3024 on disk with EXIF
    orientation 6 (turn 90 degrees clockwise to view), so it is 3024x4032 upright."""
    import io
    from PIL import Image, ImageChops, ImageDraw, ImageFilter
    w, h = 4032, 3024
    sky = Image.linear_gradient("L").resize((w, h))
    rgb = Image.merge("RGB", (sky.point(lambda v: 90 + v // 3), sky.point(lambda v: 140 + v // 4),
                              sky.point(lambda v: 255 - v // 3)))
    draw = ImageDraw.Draw(rgb)
    draw.rectangle((0, int(h * 0.62), w, h), fill=(222, 196, 150))  # sand
    draw.ellipse((w - 900, 250, w - 400, 750), fill=(255, 236, 170))  # sun
    for i in range(40):
        x, y, r = (i * 7919) % w, int(h * 0.62) + (i * 104729) % int(h * 0.38), 20 + (i * 37) % 120
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=(120 + i, 100 + i, 80))
    noise = Image.effect_noise((w, h), 18).convert("RGB")
    rgb = ImageChops.add(rgb.filter(ImageFilter.GaussianBlur(1.5)), noise, scale=1.0, offset=-64)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=88, exif=exif.tobytes())
    return out.getvalue()


def seed_images(endpoint: str) -> None:
    """A bucket with a phone photo, a real PNG upload (the README's screenshot) and a text
    file named .jpg."""
    s3 = boto3.client("s3", region_name=REGIONS[0], endpoint_url=endpoint)
    s3.create_bucket(Bucket=IMAGES)
    s3.put_object(Bucket=IMAGES, Key=PHOTO_KEY, Body=phone_photo(), ContentType="image/jpeg")
    s3.put_object(Bucket=IMAGES, Key="uploads/launch form (screenshot).png",
                  Body=(ROOT / "docs" / "instance-launcher-form.png").read_bytes(), ContentType="image/png")
    s3.put_object(Bucket=IMAGES, Key="uploads/notes.jpg", Body=b"not an image at all")


def resizer(want_written: int, want_skip: str | None) -> Callable[[bool, object], tuple[bool, str]]:
    """Checks an image-resizer run and what the bucket holds under resized/."""

    def check(ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        s3 = boto3.client("s3", region_name=REGIONS[0], endpoint_url=ENDPOINT)
        listed = s3.list_objects_v2(Bucket=IMAGES, Prefix="resized/").get("Contents", [])
        written = [w for r in out["records"] for w in r["written"]]
        skipped = [s for r in out["records"] for s in r["skipped"]]
        right = len(written) == want_written and not any(r.get("error") for r in out["records"])
        if want_skip:
            right &= any(want_skip in s["reason"] for s in skipped)
        parts = []
        for r in out["records"]:
            # Before and after: the upright source size, then each rendition's.
            made = ", ".join(f"{w['rendition']} {w['width']}x{w['height']} ({w['bytes'] // 1024} KiB)"
                             for w in r["written"])
            if made:
                size = "x".join(map(str, r.get("source_size", [])))
                parts.append(f"{r['source'].rsplit('/', 1)[-1]} {size} -> {made} (decoded in {r.get('decode_ms', 0)} ms)")
        parts += [f"skipped {s['rendition']}: {s['reason']}" for s in skipped]
        return right, "; ".join(parts) + f"; {len(listed)} object(s) under resized/"

    return check


def failover(want_record: str, want_action: str) -> Callable[[bool, object], tuple[bool, str]]:
    """Checks a dns-failover run (report or HTTP answer) and the record in the emulator."""

    def check(ok: bool, out: object) -> tuple[bool, str]:
        if isinstance(out, tuple):
            status, body = out
            ok, out = status == 200, json.loads(body) if body.startswith("{") else body
        if not ok or not isinstance(out, dict) or not out.get("groups"):
            return False, f"failed: {out}"
        g = out["groups"][0]
        probe = f"probe {g['probe']['detail']}, " if g.get("probe") else ""
        flip = f"{g['flip']}: " if g.get("flip") else ""
        record = www_record()
        right = record == want_record and g["action"] == want_action and not g.get("error")
        counters = f"failures {g['failures']}, successes {g['successes']}" + (", held" if g["held"] else "")
        change = f", change {g['change_id']} {g['change_status']}" if g.get("change_id") else ""
        return right, f"{probe}{flip}{g['side_before']} -> {g['side_after']} ({counters}){change}; www.example.com = {record}"

    return check


def failover_call(action: str) -> Callable[[str], tuple[bool, object]]:
    body = json.dumps({"action": action, "group": "web"}).encode()
    return lambda url: url_request(url, "POST", body, "application/json", LAUNCHER_SECRET)


LAUNCHER_SECRET_PARAMETER = "/fleetkeeper/demo/launcher-secret"
LAUNCHER_SETTINGS = {
    "ALLOWED_SIZES": "small=t3.micro,medium=t3.small",
    "LAUNCH_TEMPLATE": "dev-box",
    "SECRET_PARAMETER": LAUNCHER_SECRET_PARAMETER,
}


# ---- steps ---------------------------------------------------------------------------------


@dataclass
class Step:
    function: str
    event: str  # file under events/<function>/
    what: str
    # Given the invocation's (ok, output), returns (passed, one-line summary).
    check: Callable[[bool, object], tuple[bool, str]]
    # Rewrites the event file before sending it, for events that must name seeded resources.
    edit: Callable[[dict], dict] | None = None
    # Instead of an event: an HTTP call to the function's URL (given its base URL).
    http: Callable[[str], tuple[bool, object]] | None = None
    # Run before the step (start or stop a demo server, say).
    before: Callable[[], None] | None = None


def census_summary(ok: bool, out: object) -> tuple[bool, str]:
    if not ok or not isinstance(out, dict):
        return False, f"failed: {out}"
    parts, right = [], out.get("status") == "ok"
    for r in out.get("regions", []):
        want = SEEDED.get(r["region"], {})
        right &= r["total"] == want.get("total") and r["opted_in"] == want.get("opted_in")
        states = ", ".join(f"{n} {s}" for s, n in sorted(r["by_state"].items()))
        asg = f" ({r['opted_in_asg_members']} in an Auto Scaling group)" if r['opted_in_asg_members'] else ""
        parts.append(f"{r['region']}: {r['total']} ({states}), {r['opted_in']} opted in{asg}")
    right &= len(out.get("regions", [])) == len(REGIONS)
    return right, "; ".join(parts)


def states() -> dict[str, str]:
    """Name tag -> instance state, read back from the emulator."""
    out = {}
    for name, (region, iid) in NAMES.items():
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=ENDPOINT)
        out[name] = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    return out


def stopper(action: str, want_acted: set[str], want: dict[str, str]) -> Callable[[bool, object], tuple[bool, str]]:
    """Checks a nightly-stopper run: which instances it acted on and the states afterwards."""
    def check(ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        by_id = {iid: name for name, (_, iid) in NAMES.items()}
        acted = {by_id.get(a["target"], a["target"]) for a in out["done"]}
        now = states()
        right = out["status"] == "ok" and acted == want_acted and all(now[n] == s for n, s in want.items())
        skipped = "; ".join(f"{by_id.get(k['target'], k['target'])}: {k['reason']}" for k in out["skipped"])
        verb = "stopped" if action == "stop" else "started"
        did = f"{verb} {len(acted)}" + (f" ({', '.join(sorted(acted))})" if acted else "")
        failed = "; ".join(f"{by_id.get(f['target'], f['target'])}: {f['error']}" for f in out["failed"])
        return right, f"{did}; skipped {len(out['skipped'])}" + (f" [{skipped}]" if skipped else "") + (
            f"; FAILED {failed}" if failed else "")

    return check


def janitor(want_created: set[str]) -> Callable[[bool, object], tuple[bool, str]]:
    """Checks a snapshot-janitor run: which volumes got a snapshot."""

    def check(ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        def of(entries: list, action: str) -> list:
            return [e for e in entries if e["action"] == action]
        created = {VOLUMES.get(c["target"], c["target"]) for c in of(out["done"], "create-snapshot")}
        skipped = "; ".join(f"{VOLUMES.get(s['target'], s['target'])}: {s['reason']}"
                            for s in of(out["skipped"], "create-snapshot"))
        right = out["status"] == "ok" and created == want_created and not out["failed"]
        did = f"created {len(created)}" + (f" ({', '.join(sorted(created))})" if created else "")
        deleted = len(of(out["done"], "delete-snapshot"))
        return right, f"{did}; deleted {deleted}" + (f"; skipped [{skipped}]" if skipped else "")

    return check


def restart_history(name: str) -> list[str]:
    region, iid = NAMES[name]
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=ENDPOINT)
    tags = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0].get("Tags", [])
    value = next((t["Value"] for t in tags if t["Key"] == "fleetkeeper:restart-history"), "")
    return value.split()


def alarm_for(name: str, state: str = "ALARM", previous: str = "OK") -> Callable[[dict], dict]:
    """Points the documented alarm event at a seeded instance."""

    def edit(event: dict) -> dict:
        detail = event["detail"]
        detail["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = NAMES[name][1]
        detail["state"]["value"], detail["previousState"]["value"] = state, previous
        return event

    return edit


def restarter(want: str, want_history: int) -> Callable[[bool, object], tuple[bool, str]]:
    """Checks an alarm-restarter run: restarted or skipped (with which code), and the history."""

    def check(ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, dict):
            return False, f"failed: {out}"
        by_id = {iid: name for name, (_, iid) in NAMES.items()}
        done = [f"{out['strategy']} {by_id.get(d['target'], d['target'])}" for d in out["done"]]
        skipped = [f"{by_id.get(k['target'], k['target'])} {k['action']}: {k['reason']}" for k in out["skipped"]]
        history = restart_history("app-1")
        got = "restarted" if done else (out["skipped"][0]["action"] if out["skipped"] else "nothing")
        right = got == want and len(history) == want_history and not out["failed"]
        return right, "; ".join(done + skipped) + f"; history tag holds {len(history)} restart(s)"

    return check


LAUNCHER_SECRET = ""


def http_call(method: str, form: dict | None = None, secret: bool = True) -> Callable[[str], tuple[bool, object]]:
    """A request to a function URL, as a browser behind the proxy would send it."""

    def call(url: str) -> tuple[bool, object]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        ctype = "application/x-www-form-urlencoded" if data is not None else None
        return url_request(url, method, data, ctype, LAUNCHER_SECRET if secret else None, 60)

    return call


def owned_instances(owner: str) -> list[dict]:
    ec2 = boto3.client("ec2", region_name=REGIONS[0], endpoint_url=ENDPOINT)
    res = ec2.describe_instances(Filters=[{"Name": "tag:fleetkeeper:owner", "Values": [owner]}])
    return [i for r in res["Reservations"] for i in r["Instances"]]


def launcher(want_status: int, want_owned: int) -> Callable[[bool, object], tuple[bool, str]]:
    """Checks an instance-launcher answer and the instances dev@example.com owns afterwards."""

    def check(ok: bool, out: object) -> tuple[bool, str]:
        if not ok or not isinstance(out, tuple):
            return False, f"failed: {out}"
        status, html = out
        owned = owned_instances("dev@example.com")
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


def refused(ok: bool, out: object) -> tuple[bool, str]:
    text = str(out)
    return (not ok and "invalid input" in text), ("refused: " + text.splitlines()[0] if not ok else f"accepted: {out}")


OFFICE = {"web-1", "web-2", "eu-web-1"}
ALWAYS_ON = {"asg-member": "running", "database": "running", "eu-build": "running"}

STEPS = [
    Step("fleet-census", "scheduled.json", "daily census", census_summary),
    Step("fleet-census", "bad-input.json", "bad input", refused),
    Step("nightly-stopper", "stop.json", "evening stop", stopper("stop", OFFICE, {**{n: "stopped" for n in OFFICE}, **ALWAYS_ON})),
    Step("nightly-stopper", "stop.json", "stop again", stopper("stop", set(), {**{n: "stopped" for n in OFFICE}, **ALWAYS_ON})),
    Step("nightly-stopper", "start.json", "morning start", stopper("start", OFFICE | {"batch-1"}, {**{n: "running" for n in OFFICE | {"batch-1"}}, **ALWAYS_ON})),
    Step("nightly-stopper", "unknown-action.json", "bad input", refused),
    Step("snapshot-janitor", "scheduled.json", "nightly backup", janitor({"db-data"})),
    Step("snapshot-janitor", "scheduled.json", "run again", janitor(set())),
    Step("snapshot-janitor", "bad-input.json", "bad input", refused),
    Step("alarm-restarter", "metric-alarm.json", "alarm fires", restarter("restarted", 1), alarm_for("app-1")),
    Step("alarm-restarter", "metric-alarm.json", "same event again", restarter("duplicate", 1), alarm_for("app-1")),
    Step("alarm-restarter", "ok.json", "alarm clears", restarter("ignored", 1), alarm_for("app-1", "OK", "ALARM")),
    Step("alarm-restarter", "metric-alarm.json", "untagged instance", restarter("not-opted-in", 1), alarm_for("database")),
    Step("alarm-restarter", "bad-input.json", "bad input", refused),
    Step("instance-launcher", "", "GET form", launcher(200, 0), http=http_call("GET")),
    Step("instance-launcher", "", "POST launch", launcher(201, 1), http=http_call("POST", GOOD_LAUNCH)),
    Step("instance-launcher", "", "same form again", launcher(200, 1), http=http_call("POST", GOOD_LAUNCH)),
    Step("instance-launcher", "", "invalid form", launcher(400, 1), http=http_call("POST", BAD_LAUNCH)),
    Step("instance-launcher", "", "no secret", launcher(401, 1), http=http_call("GET", secret=False)),
    Step("instance-launcher", "bad-input.json", "bad input", refused),
    Step("image-resizer", "upload.json", "photo and PNG uploaded", resizer(4, None)),
    Step("image-resizer", "upload.json", "same event again", resizer(0, "already made from this ETag")),
    Step("image-resizer", "own-output.json", "own output", resizer(0, "OUTPUT_PREFIX")),
    Step("image-resizer", "text-named-jpg.json", "text named .jpg", resizer(0, "not a JPEG")),
    Step("image-resizer", "bad-input.json", "bad input", refused),
    Step("dns-failover", "schedule.json", "primary up", failover("192.0.2.10", "none"), before=PRIMARY.start),
    Step("dns-failover", "schedule.json", "primary stopped", failover("192.0.2.10", "none"), before=PRIMARY.stop),
    Step("dns-failover", "schedule.json", "still down", failover("198.51.100.20", "upsert")),
    Step("dns-failover", "schedule.json", "primary back", failover("198.51.100.20", "none"), before=PRIMARY.start),
    Step("dns-failover", "schedule.json", "still up", failover("192.0.2.10", "upsert")),
    Step("dns-failover", "", "manual failover", failover("198.51.100.20", "upsert"), http=failover_call("failover")),
    Step("dns-failover", "schedule.json", "held", failover("198.51.100.20", "none")),
    Step("dns-failover", "", "manual failback", failover("192.0.2.10", "upsert"), http=failover_call("failback")),
    Step("dns-failover", "bad-input.json", "bad input", refused),
]


# ---- running -------------------------------------------------------------------------------


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


def main() -> int:
    work = ROOT / ".demo"
    work.mkdir(exist_ok=True)
    functions = sorted({s.function for s in STEPS})
    print(f"demo: building {', '.join(functions)} ...", flush=True)
    subprocess.run(["cargo", "build", "--quiet"] + [a for f in functions for a in ("--bin", f)], cwd=ROOT, check=True)

    global ENDPOINT
    moto, endpoint = start_moto(work, "moto.log")
    ENDPOINT = endpoint
    watcher = None
    rows: list[tuple[str, str, str, str]] = []
    failed = 0
    try:
        seed_fleet(endpoint)
        global LAUNCHER_SECRET
        LAUNCHER_SECRET = seed_launcher_secret(endpoint)
        seed_failover(endpoint)
        seed_images(endpoint)
        fn_env = {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGIONS[0],
            "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
            "REGIONS": ",".join(REGIONS),
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
            # moto has no SSM Automation; the reboot strategy shows the same guard rails.
            "RESTART_STRATEGY": "reboot",
            **LAUNCHER_SETTINGS,
            "GROUPS_PARAMETER": GROUPS_PARAMETER,
            "CHANGE_POLL_MS": "200",
        }
        watcher, lambda_port = start_watch(work, fn_env, "watch")
        for step in STEPS:
            if step.before:
                step.before()
            if step.http:
                ok, out = step.http(f"http://127.0.0.1:{lambda_port}/lambda-url/{step.function}/")
                passed, summary = step.check(ok, out)
                failed += not passed
                rows.append((step.function, step.what, "ok" if passed else "FAILED", summary))
                continue
            event = ROOT / "events" / step.function / step.event
            if step.edit:
                edited = work / f"{step.function}-{len(rows)}.json"
                edited.write_text(json.dumps(step.edit(json.loads(event.read_text()))))
                event = edited
            ok, out = invoke(lambda_port, step.function, event)
            passed, summary = step.check(ok, out)
            failed += not passed
            rows.append((step.function, step.what, "ok" if passed else "FAILED", summary))
    finally:
        PRIMARY.stop()
        if watcher:
            watcher.stop()
        moto.stop()

    widths = [max(len(r[i]) for r in rows + [("function", "event", "result", "")]) for i in range(3)]
    print()
    print(f"{'function':<{widths[0]}}  {'event':<{widths[1]}}  {'result':<{widths[2]}}  what it did")
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    print()
    print(f"logs: .demo/watch.log (functions), .demo/moto.log (emulator)")
    if failed:
        print(f"demo: {failed} step(s) failed", file=sys.stderr)
        return 1
    print(f"demo: all {len(rows)} steps did what they should")
    return 0


if __name__ == "__main__":
    sys.exit(main())
