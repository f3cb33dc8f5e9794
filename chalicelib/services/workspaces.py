"""Workspaces, API keys and settings (R14)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.domain import WorkspaceSettings
from chalicelib.services.context import Services, iso, utcnow
from chalicelib.store.workspaces import KEY_PREFIX_LENGTH

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


def validate_settings(values: dict[str, Any], prefix: str = "settings.") -> WorkspaceSettings:
    try:
        parsed = WorkspaceSettings.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput("invalid settings", fields=pydantic_fields(exc, prefix)) from None
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
    parsed = validate_settings(settings or {})
    key = api_key or new_api_key()
    services.workspaces.create(workspace_id, key, parsed, twilio_auth_token, iso(utcnow()))
    return {"workspace_id": workspace_id, "api_key": key}


# CRM credentials are write-only like twilio_auth_token: never shown; a PATCH that omits one keeps it.
WRITE_ONLY_CRM = ("access_token", "webhook_secret")


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
    if isinstance(crm, dict) and current.crm is not None:
        for name in WRITE_ONLY_CRM:
            crm.pop(name + "_set", None)  # the GET view's markers may be sent back as they came
            if name not in crm:
                crm[name] = getattr(current.crm, name)
    updated = validate_settings({**current.model_dump(), **patch}, prefix="")
    services.workspaces.save_settings(workspace_id, updated, current, token)
    services.config_cache.invalidate(workspace_id)
    return settings_view(updated)


# --- API keys (R18) ------------------------------------------------------------------------------


def create_api_key(services: Services, workspace_id: str) -> dict[str, str]:
    """Issue another key of the workspace; the key itself is shown once, only its hash is stored."""
    api_key = new_api_key()
    key_id = services.workspaces.add_api_key(workspace_id, api_key, iso(utcnow()))
    return {"key_id": key_id, "api_key": api_key, "prefix": api_key[:KEY_PREFIX_LENGTH]}


def list_api_keys(services: Services, workspace_id: str) -> dict[str, Any]:
    items = sorted(services.workspaces.list_api_keys(workspace_id), key=lambda i: (i["created_at"], i["key_id"]))
    return {
        "keys": [
            {
                "key_id": item["key_id"],
                "prefix": item["prefix"],
                "created_at": item["created_at"],
                "last_used_at": item.get("last_used_at"),
            }
            for item in items
        ]
    }


def revoke_api_key(services: Services, workspace_id: str, key_id: str) -> None:
    if not is_valid_id(key_id):
        raise NotFound("key not found", fields={"key_id": "no such key"})
    key_pk = services.workspaces.revoke_api_key(workspace_id, key_id)
    services.api_keys.forget(key_pk)  # this instance at once; the others within the cache's 1 s
