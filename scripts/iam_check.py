#!/usr/bin/env python3
"""Least privilege, checked: every AWS operation a function's code calls is granted by its role
in infra/template.yaml, and the role grants nothing else.

The operations come from the code itself. Every SDK call is mapped to an error with
`aws_err("service:Operation")`, so those strings list what a function calls; a second scan finds
the SDK calls (`.describe_instances()`, ...) and fails if one has no such name, so the list
cannot silently fall behind. Shared modules count for the functions that use them.

Checked for each function in the template:
- every operation in its code is an allowed action of its role;
- every allowed action is called by its code, or listed below in IMPLIED with the reason;
- no action contains a wildcard;
- Resource "*" appears only for actions with no resource-level permissions (NO_RESOURCE_LEVEL).
Conditional statements (Fn::If) count with both branches. The member-account role of
organisation mode (infra/member-role.yaml) is held to the same rules against what
nightly-stopper and snapshot-janitor call in a member account, and each state machine's role
to what its definition (infra/statemachines) needs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent

# Actions AWS evaluates although the code makes no call of that name.
IMPLIED: dict[str, dict[str, str]] = {
    "nightly-stopper": {
        "kms:CreateGrant": "StartInstances of an instance with KMS-encrypted volumes: EC2 creates a grant on the key as the caller",
    },
    "snapshot-janitor": {
        **{f"kms:{a}": "CopySnapshot with COPY_KMS_KEYS: EC2 uses the destination key as the caller (kms:ViaService EC2 only)"
           for a in ("CreateGrant", "DescribeKey", "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo",
                     "GenerateDataKeyWithoutPlaintext")},
    },
    "instance-launcher": {
        "ec2:CreateTags": "RunInstances' TagSpecifications are authorized as CreateTags (ec2:CreateAction)",
    },
    "image-resizer": {
        "s3:ListBucket": "without it, HEAD of a missing rendition answers 403 instead of 404",
    },
    "alarm-restarter": {
        "iam:PassRole": "StartAutomationExecution passes AUTOMATION_ASSUME_ROLE_ARN to SSM",
        "ec2:StopInstances": "AWS-RestartEC2Instance runs with the caller's permissions when no assume role is given",
        "ec2:StartInstances": "AWS-RestartEC2Instance runs with the caller's permissions when no assume role is given",
        "ec2:DescribeInstanceStatus": "AWS-RestartEC2Instance waits on the instance's state",
    },
}

# Operations whose IAM action has another name (S3 authorizes HEAD as GetObject, a copy as a
# read of the source and a write of the target).
ACTIONS_OF = {
    "s3:HeadObject": ["s3:GetObject"],
    "s3:CopyObject": ["s3:GetObject", "s3:PutObject"],
    "s3:ListObjectsV2": ["s3:ListBucket"],
}

# APIs with no resource-level permissions: "*" is the only Resource AWS accepts.
NO_RESOURCE_LEVEL = {
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "route53:ListHostedZonesByName",
    "ssm:GetCommandInvocation",
    "ec2:DescribeAvailabilityZones",
    "autoscaling:DescribeAutoScalingGroups",
    "ecs:ListClusters",
    "ecs:ListServices",
    "application-autoscaling:DescribeScalableTargets",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
}

# Organisation mode: what nightly-stopper and snapshot-janitor do in a member account is what
# infra/member-role.yaml must grant; these happen in the management account instead.
MEMBER_FUNCTIONS = ("nightly-stopper", "snapshot-janitor")
MANAGEMENT_ONLY = {"sts:AssumeRole", "s3:PutObject", "ssm:GetParameter", "secretsmanager:GetSecretValue"}

# Accessors on SDK outputs whose names look like operations.
NOT_CALLS = {"start_time", "change_info", "delete_on_termination", "create_time", "get_days"}

SDK_CALL = re.compile(
    r"\.\s*((?:describe|create|delete|reboot|run|start|stop|send|get|put|list|change|modify|terminate)_[a-z0-9_]+)\(\)"
)
AWS_ERR = re.compile(r'aws_err\("([a-z0-9-]+):([A-Za-z0-9]+)"\)')


def code_of(path: Path) -> str:
    """A source file without its unit tests (by convention the trailing `mod tests`) and
    without comments (doc examples name calls too)."""
    text = path.read_text()
    cut = text.find("#[cfg(test)]\nmod tests")
    text = text if cut < 0 else text[:cut]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def operations(function: str) -> tuple[set[str], list[str]]:
    """The operations a function's code (and the shared modules it uses) calls, and problems."""
    sources = sorted((ROOT / "functions" / function / "src").rglob("*.rs"))
    own = "\n".join(code_of(p) for p in sources)
    # The shared modules it names, and the ones those use in turn.
    pending = set(re.findall(r"fleetkeeper::(\w+)", own))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        path = ROOT / "shared" / "src" / f"{name}.rs"
        if name in seen or not path.exists():
            continue
        seen.add(name)
        sources.append(path)
        pending |= set(re.findall(r"crate::(\w+)", code_of(path)))
    ops: set[str] = set()
    problems: list[str] = []
    for path in sources:
        text = code_of(path)
        named = {f"{svc}:{op}" for svc, op in AWS_ERR.findall(text)}
        ops |= named
        for call in SDK_CALL.findall(text):
            if call in NOT_CALLS:
                continue
            pascal = "".join(w.capitalize() for w in call.split("_"))
            # Case apart: the SDK's snake case drops acronyms' capitals (describe_db_instances
            # is rds:DescribeDBInstances).
            if not any(n.lower().endswith(":" + pascal.lower()) for n in named):
                problems.append(f"{path.relative_to(ROOT)}: .{call}() has no aws_err(\"svc:{pascal}\")")
    # Roles are assumed through the shared loader: directly, for every account of a run, or
    # for one target of an organisation run (the shared org module).
    if ".assume_role(" in own or ".places(" in own or "org::serve(" in own or "org::route(" in own:
        ops.add("sts:AssumeRole")
    return {a for op in ops for a in ACTIONS_OF.get(op, [op])}, problems


def branches(node: object) -> list[object]:
    """Every value a node can take: both sides of Fn::If, AWS::NoValue dropped."""
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        _, a, b = node["Fn::If"]
        return branches(a) + branches(b)
    if isinstance(node, dict) and node.get("Ref") == "AWS::NoValue":
        return []
    return [node]


def statements(resource: dict) -> list[dict]:
    out: list[dict] = []
    for policy in resource.get("Properties", {}).get("Policies", []):
        for p in branches(policy):
            if isinstance(p, dict) and "Statement" in p:
                for st in p["Statement"]:
                    out.extend(s for s in branches(st) if isinstance(s, dict))
    return out


def as_list(v: object) -> list[object]:
    return v if isinstance(v, list) else [v]


def asl_actions(definition: dict) -> set[str]:
    """The IAM actions a state machine definition needs: its tasks, its maps' readers and
    writers, and the child executions of a Distributed Map."""
    needed: set[str] = set()
    TASKS = {"arn:aws:states:::lambda:invoke": "lambda:InvokeFunction"}

    def walk(states: dict) -> None:
        for state in states.values():
            resource = state.get("Resource")
            if resource in TASKS:
                needed.add(TASKS[resource])
            reader = state.get("ItemReader", {}).get("Resource", "")
            if reader.endswith("s3:getObject"):
                needed.add("s3:GetObject")
            if state.get("ResultWriter", {}).get("Resource", "").endswith("s3:putObject"):
                needed.add("s3:PutObject")
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                if processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
                    needed.update({"states:StartExecution", "states:DescribeExecution", "states:StopExecution"})
                walk(processor["States"])

    walk(definition["States"])
    return needed


def state_machines(template: dict, rows: list[str]) -> list[str]:
    """Each state machine's role grants exactly what its definition needs."""
    import json
    problems = []
    for name, r in template["Resources"].items():
        if r.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = r["Properties"]
        definition = json.loads((ROOT / "infra" / props["DefinitionUri"]).read_text())
        needed = asl_actions(definition)
        granted: set[str] = set()
        for policy in props.get("Policies", []):
            for p in branches(policy):
                if isinstance(p, dict) and "LambdaInvokePolicy" in p:
                    granted.add("lambda:InvokeFunction")
                elif isinstance(p, dict) and "Statement" in p:
                    for st in p["Statement"]:
                        for st in branches(st):
                            if isinstance(st, dict) and st.get("Effect") == "Allow":
                                if "*" in as_list(st.get("Resource", [])):
                                    problems.append(f"{name}: Resource \"*\" in {st.get('Sid')}")
                                granted.update(as_list(st.get("Action", [])))
        for a in sorted(needed - granted):
            problems.append(f"{name}: its definition needs {a}, which its role does not grant")
        for a in sorted(granted - needed):
            problems.append(f"{name}: its role grants {a}, which its definition never needs")
        rows.append(f"{name:<18} needs {len(needed):>2}, grants {len(granted):>2}: " + ", ".join(sorted(granted)))
    return problems


def member_role(rows: list[str]) -> list[str]:
    """infra/member-role.yaml grants exactly what the member functions call there."""
    template, matches = decode(str(ROOT / "infra" / "member-role.yaml"))
    if matches:
        return [f"member role: cannot read infra/member-role.yaml: {matches}"]
    called: set[str] = set()
    implied: set[str] = set()
    for function in MEMBER_FUNCTIONS:
        called |= operations(function)[0]
        implied |= set(IMPLIED.get(function, {}))
    called -= MANAGEMENT_ONLY
    granted: dict[str, list[object]] = {}
    for r in template["Resources"].values():
        if r.get("Type") != "AWS::IAM::Role":
            continue
        for policy in r["Properties"].get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                for st in branches(st):
                    if isinstance(st, dict) and st.get("Effect") == "Allow":
                        resources = [x for res in as_list(st.get("Resource", [])) for x in branches(res)]
                        for action in as_list(st.get("Action", [])):
                            granted.setdefault(action, []).extend(resources)
        trust = r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if not all("aws:PrincipalOrgID" in str(t.get("Condition", {})) for t in trust):
            return ["member role: every trust statement must require aws:PrincipalOrgID"]
    problems = []
    for op in sorted(called):
        if op not in granted:
            problems.append(f"member role: {op} is called in member accounts but not granted")
    for action, resources in sorted(granted.items()):
        if action not in called and action not in implied:
            problems.append(f"member role: grants {action}, which no member function calls")
        if "*" in resources and action not in NO_RESOURCE_LEVEL:
            problems.append(f"member role: {action} on Resource \"*\"")
    rows.append(f"{'member role':<18} calls {len(called):>2}, grants {len(granted):>2}: " + ", ".join(sorted(granted)))
    return problems


# A function deployed twice from one binary: the second, with CONTROL_ONLY, is dns-failover's
# URL side. Its role grants exactly these (status reads, its own commands), and nothing that
# moves a record or writes a state.
CONTROL_ONLY_GRANTS = {
    "dns-failover": {"route53:ListHostedZonesByName", "route53:ListResourceRecordSets",
                     "ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"},
}

# Parameters only one function's role may write: (template parameter naming the path, writer).
SOLE_WRITERS = {
    "FailoverStatePrefix": "DnsFailoverFunction",
    "FailoverCommandPrefix": "DnsFailoverControlFunction",
}
SSM_WRITES = {"ssm:putparameter", "ssm:deleteparameter", "ssm:deleteparameters",
              "ssm:labelparameterversion", "ssm:*", "*"}


def control_only(resource: dict) -> bool:
    env = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return str(env.get("CONTROL_ONLY", "")).lower() == "true"


def sole_writers(template: dict) -> list[str]:
    """Every role and policy in the template: only the named function may write the failover
    states (and only dns-failover-control the commands); no grant of an SSM write on every
    parameter could write them either."""
    problems = []
    for name, resource in template["Resources"].items():
        kind = resource.get("Type", "")
        if kind == "AWS::Serverless::Function":
            sts = statements(resource)
        elif kind in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            props = resource.get("Properties", {})
            docs = [props.get("PolicyDocument", {})] + [p.get("PolicyDocument", {}) for p in props.get("Policies", [])]
            sts = [st for d in docs for st in as_list(d.get("Statement", []))]
        else:
            continue
        for st in sts:
            if st.get("Effect") != "Allow":
                continue
            if not {str(a).lower() for a in as_list(st.get("Action", []))} & SSM_WRITES:
                continue
            for r in [x for r in as_list(st.get("Resource", [])) for x in branches(r)]:
                text = str(r)
                if text == "*" or text.rstrip("'\"}").endswith(":parameter/*"):
                    problems.append(f"{name}: an SSM write on every parameter (it could write the failover state)")
                for path, writer in SOLE_WRITERS.items():
                    if path in text and name != writer:
                        problems.append(f"{name}: may write {path}, which only {writer} may write")
    return problems


# dns-failover's states, votes, claims and commands live in the state region every stack of the
# same groups names; a grant on the stack's own region would fail there on every call.
FAILOVER_PATHS = ("FailoverStatePrefix", "FailoverCommandPrefix")


def failover_state_region(template: dict) -> list[str]:
    """Every grant on a failover path names the state region; deletes reach only claims."""
    problems = []
    for name in ("DnsFailoverFunction", "DnsFailoverControlFunction"):
        resource = template["Resources"].get(name)
        if resource is None:
            problems.append(f"{name}: missing from the template")
            continue
        for st in statements(resource):
            for r in [x for r in as_list(st.get("Resource", [])) for x in branches(r)]:
                text = str(r)
                if not any(p in text for p in FAILOVER_PATHS):
                    continue
                if "ssm:${Region}" not in text or "FailoverStateRegion" not in text:
                    problems.append(f"{name} {st.get('Sid')}: a failover path outside the state region")
                deletes = {str(a).lower() for a in as_list(st.get("Action", []))} & {"ssm:deleteparameter", "ssm:deleteparameters"}
                if deletes and "/claims/*" not in text:
                    problems.append(f"{name} {st.get('Sid')}: deletes more than its claims")
    return problems


def main() -> int:
    template, matches = decode(str(ROOT / "infra" / "template.yaml"))
    if matches:
        print(f"iam: cannot read the template: {matches}", file=sys.stderr)
        return 1
    functions = {p.parent.parent.name for p in (ROOT / "functions").glob("*/src/main.rs")}
    serverless = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"]
    binary = lambda r: r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")  # noqa: E731
    by_binary = {binary(r): r for r in serverless if not control_only(r)}
    problems: list[str] = []
    rows: list[str] = []
    for r in serverless:
        if not control_only(r):
            continue
        function = binary(r)
        allowed = CONTROL_ONLY_GRANTS.get(function)
        if allowed is None:
            problems.append(f"{function}: deployed with CONTROL_ONLY, which only dns-failover has")
            continue
        granted = {a for st in statements(r) if st.get("Effect") == "Allow" for a in as_list(st.get("Action", []))}
        if granted != allowed:
            problems.append(f"{function} (CONTROL_ONLY): grants {sorted(granted)}, must be exactly {sorted(allowed)}")
        rows.append(f"{function + ' control':<18} grants {len(granted):>2}: " + ", ".join(sorted(granted)))
    problems += sole_writers(template)
    problems += failover_state_region(template)
    for function in sorted(functions):
        resource = by_binary.get(function)
        if resource is None:
            problems.append(f"{function}: no AWS::Serverless::Function builds it")
            continue
        called, found = operations(function)
        problems += found
        granted: dict[str, list[object]] = {}
        for st in statements(resource):
            if st.get("Effect") != "Allow":
                continue
            resources = [x for r in as_list(st.get("Resource", [])) for x in branches(r)]
            for action in as_list(st.get("Action", [])):
                granted.setdefault(action, []).extend(resources)
        implied = IMPLIED.get(function, {})
        for op in sorted(called):
            if not any(a.lower() == op.lower() for a in granted):
                problems.append(f"{function}: its code calls {op}, which its role does not grant")
        for action, resources in sorted(granted.items()):
            if "*" in action:
                problems.append(f"{function}: wildcard action {action}")
            if action not in called and action not in implied:
                problems.append(f"{function}: its role grants {action}, which its code never calls")
            if "*" in resources and action not in NO_RESOURCE_LEVEL:
                problems.append(f"{function}: {action} on Resource \"*\" (it has resource-level permissions)")
        rows.append(f"{function:<18} calls {len(called):>2}, grants {len(granted):>2} ({len(implied)} implied): "
                    + ", ".join(sorted(granted)))
    problems += member_role(rows)
    problems += state_machines(template, rows)
    for r in rows:
        print("iam: " + r)
    if problems:
        for p in problems:
            print(f"iam: {p}", file=sys.stderr)
        return 1
    print(f"iam: {len(functions)} functions, the member role and the state machines: each role grants exactly what its code calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
