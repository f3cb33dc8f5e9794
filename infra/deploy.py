"""``make deploy STAGE=<stage>``: the data stack, then the Chalice app, in one AWS account/region.

1. Deploys ``infra/template.yaml`` as CloudFormation stack ``optout-<stage>`` (create or update,
   then wait); termination protection on prod.
2. Checks the stage's secrets exist in SSM Parameter Store (``/optout/<stage>/...``).
3. Builds a deploy copy of the project in ``build/deploy/<stage>/`` whose ``.chalice/config.json``
   is the committed one plus the stack outputs as the stage's OPTOUT_* environment variables, and
   runs ``chalice deploy --stage <stage>`` on it. Chalice declares the SES topic subscription and
   the SQS event sources from the decorators in app.py; nothing is subscribed by hand.
   Before that, the zips ``chalice deploy`` uploads (app code; dependency layer) are built with
   chalice's own packagers into its cache, ``.chalice/deployments/``, and given compiled bytecode
   (infra/bytecode.py): ``chalice deploy`` finds them there by name and uploads them as they are.

Why a generated copy rather than writing the outputs into ``.chalice/config.json``: queue URLs and
topic ARNs carry the account id and region, so the committed file would change on every deploy
and differ per operator/account; the copy is regenerated from the stack every time (never stale)
and the committed config stays the reviewed, account-free source. Chalice's deployed state
(``.chalice/deployed/<stage>.json``, which lets the next deploy update rather than re-create the
REST API) is kept in the repository's ``.chalice/deployed/`` and copied in and back out.

Usage: python -m infra.deploy --stage dev [--region eu-west-1] [--public-url URL] [--alarm-email A]
       [--data-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.config import REQUIRED_SECRETS, SECRETS_PREFIX_ENV, TEMPLATE_OUTPUT_ENV
from infra.bytecode import add_bytecode

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
PROJECT_FILES = ("app.py", "requirements.txt")
PROJECT_DIRS = ("chalicelib", "vendor")
WAIT = {"Delay": 5, "MaxAttempts": 180}  # up to 15 minutes (GSIs on a fresh table take a while)


def stack_name(stage: str) -> str:
    return f"optout-{stage}"


def secrets_prefix(stage: str) -> str:
    return f"/optout/{stage}"


def secret_parameter_names(stage: str) -> list[str]:
    """OPTOUT_ADDRESS_KEY -> /optout/<stage>/address-key (chalicelib.config.read_ssm_secrets reverses it)."""
    return [f"{secrets_prefix(stage)}/{v.removeprefix('OPTOUT_').lower().replace('_', '-')}" for v in REQUIRED_SECRETS]


def _stack_status(cfn: Any, name: str) -> str | None:
    try:
        return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def deploy_data_stack(
    cfn: Any, stage: str, *, alarm_email: str = "", wait: dict[str, int] | None = None
) -> dict[str, str]:
    """Create or update stack optout-<stage> from the template; returns its outputs."""
    name = stack_name(stage)
    arguments: dict[str, Any] = {
        "StackName": name,
        "TemplateBody": TEMPLATE_PATH.read_text(encoding="utf-8"),
        "Parameters": [
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "AlarmEmail", "ParameterValue": alarm_email},
        ],
        "Tags": [{"Key": "app", "Value": "optout"}, {"Key": "stage", "Value": stage}],
    }
    status = _stack_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":
        raise SystemExit(f"stack {name} failed its first creation (ROLLBACK_COMPLETE): delete it, then deploy again")
    if status is None:
        print(f"creating stack {name} ...", flush=True)
        cfn.create_stack(**arguments, EnableTerminationProtection=stage == "prod")
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=wait or WAIT)
    else:
        print(f"updating stack {name} ({status}) ...", flush=True)
        if stage == "prod":
            cfn.update_termination_protection(StackName=name, EnableTerminationProtection=True)
        try:
            cfn.update_stack(**arguments)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
            print("  no changes", flush=True)
        else:
            cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=wait or WAIT)
    return stack_outputs(cfn, stage)


def stack_outputs(cfn: Any, stage: str) -> dict[str, str]:
    """The outputs of stack optout-<stage> (its tables, queues, topics, bucket), by output key."""
    try:
        stack = cfn.describe_stacks(StackName=stack_name(stage))["Stacks"][0]
    except ClientError as exc:
        raise SystemExit(f"stack {stack_name(stage)} not found: {exc.response['Error']['Message']}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stage_environment(stage: str, outputs: dict[str, str], public_url: str | None) -> dict[str, str]:
    """The OPTOUT_* variables the stack provides, plus the stage's identity and secrets location."""
    missing = sorted(set(TEMPLATE_OUTPUT_ENV) - set(outputs))
    if missing:
        raise SystemExit(f"stack {stack_name(stage)} lacks outputs {missing}: is the template deployed?")
    env = {variable: outputs[key] for key, variable in TEMPLATE_OUTPUT_ENV.items()}
    env["OPTOUT_STAGE"] = stage
    env[SECRETS_PREFIX_ENV] = secrets_prefix(stage)
    if public_url:
        env["OPTOUT_PUBLIC_URL"] = public_url.rstrip("/")
    return env


def missing_secrets(ssm: Any, stage: str) -> list[str]:
    """Required SSM parameter names that do not exist (names only; nothing is decrypted here)."""
    present: set[str] = set()
    kwargs: dict[str, Any] = {"Path": secrets_prefix(stage), "Recursive": False, "WithDecryption": False}
    while True:
        page = ssm.get_parameters_by_path(**kwargs)
        present.update(p["Name"] for p in page.get("Parameters", []))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return [name for name in secret_parameter_names(stage) if name not in present]


def staged_config(stage: str, env: dict[str, str]) -> dict[str, Any]:
    """The committed .chalice/config.json with ``env`` merged into the stage's environment variables."""
    config: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    if stage not in config.get("stages", {}):
        raise SystemExit(f"stage {stage!r} is not in .chalice/config.json (add it with its iam_policy_file)")
    stage_config = config["stages"][stage]
    stage_config["environment_variables"] = {**stage_config.get("environment_variables", {}), **env}
    return config


# The statement of .chalice/policy-<stage>.json that only OPTOUT_SES_SUPPRESSION=account|tenant needs.
SES_SUPPRESSION_SID = "SesSuppressionList"


def stage_policy(policy: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    """The stage's IAM policy as deployed: the SES suppression-list grant only when the stage's
    environment turns the feature on (``OPTOUT_SES_SUPPRESSION`` in .chalice/config.json)."""
    if environment.get("OPTOUT_SES_SUPPRESSION", "off") not in ("", "off"):
        return policy
    return {**policy, "Statement": [s for s in policy["Statement"] if s.get("Sid") != SES_SUPPRESSION_SID]}


def build_project(stage: str, config: dict[str, Any], out: Path) -> Path:
    """A deployable copy of the app in ``out`` (regenerated each time) with the given config."""
    if out.exists():
        shutil.rmtree(out)  # unlinks the deployments symlink, never follows it
    out.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, out / name)
    for name in PROJECT_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, out / name, ignore=ignore)
    chalice_dir = out / ".chalice"
    chalice_dir.mkdir(exist_ok=True)
    (chalice_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for policy in (ROOT / ".chalice").glob("policy-*.json"):
        shutil.copy2(policy, chalice_dir / policy.name)
    stage_config = config["stages"][stage]
    policy_file = chalice_dir / stage_config["iam_policy_file"]
    document = json.loads(policy_file.read_text(encoding="utf-8"))
    deployed_policy = stage_policy(document, stage_config.get("environment_variables", {}))
    policy_file.write_text(json.dumps(deployed_policy, indent=2) + "\n", encoding="utf-8")
    # Reuse the dependency layer Chalice already built for this requirements.txt (make package).
    cache = ROOT / ".chalice" / "deployments"
    cache.mkdir(exist_ok=True)
    if not (chalice_dir / "deployments").exists():
        (chalice_dir / "deployments").symlink_to(cache, target_is_directory=True)
    deployed = ROOT / ".chalice" / "deployed" / f"{stage}.json"
    if deployed.exists():
        (chalice_dir / "deployed").mkdir(exist_ok=True)
        shutil.copy2(deployed, chalice_dir / "deployed" / deployed.name)
    return out


def prebuild_packages(project: Path, stage: str) -> list[Path]:
    """The zips ``chalice deploy --stage`` will upload, built (or reused) now and given bytecode.

    The same packager classes, arguments and cache as chalice's build stage (create_build_stage):
    each names its zip in ``<project>/.chalice/deployments/`` from a hash of its inputs (app code;
    requirements.txt + vendor/), plus the Python version and architecture, and reuses a zip of
    that name if it exists. So the deploy that follows finds these, with their pycs, and uploads
    them unchanged. Pycs fit only the Python they were compiled by; the names carry the version
    chalice takes from this interpreter, and add_bytecode refuses any other.
    """
    from chalice.config import Config
    from chalice.deploy.packager import (
        AppOnlyDeploymentPackager,
        BaseLambdaDeploymentPackager,
        EmptyPackageError,
        LambdaDeploymentPackager,
        LayerDeploymentPackager,
        PipRunner,
        SubprocessPip,
    )
    from chalice.deploy.packager import DependencyBuilder as PipDependencyBuilder
    from chalice.utils import UI, OSUtils

    config_from_disk = json.loads((project / ".chalice" / "config.json").read_text(encoding="utf-8"))
    config = Config(
        chalice_stage=stage,
        user_provided_params={"project_dir": os.path.abspath(project)},
        config_from_disk=config_from_disk,
    )
    osutils, ui = OSUtils(), UI()
    dependencies = PipDependencyBuilder(
        osutils=osutils,
        pip_runner=PipRunner(pip=SubprocessPip(osutils=osutils), osutils=osutils),
        architecture=config.lambda_architecture,
    )
    kinds: tuple[type[BaseLambdaDeploymentPackager], ...] = (
        (AppOnlyDeploymentPackager, LayerDeploymentPackager) if config.automatic_layer else (LambdaDeploymentPackager,)
    )
    zips: list[Path] = []
    for kind in kinds:
        packager = kind(osutils, dependencies, ui, architecture=config.lambda_architecture)
        try:
            built = packager.create_deployment_package(config.project_dir, config.lambda_python_version)
        except EmptyPackageError:  # no dependencies: chalice drops the layer
            continue
        zips.append(Path(built))
    for built_zip in zips:
        print(add_bytecode(built_zip, config.lambda_python_version).summary(), flush=True)
    return zips


def rest_api_url(project: Path, stage: str) -> str | None:
    deployed = project / ".chalice" / "deployed" / f"{stage}.json"
    if not deployed.exists():
        return None
    for resource in json.loads(deployed.read_text(encoding="utf-8")).get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return str(resource["rest_api_url"]).rstrip("/")
    return None


def chalice_deploy(project: Path, stage: str, region: str) -> None:
    """``chalice deploy``; the deployed state is copied back even when the deploy fails half-way."""
    chalice = Path(sys.executable).parent / "chalice"
    env = {**os.environ, "OPTOUT_STAGE": stage, "AWS_DEFAULT_REGION": region}  # deployed_name() in app.py
    try:
        subprocess.run([str(chalice), "--project-dir", str(project), "deploy", "--stage", stage], env=env, check=True)
    finally:
        state = project / ".chalice" / "deployed" / f"{stage}.json"
        if state.exists():
            target = ROOT / ".chalice" / "deployed"
            target.mkdir(exist_ok=True)
            shutil.copy2(state, target / state.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="dev, prod (a stage in .chalice/config.json)")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS CLI/boto3 default)")
    parser.add_argument(
        "--public-url",
        default=os.environ.get("OPTOUT_PUBLIC_URL"),
        help="public base URL (custom domain); default: the API Gateway URL",
    )
    parser.add_argument(
        "--alarm-email", default=os.environ.get("OPTOUT_ALARM_EMAIL", ""), help="address subscribed to the alarms topic"
    )
    parser.add_argument("--data-only", action="store_true", help="deploy the data stack only")
    args = parser.parse_args(argv)

    session = boto3.session.Session(region_name=args.region)
    region = session.region_name
    if not region:
        raise SystemExit("no AWS region: pass --region or set AWS_DEFAULT_REGION")
    outputs = deploy_data_stack(session.client("cloudformation"), args.stage, alarm_email=args.alarm_email)
    print(json.dumps(outputs, indent=2))
    if args.data_only:
        return 0

    missing = missing_secrets(session.client("ssm"), args.stage)
    if missing:
        raise SystemExit("create these SecureString parameters first (README, Deploy):\n  " + "\n  ".join(missing))
    out = ROOT / "build" / "deploy" / args.stage
    public_url = args.public_url or rest_api_url(ROOT, args.stage)  # known after the first deploy
    config = staged_config(args.stage, stage_environment(args.stage, outputs, public_url))
    project = build_project(args.stage, config, out)
    prebuild_packages(project, args.stage)
    chalice_deploy(project, args.stage, region)

    # First deploy: the API URL exists only now; links and Twilio signatures need it, so deploy the
    # configuration once more with OPTOUT_PUBLIC_URL set (a configuration-only update).
    deployed_url = rest_api_url(project, args.stage)
    if not public_url and deployed_url:
        public_url = deployed_url
        config = staged_config(args.stage, stage_environment(args.stage, outputs, public_url))
        (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        chalice_deploy(project, args.stage, region)
    print(f"\nstage {args.stage} deployed: {public_url}")
    print(f"SES configuration set event destination -> SNS {outputs['SesNotificationsTopicArn']}")
    print(f"Twilio webhooks: {public_url}/v1/webhooks/twilio/<workspace_id>/sms and .../status")
    return 0


if __name__ == "__main__":
    sys.exit(main())
