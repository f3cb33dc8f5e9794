"""CRM sync (R13): email DND <-> the CRM's email opt-out field, per workspace mapping.

- Inbound (``read`` / ``read_write``): a signed CRM webhook reports opt-out changes; each is applied
  to email DND with source ``crm``, exactly once per CRM event id.
- Outbound (``write`` / ``read_write``): after a committed email DND change whose source is not the
  CRM (no echo), one message per affected contact goes on the CRM queue; the worker writes the
  contact's *current* email DND to the CRM record ``attributes.crm_id``. Writing current state, not
  the change, keeps redeliveries and out-of-order messages harmless. HubSpot never receives a clear.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from chalicelib.crm.base import CrmClient, CrmRecordMissing
from chalicelib.crm.registry import client_for, crm_provider, route_provider
from chalicelib.crm.webhooks import (
    SIGNATURE_HEADER,
    WORKSPACE_HEADER,
    CrmOptOutChange,
    SignedDelivery,
    parse_changes,
    signature_matches,
)
from chalicelib.errors import Conflict, DndClearRefused, Forbidden, InvalidAddress, InvalidInput, NotFound
from chalicelib.logic.dnd_rules import merged_entries
from chalicelib.logic.normalize import is_valid_id, normalize_email
from chalicelib.models.domain import CrmSettings
from chalicelib.observability import logger
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, DndResult, apply_dnd_change
from chalicelib.services.recipients import Target

REASON_CRM_OPT_OUT = "crm_opt_out"
REASON_CRM_OPT_IN = "crm_opt_in"
READ_MODES = ("read", "read_write")
WRITE_MODES = ("write", "read_write")
WRITEBACK_TYPE = "crm.writeback"
# Compared against when the workspace has no secret, so a miss costs the same as a mismatch.
_NO_SECRET = "\x00no-secret"


# --- inbound: POST /v1/webhooks/crm/{provider}[/{workspace_id}] ------------------------------


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _mapping(services: Services, workspace_id: str | None) -> CrmSettings | None:
    if not is_valid_id(workspace_id):
        return None
    try:
        return services.workspaces.get_settings(workspace_id or "").crm
    except NotFound:
        return None


def _refused() -> Forbidden:
    # One answer for an unknown workspace, a missing mapping or secret, a bad or stale signature.
    return Forbidden("invalid signature", fields={"signature": "invalid signature"})


def _authenticate(services: Services, headers: dict[str, str], raw_body: bytes) -> tuple[str, CrmSettings]:
    """The workspace whose webhook secret signed the body, and its CRM mapping; Forbidden otherwise
    (the same answer for an unknown workspace, a missing mapping and a bad signature)."""
    workspace_id = _header(headers, WORKSPACE_HEADER)
    crm = _mapping(services, workspace_id)
    secret = crm.webhook_secret if crm is not None and crm.webhook_secret else None
    matches = signature_matches(secret or _NO_SECRET, raw_body, _header(headers, SIGNATURE_HEADER))
    if crm is None or secret is None or not matches:
        raise Forbidden("invalid signature", fields={SIGNATURE_HEADER: "invalid signature"})
    return workspace_id or "", crm


def receive_crm_webhook(services: Services, provider: str, headers: dict[str, str], raw_body: bytes) -> dict[str, Any]:
    route_provider(provider)
    workspace_id, crm = _authenticate(services, headers, raw_body)
    return _receive(services, provider, workspace_id, crm, raw_body)


def receive_crm_workspace_webhook(
    services: Services,
    provider: str,
    workspace_id: str,
    headers: dict[str, str],
    raw_body: bytes,
    *,
    method: str,
    uri: str,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """``POST /v1/webhooks/crm/{provider}/{workspace_id}``: the provider's own signature. HubSpot:
    X-HubSpot-Signature-v3 over ``method + uri + body + X-HubSpot-Request-Timestamp`` (``uri``: the
    URL HubSpot was configured with, OPTOUT_PUBLIC_URL + path), at most 5 minutes old. Salesforce:
    X-Optout-Signature over the body. Either keyed with the workspace's ``crm.webhook_secret``
    (the scheme is the provider's ``CrmProvider.signed``)."""
    spec = route_provider(provider)
    crm = _mapping(services, workspace_id)
    secret = (crm.webhook_secret if crm is not None else None) or _NO_SECRET
    now = int(services.clock().timestamp() * 1000) if now_ms is None else now_ms
    matches = spec.signed(secret, SignedDelivery(method, uri, headers, raw_body, now))
    if crm is None or not crm.webhook_secret or not matches:
        raise _refused()
    return _receive(services, provider, workspace_id, crm, raw_body)


def _receive(services: Services, provider: str, workspace_id: str, crm: CrmSettings, raw_body: bytes) -> dict[str, Any]:
    if crm.provider != provider:
        raise Conflict(
            f"this workspace syncs with {crm.provider}", code="crm_provider_mismatch", fields={"provider": crm.provider}
        )
    if crm.mode not in READ_MODES:
        raise Conflict(
            "the CRM mapping does not read from the CRM (mode write)",
            code="crm_read_disabled",
            fields={"crm.mode": crm.mode},
        )
    changes = parse_changes(crm_provider(crm.provider), raw_body, crm.field)
    results = [_apply_change(services, workspace_id, crm.provider, change) for change in changes]
    return {
        "applied": sum(1 for r in results if r["status"] in ("enabled", "disabled")),
        "results": results,
    }


def _targets(services: Services, workspace_id: str, change: CrmOptOutChange) -> list[Target]:
    """Who the change is about, most specific first: our contact id if the CRM carries it, the
    contacts linked to the CRM record (attributes.crm_id, index by_crm_id), then the email."""
    targets = []
    if change.contact_id and is_valid_id(change.contact_id):
        targets.append(Target(contact_id=change.contact_id))
    if change.ref:
        linked = services.contacts.contact_ids_with_crm_id(workspace_id, change.ref)
        targets.extend(Target(contact_id=contact_id) for contact_id in linked)
    if change.email:
        with contextlib.suppress(InvalidAddress):  # an unusable email is the same as none
            targets.append(Target(email=normalize_email(change.email)))
    return targets


def _apply_change(services: Services, workspace_id: str, provider: str, change: CrmOptOutChange) -> dict[str, Any]:
    outcome: dict[str, Any] = {"ref": change.ref}
    if change.skip or change.opted_out is None:
        return {**outcome, "status": change.skip or "invalid"}
    targets = _targets(services, workspace_id, change)
    if not targets:
        return {**outcome, "status": "unresolved"}
    action = "enable" if change.opted_out else "disable"
    for target in targets:
        dnd_change = DndChange(
            workspace_id,
            target,
            "outbound",
            ("email",),
            action,
            "crm",
            REASON_CRM_OPT_OUT if change.opted_out else REASON_CRM_OPT_IN,
            kind="temporary",
            actor=f"{provider}:{change.ref}" if change.ref else provider,
            event_id=change.event_id,
        )
        try:
            result = apply_dnd_change(services, dnd_change)
        except NotFound:
            continue  # unknown contact id: try the email
        except DndClearRefused as refused:
            return {**outcome, "status": "refused", "error": refused.code}
        except InvalidInput as invalid:
            return {**outcome, "status": "invalid", "error": invalid.code}
        if result.duplicate:
            return {**outcome, "status": "duplicate"}
        return {**outcome, "status": ("enabled" if change.opted_out else "disabled") if result.changed else "unchanged"}
    return {**outcome, "status": "unresolved"}


# --- outbound: after-change hook -> CRM queue -> worker ----------------------------------------


def enqueue_crm_writeback(services: Services, workspace_id: str, result: DndResult) -> None:
    """DND follow-up (``services.follow_ups``): queue a write-back per affected contact for email
    changes not from the CRM."""
    email_entries = [
        e
        for e in result.audit
        if e.get("channel") == "email"
        and e.get("direction") == "outbound"
        and e.get("action") in ("enabled", "disabled")
    ]
    if not email_entries or not result.contact_ids:
        return
    if any(e.get("source") == "crm" for e in email_entries):
        return  # it came from the CRM: writing it back would echo
    crm = services.config_cache.get(workspace_id).settings.crm
    if crm is None or crm.mode not in WRITE_MODES:
        return
    at = max(str(e.get("at")) for e in email_entries)
    action = email_entries[-1]["action"]
    services.crm_queue.send(
        [
            {
                "type": WRITEBACK_TYPE,
                "version": 1,
                "workspace_id": workspace_id,
                "contact_id": contact_id,
                "provider": crm.provider,
                "action": action,
                "at": at,
            }
            for contact_id in result.contact_ids
        ]
    )


def write_back(
    services: Services,
    message: dict[str, Any],
    client_factory: Callable[..., CrmClient] = client_for,
) -> str:
    """Write one contact's current email opt-out to the CRM. Returns the outcome; raises when the
    CRM write failed (the message is retried, then dead-lettered)."""
    if (
        message.get("type") != WRITEBACK_TYPE
        or not is_valid_id(message.get("workspace_id"))
        or not is_valid_id(message.get("contact_id"))
    ):
        raise ValueError("not a CRM write-back message")
    workspace_id, contact_id = message["workspace_id"], message["contact_id"]
    log = {"workspace_id": workspace_id, "contact_id": contact_id}
    try:
        crm = services.workspaces.get_settings(workspace_id).crm
    except NotFound:
        return "no_workspace"
    if crm is None or crm.mode not in WRITE_MODES:
        return "write_disabled"  # the mapping changed since the message was queued
    contact = services.contacts.get(workspace_id, contact_id)
    if contact is None:
        return "no_contact"
    crm_id = contact.attributes.get("crm_id")
    if isinstance(crm_id, bool) or not isinstance(crm_id, str | int) or not str(crm_id).strip():
        logger.warning("contact has no attributes.crm_id; CRM write-back skipped", extra=log)
        return "no_crm_id"
    from chalicelib.services.contacts import contact_states

    opted_out = bool(merged_entries(contact_states(services, contact), "outbound", "email"))
    if not opted_out and not crm_provider(crm.provider).clear_supported:
        return "clear_not_supported"  # e.g. HubSpot cannot re-subscribe a contact (R13)
    try:
        client = client_factory(crm, allow_loopback=services.config.loopback_destinations)
        client.set_email_opt_out(str(crm_id).strip(), opted_out)
    except CrmRecordMissing:
        logger.warning(
            "the CRM has no record for the contact's crm_id; write-back skipped",
            extra={**log, "provider": crm.provider},
        )
        return "crm_record_missing"
    logger.info("CRM write-back done", extra={**log, "provider": crm.provider, "opted_out": opted_out})
    return "written"
