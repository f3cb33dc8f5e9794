"""Typed configuration, read once from the environment (pydantic-settings).

Nothing else in chalicelib reads ``os.environ``: logic and stores receive a ``Config``
(``OPTOUT_*`` variables, ``get_config()``), observability and packaging read ``Runtime`` (what the
process runs in: Lambda or not, Powertools' service and namespace, the stage being packaged). The
infra template's output keys map onto the variables through ``TEMPLATE_OUTPUT_ENV`` so the local
stack, tests and deploy script wire the same names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

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
# Fields never read from a variable of their own: derived in ``Config.from_env``.
_DERIVED_FIELDS = frozenset({"loopback_destinations"})
# The variables ``Config.from_env`` reads instead of ``os.environ`` (None: os.environ).
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("optout_config_environ", default=None)


class _OptoutEnvironment(EnvSettingsSource):
    """The ``OPTOUT_*`` variables of one mapping (``os.environ`` unless given): derived fields are not
    read, and a plaintext ``OPTOUT_ADMIN_KEY`` arrives as its sha256 only (R14)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        if environ is not None:
            self.env_vars = {name.lower(): value for name, value in environ.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in _DERIVED_FIELDS:
            return None, field_name, False
        return super().get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        admin_key = self.env_vars.get(self.env_prefix.lower() + "admin_key")
        if admin_key:
            values["admin_key_sha256"] = hashlib.sha256(admin_key.encode()).hexdigest()
        return values


class Config(BaseSettings):
    """The app's settings: ``OPTOUT_<FIELD>`` variables (``OPTOUT_TOKEN_KEYS`` comma-separated)."""

    model_config = SettingsConfigDict(env_prefix="OPTOUT_", extra="ignore")

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
    # sha256 hex of the admin key; plaintext OPTOUT_ADMIN_KEY is hashed on load (and wins).
    admin_key_sha256: str = ""
    # Pepper for the keyed hash of addresses (R3): no readable address is stored as a key.
    address_key: str = _DEV_SECRET
    # Token signing keys, newest first, "kid:secret" (R5: rotate without breaking links).
    token_keys: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["k1:" + _DEV_SECRET])
    # How long a per-instance copy of a workspace's rules/sequences/settings may live (SPEC: <= 1 s).
    config_cache_seconds: float = 1.0
    # Outbound calls (CRM write-back) may go to loopback (plain http allowed there): only on the local
    # stage -- not in Lambda (127.0.0.1:9001 is the Runtime API) and not with a deployed stage's
    # secrets. Derived in from_env, never read from a variable of its own.
    loopback_destinations: bool = False
    # Push permanent email DND to the SES suppression list (a DND follow-up, issue 16 point 5): "off",
    # "account" (the account-level list: every sending of the deployment's SES account) or "tenant"
    # (the list of the SES tenant named like the workspace). The deployment's SES account, so a
    # deployment setting, not a workspace one; the functions need ses:Put/DeleteSuppressedDestination.
    ses_suppression: Literal["off", "account", "tenant"] = "off"

    @field_validator("token_keys", mode="before")
    @classmethod
    def _split_token_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            keys = [key.strip() for key in value.split(",") if key.strip()]
            return keys or cls.model_fields["token_keys"].get_default(call_default_factory=True)
        return value

    @field_validator("config_cache_seconds", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return cls.model_fields["config_cache_seconds"].default if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _OptoutEnvironment(settings_cls, _environ.get())  # no .env or secret files

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The config of ``env`` (default ``os.environ``) alone, with ``loopback_destinations`` derived."""
        env = dict(os.environ if env is None else env)
        loopback = not (is_deployed(env.get("OPTOUT_STAGE", "local"), env) or any(env.get(n) for n in DEPLOYED_MARKERS))
        token = _environ.set(env)
        try:
            return cls(loopback_destinations=loopback)
        finally:
            _environ.reset(token)


@dataclass(frozen=True)
class Runtime:
    """What this process runs in, from AWS's and Powertools' own variables (no secrets: safe to read
    at import, also while ``chalice package`` imports the app). A plain dataclass: five strings read
    at every import need no settings model (an empty variable counts as unset)."""

    # Set by Lambda in every function's environment.
    function_name: str = ""
    # The `service` key of every log line and metric dimension, and the metrics' CloudWatch namespace.
    service: str = "optout"
    metrics_namespace: str = "optout"
    trace_disabled_flag: str = "false"
    # The stage `chalice package`/`deploy` builds: event-source names are resolved at import.
    packaged_stage: str = "dev"

    # field -> the variable it is read from
    VARIABLES: ClassVar[dict[str, str]] = {
        "function_name": "AWS_LAMBDA_FUNCTION_NAME",
        "service": "POWERTOOLS_SERVICE_NAME",
        "metrics_namespace": "POWERTOOLS_METRICS_NAMESPACE",
        "trace_disabled_flag": "POWERTOOLS_TRACE_DISABLED",
        "packaged_stage": "OPTOUT_STAGE",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Runtime:
        env = os.environ if env is None else env
        return cls(**{name: env[variable] for name, variable in cls.VARIABLES.items() if env.get(variable)})

    @property
    def in_lambda(self) -> bool:
        return bool(self.function_name)

    @property
    def trace_disabled(self) -> bool:
        return self.trace_disabled_flag.lower() in ("1", "true", "yes")


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


def is_deployed(stage: str, env: Mapping[str, str]) -> bool:
    """A stage that serves real traffic: dev/prod, or anything running inside Lambda."""
    return stage in DEPLOYED_STAGES or bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))


def development_secrets(config: Config) -> list[str]:
    """The secrets of ``config`` that are missing or still the development defaults (SPEC R20)."""
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


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Read once per process, like the config."""
    return Runtime.from_env()


def check_deployed_start() -> None:
    """Inside Lambda, read the config during the cold start (init), so a function without its secrets
    fails to start instead of answering requests (R20). Elsewhere (tests, packaging) nothing happens."""
    if runtime().in_lambda:
        get_config()


def reset_config() -> None:
    """Forget the cached config (tests and the local stack set env vars first)."""
    get_config.cache_clear()
    runtime.cache_clear()


def deployed_name(suffix: str) -> str:
    """Name of a template resource (``optout-<stage>-<suffix>``) for the stage being packaged.

    Chalice resolves event-source decorators (SNS topic, SQS queue names) when it packages
    the app, so app.py needs these names at import time; ``OPTOUT_STAGE`` selects the stage.
    """
    return f"optout-{runtime().packaged_stage}-{suffix}"
