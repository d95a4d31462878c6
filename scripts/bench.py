#!/usr/bin/env python3
"""make bench: speed, memory and size of the Lambda binaries.

A local stand-in for the Lambda Runtime API (and for EC2, answering DescribeInstances with a
canned page of 1000 instances) serves events to each candidate, so the figures measure the
function, not an emulator. For each candidate: the stripped binary size, init time (spawn to the
first /next request), cold invoke time (first event to its response), warm invoke time (later
events) and peak RSS (VmHWM). Medians over repeated cold starts; ratios against the baseline
measured in the same run.

Candidates: fleet-census built with the release profile (or with each of several opt-levels;
the first is the baseline of the ratios), and the same census in Python with boto3 (the scripts
fleetkeeper replaces).

    scripts/bench.py                          # release profile vs the boto3 script
    scripts/bench.py --opt-levels 3 2 s z     # the opt-level study behind the release profile
    scripts/bench.py --runs 5 --warm 10       # fewer repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "local"))
import demo_clock  # noqa: E402
import harness  # noqa: E402
from runtime import Stand  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
INSTANCES = 1000


def describe_instances_page(n: int) -> bytes:
    """An EC2 DescribeInstances response in the query protocol's XML, one reservation per instance."""
    states = ["running", "stopped", "running", "stopping"]
    items = []
    for i in range(n):
        state = states[i % len(states)]
        tags = f"<item><key>Name</key><value>host-{i}</value></item>"
        if i % 3 == 0:
            tags += "<item><key>fleetkeeper:schedule</key><value>office-hours</value></item>"
        items.append(
            f"<item><reservationId>r-{i:017x}</reservationId><ownerId>123456789012</ownerId><groupSet/>"
            f"<instancesSet><item><instanceId>i-{i:017x}</instanceId><imageId>ami-12c6146b</imageId>"
            f"<instanceState><code>16</code><name>{state}</name></instanceState>"
            f"<privateDnsName>ip-10-0-{i // 250}-{i % 250}.ec2.internal</privateDnsName>"
            f"<instanceType>t3.micro</instanceType><launchTime>2026-11-01T07:00:00.000Z</launchTime>"
            f"<placement><availabilityZone>us-east-1a</availabilityZone><tenancy>default</tenancy></placement>"
            f"<monitoring><state>disabled</state></monitoring><subnetId>subnet-0123456789abcdef0</subnetId>"
            f"<vpcId>vpc-0123456789abcdef0</vpcId><privateIpAddress>10.0.{i // 250}.{i % 250}</privateIpAddress>"
            f"<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName>"
            f"<tagSet>{tags}</tagSet></item></instancesSet></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>{uuid.uuid4()}</requestId><reservationSet>{''.join(items)}</reservationSet>"
        "</DescribeInstancesResponse>"
    ).encode()


def fleet_page(instances: list[tuple[str, str, str]], next_token: str | None) -> bytes:
    """A DescribeInstances page: (id, state, schedule) each, with nextToken when more follow."""
    items = []
    for iid, state, schedule in instances:
        items.append(
            f"<item><reservationId>r-{iid[2:]}</reservationId><ownerId>123456789012</ownerId><groupSet/>"
            f"<instancesSet><item><instanceId>{iid}</instanceId><imageId>ami-12c6146b</imageId>"
            f"<instanceState><code>16</code><name>{state}</name></instanceState>"
            f"<instanceType>t3.micro</instanceType><launchTime>2026-11-01T07:00:00.000Z</launchTime>"
            f"<placement><availabilityZone>us-east-1a</availabilityZone><tenancy>default</tenancy></placement>"
            f"<subnetId>subnet-0123456789abcdef0</subnetId><vpcId>vpc-0123456789abcdef0</vpcId>"
            f"<tagSet><item><key>Name</key><value>host-{iid[-5:]}</value></item>"
            f"<item><key>fleetkeeper:schedule</key><value>{schedule}</value></item></tagSet></item></instancesSet></item>"
        )
    token = f"<nextToken>{next_token}</nextToken>" if next_token else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>{uuid.uuid4()}</requestId><reservationSet>{''.join(items)}</reservationSet>{token}"
        "</DescribeInstancesResponse>"
    ).encode()


# Lambda gives a function at most one core at 128 MB (a fraction of one, in fact): each
# candidate runs alone on one CPU, the stand-in (this process) on another, so neither the
# candidates' threads nor the stand-in's share a core with the candidate.
STAND_CPU, CANDIDATE_CPU = 0, 1


def pin_stand() -> None:
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {STAND_CPU})


def on_candidate_cpu() -> None:
    """In the candidate's process, before it runs."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CANDIDATE_CPU})


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


CENSUS_PAGE: bytes = b""


def lambda_env(stand: Stand, endpoint: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": stand.addr,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",  # Lambda sets both; boto3 reads this one
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "fleet-census",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
    }


def one_cold_start(cmd: list[str], warm: int) -> dict:
    stand = Stand(events=1 + warm, page=CENSUS_PAGE)
    return timed_start(cmd, stand, lambda_env(stand, f"http://{stand.addr}"), warm)


def timed_start(cmd: list[str], stand: Stand, env: dict[str, str], warm: int, timeout: float = 60) -> dict:
    """Starts the candidate against `stand`, serves it 1 + `warm` events; its figures."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=on_candidate_cpu)
    try:
        stand.wait_for("response", 1 + warm, timeout=timeout)
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        stand.close()
    nexts = [t for k, t in stand.marks if k == "next"]
    events = [t for k, t in stand.marks if k == "event"]
    responses = [t for k, t in stand.marks if k == "response"]
    warm_pairs = list(zip(events[1:], responses[1:]))
    return {
        "init_ms": (nexts[0] - t0) * 1000,
        "cold_ms": (responses[0] - events[0]) * 1000,
        "warm_ms": statistics.median((r - e) * 1000 for e, r in warm_pairs) if warm else 0.0,
        # The stand-in's share of a warm invocation: answering the AWS reads.
        "serve_ms": statistics.median(stand.served_between(e, r) * 1000 for e, r in warm_pairs) if warm else 0.0,
        "own_ms": statistics.median((r - e - stand.served_between(e, r)) * 1000 for e, r in warm_pairs) if warm else 0.0,
        "rss_mib": rss / 1024,
    }


def measure(name: str, cmd: list[str], runs: int, warm: int, size: int | None) -> dict:
    samples = [one_cold_start(cmd, warm) for _ in range(runs)]
    row = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    row.update(name=name, size_mib=(size / 2**20) if size else None)
    return row


# ---- nightly-stopper: one whole stop run against moto, process start to result ------------

STOPPER_FLEET = 200


def moto_seed(endpoint: str) -> None:
    """A fresh account: STOPPER_FLEET tagged running instances, five untagged, one ASG member."""
    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def launch(n, tags):
        spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=n, MaxCount=n, TagSpecifications=spec)

    launch(STOPPER_FLEET, {"fleetkeeper:schedule": "office-hours"})
    launch(5, {"Name": "untagged"})
    launch(1, {"fleetkeeper:schedule": "office-hours", "aws:autoscaling:groupName": "web"})


def one_stop_run(cmd: list[str], endpoint: str) -> dict:
    moto_seed(endpoint)
    stand = Stand(events=1, event=b'{"action": "stop"}')
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=lambda_env(stand, endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=on_candidate_cpu)
    try:
        stand.wait_for("response", 1, timeout=120)
        total = (time.perf_counter() - t0) * 1000
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        stand.close()
    acted = len(json.loads(stand.responses[0])["done"])
    if acted != STOPPER_FLEET:
        raise RuntimeError(f"{cmd[-1]} stopped {acted} instances, expected {STOPPER_FLEET}")
    return {"total_ms": total, "rss_mib": rss / 1024}


def stopper_bench(binary: Path, runs: int) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="fleetkeeper-bench-"))
    moto, endpoint = harness.start_moto(work, "moto.log")
    try:
        rows = []
        for name, cmd in [("nightly-stopper (release profile)", [str(binary)]),
                          ("python3 + boto3 (baseline script)", [str(BIN / "python"), str(ROOT / "bench" / "stopper_boto3.py")])]:
            samples = [one_stop_run(cmd, endpoint) for _ in range(runs)]
            rows.append({"name": name, **{k: statistics.median(s[k] for s in samples) for k in samples[0]}})
        return rows
    finally:
        moto.stop()


# ---- nightly-stopper: 20 schedules over 10,000 instances and every other kind -------------

SCHEDULE_FLEET = 10_000
SCHEDULE_PAGES = 10
# Beside the instances: RDS instances and Aurora clusters (1,000 databases), Auto Scaling groups,
# and ECS services over ECS clusters.
SCHEDULE_KINDS = {"databases": 500, "clusters": 500, "groups": 500, "services": 500, "ecs_clusters": 10}
SCHEDULE_TOTAL = SCHEDULE_FLEET + sum(v for k, v in SCHEDULE_KINDS.items() if k != "ecs_clusters")
# The next Wednesday 10:30 UTC, from the real clock (demo_clock).
_UTC = ZoneInfo("UTC")
EVALUATED_AT = demo_clock.rfc3339(demo_clock.at(demo_clock.next_weekday(2, _UTC, demo_clock.real_now()), "10:30", _UTC))
# The gate: a warm invocation at least this many times faster than the Python baseline in the
# same run (the function's own time, the stand-in's share taken out of both), within this memory.
SPEEDUP_AT_LEAST = 10
RSS_AT_MOST_MIB = 64


def bench_schedules() -> dict:
    """20 schedules: two per zone, with weekday hours, a Saturday morning and the last Friday,
    a night shift past midnight, and a stop-only one."""
    zones = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
             "Asia/Kolkata", "Australia/Sydney", "UTC", "America/Sao_Paulo", "Africa/Johannesburg"]
    doc = {}
    for n, zone in enumerate(zones):
        doc[f"office-{n}"] = {"timezone": zone, "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]}
        second = [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}, {"days": "sat", "start": "09:00", "stop": "13:00"},
                  {"days": "fri#L", "start": "06:00", "stop": "23:00"}]
        if n == 4:
            second = [{"days": "mon-fri", "start": "22:00", "stop": "06:00"}]
        if n == 7:
            second = [{"stop": "22:00"}]
        doc[f"team-{n}"] = {"timezone": zone, "periods": second}
    return doc


def wanted_states(doc: dict) -> dict[str, str]:
    """Each schedule's state at EVALUATED_AT by the Python evaluation (none yet: running)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from schedule_eval import desired, schedules_of

    from datetime import datetime
    at = datetime.fromisoformat(EVALUATED_AT.replace("Z", "+00:00"))
    return {name: desired(s, at) or "running" for name, s in schedules_of(doc).items()}


def schedule_pages(doc: dict) -> list[bytes]:
    """10 pages of 1000 instances, each in the state its schedule wants, so a run that agrees
    with the Python evaluation has nothing to do."""
    wanted = wanted_states(doc)
    names = sorted(doc)
    fleet = [(f"i-{i:017x}", wanted[names[i % len(names)]], names[i % len(names)]) for i in range(SCHEDULE_FLEET)]
    per = SCHEDULE_FLEET // SCHEDULE_PAGES
    return [fleet_page(fleet[p * per:(p + 1) * per], f"p{p + 1}" if p + 1 < SCHEDULE_PAGES else None)
            for p in range(SCHEDULE_PAGES)]


def one_schedules_start(cmd: list[str], pages: list[bytes], routes: dict, doc: dict, warm: int) -> dict:
    event = json.dumps({"action": "evaluate", "time": EVALUATED_AT}).encode()
    stand = Stand(events=1 + warm, event=event, pages=pages, routes=routes)
    env = {**lambda_env(stand, f"http://{stand.addr}"), "SCHEDULES": json.dumps(doc),
           "RESOURCES": "ec2,rds,aurora,asg,ecs", "AWS_LAMBDA_FUNCTION_NAME": "nightly-stopper"}
    figures = timed_start(cmd, stand, env, warm, timeout=300)
    for body in stand.responses:
        counts = json.loads(body)["counts"]
        if counts["planned"] != 0 or counts["skipped"] != SCHEDULE_TOTAL:
            raise RuntimeError(f"{cmd[-1]} disagrees with the Python evaluation: {counts}")
    return figures


def schedules_bench(binary: Path, runs: int, warm: int, python: bool) -> list[dict]:
    from kind_pages import routes as kind_routes

    doc = bench_schedules()
    pages = schedule_pages(doc)
    routes = kind_routes(sorted(doc), wanted_states(doc), **SCHEDULE_KINDS)
    rows = []
    candidates = [("nightly-stopper (release profile)", [str(binary)], runs)]
    if python:
        candidates.append(("python3 + boto3 + zoneinfo (baseline)",
                           [str(BIN / "python"), str(ROOT / "bench" / "schedules_boto3.py")], max(3, runs // 2)))
    for name, cmd, n in candidates:
        samples = [one_schedules_start(cmd, pages, routes, doc, warm) for _ in range(n)]
        rows.append({"name": name, **{k: statistics.median(s[k] for s in samples) for k in samples[0]}})
    return rows


def print_schedules(rows: list[dict], runs: int, warm: int) -> None:
    base = rows[0]
    sizes = SCHEDULE_KINDS
    print(f"\nnightly-stopper: evaluating {len(bench_schedules())} schedules over {SCHEDULE_FLEET} instances in "
          f"{SCHEDULE_PAGES} pages, {sizes['databases']} RDS instances, {sizes['clusters']} Aurora clusters, {sizes['groups']} "
          f"Auto Scaling groups and {sizes['services']} ECS services in {sizes['ecs_clusters']} clusters ({SCHEDULE_TOTAL} "
          f"resources; nothing to do: each is where its schedule wants it); medians of {runs} cold starts x {warm} "
          f"warm invocations; ratios against '{base['name']}'.\n")
    cols = [("init_ms", "init ms"), ("cold_ms", "cold invoke ms"), ("warm_ms", "warm invoke ms"),
            ("serve_ms", "of which stand-in ms"), ("own_ms", "own warm ms"), ("rss_mib", "peak RSS MiB")]
    print(f"{'candidate':<40}" + "".join(f"{t:>22}" for _, t in cols))
    for r in rows:
        print(f"{r['name']:<40}" + "".join(f"{r[k]:>13.2f} {f'({r[k] / base[k]:.2f}x)':>8}" for k, _ in cols))
    # Lambda arm64 in us-east-1: $0.0000133334 per GB-second, $0.20 per million requests; billed
    # duration is the whole warm invocation, AWS's answers included. Lambda gives CPU in
    # proportion to memory (one core at 1,769 MB): a run measured on one whole core here takes
    # about 1769/128 times as long at 128 MB.
    per_month = 30 * 24 * 12
    at_128 = base["warm_ms"] * 1769 / 128
    gb_s = per_month * at_128 / 1000 * 0.125
    cost = gb_s * 0.0000133334 + per_month * 0.20 / 1e6
    print(f"\nevery 5 minutes at 128 MB (a fourteenth of a core): {per_month} invocations a month of about "
          f"{at_128 / 1000:.1f} s ({base['warm_ms']:.0f} ms on a whole core), {gb_s:.0f} GB-s, about ${cost:.3f} a month "
          f"(arm64 list prices, before the free tier)")
    over = []
    if base["rss_mib"] > RSS_AT_MOST_MIB:
        over.append(f"peak RSS {base['rss_mib']:.1f} MiB > {RSS_AT_MOST_MIB}")
    if len(rows) > 1:
        py = rows[1]
        speedup = py["own_ms"] / base["own_ms"]
        print(f"warm invocation, the function's own time: {speedup:.1f}x faster than the baseline "
              f"(whole invocation, stand-in included: {py['warm_ms'] / base['warm_ms']:.1f}x); gate {SPEEDUP_AT_LEAST}x")
        if speedup < SPEEDUP_AT_LEAST:
            over.append(f"own warm time only {speedup:.1f}x faster than the baseline (< {SPEEDUP_AT_LEAST}x)")
    if over:
        raise SystemExit(f"bench: nightly-stopper misses its targets: {', '.join(over)}")


def build(level: str | None, package: str = "fleet-census") -> Path:
    """The release profile as configured (level None), or with its opt-level overridden."""
    env = dict(os.environ)
    if level is None:
        target = ROOT / "target"
    else:
        target = ROOT / "target" / "bench" / f"opt-{level}"
        env["CARGO_PROFILE_RELEASE_OPT_LEVEL"] = level
    print(f"bench: building {package}, release profile{'' if level is None else f' with opt-level {level}'} ...", flush=True)
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", package, "--target-dir", str(target)],
                   cwd=ROOT, env=env, check=True)
    return target / "release" / package


def print_census(rows: list[dict], runs: int, warm: int) -> None:
    base = rows[0]
    print(f"\nfleet-census: {INSTANCES} instances per invocation; medians of {runs} cold starts x {warm} warm invocations;")
    print(f"ratios are against '{base['name']}' measured in this run (>1 means more than the baseline).\n")
    cols = [("init_ms", "init ms"), ("cold_ms", "cold invoke ms"), ("warm_ms", "warm invoke ms"), ("rss_mib", "peak RSS MiB"), ("size_mib", "binary MiB")]
    print(f"{'candidate':<36}" + "".join(f"{t:>22}" for _, t in cols))
    for r in rows:
        cells = []
        for k, _ in cols:
            v, b = r[k], base[k]
            if v is None:
                cells.append(f"{'-':>22}")
            else:
                ratio = f"({v / b:.2f}x)" if b else ""
                cells.append(f"{v:>13.2f} {ratio:>8}")
        print(f"{r['name']:<36}" + "".join(cells))


def print_stopper(rows: list[dict], runs: int) -> None:
    rust, py = rows
    print(f"\nnightly-stopper: one whole stop run against moto (process start to result; {STOPPER_FLEET} tagged "
          f"instances of {STOPPER_FLEET + 6}), medians of {runs} runs; ratio: baseline / nightly-stopper.\n")
    print(f"{'candidate':<36}{'total ms':>12}{'peak RSS MiB':>16}")
    for r in rows:
        print(f"{r['name']:<36}{r['total_ms']:>12.1f}{r['rss_mib']:>16.1f}")
    print(f"{'ratio (python / rust)':<36}{py['total_ms'] / rust['total_ms']:>11.2f}x{py['rss_mib'] / rust['rss_mib']:>15.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opt-levels", nargs="*", default=[],
                    help="compare these opt-levels (e.g. 3 2 s z); default: the release profile as configured")
    ap.add_argument("--runs", type=int, default=11, help="cold starts per candidate")
    ap.add_argument("--warm", type=int, default=20, help="warm invocations per cold start")
    ap.add_argument("--no-python", action="store_true", help="skip the boto3 baselines")
    ap.add_argument("--stopper-runs", type=int, default=7, help="whole stop runs per candidate")
    ap.add_argument("--only", choices=["census", "stopper", "schedules", "org"], help="run one of the benchmarks")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    pin_stand()
    global CENSUS_PAGE
    CENSUS_PAGE = describe_instances_page(INSTANCES)

    census, stopper = [], []
    if args.only in (None, "census"):
        for level in args.opt_levels or [None]:
            binary = build(level)
            name = "fleet-census (release profile)" if level is None else f"fleet-census opt-level={level}"
            census.append(measure(name, [str(binary)], args.runs, args.warm, binary.stat().st_size))
        if not args.no_python:
            census.append(measure("python3 + boto3 (baseline script)",
                                  [str(BIN / "python"), str(ROOT / "bench" / "census_boto3.py")],
                                  max(3, args.runs // 2), args.warm, None))
        print_census(census, args.runs, args.warm)
    if args.only in (None, "stopper"):
        stopper = stopper_bench(build(None, "nightly-stopper"), args.stopper_runs)
        print_stopper(stopper, args.stopper_runs)
    schedules = []
    if args.only in (None, "schedules"):
        schedules = schedules_bench(build(None, "nightly-stopper"), args.stopper_runs, 10, not args.no_python)
        print_schedules(schedules, args.stopper_runs, 10)
    if args.only in (None, "org"):
        # Organisation mode: its own emulator and servers (scripts/bench_org.py).
        subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_org.py")], cwd=ROOT, check=True)
    if args.json:
        args.json.write_text(json.dumps({"census": census, "stopper": stopper, "schedules": schedules}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
