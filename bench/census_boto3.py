"""Baseline for `make bench`: fleet-census as the usual Python Lambda would write it (boto3,
a paginator, a Counter), run through the same Lambda Runtime API loop as the Rust binary.
It reads the same environment (AWS_LAMBDA_RUNTIME_API, AWS_ENDPOINT_URL, REGIONS)."""

import os
from collections import Counter

import boto3
from lambda_loop import serve

KEY = os.environ.get("SCHEDULE_TAG_KEY", "fleetkeeper:schedule")
VALUE = os.environ.get("SCHEDULE_TAG_VALUE", "office-hours")
regions = [r for r in os.environ.get("REGIONS", "").split(",") if r] or [os.environ["AWS_REGION"]]
clients = {r: boto3.client("ec2", region_name=r) for r in regions}


def handler(event):
    out = []
    for region, ec2 in clients.items():
        states, opted = Counter(), 0
        total = 0
        for page in ec2.get_paginator("describe_instances").paginate(MaxResults=1000):
            for res in page["Reservations"]:
                for i in res["Instances"]:
                    total += 1
                    states[i["State"]["Name"]] += 1
                    tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                    opted += tags.get(KEY) == VALUE
        out.append({"region": region, "total": total, "by_state": dict(states), "opted_in": opted})
    return {"function": "fleet-census", "status": "ok", "regions": out, "failed": []}


serve(handler)
