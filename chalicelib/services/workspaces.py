"""Workspaces, API keys and settings (R14)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import Forbidden, InvalidInput, Unauthorized
from chalicelib.logic.destinations import DestinationRefused, check_url
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.domain import HUBSPOT_API_BASE_URL, CrmSettings, WorkspaceSettings
from chalicelib.services.context import Services, iso, utcnow

WRITE_ONLY_SETTINGS = ("twilio_auth_token",)
# Identities are registered/released in the same DynamoDB transaction as the settings (<= 100
# items): replacing every identity at once must still fit (2 x 40 + settings + secrets).
MAX_SES_IDENTITIES = 40


def new_api_key() -> str:
    return "oo_" + secrets.token_urlsafe(32)


def bearer_token(headers: dict[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token", fields={"Authorization": "expected 'Bearer <api key>'"})
    return token.strip()


def authenticate_admin(services: Services, headers: dict[str, str]) -> None:
    token = bearer_token(headers)
    expected = services.config.admin_key_sha256
    given = hashlib.sha256(token.encode()).hexdigest()
    if not expected or not hmac.compare_digest(given, expected):
        raise Forbidden("not an admin key", fields={"Authorization": "admin key required"})


def authenticate_workspace(services: Services, headers: dict[str, str]) -> str:
    workspace_id = services.api_keys.workspace_for(bearer_token(headers))
    if workspace_id is None:
        raise Unauthorized("unknown API key", fields={"Authorization": "unknown API key"})
    return workspace_id


def validate_settings(
    values: dict[str, Any], prefix: str = "settings.", *, allow_loopback: bool = False
) -> WorkspaceSettings:
    """Parse settings to be saved. ``allow_loopback``: Config.loopback_destinations (local stage)."""
    try:
        parsed = WorkspaceSettings.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput("invalid settings", fields=pydantic_fields(exc, prefix)) from None
    if parsed.crm is not None and parsed.crm.instance_url is not None:
        # The URL receives the CRM token: vetted now, and again at every call (chalicelib/crm/base.py).
        try:
            check_url(parsed.crm.instance_url, allow_loopback=allow_loopback)
        except DestinationRefused as refused:
            raise InvalidInput("invalid settings", fields={prefix + "crm.instance_url": str(refused)}) from None
    import phonenumbers  # lazily: a cold start should not pay for it (chalicelib.logic.normalize)

    # An unknown region would make every later phone normalization fail (422 on every contact).
    if parsed.default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(
            "unknown phone region", fields={prefix + "default_phone_region": "ISO 3166 region known to libphonenumber"}
        )
    # One registration item per identity: a repeated identity must not become two writes of one item.
    parsed.ses_identities = list(dict.fromkeys(parsed.ses_identities))
    if len(parsed.ses_identities) > MAX_SES_IDENTITIES:
        raise InvalidInput(
            "too many sending identities", fields={prefix + "ses_identities": f"at most {MAX_SES_IDENTITIES}"}
        )
    return parsed


def pydantic_fields(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    return {prefix + ".".join(str(p) for p in error["loc"]): error["msg"] for error in exc.errors()}


def create_workspace(
    services: Services, workspace_id: Any, settings: Any, twilio_auth_token: Any, api_key: str | None = None
) -> dict[str, str]:
    if not is_valid_id(workspace_id):
        raise InvalidInput("invalid workspace_id", fields={"workspace_id": "1-128 of A-Z a-z 0-9 _ . : @ + -"})
    if settings is not None and not isinstance(settings, dict):
        raise InvalidInput("settings must be an object", fields={"settings": "must be an object"})
    if twilio_auth_token is not None and (not isinstance(twilio_auth_token, str) or not twilio_auth_token):
        raise InvalidInput("invalid twilio_auth_token", fields={"twilio_auth_token": "must be a non-empty string"})
    parsed = validate_settings(settings or {}, allow_loopback=services.config.loopback_destinations)
    key = api_key or new_api_key()
    services.workspaces.create(workspace_id, key, parsed, twilio_auth_token, iso(utcnow()))
    return {"workspace_id": workspace_id, "api_key": key}


# CRM credentials are write-only like twilio_auth_token: never shown; a PATCH that omits one keeps it.
WRITE_ONLY_CRM = ("access_token", "webhook_secret")


def _crm_destination(crm: CrmSettings | dict[str, Any]) -> tuple[Any, Any]:
    """Where write-backs go: provider and base URL (HubSpot's default when none is set)."""
    values = crm.model_dump() if isinstance(crm, CrmSettings) else crm
    provider, url = values.get("provider"), values.get("instance_url")
    if not url and provider == "hubspot":
        url = HUBSPOT_API_BASE_URL
    return provider, url.rstrip("/") if isinstance(url, str) else url


def settings_view(settings: WorkspaceSettings) -> dict[str, Any]:
    view = settings.model_dump(mode="json")
    if view.get("crm"):
        for name in WRITE_ONLY_CRM:
            view["crm"][name + "_set"] = bool(view["crm"].pop(name, None))
    return view


def patch_settings(services: Services, workspace_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    current = services.workspaces.get_settings(workspace_id)
    token = patch.pop("twilio_auth_token", None)
    if token is not None and (not isinstance(token, str) or not token):
        raise InvalidInput("invalid twilio_auth_token", fields={"twilio_auth_token": "must be a non-empty string"})
    crm = patch.get("crm")
    token_needed = False
    if isinstance(crm, dict) and current.crm is not None:
        for name in WRITE_ONLY_CRM:
            crm.pop(name + "_set", None)  # the GET view's markers may be sent back as they came
        # Issue 11: the stored token never follows the mapping to another CRM or URL.
        moved = _crm_destination(crm) != _crm_destination(current.crm)
        token_needed = bool(current.crm.access_token) and "access_token" not in crm and moved
        for name in WRITE_ONLY_CRM:
            if name not in crm:
                crm[name] = None if token_needed and name == "access_token" else getattr(current.crm, name)
    token_error = {"crm.access_token": "required again when crm.instance_url or crm.provider changes"}
    try:
        updated = validate_settings(
            {**current.model_dump(), **patch}, prefix="", allow_loopback=services.config.loopback_destinations
        )
    except InvalidInput as invalid:
        raise InvalidInput(
            invalid.message, fields={**invalid.fields, **(token_error if token_needed else {})}
        ) from None
    if token_needed:
        raise InvalidInput("a new crm.access_token is required when the CRM destination changes", fields=token_error)
    services.workspaces.save_settings(workspace_id, updated, current, token)
    services.config_cache.invalidate(workspace_id)
    return settings_view(updated)
