"""Offline verification (issue 5, SPEC "Deploy"): ``chalice package`` succeeds with no AWS credentials
and no reachable AWS endpoint, and its SAM template plus infra/template.yaml pass cfn-lint.

Same commands as ``make package``. The dependency layer is built once per requirements.txt and
cached by Chalice in .chalice/deployments/ (a cold cache downloads the wheels from PyPI once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = ("dev", "prod")
QUEUE_VISIBILITY_TIMEOUT = 120  # infra/template.yaml UnenrollQueue / CrmQueue


def offline_env(stage: str) -> dict[str, str]:
    """No credentials anywhere, and any AWS call would fail at once (a closed local port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("OPTOUT_")}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "OPTOUT_STAGE": stage,
        }
    )
    return env


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("package")
    templates: dict[str, Path] = {}
    for stage in STAGES:
        target = out / stage
        result = subprocess.run(
            [str(BIN / "chalice"), "package", "--stage", stage, str(target)],
            cwd=ROOT, env=offline_env(stage), capture_output=True, text=True, timeout=240,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        templates[stage] = target / "sam.json"
    return templates


def resources(template: Path, kind: str) -> dict[str, dict[str, Any]]:
    data = json.loads(template.read_text(encoding="utf-8"))
    return {name: r for name, r in data["Resources"].items() if r["Type"] == kind}


def test_chalice_package_passes_cfn_lint_with_the_data_stack(packaged: dict[str, Path]):
    # Given both stages packaged without an AWS account
    # When cfn-lint checks them and the data stack
    result = subprocess.run(
        [str(BIN / "cfn-lint"), *(str(p) for p in packaged.values()), str(ROOT / "infra" / "template.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    # Then there is nothing to report
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_event_sources_are_the_stages_own_topic_and_queues(packaged: dict[str, Path], stage: str):
    """SES->SNS subscription and SQS event sources are declared by Chalice from the decorators, on the
    resources of the stage being packaged (not another stage's)."""
    functions = resources(packaged[stage], "AWS::Serverless::Function")
    sources = [e for f in functions.values() for e in (f["Properties"].get("Events") or {}).values()]
    arns = [json.dumps(e["Properties"].get("Topic") or e["Properties"].get("Queue")) for e in sources]
    assert any(f":optout-{stage}-ses-notifications" in a for a in arns), arns
    assert any(f":optout-{stage}-crm-writeback" in a for a in arns), arns
    assert all(f":optout-{stage}-" in a for a in arns), arns


@pytest.mark.parametrize("stage", STAGES)
def test_functions_use_the_policy_file_trace_and_fit_the_queue_timeouts(packaged: dict[str, Path], stage: str):
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text(encoding="utf-8"))
    for role in resources(packaged[stage], "AWS::IAM::Role").values():
        documents = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        assert documents == [policy]
    for name, function in resources(packaged[stage], "AWS::Serverless::Function").items():
        properties = function["Properties"]
        assert properties["Tracing"] == "Active", name
        assert properties["Environment"]["Variables"]["OPTOUT_STAGE"] == stage
        assert properties["Environment"]["Variables"]["OPTOUT_SECRETS_SSM_PREFIX"] == f"/optout/{stage}"
        if any(e["Type"] == "SQS" for e in (properties.get("Events") or {}).values()):
            # Lambda refuses an SQS event source whose function outlives the queue's visibility timeout.
            assert properties["Timeout"] <= QUEUE_VISIBILITY_TIMEOUT, name
