"""Baseline for `make bench`: the nightly stop as a careful Python Lambda would do it (boto3,
tag filter, paginator, ASG members skipped, batches of 1000, a last-action tag), run through the
same Lambda Runtime API loop as the Rust binary, against the same moto."""

import os
import time

import boto3
from lambda_loop import serve

KEY = os.environ.get("SCHEDULE_TAG_KEY", "fleetkeeper:schedule")
VALUE = os.environ.get("SCHEDULE_TAG_VALUE", "office-hours")
ec2 = boto3.client("ec2")


def handler(event):
    stop = event.get("action", "stop") == "stop"
    want = "running" if stop else "stopped"
    ids = []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{KEY}", "Values": [VALUE]}, {"Name": "instance-state-name", "Values": [want]}],
        MaxResults=1000,
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for i in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                if "aws:autoscaling:groupName" not in tags:
                    ids.append(i["InstanceId"])
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for n in range(0, len(ids), 1000):
        chunk = ids[n:n + 1000]
        (ec2.stop_instances if stop else ec2.start_instances)(InstanceIds=chunk)
        verb = "stopped" if stop else "started"
        ec2.create_tags(Resources=chunk, Tags=[{"Key": "fleetkeeper:last-action", "Value": f"{verb} {stamp}"}])
    return {"action": "stop" if stop else "start", "done": [{"target": i} for i in ids]}


serve(handler)
