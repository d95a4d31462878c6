"""The AWS answers of the schedules benchmark beyond EC2: RDS instances, Aurora clusters, Auto
Scaling groups, ECS services and their Application Auto Scaling targets, in each API's own wire
format (query XML for RDS and Auto Scaling, JSON 1.1 for ECS and Application Auto Scaling),
paged the way AWS pages them. Every resource is already where its schedule wants it, so a run
that agrees with the Python evaluation has nothing to do.

`routes(...)` returns what local/runtime.py's Stand answers with: a function per operation
(the query protocol's Action, or the JSON protocol's X-Amz-Target) from the request body to
(content type, response bytes)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import parse_qs

ACCOUNT = "123456789012"
REGION = "us-east-1"
XML = "text/xml;charset=UTF-8"
JSON = "application/x-amz-json-1.1"
ECS = "AmazonEC2ContainerServiceV20141113"
SCALING = "AnyScaleFrontendService"
DB_PAGE = 100  # DescribeDBInstances / DescribeDBClusters MaxRecords default
GROUP_PAGE = 50  # DescribeAutoScalingGroups MaxRecords default
SERVICE_PAGE = 10  # ListServices maxResults default

Route = Callable[[bytes], tuple[str, bytes]]
# When the resources were made: a month before the run, from the real clock.
CREATED = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
CREATED_EPOCH = (datetime.now(timezone.utc) - timedelta(days=30)).timestamp()


def _tags_xml(tags: dict[str, str]) -> str:
    return "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags.items())


def _db_instance(i: int, schedule: str, running: bool) -> str:
    ident = f"db-{i:04d}"
    return (
        f"<DBInstance><DBInstanceIdentifier>{ident}</DBInstanceIdentifier>"
        f"<DBInstanceArn>arn:aws:rds:{REGION}:{ACCOUNT}:db:{ident}</DBInstanceArn>"
        f"<DBInstanceClass>db.t4g.medium</DBInstanceClass><Engine>postgres</Engine><EngineVersion>16.4</EngineVersion>"
        f"<DBInstanceStatus>{'available' if running else 'stopped'}</DBInstanceStatus>"
        f"<MasterUsername>app</MasterUsername><DBName>app</DBName>"
        f"<Endpoint><Address>{ident}.abcdefghijkl.{REGION}.rds.amazonaws.com</Address><Port>5432</Port>"
        f"<HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId></Endpoint>"
        f"<AllocatedStorage>20</AllocatedStorage><InstanceCreateTime>{CREATED}</InstanceCreateTime>"
        f"<PreferredBackupWindow>03:00-03:30</PreferredBackupWindow><BackupRetentionPeriod>7</BackupRetentionPeriod>"
        f"<DBSecurityGroups/><VpcSecurityGroups><VpcSecurityGroupMembership><VpcSecurityGroupId>sg-0123456789abcdef0"
        f"</VpcSecurityGroupId><Status>active</Status></VpcSecurityGroupMembership></VpcSecurityGroups>"
        f"<DBParameterGroups><DBParameterGroup><DBParameterGroupName>default.postgres16</DBParameterGroupName>"
        f"<ParameterApplyStatus>in-sync</ParameterApplyStatus></DBParameterGroup></DBParameterGroups>"
        f"<AvailabilityZone>{REGION}a</AvailabilityZone><PreferredMaintenanceWindow>sun:05:00-sun:05:30"
        f"</PreferredMaintenanceWindow><MultiAZ>false</MultiAZ><AutoMinorVersionUpgrade>true</AutoMinorVersionUpgrade>"
        f"<ReadReplicaDBInstanceIdentifiers/><LicenseModel>postgresql-license</LicenseModel>"
        f"<PubliclyAccessible>false</PubliclyAccessible><StorageType>gp3</StorageType>"
        f"<StorageEncrypted>true</StorageEncrypted><DbiResourceId>db-{uuid.uuid5(uuid.NAMESPACE_DNS, ident).hex[:26].upper()}"
        f"</DbiResourceId><DeletionProtection>false</DeletionProtection>"
        f"<TagList>{_tags_xml({'Name': ident, 'fleetkeeper:schedule': schedule})}</TagList></DBInstance>"
    )


def _db_cluster(i: int, schedule: str, running: bool) -> str:
    ident = f"aurora-{i:04d}"
    return (
        f"<DBCluster><DBClusterIdentifier>{ident}</DBClusterIdentifier>"
        f"<DBClusterArn>arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{ident}</DBClusterArn>"
        f"<Status>{'available' if running else 'stopped'}</Status><Engine>aurora-postgresql</Engine>"
        f"<EngineVersion>16.4</EngineVersion><EngineMode>provisioned</EngineMode><DatabaseName>app</DatabaseName>"
        f"<Endpoint>{ident}.cluster-abcdefghijkl.{REGION}.rds.amazonaws.com</Endpoint>"
        f"<ReaderEndpoint>{ident}.cluster-ro-abcdefghijkl.{REGION}.rds.amazonaws.com</ReaderEndpoint>"
        f"<Port>5432</Port><MasterUsername>app</MasterUsername><MultiAZ>false</MultiAZ>"
        f"<AvailabilityZones><AvailabilityZone>{REGION}a</AvailabilityZone><AvailabilityZone>{REGION}b</AvailabilityZone>"
        f"</AvailabilityZones><BackupRetentionPeriod>7</BackupRetentionPeriod>"
        f"<DBClusterMembers><DBClusterMember><DBInstanceIdentifier>{ident}-1</DBInstanceIdentifier>"
        f"<IsClusterWriter>true</IsClusterWriter><PromotionTier>1</PromotionTier></DBClusterMember></DBClusterMembers>"
        f"<StorageEncrypted>true</StorageEncrypted><DeletionProtection>false</DeletionProtection>"
        f"<ClusterCreateTime>{CREATED}</ClusterCreateTime>"
        f"<TagList>{_tags_xml({'Name': ident, 'fleetkeeper:schedule': schedule})}</TagList></DBCluster>"
    )


def _group(i: int, schedule: str, running: bool) -> str:
    name = f"asg-{i:04d}"
    size = (2, 3, 6) if running else (0, 0, 6)
    tags = {"Name": name, "fleetkeeper:schedule": schedule}
    if not running:
        tags["fleetkeeper:asg-size"] = "2,3,6"
    tag_xml = "".join(
        f"<member><ResourceId>{name}</ResourceId><ResourceType>auto-scaling-group</ResourceType><Key>{k}</Key>"
        f"<Value>{v}</Value><PropagateAtLaunch>false</PropagateAtLaunch></member>" for k, v in tags.items())
    instances = "".join(
        f"<member><InstanceId>i-{i:08x}{n:09x}</InstanceId><InstanceType>t3.micro</InstanceType>"
        f"<AvailabilityZone>{REGION}a</AvailabilityZone><LifecycleState>InService</LifecycleState>"
        f"<HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>"
        for n in range(size[1]))
    return (
        f"<member><AutoScalingGroupName>{name}</AutoScalingGroupName>"
        f"<AutoScalingGroupARN>arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{uuid.uuid5(uuid.NAMESPACE_DNS, name)}"
        f":autoScalingGroupName/{name}</AutoScalingGroupARN>"
        f"<LaunchTemplate><LaunchTemplateId>lt-0123456789abcdef0</LaunchTemplateId><Version>$Latest</Version></LaunchTemplate>"
        f"<MinSize>{size[0]}</MinSize><MaxSize>{size[2]}</MaxSize><DesiredCapacity>{size[1]}</DesiredCapacity>"
        f"<DefaultCooldown>300</DefaultCooldown><AvailabilityZones><member>{REGION}a</member></AvailabilityZones>"
        f"<HealthCheckType>EC2</HealthCheckType><HealthCheckGracePeriod>300</HealthCheckGracePeriod>"
        f"<Instances>{instances}</Instances><CreatedTime>{CREATED}</CreatedTime>"
        f"<VPCZoneIdentifier>subnet-0123456789abcdef0</VPCZoneIdentifier><Tags>{tag_xml}</Tags>"
        f"<TerminationPolicies><member>Default</member></TerminationPolicies>"
        f"<NewInstancesProtectedFromScaleIn>false</NewInstancesProtectedFromScaleIn></member>"
    )


def _service(cluster: str, i: int, schedule: str, running: bool, scaled: bool) -> dict:
    name = f"svc-{i:04d}"
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}"
    tags = [{"key": "fleetkeeper:schedule", "value": schedule}]
    count = 4 if running else 0
    if not running:
        tags.append({"key": "fleetkeeper:ecs-size", "value": "4,2,10" if scaled else "4"})
    task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{name}:7"
    return {
        "serviceArn": arn, "serviceName": name,
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
        "status": "ACTIVE", "desiredCount": count, "runningCount": count, "pendingCount": 0,
        "launchType": "FARGATE", "platformVersion": "1.4.0", "taskDefinition": task,
        "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100},
        "deployments": [{"id": f"ecs-svc/{i:019d}", "status": "PRIMARY", "taskDefinition": task,
                         "desiredCount": count, "runningCount": count, "pendingCount": 0,
                         "createdAt": CREATED_EPOCH, "updatedAt": CREATED_EPOCH, "launchType": "FARGATE",
                         "rolloutState": "COMPLETED"}],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"],
                                                         "securityGroups": ["sg-0123456789abcdef0"],
                                                         "assignPublicIp": "DISABLED"}},
        "createdAt": CREATED_EPOCH, "schedulingStrategy": "REPLICA", "tags": tags,
    }


def _query(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


def _page_of(token: str | None) -> int:
    return int(token[1:]) if token else 0


def _xml_pages(items: list[str], per: int, wrap: Callable[[str, str | None], str]) -> list[bytes]:
    pages = [items[n:n + per] for n in range(0, len(items), per)] or [[]]
    return [wrap("".join(p), f"p{n + 1}" if n + 1 < len(pages) else None).encode() for n, p in enumerate(pages)]


def routes(schedules: list[str], wanted: dict[str, str], databases: int, clusters: int, groups: int,
           services: int, ecs_clusters: int) -> dict[str, Route]:
    """The answers for `databases` RDS instances, `clusters` Aurora clusters, `groups` Auto
    Scaling groups and `services` ECS services over `ecs_clusters` clusters (half of the
    services with a scalable target), the i-th of each on schedules[i % len], each in the state
    `wanted` (schedule -> "running" | "stopped") gives it."""
    def on(i: int) -> tuple[str, bool]:
        s = schedules[i % len(schedules)]
        return s, wanted[s] == "running"

    def rds(op: str, tag: str) -> Callable[[str, str | None], str]:
        return lambda body, token: (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{op}Response xmlns="http://rds.amazonaws.com/doc/2014-10-31/">'
            f"<{op}Result><{tag}>{body}</{tag}>{f'<Marker>{token}</Marker>' if token else ''}</{op}Result>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{op}Response>")

    db_pages = _xml_pages([_db_instance(i, *on(i)) for i in range(databases)], DB_PAGE,
                          rds("DescribeDBInstances", "DBInstances"))
    cluster_pages = _xml_pages([_db_cluster(i, *on(i)) for i in range(clusters)], DB_PAGE,
                               rds("DescribeDBClusters", "DBClusters"))
    group_pages = _xml_pages(
        [_group(i, *on(i)) for i in range(groups)], GROUP_PAGE,
        lambda body, token: (
            '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeAutoScalingGroupsResponse '
            'xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult>'
            f"<AutoScalingGroups>{body}</AutoScalingGroups>{f'<NextToken>{token}</NextToken>' if token else ''}"
            f"</DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></DescribeAutoScalingGroupsResponse>"))

    names = [f"cluster-{c}" for c in range(ecs_clusters)]
    by_cluster: dict[str, list[dict]] = {n: [] for n in names}
    targets: dict[str, dict] = {}
    for i in range(services):
        cluster = names[i % ecs_clusters]
        schedule, running = on(i)
        scaled = i % 2 == 0
        svc = _service(cluster, i, schedule, running, scaled)
        by_cluster[cluster].append(svc)
        if scaled:
            rid = f"service/{cluster}/{svc['serviceName']}"
            targets[rid] = {
                "ServiceNamespace": "ecs", "ResourceId": rid, "ScalableDimension": "ecs:service:DesiredCount",
                "MinCapacity": 2 if running else 0, "MaxCapacity": 10 if running else 0,
                "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
                           "AWSServiceRoleForApplicationAutoScaling_ECSService",
                "CreationTime": CREATED_EPOCH, "SuspendedState": {"DynamicScalingInSuspended": False,
                                                                 "DynamicScalingOutSuspended": False,
                                                                 "ScheduledScalingSuspended": False}}
    by_arn = {s["serviceArn"]: s for ss in by_cluster.values() for s in ss}

    def xml_paged(pages: list[bytes], token_field: str) -> Route:
        def answer(body: bytes) -> tuple[str, bytes]:
            return XML, pages[_page_of(_query(body).get(token_field))]
        return answer

    def list_clusters(body: bytes) -> tuple[str, bytes]:
        arns = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{n}" for n in names]
        return JSON, json.dumps({"clusterArns": arns}).encode()

    def list_services(body: bytes) -> tuple[str, bytes]:
        req = json.loads(body or b"{}")
        cluster = req["cluster"].rsplit("/", 1)[-1]
        per = req.get("maxResults") or SERVICE_PAGE
        start = _page_of(req.get("nextToken")) * per
        arns = [s["serviceArn"] for s in by_cluster[cluster]]
        out: dict = {"serviceArns": arns[start:start + per]}
        if start + per < len(arns):
            out["nextToken"] = f"p{start // per + 1}"
        return JSON, json.dumps(out).encode()

    def describe_services(body: bytes) -> tuple[str, bytes]:
        req = json.loads(body)
        found = [dict(by_arn[a]) for a in req["services"]]
        if "TAGS" not in req.get("include", []):
            for s in found:
                s.pop("tags", None)
        return JSON, json.dumps({"services": found, "failures": []}).encode()

    def describe_scalable_targets(body: bytes) -> tuple[str, bytes]:
        req = json.loads(body)
        found = [targets[r] for r in req.get("ResourceIds", []) if r in targets]
        return JSON, json.dumps({"ScalableTargets": found}).encode()

    return {
        "DescribeDBInstances": xml_paged(db_pages, "Marker"),
        "DescribeDBClusters": xml_paged(cluster_pages, "Marker"),
        "DescribeAutoScalingGroups": xml_paged(group_pages, "NextToken"),
        f"{ECS}.ListClusters": list_clusters,
        f"{ECS}.ListServices": list_services,
        f"{ECS}.DescribeServices": describe_services,
        f"{SCALING}.DescribeScalableTargets": describe_scalable_targets,
    }


def action_of(body: bytes, target: str | None) -> str | None:
    """The operation a request names: X-Amz-Target's tail for JSON, Action= for the query protocol."""
    if target:
        return target
    m = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
    return m.group(1).decode() if m else None
