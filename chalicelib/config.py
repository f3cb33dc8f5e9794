"""Typed configuration, read once from the environment.

Nothing else in chalicelib reads ``os.environ``: logic and stores receive a
``Config``. The infra template's output keys map onto the variables through
``TEMPLATE_OUTPUT_ENV`` so the local stack, tests and deploy script wire the
same names.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

# infra/template.yaml output key -> environment variable read here.
TEMPLATE_OUTPUT_ENV: dict[str, str] = {
    "WorkspacesTable": "OPTOUT_WORKSPACES_TABLE",
    "ContactsTable": "OPTOUT_CONTACTS_TABLE",
    "DndTable": "OPTOUT_DND_TABLE",
    "ExclusionsTable": "OPTOUT_EXCLUSIONS_TABLE",
    "EnrollmentsTable": "OPTOUT_ENROLLMENTS_TABLE",
    "AuditTable": "OPTOUT_AUDIT_TABLE",
    "SuppressionsTable": "OPTOUT_SUPPRESSIONS_TABLE",
    "SuppressionJobsQueueUrl": "OPTOUT_SUPPRESSION_JOBS_QUEUE_URL",
    "ExportsBucket": "OPTOUT_EXPORTS_BUCKET",
    "JobsTable": "OPTOUT_JOBS_TABLE",
    "IdempotencyTable": "OPTOUT_IDEMPOTENCY_TABLE",
    "UnenrollQueueUrl": "OPTOUT_UNENROLL_QUEUE_URL",
    "CrmQueueUrl": "OPTOUT_CRM_QUEUE_URL",
    "SesNotificationsTopicArn": "OPTOUT_SES_TOPIC",
    "DndEventsTopicArn": "OPTOUT_DND_TOPIC",
}

_DEV_SECRET = "dev-only-secret-change-me"
# Stages deployed to AWS (.chalice/config.json); any code running inside Lambda counts as deployed too.
DEPLOYED_STAGES = ("dev", "prod")


class Config(BaseModel):
    stage: str = "local"
    workspaces_table: str = "optout-local-workspaces"
    contacts_table: str = "optout-local-contacts"
    dnd_table: str = "optout-local-dnd"
    exclusions_table: str = "optout-local-exclusions"
    enrollments_table: str = "optout-local-enrollments"
    audit_table: str = "optout-local-audit"
    suppressions_table: str = "optout-local-suppressions"
    suppression_jobs_queue_url: str = ""
    exports_bucket: str = ""
    jobs_table: str = "optout-local-jobs"
    idempotency_table: str = "optout-local-idempotency"
    unenroll_queue_url: str = ""
    crm_queue_url: str = ""
    ses_topic: str = ""
    dnd_topic: str = ""
    public_url: str = "http://127.0.0.1:8000"
    # sha256 hex of the admin key; plaintext OPTOUT_ADMIN_KEY is hashed on load.
    admin_key_sha256: str = ""
    # Pepper for the keyed hash of addresses (R3): no readable address is stored as a key.
    address_key: str = _DEV_SECRET
    # Token signing keys, newest first, "kid:secret" (R5: rotate without breaking links).
    token_keys: list[str] = Field(default_factory=lambda: ["k1:" + _DEV_SECRET])
    # How long a per-instance copy of a workspace's rules/sequences/settings may live (SPEC: <= 1 s).
    config_cache_seconds: float = 1.0
    # Outbound calls (CRM write-back) may go to loopback (plain http allowed there): only on the local
    # stage -- not in Lambda (127.0.0.1:9001 is the Runtime API) and not with a deployed stage's
    # secrets. Derived in from_env, never read from a variable of its own.
    loopback_destinations: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        import hashlib

        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for field in cls.model_fields:
            name = "OPTOUT_" + field.upper()
            if name in env and field not in ("token_keys", "config_cache_seconds", "loopback_destinations"):
                values[field] = env[name]
        values["stage"] = env.get("OPTOUT_STAGE", "local")
        values["loopback_destinations"] = not (
            is_deployed(str(values["stage"]), env) or any(env.get(name) for name in DEPLOYED_MARKERS)
        )
        if env.get("OPTOUT_ADMIN_KEY"):
            values["admin_key_sha256"] = hashlib.sha256(env["OPTOUT_ADMIN_KEY"].encode()).hexdigest()
        if env.get("OPTOUT_TOKEN_KEYS"):
            values["token_keys"] = [k.strip() for k in env["OPTOUT_TOKEN_KEYS"].split(",") if k.strip()]
        if env.get("OPTOUT_CONFIG_CACHE_SECONDS"):
            values["config_cache_seconds"] = float(env["OPTOUT_CONFIG_CACHE_SECONDS"])
        return cls.model_validate(values)


# In AWS the secrets live in SSM Parameter Store (SecureString) under this prefix, one parameter per
# variable: <prefix>/address-key -> OPTOUT_ADDRESS_KEY, <prefix>/token-keys -> OPTOUT_TOKEN_KEYS,
# <prefix>/admin-key-sha256 -> OPTOUT_ADMIN_KEY_SHA256. Locally they are plain env vars.
SECRETS_PREFIX_ENV = "OPTOUT_SECRETS_SSM_PREFIX"
# Any of these set: running deployed (Lambda, or with a deployed stage's secrets), not locally.
DEPLOYED_MARKERS = (
    SECRETS_PREFIX_ENV,
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_RUNTIME_API",
)  # not AWS_EXECUTION_ENV: Chalice sets it everywhere
REQUIRED_SECRETS = ("OPTOUT_ADDRESS_KEY", "OPTOUT_TOKEN_KEYS", "OPTOUT_ADMIN_KEY_SHA256")


def read_ssm_secrets(prefix: str) -> dict[str, str]:
    """OPTOUT_* variables from the parameters directly under ``prefix`` (decrypted)."""
    from chalicelib.store.aws import client  # the store layer owns boto3 clients

    ssm = client("ssm")
    found: dict[str, str] = {}
    kwargs: dict[str, object] = {"Path": prefix.rstrip("/"), "Recursive": False, "WithDecryption": True}
    while True:
        page = ssm.get_parameters_by_path(**kwargs)
        for parameter in page.get("Parameters", []):
            name = parameter["Name"].rsplit("/", 1)[-1]
            found["OPTOUT_" + name.upper().replace("-", "_")] = parameter["Value"]
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def is_deployed(stage: str, env: dict[str, str]) -> bool:
    """A stage that serves real traffic: dev/prod, or anything running inside Lambda."""
    return stage in DEPLOYED_STAGES or bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))


def development_secrets(config: Config) -> list[str]:
    """The secrets of ``config`` that are missing or still the development defaults (SPEC R20)."""
    import hashlib

    weak = []
    if not config.address_key or config.address_key == _DEV_SECRET:
        weak.append("OPTOUT_ADDRESS_KEY")
    secrets = [key.partition(":")[2] for key in config.token_keys]
    if not secrets or any(not secret or secret == _DEV_SECRET for secret in secrets):
        weak.append("OPTOUT_TOKEN_KEYS")
    dev_admin = hashlib.sha256(b"dev-admin-key").hexdigest()  # the local stack's default admin key
    if not config.admin_key_sha256 or config.admin_key_sha256 == dev_admin:
        weak.append("OPTOUT_ADMIN_KEY_SHA256")
    return weak


@lru_cache(maxsize=1)
def get_config() -> Config:
    """Read once per process (a Lambda cold start); with OPTOUT_SECRETS_SSM_PREFIX set, the secrets
    come from SSM and a missing one stops the start rather than falling back to the dev defaults.
    A deployed stage (R20) refuses to start with a missing or development secret, however set."""
    env = dict(os.environ)
    prefix = env.get(SECRETS_PREFIX_ENV)
    if prefix:
        env.update(read_ssm_secrets(prefix))
        missing = [name for name in REQUIRED_SECRETS if not env.get(name)]
        if missing:
            raise RuntimeError(f"secrets missing under SSM path {prefix}: {', '.join(missing)}")
    config = Config.from_env(env)
    if is_deployed(config.stage, env):
        weak = development_secrets(config)
        if weak:
            raise RuntimeError(
                f"stage {config.stage} refuses to start with missing or development secrets: {', '.join(weak)}"
                f" (set them under SSM {SECRETS_PREFIX_ENV}, README Deploy step 2)"
            )
    return config


def check_deployed_start() -> None:
    """Inside Lambda, read the config during the cold start (init), so a function without its secrets
    fails to start instead of answering requests (R20). Elsewhere (tests, packaging) nothing happens."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        get_config()


def reset_config() -> None:
    """Forget the cached config (tests and the local stack set env vars first)."""
    get_config.cache_clear()


def deployed_name(suffix: str) -> str:
    """Name of a template resource (``optout-<stage>-<suffix>``) for the stage being packaged.

    Chalice resolves event-source decorators (SNS topic, SQS queue names) when it packages
    the app, so app.py needs these names at import time; ``OPTOUT_STAGE`` selects the stage.
    """
    return f"optout-{os.environ.get('OPTOUT_STAGE', 'dev')}-{suffix}"
