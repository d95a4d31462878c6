#!/usr/bin/env python3
"""The template check of `make lint`: cfn-lint must pass infra/template.yaml and must reject
every known-bad template in infra/lint-fixtures/ at the line marked `# must be reported`.

The second half guards the first: a cfn-lint release that goes blind to a class of mistake
(1.54 to 1.58 stopped seeing a function as Fn::Join's delimiter inside Fn::Sub, which
CloudFormation refuses at deploy time) fails the build instead of passing a broken template.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
FIXTURES = ROOT / "infra" / "lint-fixtures"
MARK = "# must be reported"


def cfn_lint(path: Path) -> tuple[int, list[tuple[int, str, str]]]:
    """Exit code and (line, rule, message) of every finding."""
    exe = Path(sys.executable).parent / "cfn-lint"
    run = subprocess.run(
        [str(exe), "--format", "parseable", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode not in (0, 2, 4, 6, 8, 10, 12, 14):
        sys.exit(f"template: cfn-lint could not check {path.name}: {run.stderr.strip()}")
    findings = []
    for line in run.stdout.splitlines():
        # file:line:column:end line:end column:rule:message
        parts = line.split(":", 6)
        if len(parts) == 7 and parts[1].isdigit():
            findings.append((int(parts[1]), parts[5], parts[6]))
    return run.returncode, findings


# Tags people write to opt in: the guard leaves them writable. Every other fleetkeeper: key the
# code uses carries fleetkeeper's authority and must be in both guards.
OPT_IN_TAGS = {
    "fleetkeeper:schedule", "fleetkeeper:backup", "fleetkeeper:backup-boot", "fleetkeeper:auto-restart",
    "fleetkeeper:keep-running-until", "fleetkeeper:hibernate", "fleetkeeper:purpose",
    "fleetkeeper:backup-consistency",
}
SCP = ROOT / "infra" / "tag-guard-scp.json"


def guard_problems() -> list[str]:
    """The SCP and the template's TagGuardPolicy deny the same keys, and those are every
    fleetkeeper: key the code uses but the opt-in ones (a new tag cannot be forgotten)."""
    import json
    import re

    from cfnlint.decode import decode

    scp = json.loads(SCP.read_text())["Statement"][0]
    scp_keys = set(scp["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"])
    template, _ = decode(str(TEMPLATE))
    policy = template["Resources"]["TagGuardPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    policy_keys = set(policy["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"])
    code = set()
    for path in list((ROOT / "functions").glob("*/src/**/*.rs")) + list((ROOT / "shared" / "src").glob("*.rs")):
        code |= set(re.findall(r'"(fleetkeeper:[a-z-]+)"', path.read_text()))
    problems = []
    if scp["Effect"] != "Deny" or scp_keys != policy_keys:
        problems.append(f"{SCP.name} and TagGuardPolicy deny different keys: {sorted(scp_keys ^ policy_keys)}")
    missing = code - OPT_IN_TAGS - policy_keys
    if missing:
        problems.append(f"fleetkeeper tags the code writes but no guard protects: {sorted(missing)} "
                        "(add them to both guards, or to OPT_IN_TAGS if people write them)")
    return problems


def launcher_problems() -> list[str]:
    """The launcher role's ec2:InstanceType condition allows the types the form offers by
    default: a size the role may not launch would only ever be refused by EC2."""
    from cfnlint.decode import decode

    template, _ = decode(str(TEMPLATE))
    params = template["Parameters"]
    offered = {pair.split("=", 1)[1].strip() for pair in params["AllowedSizes"]["Default"].split(",")}
    allowed = {t.strip() for t in params["LaunchInstanceTypes"]["Default"].split(",")}
    if offered != allowed:
        return [f"AllowedSizes offers {sorted(offered)} but LaunchInstanceTypes allows {sorted(allowed)}: keep them in step"]
    return []


def main() -> int:
    failures = guard_problems() + launcher_problems()
    code, findings = cfn_lint(TEMPLATE)
    for line, rule, message in findings:
        print(f"template: {TEMPLATE.relative_to(ROOT)}:{line}: {rule} {message}")
    if code != 0:
        failures.append(f"{TEMPLATE.relative_to(ROOT)} has cfn-lint findings")

    fixtures = sorted(FIXTURES.glob("*.yaml"))
    if not fixtures:
        failures.append(f"no known-bad templates in {FIXTURES.relative_to(ROOT)}")
    for fixture in fixtures:
        marked = [
            n
            for n, text in enumerate(fixture.read_text().splitlines(), start=1)
            if text.rstrip().endswith(MARK)
        ]
        if not marked:
            failures.append(f"{fixture.name}: no line ends with '{MARK}'")
            continue
        _, findings = cfn_lint(fixture)
        errors = {line: rule for line, rule, _ in findings if rule.startswith("E")}
        for n in marked:
            if n in errors:
                print(f"template: {fixture.name}:{n} rejected as expected ({errors[n]})")
            else:
                failures.append(
                    f"{fixture.name}:{n}: cfn-lint no longer reports this known mistake; "
                    "pin a cfn-lint that does, or check it another way"
                )
    for f in failures:
        print(f"template: FAIL {f}", file=sys.stderr)
    if not failures:
        print(f"template: {TEMPLATE.relative_to(ROOT)} clean; {len(fixtures)} known-bad templates rejected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
