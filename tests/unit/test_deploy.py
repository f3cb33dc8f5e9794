"""The deploy path (issue 5): data stack -> outputs -> the Chalice stage's environment, secrets checked
in SSM first. Runs infra/deploy.py against moto; ``chalice deploy`` itself is not run here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import TEMPLATE_OUTPUT_ENV
from infra import deploy

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
