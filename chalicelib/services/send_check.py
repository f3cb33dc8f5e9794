"""Send-check (R4, R16): load every record in at most two DynamoDB requests for one recipient
and four for a batch of 100, in at most two sequential rounds, then ask the pure verdict.

Round 1 reads every key the request itself names: the contacts, raw addresses, and -- for a check
that names ``contact_id`` plus the address it will use -- that address item and the enrollment.
Round 2 reads what only the contacts reveal (their address items, enrollments). A check by
contact + its own address therefore costs one ``BatchGetItem``; when the address given is not the
contact's, the check falls back to round 2 and the contact's own addresses. Each round's requests
(<= 100 keys each) go out concurrently (``store.batch.batch_get``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.logic.verdict import CheckRequest, Policy, Recipient, decide_send
from chalicelib.models.domain import CHANNEL_ADDRESS, AddressKind, DndState, Topic
from chalicelib.models.records import Contact
from chalicelib.models.requests import CheckBody, SendCheckBatchBody, parse, require_id
from chalicelib.observability import record_send_check
from chalicelib.services.context import Services
from chalicelib.services.recipients import Target, address_pk, contact_address_pks, match_subject, parse_target
from chalicelib.store.workspaces import WorkspaceConfig


def policy_for(config: WorkspaceConfig) -> Policy:
    return Policy(config.settings, config.compiled_rules, config.sequences, config.audiences)


def parse_send_at(value: str | None, field_name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            "invalid send_at", fields={field_name: "ISO 8601 date-time with an offset or Z, e.g. 2025-01-31T21:30:00Z"}
        )
    return moment.astimezone(UTC)


@dataclass
class _Check:
    """One parsed check. ``given``: the address pks the check names besides its ``contact_id``."""

    body: CheckBody
    target: Target
    named: dict[AddressKind, str] = field(default_factory=dict)  # normalized, as the request named them
    given: dict[AddressKind, str] = field(default_factory=dict)  # their address pks
    contact: Contact | None = None
    pks: list[str] = field(default_factory=list)  # the address items its verdict reads
    enrollment_key: tuple[str, str] | None = None  # (sequence_id, contact_id)


def _target(body: dict[str, Any], region: str, prefix: str) -> tuple[Target, dict[AddressKind, str]]:
    """The recipient, and the addresses (normalized) named with a contact_id (R16 round trips)."""
    named = [k for k in ("email", "phone") if body.get(k) not in (None, "")]
    if body.get("contact_id") in (None, "") or not named:
        return parse_target(body, region, prefix), {}
    target = parse_target({"contact_id": body["contact_id"]}, region, prefix)
    given: dict[AddressKind, str] = {}
    for kind in named:
        address = parse_target({kind: body[kind]}, region, prefix)
        given["email" if kind == "email" else "phone"] = address.email or address.phone or ""
    return target, given


def _parse(services: Services, body: Any, region: str, prefix: str, topics: dict[str, Topic]) -> _Check:
    if not isinstance(body, dict):
        raise InvalidInput("a check must be an object", fields={prefix.rstrip(".") or "body": "must be an object"})
    check = parse(CheckBody, body, prefix=prefix)
    target, given = _target(body, region, prefix)
    parse_send_at(check.send_at, prefix + "send_at")
    for name in ("sequence_id", "audience_id", "topic_id"):
        value = getattr(check, name)
        if value is not None:
            require_id(value, name, prefix=prefix)
    # A deleted topic is still known (its unsubscribes keep blocking); a never-defined one is a typo.
    if check.topic_id is not None and check.topic_id not in topics:
        raise InvalidInput(f"unknown topic {check.topic_id}", fields={prefix + "topic_id": "no such topic"})
    needed = CHANNEL_ADDRESS.get(check.channel)
    if given and needed is not None and needed not in given:
        raise InvalidInput(
            f"channel {check.channel} is sent to the contact's {needed}",
            fields={prefix + needed: f"give the {needed} this {check.channel} goes to, or no address"},
        )
    if target.contact_id is None:
        if needed != ("email" if target.email else "phone"):
            raise InvalidInput(
                f"channel {check.channel} cannot be checked by {target.field}",
                fields={prefix + "channel": f"needs {'contact_id' if needed is None else needed} for this channel"},
            )
        if check.sequence_id is not None:
            raise InvalidInput(
                "enrollment is per contact: a check with sequence_id needs contact_id",
                fields={prefix + "sequence_id": "requires contact_id"},
            )
    return _Check(check, target, named=given)


def check_many(
    services: Services, workspace_id: str, bodies: list[Any], *, single: bool = False
) -> list[dict[str, Any]]:
    config = services.config_cache.get(workspace_id)
    region = config.settings.default_phone_region
    checks = [
        _parse(services, body, region, "" if single else f"checks[{i}].", config.topics)
        for i, body in enumerate(bodies)
    ]
    for check in checks:
        check.given = {kind: address_pk(services, workspace_id, kind, a) for kind, a in check.named.items()}
        if check.body.sequence_id and check.target.contact_id:
            check.enrollment_key = (check.body.sequence_id, check.target.contact_id)

    # Round 1: every key the request names.
    contact_ids = list(dict.fromkeys(c.target.contact_id for c in checks if c.target.contact_id))
    first_addresses: list[str] = []
    first_enrollments: list[tuple[str, str]] = []
    for check in checks:
        if check.given:
            first_addresses.extend(check.given.values())
            if check.enrollment_key:
                first_enrollments.append(check.enrollment_key)
        elif check.target.contact_id is None:
            kind: AddressKind = "email" if check.target.email else "phone"
            check.pks = [address_pk(services, workspace_id, kind, check.target.email or check.target.phone or "")]
            first_addresses.extend(check.pks)
    found = services.check_records.load_check_records(
        workspace_id, contact_ids=contact_ids, address_pks=first_addresses, enrollments=first_enrollments
    )

    # Round 2: what only the contacts reveal -- their address items and enrollments.
    second_addresses: list[str] = []
    second_enrollments: list[tuple[str, str]] = []
    for check in checks:
        if check.target.contact_id is None:
            continue
        check.contact = found.contacts.get(check.target.contact_id)
        if check.contact is None:
            continue
        own = contact_address_pks(check.contact)
        if check.given and all(own.get(kind) == pk for kind, pk in check.given.items()):
            check.pks = list(check.given.values())  # the contact's own: read in round 1
            continue
        check.pks = list(own.values())
        second_addresses.extend(pk for pk in check.pks if pk not in found.addresses)
        if check.enrollment_key and check.enrollment_key not in found.enrollments:
            second_enrollments.append(check.enrollment_key)
    if second_addresses or second_enrollments:
        found.merge(
            services.check_records.load_check_records(
                workspace_id, address_pks=second_addresses, enrollments=second_enrollments
            )
        )

    policy = policy_for(config)
    now = services.clock()
    results: list[dict[str, Any]] = []
    for check in checks:
        target, contact = check.target, check.contact
        if target.contact_id and contact is None:
            if single:
                raise NotFound("contact not found", fields={"contact_id": "no such contact"})
            results.append(
                {
                    "allowed": False,
                    "dnd_status": "unknown",
                    "blocked_by": [],
                    "warnings": [],
                    "error": "contact_not_found",
                }
            )
            continue
        states = [DndState.model_validate(contact.dnd if contact else {})]
        states.extend(
            DndState.model_validate(found.addresses[pk].get("dnd") or {}) for pk in check.pks if pk in found.addresses
        )
        enrollment = found.enrollments.get(check.enrollment_key) if check.enrollment_key else None
        # Quiet hours (R17) place the number the send will use: the one the check names, else the contact's.
        phone = check.named.get("phone") or (contact.phone if contact else None) or target.phone
        recipient = Recipient(target.contact_id, match_subject(contact, target), states, enrollment, phone=phone)
        body = check.body
        request = CheckRequest(
            body.channel,
            body.mode,
            body.sequence_id,
            body.audience_id,
            body.topic_id,
            body.purpose,
            send_at=parse_send_at(body.send_at, "send_at"),
        )
        results.append(decide_send(request, recipient, policy, now))
    record_send_check(results)
    return results


def check_one(services: Services, workspace_id: str, body: Any) -> dict[str, Any]:
    return check_many(services, workspace_id, [body], single=True)[0]


def check_batch(services: Services, workspace_id: str, body: Any) -> dict[str, Any]:
    """POST /v1/send-check/batch: 1 to MAX_BATCH checks, each refused field named checks[<i>].<name>."""
    return {"results": check_many(services, workspace_id, parse(SendCheckBatchBody, body).checks)}
