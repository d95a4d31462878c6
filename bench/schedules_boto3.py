"""Baseline for `make bench`: nightly-stopper's evaluation as a Python Lambda would do it
(boto3 paginator on the schedule tag, zoneinfo for the schedules, every instance's desired
state against its state), run through the same Lambda Runtime API loop as the Rust binary."""

import json
import os
from datetime import datetime

import boto3
from lambda_loop import serve
from schedule_eval import desired, schedules_of

KEY = os.environ.get("SCHEDULE_TAG_KEY", "fleetkeeper:schedule")
SCHEDULES = schedules_of(json.loads(os.environ["SCHEDULES"]))
ec2 = boto3.client("ec2")


def handler(event):
    at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    wanted = {name: desired(s, at) for name, s in SCHEDULES.items()}
    planned, skipped = [], []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag-key", "Values": [KEY]}], MaxResults=1000)
    for page in pages:
        for reservation in page["Reservations"]:
            for i in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                want = wanted.get(tags.get(KEY))
                state = i["State"]["Name"]
                entry = {"target": i["InstanceId"], "reason": f"{tags.get(KEY)} wants {want}"}
                (planned if want and state != want else skipped).append(entry)
    return {"function": "nightly-stopper", "planned": planned, "skipped": skipped,
            "counts": {"planned": len(planned), "skipped": len(skipped)}}


serve(handler)
