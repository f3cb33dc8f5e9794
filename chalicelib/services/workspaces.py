"""Workspaces, API keys and settings (R14)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from chalicelib.email_providers.registry import EMAIL_PROVIDERS
from chalicelib.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from chalicelib.logic.destinations import DestinationRefused, check_url
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.domain import CrmSettings, WorkspaceSettings
from chalicelib.models.requests import (
    WORKSPACE_ID_RULE,
    AdminWorkspacePatch,
    CreateWorkspaceBody,
    SettingsPatch,
    parse,
)
from chalicelib.services.context import Services, iso
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


def validate_settings(
    values: dict[str, Any], prefix: str = "settings.", *, allow_loopback: bool = False
) -> WorkspaceSettings:
    """Parse settings to be saved. ``allow_loopback``: Config.loopback_destinations (local stage)."""
    parsed = parse(WorkspaceSettings, values, "invalid settings", prefix=prefix)
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


def check_identities(identities: list[str], field_name: str) -> None:
    """422 for identities no workspace may register: freemail domains, public suffixes (R8)."""
    from chalicelib.logic.sending_identities import identity_refusal  # loads its data tables on first use

    refused = {identity: why for identity in identities if (why := identity_refusal(identity))}
    if refused:
        raise InvalidInput(
            "sending identity not allowed",
            code="identity_not_allowed",
            fields={field_name: "; ".join(f"{identity}: {why}" for identity, why in refused.items())},
        )


def _valid_workspace_id(workspace_id: Any) -> str:
    """A workspace id from a path (a body's is checked by its model, with the same words)."""
    if not is_valid_id(workspace_id):
        raise InvalidInput("invalid workspace_id", fields={"workspace_id": WORKSPACE_ID_RULE})
    return str(workspace_id)


def create_workspace(services: Services, body: dict[str, Any], api_key: str | None = None) -> dict[str, str]:
    """POST /v1/admin/workspaces (CreateWorkspaceBody); ``api_key``: a given first key (local stack)."""
    request = parse(CreateWorkspaceBody, body)
    parsed = validate_settings(request.settings or {}, allow_loopback=services.config.loopback_destinations)
    check_identities(parsed.ses_identities, "settings.ses_identities")
    key = api_key or new_api_key()
    services.workspaces.create(request.workspace_id, key, parsed, request.twilio_auth_token, iso(services.clock()))
    return {"workspace_id": request.workspace_id, "api_key": key}


# CRM credentials are write-only like twilio_auth_token: never shown; a PATCH that omits one keeps it.
WRITE_ONLY_CRM = ("access_token", "webhook_secret")


# Email provider webhook secrets (R19): write-only too; a PATCH that omits one keeps it, null removes it.
WRITE_ONLY_PROVIDER_SECRETS = tuple(provider.secret_setting for provider in EMAIL_PROVIDERS.values())


def _crm_destination(crm: CrmSettings | dict[str, Any]) -> tuple[Any, Any]:
    """Where write-backs go: provider and base URL (the provider's default when none is set)."""
    from chalicelib.crm.registry import CRM_PROVIDERS

    values = crm.model_dump() if isinstance(crm, CrmSettings) else crm
    provider, url = values.get("provider"), values.get("instance_url")
    spec = CRM_PROVIDERS.get(provider) if isinstance(provider, str) else None
    if not url and spec is not None:
        url = spec.default_base_url
    return provider, url.rstrip("/") if isinstance(url, str) else url


def settings_view(settings: WorkspaceSettings) -> dict[str, Any]:
    view = settings.model_dump(mode="json")
    for name in WRITE_ONLY_PROVIDER_SECRETS:
        view[name + "_set"] = bool(view.pop(name, None))
    if view.get("crm"):
        for name in WRITE_ONLY_CRM:
            view["crm"][name + "_set"] = bool(view["crm"].pop(name, None))
    return view


def patch_settings(services: Services, workspace_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH /v1/settings with a workspace key: every setting but the admin-only ``ses_identities``."""
    return _patch_settings(services, workspace_id, patch, admin=False)


def admin_patch_workspace(services: Services, workspace_id: Any, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH /v1/admin/workspaces/{workspace_id} (API.md): ``ses_identities``, ``twilio_auth_token``
    and any other ``settings``; answers the workspace's settings as GET /v1/settings shows them."""
    workspace_id = _valid_workspace_id(workspace_id)
    patch = parse(AdminWorkspacePatch, body).settings_patch()
    view = _patch_settings(services, workspace_id, patch, admin=True)
    return {"workspace_id": workspace_id, "settings": view}


# The GET view's markers of write-only settings: a patch may send them back as they came.
SET_MARKERS = frozenset(name + "_set" for name in WRITE_ONLY_PROVIDER_SECRETS)


def _patch_settings(services: Services, workspace_id: str, body: dict[str, Any], *, admin: bool) -> dict[str, Any]:
    """Apply a SettingsPatch: its settings over the stored ones, validated as a whole."""
    current = services.workspaces.get_settings(workspace_id)
    crm = body.get("crm")
    token_needed = False
    if isinstance(crm, dict) and current.crm is not None:
        # Issue 11: the stored token never follows the mapping to another CRM or URL.
        moved = _crm_destination(crm) != _crm_destination(current.crm)
        token_needed = bool(current.crm.access_token) and "access_token" not in crm and moved
    token_error = {
        "crm.access_token": "a new token (or null to drop the stored one) when crm.instance_url or crm.provider changes"
    }
    try:
        patch = parse(SettingsPatch, {name: value for name, value in body.items() if name not in SET_MARKERS})
        changes = patch.changes()
        crm = changes.get("crm")
        if isinstance(crm, dict) and current.crm is not None:
            for name in WRITE_ONLY_CRM:
                crm.pop(name + "_set", None)  # the GET view's markers may be sent back as they came
                if name not in crm:
                    crm[name] = None if token_needed and name == "access_token" else getattr(current.crm, name)
        quiet = changes.get("quiet_hours")
        if isinstance(quiet, dict):  # a partial quiet_hours object changes only the keys it names
            changes["quiet_hours"] = {**current.quiet_hours.model_dump(), **quiet}
        updated = validate_settings(
            {**current.model_dump(), **changes}, prefix="", allow_loopback=services.config.loopback_destinations
        )
    except InvalidInput as invalid:
        raise InvalidInput(
            invalid.message, fields={**invalid.fields, **(token_error if token_needed else {})}
        ) from None
    if token_needed:
        raise InvalidInput("a new crm.access_token is required when the CRM destination changes", fields=token_error)
    added = [identity for identity in updated.ses_identities if identity not in current.ses_identities]
    if set(updated.ses_identities) == set(current.ses_identities):
        updated.ses_identities = list(current.ses_identities)  # same identities: nothing to register
    if updated.ses_identities != current.ses_identities and not admin:
        # Which workspace a bounce lands in is the operator's decision (issue 11): the same list sent
        # back (GET -> edit -> PATCH) is fine, a change needs the admin key.
        raise Forbidden(
            "ses_identities can only be changed with the admin key",
            code="ses_identities_admin_only",
            fields={"ses_identities": "set with the admin key: PATCH /v1/admin/workspaces/{workspace_id}"},
        )
    check_identities(added, "ses_identities")
    services.workspaces.save_settings(workspace_id, updated, current, patch.twilio_auth_token)
    services.config_cache.invalidate(workspace_id)
    return settings_view(updated)


# --- API keys (R18) ------------------------------------------------------------------------------


def create_api_key(services: Services, workspace_id: str) -> dict[str, str]:
    """Issue another key of the workspace; the key itself is shown once, only its hash is stored."""
    api_key = new_api_key()
    key_id = services.workspaces.add_api_key(workspace_id, api_key, iso(services.clock()))
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
