"""The demo account: what `make demo` puts into moto before any function runs, returned as one
`World` that the steps check against (no module-level state)."""

from __future__ import annotations

import io
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

import seal_key
from harness import REGIONS, ROOT, free_port

LAUNCHER_SECRET_PARAMETER = "/fleetkeeper/demo/launcher-secret"
GROUPS_PARAMETER = "/fleetkeeper/demo/failover-groups"
# Three teams' hours, for nightly-stopper: Berlin's office, the London support desk (Saturday
# mornings too) and a build farm that only ever needs stopping at night.
TEAM_SCHEDULES = {
    "office-hours": {"timezone": "Europe/Berlin",
                     "periods": [{"days": "mon-fri", "start": "07:00", "stop": "19:00"}]},
    "uk-support": {"timezone": "Europe/London",
                   "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"},
                               {"days": "sat", "start": "09:00", "stop": "13:00"}]},
    "stop-nightly": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "22:00"}]},
}
IMAGES = "fleetkeeper-images"
PHOTO_KEY = "uploads/holiday/beach day \u2014 caf\u00e9.jpg"


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


@dataclass
class World:
    """What was seeded, and the handles the checks need."""
    endpoint: str
    # Name tag -> (region, instance id)
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    # volume id -> Name tag
    volumes: dict[str, str] = field(default_factory=dict)
    # region -> {"total": n, "opted_in": n, "kinds": {kind: n scheduled}}
    counts: dict[str, dict] = field(default_factory=dict)
    # The other kinds nightly-stopper keeps: name -> (region, kind, the report's target)
    others: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # Mails SES has sent so far (lease-keeper's warnings).
    mails_sent: int = 0
    zone_id: str = ""
    launcher_secret: str = ""
    primary: Primary = field(default_factory=Primary)

    def client(self, service: str, region: str = REGIONS[0]):
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)


# lease-keeper's warnings come from this address (moto's SES keeps what it sends).
LEASE_SENDER = "fleet@example.com"


def seed(endpoint: str) -> World:
    world = World(endpoint)
    # The seal key the template creates: snapshot-janitor proves with it which snapshots it made.
    seal_key.create_key(world.client("secretsmanager"))
    seed_fleet(world)
    seed_kinds(world)
    world.client("sesv2").create_email_identity(EmailIdentity=LEASE_SENDER)
    world.launcher_secret = seed_launcher_secret(world)
    world.zone_id = seed_failover(world)
    seed_images(world)
    return world


def seed_fleet(world: World) -> None:
    """Instances in two regions: opted in, opted in but in an Auto Scaling group, untagged."""
    plan = {
        "us-east-1": [
            ("web-1", {"fleetkeeper:schedule": "office-hours"}, "running"),
            ("web-2", {"fleetkeeper:schedule": "office-hours"}, "running"),
            ("batch-1", {"fleetkeeper:schedule": "office-hours"}, "stopped"),
            ("asg-member", {"fleetkeeper:schedule": "office-hours", "aws:autoscaling:groupName": "web-asg"}, "running"),
            ("database", {}, "running"),
            ("app-1", {"fleetkeeper:auto-restart": "true"}, "running"),
            ("support-1", {"fleetkeeper:schedule": "uk-support"}, "running"),
            # Its database asks to be frozen around its nightly set (the document is the
            # platform team's; moto's SSM runs any document and reports success).
            ("db-server", {"fleetkeeper:backup": "daily",
                           "fleetkeeper:backup-consistency": "application"}, "running"),
        ],
        "eu-west-1": [
            ("eu-web-1", {"fleetkeeper:schedule": "office-hours"}, "running"),
            ("eu-build", {}, "running"),
            ("support-2", {"fleetkeeper:schedule": "uk-support"}, "running"),
            ("build-farm", {"fleetkeeper:schedule": "stop-nightly"}, "running"),
        ],
    }
    for region, instances in plan.items():
        ec2 = world.client("ec2", region)
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
            world.names[name] = (region, out["Instances"][0]["InstanceId"])
            if state == "stopped":
                ec2.stop_instances(InstanceIds=[out["Instances"][0]["InstanceId"]])
        if region == "us-east-1":
            for vname, vtags in [("db-data", {"fleetkeeper:backup": "daily"}), ("scratch", {}),
                                 ("db-logs", {})]:
                vol = ec2.create_volume(
                    AvailabilityZone=f"{region}a", Size=8,
                    TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in {"Name": vname, **vtags}.items()]}],
                )
                world.volumes[vol["VolumeId"]] = vname
                if vname == "db-logs":
                    # The database server's second volume: snapshotted with its root, as a set.
                    ec2.attach_volume(VolumeId=vol["VolumeId"], InstanceId=world.names["db-server"][1], Device="/dev/sdf")
        if region == "us-east-1":
            ec2.create_launch_template(LaunchTemplateName="dev-box", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
            # Where instance-launcher keeps each caller's launch claims (the quota).
            world.client("s3").create_bucket(Bucket=LAUNCH_CLAIMS_BUCKET)
        world.counts[region] = {
            "total": len(instances),
            "opted_in": sum(1 for _, t, _ in instances if "fleetkeeper:schedule" in t),
        }


LAUNCH_CLAIMS_BUCKET = "fleetkeeper-launch-claims"
KINDS_REGION = "eu-west-1"


def seed_kinds(world: World) -> None:
    """Beside eu-west-1's office instance, on the same office hours: the team's development
    database (an Aurora cluster), the Auto Scaling group of its preview site, and the ECS service of its preview
    API (with a scalable target); and an untagged database that is nobody's to stop."""
    region = KINDS_REGION
    office = [{"Key": "fleetkeeper:schedule", "Value": "office-hours"}]
    rds = world.client("rds", region)
    # Aurora clusters: moto's /moto-api/data.json (which the lease steps read SES from) fails
    # once any RDS DB instance exists (a write-only property of its model).
    for name, tags in (("reports-db", office), ("billing-db", [])):
        rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="demo",
                              MasterUserPassword=secrets.token_urlsafe(16), Tags=tags)
    world.others["reports-db"] = (region, "aurora", "reports-db")

    ec2 = world.client("ec2", region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="preview-web", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
    world.client("autoscaling", region).create_auto_scaling_group(
        AutoScalingGroupName="preview-web", LaunchTemplate={"LaunchTemplateName": "preview-web"},
        MinSize=1, DesiredCapacity=2, MaxSize=4, AvailabilityZones=[f"{region}a"],
        Tags=[{"ResourceId": "preview-web", "ResourceType": "auto-scaling-group", "Key": "fleetkeeper:schedule",
               "Value": "office-hours", "PropagateAtLaunch": False}])
    world.others["preview-web"] = (region, "asg", "preview-web")

    ecs = world.client("ecs", region)
    ecs.create_cluster(clusterName="preview")
    ecs.register_task_definition(family="api", containerDefinitions=[{"name": "api", "image": "nginx", "memory": 128}])
    arn = ecs.create_service(cluster="preview", serviceName="preview-api", taskDefinition="api", desiredCount=2,
                             tags=[{"key": "fleetkeeper:schedule", "value": "office-hours"}])["service"]["serviceArn"]
    world.client("application-autoscaling", region).register_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/preview/preview-api",
        ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=4)
    world.others["preview-api"] = (region, "ecs", arn)

    # The group's two instances are the region's too (untagged: the group owns them).
    world.counts[region]["total"] += 2
    world.counts[region]["kinds"] = {"rds": 0, "aurora": 1, "asg": 1, "ecs": 1}


def seed_launcher_secret(world: World) -> str:
    """A fresh shared secret for instance-launcher, stored as moto's SecureString; never printed."""
    value = secrets.token_urlsafe(24)
    ssm = world.client("ssm")
    ssm.put_parameter(Name=LAUNCHER_SECRET_PARAMETER, Value=value, Type="SecureString")
    return value


def seed_failover(world: World) -> str:
    """example.com with www on the primary, a private decoy zone of the same name, and the
    failover group (read by the function from an SSM parameter). Returns the public zone's id."""
    r53 = world.client("route53")
    zone_id = ""
    for private in (False, True):
        extra = {"VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-0123456789abcdef0"}} if private else {}
        zone = r53.create_hosted_zone(Name="example.com", CallerReference=f"demo-{private}",
                                      HostedZoneConfig={"PrivateZone": private}, **extra)["HostedZone"]["Id"]
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "www.example.com", "Type": "A", "TTL": 60,
            "ResourceRecords": [{"Value": "10.0.0.10" if private else "192.0.2.10"}]}}]})
        if not private:
            zone_id = zone
    groups = [{
        "name": "web", "zone": "example.com", "record": "www.example.com", "type": "A", "ttl": 60,
        "primary": ["192.0.2.10"], "standby": ["198.51.100.20"],
        "health_check": {"url": f"http://127.0.0.1:{world.primary.port}/health", "body_contains": "ok", "timeout_ms": 1000},
        "fail_after": 2, "recover_after": 2,
    }]
    world.client("ssm").put_parameter(Name=GROUPS_PARAMETER, Value=json.dumps(groups), Type="String")
    return zone_id






def phone_photo() -> bytes:
    """A photo-like 12 MP JPEG as a phone stores a portrait shot: 4032x3024 on disk with EXIF
    orientation 6 (turn 90 degrees clockwise to view), so it is 3024x4032 upright."""
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


def seed_images(world: World) -> None:
    """A bucket with a phone photo, a real PNG upload (the README's screenshot) and a text
    file named .jpg."""
    s3 = world.client("s3")
    s3.create_bucket(Bucket=IMAGES)
    s3.put_object(Bucket=IMAGES, Key=PHOTO_KEY, Body=phone_photo(), ContentType="image/jpeg")
    s3.put_object(Bucket=IMAGES, Key="uploads/launch form (screenshot).png",
                  Body=(ROOT / "docs" / "instance-launcher-form.png").read_bytes(), ContentType="image/png")
    s3.put_object(Bucket=IMAGES, Key="uploads/notes.jpg", Body=b"not an image at all")
