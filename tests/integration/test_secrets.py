"""Secrets from SSM Parameter Store in AWS, env vars locally (issue 5, R5/R14: the signing keys,
address pepper and admin key hash never sit in the Lambda configuration)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib import config as config_module
from chalicelib.store.aws import reset_clients

PREFIX = "/optout/unit-secrets"


@pytest.fixture()
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("OPTOUT_ADMIN_KEY", "OPTOUT_ADDRESS_KEY", "OPTOUT_TOKEN_KEYS", "OPTOUT_ADMIN_KEY_SHA256"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        import boto3

        reset_clients()
        config_module.reset_config()
        yield boto3.client("ssm", region_name="us-east-1")
        config_module.reset_config()
        reset_clients()
        for parameter in boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"]:
            if parameter["Name"].startswith(PREFIX):
                boto3.client("ssm", region_name="us-east-1").delete_parameter(Name=parameter["Name"])


def _put(ssm, name: str, value: str) -> None:
    ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="SecureString", Overwrite=True)


def test_r14_secrets_are_read_from_ssm_once_at_cold_start(ssm, monkeypatch: pytest.MonkeyPatch):
    # Given the three SecureStrings of a stage and the prefix in the environment
    admin_hash = hashlib.sha256(b"admin").hexdigest()
    _put(ssm, "address-key", "pepper-from-ssm")
    _put(ssm, "token-keys", "k2:new-secret,k1:old-secret")
    _put(ssm, "admin-key-sha256", admin_hash)
    monkeypatch.setenv("OPTOUT_SECRETS_SSM_PREFIX", PREFIX)
    # When the config is read
    config = config_module.get_config()
    # Then the secrets come from SSM, decrypted, newest token key first
    assert config.address_key == "pepper-from-ssm"
    assert config.token_keys == ["k2:new-secret", "k1:old-secret"]
    assert config.admin_key_sha256 == admin_hash
    # And a second read is the cached copy (no call per request)
    _put(ssm, "address-key", "rotated")
    assert config_module.get_config().address_key == "pepper-from-ssm"


def test_a_missing_secret_stops_the_start_instead_of_using_dev_defaults(ssm, monkeypatch: pytest.MonkeyPatch):
    # Given only one of the required parameters
    _put(ssm, "token-keys", "k1:s")
    monkeypatch.setenv("OPTOUT_SECRETS_SSM_PREFIX", PREFIX)
    # When / Then reading the config fails, naming what is missing
    with pytest.raises(RuntimeError, match="OPTOUT_ADDRESS_KEY"):
        config_module.get_config()


def test_without_the_prefix_secrets_are_env_vars(ssm, monkeypatch: pytest.MonkeyPatch):
    # Given no SSM prefix (local stack, tests) and plain env vars
    monkeypatch.delenv("OPTOUT_SECRETS_SSM_PREFIX", raising=False)
    monkeypatch.setenv("OPTOUT_ADDRESS_KEY", "local-pepper")
    # When the config is read / Then SSM is not consulted and the env var wins
    assert config_module.get_config().address_key == "local-pepper"


# --- R20: deployed stages refuse to start with the development secrets ------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_r20_a_deployed_stage_without_its_secrets_refuses_to_start(ssm, monkeypatch: pytest.MonkeyPatch, stage):
    # Given a deployed stage whose secrets were never set (no SSM prefix, no env vars)
    monkeypatch.delenv("OPTOUT_SECRETS_SSM_PREFIX", raising=False)
    monkeypatch.setenv("OPTOUT_STAGE", stage)
    # When / Then reading the config fails, naming every secret that would fall back to a dev default
    with pytest.raises(RuntimeError, match="OPTOUT_ADDRESS_KEY, OPTOUT_TOKEN_KEYS, OPTOUT_ADMIN_KEY_SHA256"):
        config_module.get_config()


def test_r20_the_development_values_themselves_are_refused_even_from_ssm(ssm, monkeypatch: pytest.MonkeyPatch):
    # Given SSM parameters that hold the development defaults (copied from a local setup)
    _put(ssm, "address-key", config_module._DEV_SECRET)
    _put(ssm, "token-keys", "k2:real-token-secret,k1:" + config_module._DEV_SECRET)
    _put(ssm, "admin-key-sha256", hashlib.sha256(b"dev-admin-key").hexdigest())
    monkeypatch.setenv("OPTOUT_SECRETS_SSM_PREFIX", PREFIX)
    monkeypatch.setenv("OPTOUT_STAGE", "prod")
    # When / Then the start is refused
    with pytest.raises(RuntimeError, match="OPTOUT_ADDRESS_KEY, OPTOUT_TOKEN_KEYS, OPTOUT_ADMIN_KEY_SHA256"):
        config_module.get_config()


def test_r20_any_stage_running_in_lambda_counts_as_deployed(ssm, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPTOUT_SECRETS_SSM_PREFIX", raising=False)
    monkeypatch.setenv("OPTOUT_STAGE", "staging")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "optout-staging")
    with pytest.raises(RuntimeError, match="refuses to start"):
        config_module.get_config()
    # With real secrets it starts
    monkeypatch.setenv("OPTOUT_ADDRESS_KEY", "a-real-pepper")
    monkeypatch.setenv("OPTOUT_TOKEN_KEYS", "k1:a-real-token-secret")
    monkeypatch.setenv("OPTOUT_ADMIN_KEY_SHA256", hashlib.sha256(b"real admin").hexdigest())
    config_module.reset_config()
    assert config_module.get_config().address_key == "a-real-pepper"


def test_r20_local_and_test_stages_keep_the_development_defaults(ssm, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPTOUT_SECRETS_SSM_PREFIX", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    for stage in ("local", "test", "bench"):
        monkeypatch.setenv("OPTOUT_STAGE", stage)
        config_module.reset_config()
        assert config_module.get_config().address_key == config_module._DEV_SECRET


def test_r20_the_lambda_cold_start_of_a_stage_without_secrets_fails(tmp_path):
    """The real handler module: `import app` as Lambda's init runs it, in a fresh interpreter."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTOUT_", "AWS_"))}
    env.update(
        OPTOUT_STAGE="dev",
        AWS_LAMBDA_FUNCTION_NAME="optout-dev",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    started = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert started.returncode != 0
    assert "refuses to start" in started.stderr and "OPTOUT_ADDRESS_KEY" in started.stderr
    # And with its secrets the same init succeeds
    env.update(
        OPTOUT_ADDRESS_KEY="a-real-pepper",
        OPTOUT_TOKEN_KEYS="k1:a-real-token-secret",
        OPTOUT_ADMIN_KEY_SHA256=hashlib.sha256(b"real admin").hexdigest(),
    )
    started = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 0, started.stderr[-2000:]
