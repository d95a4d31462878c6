#!/usr/bin/env python3
"""make e2e: instance-launcher's form in a real browser, end to end.

moto plays AWS (a launch template, the shared secret as a SecureString), `cargo lambda watch`
serves the function and its URL, and Debian's Chromium, headless and driven by playwright-core
(e2e/launch-form.mjs), loads the form, submits it wrong, corrects it, launches, submits
the same form again, then on "your instances" extends the lease and terminates the instance
after its confirmation. This script then checks the instance in moto. Screenshots go to
target/e2e/.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import boto3

import seal_key
from harness import FAKE_CREDENTIALS, ROOT, start_moto, start_watch

ARTIFACTS = ROOT / "target" / "e2e"
PARAMETER = "/fleetkeeper/e2e/launcher-secret"


def main() -> int:
    work = ROOT / ".demo"
    work.mkdir(exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--quiet", "--bin", "instance-launcher"], cwd=ROOT, check=True)
    moto, endpoint = start_moto(work, "e2e-moto.log")
    watcher = None
    try:
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.create_launch_template(LaunchTemplateName="dev-box", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
        # The seal key the template creates: the launcher seals what it launches, and "your
        # instances" acts only on sealed leases.
        seal_key.create_key(boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint))
        boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket="fleetkeeper-launch-claims")
        secret = secrets.token_urlsafe(24)
        boto3.client("ssm", region_name="us-east-1", endpoint_url=endpoint).put_parameter(
            Name=PARAMETER, Value=secret, Type="SecureString")
        env = {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "ALLOWED_SIZES": "small=t3.micro,medium=t3.small",
            "LAUNCH_TEMPLATE": "dev-box",
            "QUOTA_BUCKET": "fleetkeeper-launch-claims",
            "SECRET_PARAMETER": PARAMETER,
        }
        watcher, lambda_port = start_watch(work, env, "e2e-watch")
        url = f"http://127.0.0.1:{lambda_port}/lambda-url/instance-launcher/"
        browser = subprocess.run(
            ["node", str(ROOT / "e2e" / "launch-form.mjs"), url, str(ARTIFACTS)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={**os.environ, "E2E_SECRET": secret},
        )
        if browser.returncode != 0:
            print(browser.stdout + browser.stderr, file=sys.stderr)
            print("e2e: the browser run failed", file=sys.stderr)
            return 1
        seen = json.loads(browser.stdout.strip().splitlines()[-1])
        # What the browser was shown must be what moto holds.
        res = ec2.describe_instances(Filters=[{"Name": "tag:fleetkeeper:owner", "Values": ["e2e@example.com"]}])
        instances = [i for r in res["Reservations"] for i in r["Instances"]]
        problems = []
        if [i["InstanceId"] for i in instances] != [seen["instance_id"]]:
            problems.append(f"moto holds {[i['InstanceId'] for i in instances]}, the page showed {seen['instance_id']}")
        else:
            tags = {t["Key"]: t["Value"] for t in instances[0].get("Tags", [])}
            want = {"Name": "e2e-box", "fleetkeeper:purpose": "browser test", "fleetkeeper:schedule": "office-hours",
                    "fleetkeeper:expires-at": seen["extended_to"], "fleetkeeper:extensions": "1"}
            for k, v in want.items():
                if tags.get(k) != v:
                    problems.append(f"tag {k} is {tags.get(k)!r}, expected {v!r}")
            state = instances[0]["State"]["Name"]
            if state not in ("shutting-down", "terminated") or "fleetkeeper:terminated-at" not in tags:
                problems.append(f"the page terminated it, but moto says {state} with tags {sorted(tags)}")
        if problems:
            print("e2e: " + "; ".join(problems), file=sys.stderr)
            return 1
        shots = ", ".join(sorted(p.name for p in ARTIFACTS.glob("*.png")))
        print(f"e2e: the browser loaded the form, saw the refused submit's error ({seen['refused_error']}), "
              f"launched {seen['instance_id']} ({seen['state']}, expires {seen['expires']}), and the repeated "
              f"submit showed the same instance; on \"your instances\" it extended the lease to {seen['extended_to']} "
              f"and terminated it after the confirmation; moto agrees. Screenshots in target/e2e/: {shots}")
        return 0
    finally:
        if watcher:
            watcher.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
