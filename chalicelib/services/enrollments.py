"""Sequences, audiences and enrollments (R11).

Enrollment asks the same pure verdict as send-check (``decide_enrollment``): DND, exclusions,
cooldown and the company cap refuse it, for automated and manual enrollment alike. Unenrolling
starts the cooldown (``unenrolled_at``). ``unenroll_contacts`` is the one entry point other
capabilities (unsubscribe page, DND hook, replies) use to take contacts out of sequences.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from chalicelib.logic.dnd_rules import is_do_not_contact
from chalicelib.logic.normalize import is_valid_id
from chalicelib.logic.verdict import Recipient, decide_enrollment
from chalicelib.models.domain import Audience, Sequence
from chalicelib.models.records import Enrollment
from chalicelib.models.requests import AudienceBody, EnrollBody, SequenceBody, parse, require_id
from chalicelib.observability import SERVICE
from chalicelib.services.context import Services, iso
from chalicelib.services.dnd import DndResult
from chalicelib.services.recipients import Target, match_subject
from chalicelib.store.enrollments import (
    ACTIVE,
    STATUSES,
    EnrollmentChanged,
    decode_cursor,
    encode_cursor,
)

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids

REASON_MANUAL_UNENROLL = "manual"
REASON_DO_NOT_CONTACT = "do_not_contact"
INLINE_UNENROLL_LIMIT = 100  # beyond this many contacts, unenrollment runs as a queued job
MAX_PAGE = 100


# --- sequences and audiences -----------------------------------------------------------------


def put_sequence(services: Services, workspace_id: str, sequence_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require_id(sequence_id, "sequence_id")
    parsed = parse(SequenceBody, body)
    sequence = Sequence(sequence_id=sequence_id, **parsed.model_dump())
    services.workspaces.put_sequence(workspace_id, sequence)
    services.config_cache.invalidate(workspace_id)
    return sequence.model_dump()


def get_sequence(services: Services, workspace_id: str, sequence_id: str) -> dict[str, Any]:
    require_id(sequence_id, "sequence_id")
    sequence = services.workspaces.get_sequence(workspace_id, sequence_id)
    if sequence is None:
        raise NotFound("sequence not found", fields={"sequence_id": "no such sequence"})
    return sequence.model_dump()


def put_audience(services: Services, workspace_id: str, audience_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require_id(audience_id, "audience_id")
    parsed = parse(AudienceBody, body)
    for n, exclusion_id in enumerate(parsed.disabled_exclusions):
        if not is_valid_id(exclusion_id):
            raise InvalidInput("invalid exclusion id", fields={f"disabled_exclusions[{n}]": "not an exclusion id"})
    audience = Audience(audience_id=audience_id, disabled_exclusions=list(dict.fromkeys(parsed.disabled_exclusions)))
    services.workspaces.put_audience(workspace_id, audience)
    services.config_cache.invalidate(workspace_id)
    return audience.model_dump()


def sequence_for(services: Services, workspace_id: str, sequence_id: str, *, register: bool = False) -> Sequence:
    """The sequence's settings (<= 1 s old); an unknown sequence has the defaults and, when
    ``register``, is recorded so bulk jobs and proactive exclusions find it."""
    known = services.config_cache.get(workspace_id).sequences.get(sequence_id)
    if known is not None:
        return known
    stored = services.workspaces.get_sequence(workspace_id, sequence_id)
    if stored is not None:
        return stored
    sequence = Sequence(sequence_id=sequence_id)
    if register:
        services.workspaces.put_sequence(workspace_id, sequence)
        services.config_cache.invalidate(workspace_id)
    return sequence


# --- enrollments -----------------------------------------------------------------------------


def enroll(services: Services, workspace_id: str, sequence_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Enroll a contact, or Conflict ``enrollment_blocked`` with every reason (R11)."""
    from chalicelib.services.contacts import contact_states
    from chalicelib.services.send_check import policy_for

    require_id(sequence_id, "sequence_id")
    parsed = parse(EnrollBody, body)
    require_id(parsed.contact_id, "contact_id")
    if parsed.audience_id is not None:
        require_id(parsed.audience_id, "audience_id")
    contact = services.contacts.get(workspace_id, parsed.contact_id)
    if contact is None:
        raise NotFound("contact not found", fields={"contact_id": "no such contact"})
    sequence = sequence_for(services, workspace_id, sequence_id, register=True)
    store = services.enrollments
    company = contact.company_domain
    for _attempt in range(3):
        previous = store.get(workspace_id, sequence_id, parsed.contact_id)
        company_count = (
            store.count_active_for_company(workspace_id, sequence_id, company)
            if company and sequence.max_enrollments_per_company is not None
            else 0
        )
        recipient = Recipient(
            parsed.contact_id, match_subject(contact, Target()), contact_states(services, contact), previous
        )
        policy = policy_for(services.config_cache.get(workspace_id))
        now = services.clock()
        blocked_by = decide_enrollment(
            recipient,
            sequence,
            policy,
            now,
            audience_id=parsed.audience_id,
            company_active_enrollments=company_count,
        )
        if blocked_by:
            raise Conflict("enrollment refused", code="enrollment_blocked", extra={"blocked_by": blocked_by})
        try:
            enrollment = store.enroll(
                workspace_id,
                sequence_id,
                parsed.contact_id,
                previous=previous,
                audience_id=parsed.audience_id,
                mode=parsed.mode,
                company_domain=company,
                at=iso(now),
            )
        except EnrollmentChanged:
            continue
        return enrollment_view(enrollment)
    raise ConcurrentUpdate("the enrollment kept changing; retry")


def enrollment_view(enrollment: Enrollment) -> dict[str, Any]:
    view = {
        "contact_id": enrollment.contact_id,
        "sequence_id": enrollment.sequence_id,
        "status": enrollment.status,
        "audience_id": enrollment.audience_id,
        "mode": enrollment.mode,
        "enrolled_at": enrollment.enrolled_at,
        "unenrolled_at": enrollment.unenrolled_at,
        "unenroll_reason": enrollment.unenroll_reason,
    }
    return {name: value for name, value in view.items() if value is not None}


def unenroll(services: Services, workspace_id: str, sequence_id: str, contact_id: str) -> dict[str, Any]:
    """Unenroll one contact (starts the re-enrollment cooldown); repeating it changes nothing."""
    require_id(sequence_id, "sequence_id")
    require_id(contact_id, "contact_id")
    store = services.enrollments
    enrollment = store.get(workspace_id, sequence_id, contact_id)
    if enrollment is None:
        raise NotFound("enrollment not found", fields={"contact_id": "not enrolled in this sequence"})
    store.unenroll_one(enrollment, iso(services.clock()), REASON_MANUAL_UNENROLL)
    return enrollment_view(store.get(workspace_id, sequence_id, contact_id) or enrollment)


def list_enrollments(services: Services, workspace_id: str, sequence_id: str, params: dict[str, str]) -> dict[str, Any]:
    require_id(sequence_id, "sequence_id")
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidInput("invalid status", fields={"status": "active or unenrolled"})
    try:
        limit = int(params.get("limit") or MAX_PAGE)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("invalid limit", fields={"limit": f"1 to {MAX_PAGE}"})
    start = decode_cursor(params.get("cursor"))
    found, last = services.enrollments.page(workspace_id, sequence_id, status, limit=limit, start_key=start)
    return {"enrollments": [enrollment_view(enrollment) for enrollment in found], "next": encode_cursor(last)}


def unenroll_contacts(
    services: Services, workspace_id: str, contact_ids: list[str], sequence_id: str | None, reason: str
) -> int:
    """Take contacts out of one sequence, or (``sequence_id=None``) out of every sequence they
    are actively enrolled in (by_contact index). Returns how many enrollments ended here; more
    than INLINE_UNENROLL_LIMIT contacts are handed to a queued job (and 0 is returned)."""
    ids = [cid for cid in dict.fromkeys(contact_ids) if is_valid_id(cid)]
    if not ids:
        return 0
    if len(ids) > INLINE_UNENROLL_LIMIT:
        from chalicelib.services.jobs import start_unenroll_job

        for start in range(0, len(ids), 1000):
            source = {"by": "contacts", "contact_ids": ids[start : start + 1000], "sequence_id": sequence_id}
            start_unenroll_job(services, workspace_id, source, reason)
        return 0
    store = services.enrollments
    if sequence_id is not None:
        found = list(store.get_many((workspace_id, sequence_id, cid) for cid in ids).values())
    else:
        found = [enrollment for cid in ids for enrollment in store.active_for_contact(workspace_id, cid)]
    at = iso(services.clock())
    return sum(1 for e in found if e.status == ACTIVE and store.unenroll_one(e, at, reason))


def unenroll_on_do_not_contact(services: Services, workspace_id: str, result: DndResult) -> None:
    """DND follow-up (``services.follow_ups``): a contact marked do-not-contact leaves every sequence (R11),
    unless the person chose to leave one sequence only (R5); the caller handles that one."""
    if result.sequence_scope is not None:
        return
    if not result.contact_ids or not any(entry.get("action") == "enabled" for entry in result.audit):
        return
    if not is_do_not_contact(result.states):
        return
    count = unenroll_contacts(services, workspace_id, result.contact_ids, None, REASON_DO_NOT_CONTACT)
    logger.info("do-not-contact unenrollment", extra={"workspace_id": workspace_id, "unenrolled": count})
