"""Replies to a sequence (R9): unenroll the replier (or their company, when the sequence says so)
and, when the reply asks to unsubscribe and the workspace allows it, opt them out of email."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.logic.reply_intent import asks_to_unsubscribe
from chalicelib.models.domain import REASON_REPLY_UNSUBSCRIBE
from chalicelib.services import context
from chalicelib.services.context import Services, iso
from chalicelib.services.dnd import DndChange, apply_dnd_change
from chalicelib.services.enrollments import require_id, sequence_for
from chalicelib.services.recipients import Target
from chalicelib.services.workspaces import pydantic_fields
from chalicelib.store.enrollments import ACTIVE, EnrollmentStore

REASON_REPLIED = "replied"


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: str
    sequence_id: str
    body: str = Field(default="", max_length=200_000)
    message_id: str | None = Field(default=None, min_length=1, max_length=512)


def record_reply(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        reply = ReplyBody.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput("invalid reply", fields=pydantic_fields(exc)) from None
    require_id(reply.contact_id, "contact_id")
    require_id(reply.sequence_id, "sequence_id")
    contact = services.contacts.get(workspace_id, reply.contact_id)
    if contact is None:
        raise NotFound("contact not found", fields={"contact_id": "no such contact"})
    sequence = sequence_for(services, workspace_id, reply.sequence_id)
    store = EnrollmentStore(services.config)

    candidates: dict[str, dict[str, Any]] = {}
    own = store.get(workspace_id, reply.sequence_id, reply.contact_id)
    if own is not None:
        candidates[reply.contact_id] = own
    company = contact.get("company_domain")
    if sequence.unenroll_company_on_reply and company:
        for item in store.active_for_company(workspace_id, reply.sequence_id, company):
            candidates.setdefault(item["contact_id"], item)
    at = iso(context.utcnow())
    unenrolled = [
        contact_id
        for contact_id, item in candidates.items()
        if item.get("status") == ACTIVE and store.unenroll_one(item, at, REASON_REPLIED)
    ]

    intent = asks_to_unsubscribe(reply.body)
    opted_out = False
    if intent and services.config_cache.get(workspace_id).settings.reply_unsubscribe_opts_out:
        natural_id = (
            reply.message_id
            or hashlib.sha256(f"{reply.contact_id}\n{reply.sequence_id}\n{reply.body}".encode()).hexdigest()[:32]
        )
        apply_dnd_change(
            services,
            DndChange(
                workspace_id,
                Target(contact_id=reply.contact_id),
                "outbound",
                ("email",),
                "enable",
                "contact",
                REASON_REPLY_UNSUBSCRIBE,
                kind="permanent",
                actor="reply",
                event_id=f"reply#{natural_id}",
            ),
        )
        opted_out = True
    return {"unenrolled": sorted(unenrolled), "opted_out": opted_out, "unsubscribe_intent": intent}
