"""Mirror permanent email DND onto the Amazon SES suppression list (issue 16 point 5; SPEC R18, optional).

A DND follow-up (``services.follow_ups``, listed in chalicelib/services/context.py only when
``OPTOUT_SES_SUPPRESSION`` is ``account`` or ``tenant``). Like the CRM write-back it writes the
address's *current* state, not the change, so re-runs by the outbox sweeper and out-of-order runs
are harmless:

- the address carries a permanent email entry that blocks every send -> ``PutSuppressedDestination``
  with ``BOUNCE`` (suppression-list bounces, and bounces imported as permanent) or ``COMPLAINT``
  (spam complaints and the person's own opt-outs: SES knows only those two reasons);
- an email clear left the address with no email DND at all -> ``DeleteSuppressedDestination`` (else
  SES would keep dropping the mail the person asked for, and report it back as a suppression-list
  bounce, which R8 records as permanent DND again);
- anything else (only temporary entries, or only a marketing opt-out) -> SES is left as it is.

Not pushed: the person's unsubscribe from a link or one-click (``is_marketing_opt_out``). It refuses
marketing, not receipts or password resets (R16), and the SES list cannot tell them apart.

The address: optout keys DND by keyed hashes (R3) and the outbox holds none, so the address is read
from a contact that holds it now (``email_key`` equal to the change's email key). When no contact
holds it, or the workspace id cannot name an SES tenant, the run is skipped and logged with ids only.
A failing SES call raises: the outbox item stays and the sweeper retries it (back-off, then parked
with an alarm), and the opt-out itself is never failed.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.logic.verdict import is_marketing_opt_out
from chalicelib.models.domain import (
    REASON_HARD_BOUNCE,
    REASON_SOFT_BOUNCES,
    REASON_SUPPRESSED_BOUNCE,
    DndEntry,
    DndState,
)
from chalicelib.observability import SERVICE
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndResult

logger = Logger(service=SERVICE, child=True)

BOUNCE_REASONS = frozenset({REASON_SUPPRESSED_BOUNCE, REASON_HARD_BOUNCE, REASON_SOFT_BOUNCES})
# SES tenant names: up to 64 letters, digits, hyphens and underscores (CreateTenant).
_TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def pushed_entries(state: DndState) -> list[DndEntry]:
    """The address's email entries the SES list should carry: permanent, and blocking every send."""
    entries = state.entries("outbound", "email").values()
    return [entry for entry in entries if entry.kind == "permanent" and not is_marketing_opt_out(entry)]


def ses_reason(entries: list[DndEntry]) -> str:
    """``BOUNCE`` when every pushed entry is a bounce, else ``COMPLAINT`` (complaints, opt-outs)."""
    return "BOUNCE" if all(entry.reason in BOUNCE_REASONS for entry in entries) else "COMPLAINT"


def tenant_name(scope: str, workspace_id: str) -> str | None:
    """The SES tenant of a workspace (tenant scope: the tenant named like the workspace), or None for
    the account-level list. Raises ValueError when the workspace id cannot name a tenant."""
    if scope != "tenant":
        return None
    if not _TENANT_NAME.fullmatch(workspace_id):
        raise ValueError("workspace id is not a valid SES tenant name")
    return workspace_id


def _email_entries(result: DndResult) -> list[dict[str, Any]]:
    return [
        entry
        for entry in result.audit
        if entry.get("channel") == "email"
        and entry.get("direction") == "outbound"
        and entry.get("action") in ("enabled", "disabled")
        and not entry.get("topic_id")  # a topic unsubscribe is not the address's DND (R16)
    ]


def push_ses_suppression(services: Services, workspace_id: str, result: DndResult) -> None:
    """DND follow-up (``services.follow_ups``): ``sync_ses_suppression``."""
    sync_ses_suppression(services, workspace_id, result)


def sync_ses_suppression(services: Services, workspace_id: str, result: DndResult) -> str:
    """Bring the SES suppression list in line with the changed email address.
    Returns what it did (``put``, ``deleted``, ``not_listed``, ``unchanged``, ``skipped:<why>``, or
    ``ignored``); raises when SES fails."""
    entries = _email_entries(result)
    enabled_permanent = any(e["action"] == "enabled" and e.get("kind") == "permanent" for e in entries)
    cleared = any(e["action"] == "disabled" for e in entries)
    if not (enabled_permanent or cleared):
        return "ignored"
    log = {"workspace_id": workspace_id}
    email_pk = result.address_pks.get("email")
    email = _address(services, workspace_id, email_pk, result.contact_ids) if email_pk else None
    if email is None or email_pk is None:
        # e.g. a bounce for an address no contact holds, or an entry on a contact without an email
        logger.info("SES suppression skipped: no contact holds the address", extra={**log, "skipped": "no_address"})
        return "skipped:no_address"
    scope = services.config.ses_suppression
    try:
        tenant = tenant_name(scope, workspace_id)
    except ValueError:
        logger.warning("SES suppression skipped: workspace id is not an SES tenant name", extra=log)
        return "skipped:tenant_name"
    ses = services.ses_suppression
    if ses is None:
        raise RuntimeError("OPTOUT_SES_SUPPRESSION is on but no SES suppression list is wired")
    item = services.dnd.get_address_items([email_pk]).get(email_pk)
    state = DndState.model_validate((item or {}).get("dnd") or {})
    pushed = pushed_entries(state)
    if pushed:
        reason = ses_reason(pushed)
        ses.put(email, reason, tenant)
        logger.info("address put on the SES suppression list", extra={**log, "scope": scope, "reason": reason})
        return "put"
    if cleared and not state.entries("outbound", "email"):
        removed = ses.delete(email, tenant)
        logger.info(
            "address removed from the SES suppression list", extra={**log, "scope": scope, "was_listed": removed}
        )
        return "deleted" if removed else "not_listed"
    return "unchanged"


def _address(services: Services, workspace_id: str, email_pk: str, contact_ids: list[str]) -> str | None:
    """The address behind ``email_pk``, from a contact that holds it now (R3: no address is stored)."""
    if not contact_ids:
        return None
    contacts = services.contacts.get_many(workspace_id, contact_ids)
    for contact_id in contact_ids:
        contact = contacts.get(contact_id)
        if contact is not None and contact.email_key == email_pk and contact.email:
            return contact.email
    return None
