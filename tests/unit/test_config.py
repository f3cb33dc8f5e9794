"""Typed configuration: the template's outputs map onto Config, the admin key is never held in
plaintext (R14)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from chalicelib.config import TEMPLATE_OUTPUT_ENV, Config

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


def _field_for(variable: str) -> str:
    return variable.removeprefix("OPTOUT_").lower()


def test_every_template_output_variable_sets_a_config_field():
    # Given one distinct value per variable the local stack / deploy script exports
    env = {variable: f"value-of-{variable}" for variable in TEMPLATE_OUTPUT_ENV.values()}
    # When the config is read
    config = Config.from_env(env)
    # Then each lands in its own field
    for variable in TEMPLATE_OUTPUT_ENV.values():
        assert getattr(config, _field_for(variable)) == f"value-of-{variable}", variable


def test_template_output_variables_are_distinct():
    assert len(set(TEMPLATE_OUTPUT_ENV.values())) == len(TEMPLATE_OUTPUT_ENV)


def test_mapped_output_keys_exist_in_the_template():
    text = TEMPLATE.read_text(encoding="utf-8")
    outputs = text.split("\nOutputs:", 1)[1]
    declared = set(re.findall(r"^  ([A-Za-z0-9]+):", outputs, flags=re.M))
    assert set(TEMPLATE_OUTPUT_ENV) <= declared


def test_defaults_without_environment():
    config = Config.from_env({})
    assert config.stage == "local"
    assert config.admin_key_sha256 == ""
    assert config.config_cache_seconds == 1.0
    assert config.token_keys and ":" in config.token_keys[0]


def test_r14_admin_key_is_hashed_on_load():
    config = Config.from_env({"OPTOUT_ADMIN_KEY": "s3cret-admin"})
    assert config.admin_key_sha256 == hashlib.sha256(b"s3cret-admin").hexdigest()
    assert "s3cret-admin" not in config.model_dump_json()


def test_stage_public_url_token_keys_and_cache_age():
    config = Config.from_env(
        {
            "OPTOUT_STAGE": "prod",
            "OPTOUT_PUBLIC_URL": "https://optout.example.com",
            "OPTOUT_TOKEN_KEYS": "k2:new-secret, k1:old-secret,",
            "OPTOUT_CONFIG_CACHE_SECONDS": "0.5",
            "OPTOUT_ADDRESS_KEY": "pepper",
        }
    )
    assert config.stage == "prod"
    assert config.public_url == "https://optout.example.com"
    assert config.token_keys == ["k2:new-secret", "k1:old-secret"]
    assert config.config_cache_seconds == 0.5
    assert config.address_key == "pepper"


def test_unrelated_variables_are_ignored():
    config = Config.from_env({"HOME": "/root", "OPTOUT_NOT_A_FIELD": "x"})
    assert config == Config.from_env({})


def test_issue11_loopback_destinations_only_on_the_local_stage():
    # make run and the tests: allowed; a deployed stage, Lambda, or a deployed stage's secrets: never
    assert Config.from_env({}).loopback_destinations is True
    assert Config.from_env({"OPTOUT_STAGE": "test"}).loopback_destinations is True
    for env in (
        {"OPTOUT_STAGE": "prod"},
        {"OPTOUT_STAGE": "dev"},
        {"OPTOUT_STAGE": "staging", "AWS_LAMBDA_FUNCTION_NAME": "optout-staging-api"},
        {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"},
        {"OPTOUT_SECRETS_SSM_PREFIX": "/optout/staging"},
        {"OPTOUT_STAGE": "prod", "OPTOUT_LOOPBACK_DESTINATIONS": "true"},  # not settable by a variable
    ):
        assert Config.from_env(env).loopback_destinations is False, env
    assert Config().loopback_destinations is False  # the safe default
