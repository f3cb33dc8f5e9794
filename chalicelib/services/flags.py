"""Flags (R15): what a person must read -- ambiguous revocations from SMS/WhatsApp and replies --
listed oldest first and resolved once, within the FCC's 10 business days.

``GET /v1/flags?status=open|resolved&cursor=&limit=`` pages through the ``flags_by_status`` index;
``POST /v1/flags/{flag_id}`` ``{"resolution": "opt_out|dismiss", "actor", "reason"?}`` resolves:
``opt_out`` applies permanent DND with source ``contact`` on the flag's channels to the flag's
address (its keyed hash: a number with no contact works too) or contact, in the same transaction
as the resolution; ``dismiss`` records who and why. Resolving twice is 409 ``flag_resolved``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from chalicelib.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.requests import ResolveFlagBody, parse
from chalicelib.services.context import Services, iso
from chalicelib.services.dnd import DndChange, apply_dnd_change
from chalicelib.services.recipients import Target

REASON_FLAG_OPT_OUT = "revocation_flag"
DEFAULT_PAGE = 50
MAX_PAGE = 100
_CURSOR = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z#[0-9a-f]{32}$")
_VIEW_FIELDS = (
    "flag_id",
    "contact_ids",
    "channel",
    "channels",
    "reason",
    "origin",
    "at",
    "due_by",
    "status",
    "resolution",
    "resolved_at",
    "resolved_by",
    "resolution_reason",
)


def flag_view(item: dict[str, Any]) -> dict[str, Any]:
    view = {name: item.get(name) for name in _VIEW_FIELDS if item.get(name) is not None}
    view.setdefault("contact_ids", [])
    return view


def _encode_cursor(flag_at: str) -> str:
    return base64.urlsafe_b64encode(flag_at.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not _CURSOR.match(decoded):
        raise InvalidInput("invalid cursor", fields={"cursor": "use the next value of the previous page"})
    return decoded


def list_flags(services: Services, workspace_id: str, params: dict[str, str]) -> dict[str, Any]:
    status = params.get("status") or "open"
    if status not in ("open", "resolved"):
        raise InvalidInput("invalid status", fields={"status": "open or resolved"})
    limit_text = params.get("limit") or str(DEFAULT_PAGE)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise InvalidInput("invalid limit", fields={"limit": f"1-{MAX_PAGE}"})
    after = _decode_cursor(params["cursor"]) if params.get("cursor") else None
    items, more = services.flags.page(workspace_id, status, after, int(limit_text))
    return {
        "flags": [flag_view(item) for item in items],
        "next": _encode_cursor(items[-1]["flag_at"]) if more and items else None,
    }


def _already_resolved(flag: dict[str, Any]) -> Conflict:
    return Conflict(
        "the flag is already resolved",
        code="flag_resolved",
        fields={"flag_id": f"resolved ({flag.get('resolution')})"},
    )


def resolve_flag(services: Services, workspace_id: str, flag_id: str, body: dict[str, Any]) -> dict[str, Any]:
    parsed = parse(ResolveFlagBody, body)
    store = services.flags
    flag = store.get(workspace_id, flag_id) if is_valid_id(flag_id) else None
    if flag is None:
        raise NotFound("flag not found", fields={"flag_id": "no such flag"})
    if flag.get("status") != "open":
        raise _already_resolved(flag)
    resolution = {
        "resolution": parsed.resolution,
        "resolved_at": iso(services.clock()),
        "resolved_by": parsed.actor,
        "resolution_reason": parsed.reason,
    }
    if parsed.resolution == "dismiss":
        if not store.resolve(workspace_id, flag_id, resolution):
            raise _already_resolved(store.get(workspace_id, flag_id) or flag)
    else:
        _opt_out(services, workspace_id, flag, parsed, store.resolve_action(workspace_id, flag_id, resolution))
    return flag_view(store.get(workspace_id, flag_id) or flag)


def _opt_out(
    services: Services, workspace_id: str, flag: dict[str, Any], parsed: ResolveFlagBody, resolve: dict[str, Any]
) -> None:
    """Permanent DND from the contact on the flag's channels, with the resolution, atomically."""
    if flag.get("address_key") and flag.get("address_kind"):
        target = Target(address_key=flag["address_key"], address_kind=flag["address_kind"])
    elif flag.get("contact_id"):
        target = Target(contact_id=flag["contact_id"])
    else:  # a flag always has one of them; refuse rather than guess
        raise InvalidInput("the flag has no address to opt out", fields={"flag_id": "no address"})
    change = DndChange(
        workspace_id,
        target,
        "outbound",
        tuple(flag.get("channels") or [flag["channel"]]),
        "enable",
        "contact",
        REASON_FLAG_OPT_OUT,
        kind="permanent",
        actor=parsed.actor,
        note=parsed.reason,
        extra_items=(resolve,),
    )
    try:
        apply_dnd_change(services, change)
    except ConcurrentUpdate:
        current = services.flags.get(workspace_id, flag["flag_id"])
        if current is not None and current.get("status") != "open":
            raise _already_resolved(current) from None
        raise


def report_overdue_flags(services: Services) -> int:
    """Count open flags past their due_by (all workspaces) and publish it as the FlagsPastDue
    metric (the alarm in infra/template.yaml). Run by the scheduled sweep."""
    from chalicelib.observability import gauge

    overdue = services.flags.count_open_past_due(iso(services.clock()))
    gauge("FlagsPastDue", overdue)
    return overdue
