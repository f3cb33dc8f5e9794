"""Replies to a sequence (R9): unenroll the replier (or their company, when the sequence says so)
and, when the reply asks to unsubscribe and the workspace allows it, opt them out of email."""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.errors import NotFound
from chalicelib.logic.auto_reply import is_auto_reply
from chalicelib.logic.reply_intent import asks_to_unsubscribe, own_words
from chalicelib.logic.revocation import classify_revocation
from chalicelib.models.domain import REASON_REPLY_UNSUBSCRIBE
from chalicelib.models.records import Enrollment
from chalicelib.models.requests import ReplyBody, parse, require_id
from chalicelib.services.context import Services, iso
from chalicelib.services.dnd import DndChange, apply_dnd_change, record_flag
from chalicelib.services.enrollments import sequence_for
from chalicelib.services.recipients import Target
from chalicelib.store.enrollments import ACTIVE

REASON_REPLIED = "replied"
REASON_REPLY_FLAG = "reply_revocation_candidate"


def record_reply(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = parse(ReplyBody, body)
    require_id(reply.contact_id, "contact_id")
    require_id(reply.sequence_id, "sequence_id")
    contact = services.contacts.get(workspace_id, reply.contact_id)
    if contact is None:
        raise NotFound("contact not found", fields={"contact_id": "no such contact"})
    sequence = sequence_for(services, workspace_id, reply.sequence_id)
    if is_auto_reply(reply.headers, reply.subject):
        # An out-of-office or other automatic answer is not the person replying: nothing changes.
        return {"unenrolled": [], "opted_out": False, "ignored": "auto_reply"}
    store = services.enrollments

    candidates: dict[str, Enrollment] = {}
    own = store.get(workspace_id, reply.sequence_id, reply.contact_id)
    if own is not None:
        candidates[reply.contact_id] = own
    company = contact.company_domain
    if sequence.unenroll_company_on_reply and company:
        for enrollment in store.active_for_company(workspace_id, reply.sequence_id, company):
            candidates.setdefault(enrollment.contact_id, enrollment)
    at = iso(services.clock())
    unenrolled = [
        contact_id
        for contact_id, enrollment in candidates.items()
        if enrollment.status == ACTIVE and store.unenroll_one(enrollment, at, REASON_REPLIED)
    ]

    intent = asks_to_unsubscribe(reply.body)
    opted_out = False
    flag_id: str | None = None
    natural_id = (
        reply.message_id
        or hashlib.sha256(f"{reply.contact_id}\n{reply.sequence_id}\n{reply.body}".encode()).hexdigest()[:32]
    )
    opts_out = services.config_cache.get(workspace_id).settings.reply_unsubscribe_opts_out
    if (intent and not opts_out) or (not intent and classify_revocation(own_words(reply.body)) is not None):
        # R15: a request the workspace leaves to a person, or words that may revoke consent
        # ("not interested", "stop texting me"): a flag due in 10 business days.
        flag_id = record_flag(
            services,
            workspace_id,
            Target(contact_id=reply.contact_id),
            "email",
            REASON_REPLY_FLAG,
            "contact",
            event_id=f"reply-flag#{natural_id}",
            origin="reply",
        )
    if intent and opts_out:
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
    answer: dict[str, Any] = {"unenrolled": sorted(unenrolled), "opted_out": opted_out, "unsubscribe_intent": intent}
    if flag_id:
        answer["flag_id"] = flag_id
    return answer
