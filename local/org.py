"""Organisation mode, locally and for real: moto runs the state machines (infra/statemachines)
with its ASL interpreter, and its Lambda tasks reach the real function binaries.

moto's interpreter calls Lambda (and S3, for the map's ItemReader) at localhost:$MOTO_PORT, so
moto is started with MOTO_PORT pointing at a small router: `/2015-03-31/functions/<name>/
invocations` goes to `cargo lambda watch` (which serves Lambda's Invoke API), everything else to
moto. The functions' own AWS calls go through the same router (AWS_ENDPOINT_URL), which is also
where a test makes a member role impossible to assume (moto's STS assumes any role): the only
answer here that moto does not give itself.

Used by `make demo` (an organisation of three accounts in two regions) and by
local/org_e2e.py (`make test`). The router itself is router.py.
"""

from __future__ import annotations

import json
import os
import queue
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3

import seal_key
from router import Router
from harness import BIN, FAKE_CREDENTIALS, ROOT, Background, answers, free_port, start_watch, wait_until

ASL = ROOT / "infra" / "statemachines" / "org-run.asl.json"
FUNCTIONS = ("org-targets", "nightly-stopper", "snapshot-janitor")
MANAGEMENT = "123456789012"
BUCKET = "fleetkeeper-org-runs"
MEMBER_ROLE = "fleetkeeper-member"
SFN_ROLE = f"arn:aws:iam::{MANAGEMENT}:role/fleetkeeper-org-run"


@dataclass
class OrgWorld:
    work: Path
    router: Router
    moto: Background
    watchers: list[Background] = field(default_factory=list)
    endpoint: str = ""
    machines: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, region: str = "us-east-1", account: str | None = None):
        """A boto3 client, in a member account when `account` is given (moto keeps each
        assumed account's state apart)."""
        if account is None or account == MANAGEMENT:
            return boto3.client(service, region_name=region, endpoint_url=self.endpoint)
        creds = boto3.client("sts", region_name=region, endpoint_url=self.endpoint).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="seed")["Credentials"]
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"])

    def serve(self, env: dict[str, str], extra: tuple[str, ...] = (), workers: int = 2) -> None:
        """`workers` `cargo lambda watch` servers for the three functions with `env`, their AWS
        calls through the router."""
        for w in self.watchers:
            w.stop()
        self.watchers = []
        self.router.workers = queue.Queue()
        for n in range(workers):
            watcher, port = start_watch(self.work, {
                **FAKE_CREDENTIALS,
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.router.port}",
                "AWS_REGION": "us-east-1",
                "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
                "AWS_LAMBDA_LOG_LEVEL": "INFO",
                "BUCKET": BUCKET,
                **env,
            }, f"org-watch-{n}", extra)
            self.watchers.append(watcher)
            self.router.workers.put(f"http://127.0.0.1:{port}")

    def invoke_port(self) -> int:
        """A `cargo lambda watch` port, for `cargo lambda invoke`."""
        base = self.router.workers.get()
        self.router.workers.put(base)
        return int(base.rsplit(":", 1)[1])

    def machine(self, function: str) -> str:
        """The state machine the template deploys for `function`, from the same ASL file."""
        if function not in self.machines:
            definition = ASL.read_text()
            for k, v in {"Function": function, "FunctionArn": f"arn:aws:lambda:us-east-1:{MANAGEMENT}:function:fleetkeeper-{function}",
                         "OrgTargetsArn": f"arn:aws:lambda:us-east-1:{MANAGEMENT}:function:fleetkeeper-org-targets",
                         "Bucket": BUCKET}.items():
                definition = definition.replace("${" + k + "}", v)
            sfn = self.client("stepfunctions")
            self.machines[function] = sfn.create_state_machine(
                name=f"fleetkeeper-{function}-org", definition=definition, roleArn=SFN_ROLE)["stateMachineArn"]
        return self.machines[function]

    def execute(self, function: str, event: dict, timeout: float = 900) -> dict:
        """Starts a run and waits for it: (status, output or error and cause)."""
        sfn = self.client("stepfunctions")
        name = f"{function}-{len(self.router.invocations)}-{time.monotonic_ns()}"
        arn = sfn.start_execution(stateMachineArn=self.machine(function), name=name, input=json.dumps(event))["executionArn"]
        deadline = time.monotonic() + timeout
        while True:
            d = sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"org: the {function} run did not finish within {timeout:.0f}s")
            time.sleep(0.25)
        out = {"status": d["status"]}
        if "output" in d:
            out["output"] = json.loads(d["output"])
        for k in ("error", "cause"):
            if k in d:
                out[k] = d[k]
        return out

    def stop(self) -> None:
        for w in self.watchers:
            w.stop()
        self.moto.stop()
        self.router.stop()


def start(work: Path) -> OrgWorld:
    """moto (executing state machines) behind the router; the caller seeds and serves."""
    os.environ.update(FAKE_CREDENTIALS)
    router = Router(free_port(), FUNCTIONS)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = Background([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], work / "org-moto.log",
                      env={**os.environ, "MOTO_PORT": str(router.port)})
    try:
        wait_until(lambda: answers(f"{endpoint}/moto-api/"), "moto")
    except BaseException:
        moto.stop()
        router.stop()
        raise
    router.moto = endpoint
    req = urllib.request.Request(f"{endpoint}/moto-api/config", method="POST",
                                 data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()
    world = OrgWorld(work=work, router=router, moto=moto, endpoint=endpoint)
    world.client("s3").create_bucket(Bucket=BUCKET)
    # The seal key, in the management account where the functions run.
    seal_key.create_key(world.client("secretsmanager"))
    return world


def organisation(world: OrgWorld, names: list[str]) -> tuple[str, list[str]]:
    """An organisation with one OU holding a member account per name: (the OU's id, the ids)."""
    org = world.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    ids = []
    for name in names:
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        org.move_account(AccountId=status["AccountId"], SourceParentId=root, DestinationParentId=ou)
        ids.append(status["AccountId"])
    return ou, ids


IMAGES: dict[str, str] = {}


def tagged_instances(world: OrgWorld, account: str, region: str, count: int, tags: dict[str, str]) -> list[str]:
    ec2 = world.client("ec2", region, account)
    if region not in IMAGES:
        # moto lists hundreds of images; once per region is enough (they are the same everywhere).
        IMAGES[region] = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    image = IMAGES[region]
    out = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=count, MaxCount=count,
                            TagSpecifications=[{"ResourceType": "instance",
                                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return [i["InstanceId"] for i in out["Instances"]]


def snapshot_backlog(world: OrgWorld, account: str, region: str, count: int) -> str:
    """A volume tagged for daily backups with `count` snapshots snapshot-janitor made earlier."""
    ec2 = world.client("ec2", region, account)
    vol = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "fleetkeeper:backup", "Value": "daily"}]}])["VolumeId"]
    tags = {"fleetkeeper:managed-by": "snapshot-janitor", "fleetkeeper:policy": "daily", "fleetkeeper:volume-id": vol}
    for _ in range(count):
        snap = ec2.create_snapshot(VolumeId=vol, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
            {"Key": k, "Value": v} for k, v in tags.items()]}])["SnapshotId"]
        # Sealed, as the janitor seals what it makes (the key is the management account's).
        value = seal_key.seal(world.client("secretsmanager"), snap, tags)
        ec2.create_tags(Resources=[snap], Tags=[{"Key": seal_key.SEAL_TAG, "Value": value}])
    return vol


def states(world: OrgWorld, account: str, region: str, ids: list[str]) -> list[str]:
    ec2 = world.client("ec2", region, account)
    res = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return [i["State"]["Name"] for r in res for i in r["Instances"]]


def snapshot_count(world: OrgWorld, account: str, region: str, volume: str) -> int:
    ec2 = world.client("ec2", region, account)
    return len(ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume]}])["Snapshots"])
