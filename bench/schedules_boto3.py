"""Baseline for `make bench`: nightly-stopper's evaluation as a Python Lambda would do it
(boto3 paginators, zoneinfo for the schedules, every resource's desired state against its state:
EC2 instances by the schedule tag, RDS instances and Aurora clusters, Auto Scaling groups by the
tag, ECS services of every cluster with their scalable targets), run through the same Lambda
Runtime API loop as the Rust binary."""

import json
import os
from datetime import datetime

import boto3
from lambda_loop import serve
from schedule_eval import desired, schedules_of

KEY = os.environ.get("SCHEDULE_TAG_KEY", "fleetkeeper:schedule")
SCHEDULES = schedules_of(json.loads(os.environ["SCHEDULES"]))
ec2 = boto3.client("ec2")
rds = boto3.client("rds")
autoscaling = boto3.client("autoscaling")
ecs = boto3.client("ecs")
scaling = boto3.client("application-autoscaling")


def instances():
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag-key", "Values": [KEY]}], MaxResults=1000)
    for page in pages:
        for reservation in page["Reservations"]:
            for i in reservation["Instances"]:
                yield i["InstanceId"], i.get("Tags", []), "Key", "Value", i["State"]["Name"]


def databases():
    for page in rds.get_paginator("describe_db_instances").paginate():
        for d in page["DBInstances"]:
            state = {"available": "running", "stopped": "stopped"}.get(d["DBInstanceStatus"])
            yield d["DBInstanceIdentifier"], d.get("TagList", []), "Key", "Value", state
    for page in rds.get_paginator("describe_db_clusters").paginate():
        for c in page["DBClusters"]:
            state = {"available": "running", "stopped": "stopped"}.get(c["Status"])
            yield c["DBClusterIdentifier"], c.get("TagList", []), "Key", "Value", state


def groups():
    pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": "tag-key", "Values": [KEY]}])
    for page in pages:
        for g in page["AutoScalingGroups"]:
            state = "running" if g["DesiredCapacity"] or g["MinSize"] else "stopped"
            yield g["AutoScalingGroupName"], g.get("Tags", []), "Key", "Value", state


def services():
    found = []
    for page in ecs.get_paginator("list_clusters").paginate():
        for cluster in page["clusterArns"]:
            arns = [a for p in ecs.get_paginator("list_services").paginate(cluster=cluster) for a in p["serviceArns"]]
            for n in range(0, len(arns), 10):
                described = ecs.describe_services(cluster=cluster, services=arns[n:n + 10], include=["TAGS"])
                for s in described["services"]:
                    if any(t["key"] == KEY for t in s.get("tags", [])):
                        found.append((cluster.rsplit("/", 1)[-1], s))
    ids = [f"service/{c}/{s['serviceName']}" for c, s in found]
    bounds = {}
    for n in range(0, len(ids), 50):
        for t in scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=ids[n:n + 50])["ScalableTargets"]:
            bounds[t["ResourceId"]] = (t["MinCapacity"], t["MaxCapacity"])
    for (cluster, s), rid in zip(found, ids):
        state = "running" if s["desiredCount"] or bounds.get(rid, (0, 0))[0] else "stopped"
        yield s["serviceArn"], s.get("tags", []), "key", "value", state


def handler(event):
    at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    wanted = {name: desired(s, at) for name, s in SCHEDULES.items()}
    planned, skipped = [], []
    for kind, resources in [("ec2", instances), ("rds", databases), ("asg", groups), ("ecs", services)]:
        for target, tag_list, k, v, state in resources():
            tags = {t[k]: t[v] for t in tag_list}
            if KEY not in tags:
                continue
            want = wanted.get(tags[KEY])
            entry = {"target": target, "kind": kind, "reason": f"{tags[KEY]} wants {want}"}
            (planned if want and state != want else skipped).append(entry)
    return {"function": "nightly-stopper", "planned": planned, "skipped": skipped,
            "counts": {"planned": len(planned), "skipped": len(skipped)}}


serve(handler)
