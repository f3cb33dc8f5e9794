"""The deploy path (issue 5): data stack -> outputs -> the Chalice stage's environment, secrets checked
in SSM first. Runs infra/deploy.py against moto; ``chalice deploy`` itself is not run here (its build
stage is, through ``chalice package``: see the bytecode test)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import TEMPLATE_OUTPUT_ENV
from infra import deploy
from infra.bytecode import pyc_name
from tests.packaging.test_package import offline_env

STAGE = "deploytest"


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield {name: boto3.client(name, region_name="us-east-1") for name in ("cloudformation", "ssm")}


def test_data_stack_outputs_become_the_stages_environment(aws: dict[str, Any]):
    # Given no stack yet
    # When the data stack is deployed, then deployed again (the update path)
    outputs = deploy.deploy_data_stack(aws["cloudformation"], STAGE)
    again = deploy.deploy_data_stack(aws["cloudformation"], STAGE)
    # Then every output the app reads exists, names the stage, and is stable across deploys
    assert set(TEMPLATE_OUTPUT_ENV) <= set(outputs)
    assert outputs == again
    env = deploy.stage_environment(STAGE, outputs, "https://optout.example.com/")
    assert env["OPTOUT_CONTACTS_TABLE"] == f"optout-{STAGE}-contacts"
    assert env["OPTOUT_UNENROLL_QUEUE_URL"].endswith(f"/optout-{STAGE}-unenroll")
    assert env["OPTOUT_DND_TOPIC"].endswith(f":optout-{STAGE}-dnd-events")
    assert env["OPTOUT_STAGE"] == STAGE
    assert env["OPTOUT_SECRETS_SSM_PREFIX"] == f"/optout/{STAGE}"
    assert env["OPTOUT_PUBLIC_URL"] == "https://optout.example.com"


def test_staged_project_carries_the_outputs_and_leaves_the_committed_config_alone(tmp_path: Path):
    # Given the committed config and some stack outputs
    committed = (deploy.ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")
    outputs = {key: f"value-{key}" for key in TEMPLATE_OUTPUT_ENV}
    # When the deploy copy for dev is built
    config = deploy.staged_config("dev", deploy.stage_environment("dev", outputs, None))
    project = deploy.build_project("dev", config, tmp_path / "dev")
    # Then it is a Chalice project whose dev stage has every OPTOUT_* variable and its policy file
    written = json.loads((project / ".chalice" / "config.json").read_text(encoding="utf-8"))
    variables = written["stages"]["dev"]["environment_variables"]
    assert {variables[v] for v in TEMPLATE_OUTPUT_ENV.values()} == set(outputs.values())
    assert written["stages"]["dev"]["iam_policy_file"] == "policy-dev.json"
    assert (project / ".chalice" / "policy-dev.json").exists()
    assert (project / "app.py").exists() and (project / "chalicelib" / "config.py").exists()
    assert not list(project.rglob("__pycache__"))
    # And the committed config is untouched
    assert (deploy.ROOT / ".chalice" / "config.json").read_text(encoding="utf-8") == committed


def _deployed_sids(project: Path) -> set[str]:
    policy = json.loads((project / ".chalice" / "policy-dev.json").read_text(encoding="utf-8"))
    return {statement["Sid"] for statement in policy["Statement"]}


def test_issue16_the_deployed_policy_grants_the_ses_suppression_list_only_when_the_stage_turns_it_on(tmp_path: Path):
    # Given the committed dev policy, which holds the SES statement, and stack outputs
    committed = json.loads((deploy.ROOT / ".chalice" / "policy-dev.json").read_text(encoding="utf-8"))
    assert deploy.SES_SUPPRESSION_SID in {statement["Sid"] for statement in committed["Statement"]}
    environment = deploy.stage_environment("dev", {key: f"value-{key}" for key in TEMPLATE_OUTPUT_ENV}, None)
    # When the dev copy is built with the setting unset, the deployed policy leaves the grant out
    off = deploy.build_project("dev", deploy.staged_config("dev", environment), tmp_path / "off")
    assert _deployed_sids(off) == {s["Sid"] for s in committed["Statement"]} - {deploy.SES_SUPPRESSION_SID}
    # When the stage sets OPTOUT_SES_SUPPRESSION=tenant, it keeps it
    config = deploy.staged_config("dev", {**environment, "OPTOUT_SES_SUPPRESSION": "tenant"})
    on = deploy.build_project("dev", config, tmp_path / "on")
    assert _deployed_sids(on) == {s["Sid"] for s in committed["Statement"]}


def test_deploy_stops_before_chalice_when_a_secret_is_missing(aws: dict[str, Any]):
    # Given only the token keys exist for the stage
    aws["ssm"].put_parameter(Name=f"/optout/{STAGE}/token-keys", Value="k1:x", Type="SecureString")
    # When the secrets are checked / Then the other two are reported by their parameter names
    assert deploy.missing_secrets(aws["ssm"], STAGE) == [
        f"/optout/{STAGE}/address-key",
        f"/optout/{STAGE}/admin-key-sha256",
    ]


def test_data_only_deploy_from_the_command_line(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]):
    assert deploy.main(["--stage", STAGE + "cli", "--region", "us-east-1", "--data-only"]) == 0
    assert f"optout-{STAGE}cli-dnd" in capsys.readouterr().out


def test_unknown_stage_is_refused():
    with pytest.raises(SystemExit, match="not in .chalice/config.json"):
        deploy.staged_config("nosuchstage", {})


def test_chalice_deploy_picks_the_prebuilt_zips_with_their_bytecode(tmp_path: Path):
    """make deploy: prebuild_packages puts compiled bytecode into the zips ``chalice deploy`` then uploads.
    Offline, through ``chalice package``: it runs the same build stage as ``chalice deploy``
    (chalice.deploy.deployer.create_build_stage: same packagers, same .chalice/deployments cache) and
    copies out the zips that stage picked."""
    from chalice.deploy.packager import LayerDeploymentPackager
    from chalice.utils import UI, OSUtils

    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = f"python/lib/{runtime}/site-packages"
    pyc = f".{sys.implementation.cache_tag}.pyc"
    # Given a deploy copy with a zip cache of its own (not the repository's), holding a small layer under
    # the name chalice gives the layer of this requirements.txt (a real one would be built from PyPI)
    outputs = {key: f"value-{key}" for key in TEMPLATE_OUTPUT_ENV}
    project = deploy.build_project(
        "dev", deploy.staged_config("dev", deploy.stage_environment("dev", outputs, None)), tmp_path / "dev"
    )
    cache = project / ".chalice" / "deployments"
    cache.unlink()
    cache.mkdir()
    layer_name = LayerDeploymentPackager(OSUtils(), None, UI()).deployment_package_filename(  # type: ignore[arg-type]
        str(project), runtime
    )
    with zipfile.ZipFile(layer_name, "w", zipfile.ZIP_DEFLATED) as layer:
        layer.writestr(f"{site_packages}/optout_dependency.py", "VALUE = 1\n")
    # When deploy prebuilds the packages, then chalice's build stage runs on the project
    prebuilt = deploy.prebuild_packages(project, "dev")
    out = tmp_path / "out"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "chalice"),
            "--project-dir",
            str(project),
            "package",
            "--stage",
            "dev",
            str(out),
        ],
        cwd=project,
        env=offline_env("dev"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Then it reused the two prebuilt zips, byte for byte
    assert {p.parent for p in prebuilt} == {cache} and len(prebuilt) == 2
    shipped = {out / "deployment.zip", out / "layer-deployment.zip"}
    assert {p.read_bytes() for p in shipped} == {p.read_bytes() for p in prebuilt}
    # And those carry the pycs: the app's, chalicelib's, the layer's
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        app = set(archive.namelist())
    with zipfile.ZipFile(out / "layer-deployment.zip") as archive:
        layer_names = set(archive.namelist())
    assert f"__pycache__/app{pyc}" in app and f"chalicelib/__pycache__/config{pyc}" in app
    assert all(pyc_name(n) in app for n in app if n.endswith(".py"))
    assert f"{site_packages}/__pycache__/optout_dependency{pyc}" in layer_names
