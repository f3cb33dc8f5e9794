"""Send-check (R4): load every record in at most two DynamoDB requests for one recipient
and four for a batch of 100, then ask the pure verdict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.logic.exclusions import CompiledRule, compile_rules
from chalicelib.logic.normalize import is_valid_id
from chalicelib.logic.verdict import CheckRequest, Policy, Recipient, decide_send
from chalicelib.models.domain import CHANNEL_ADDRESS, Channel, DndState, Purpose, Topic
from chalicelib.observability import record_send_check
from chalicelib.services.context import Services, utcnow
from chalicelib.services.recipients import Target, address_pk, contact_address_pks, match_subject, parse_target
from chalicelib.services.workspaces import pydantic_fields
from chalicelib.store import keys
from chalicelib.store.batch import batch_get
from chalicelib.store.items import to_item
from chalicelib.store.workspaces import WorkspaceConfig

MAX_BATCH = 100


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    channel: Channel
    mode: Literal["automated", "manual"] = "automated"
    sequence_id: str | None = Field(default=None, min_length=1, max_length=128)
    audience_id: str | None = Field(default=None, min_length=1, max_length=128)
    topic_id: str | None = Field(default=None, min_length=1, max_length=128)
    purpose: Purpose = "marketing"


def policy_for(config: WorkspaceConfig) -> Policy:
    compiled: list[CompiledRule] | None = getattr(config, "_compiled_rules", None)
    if compiled is None:
        compiled = compile_rules(config.rules)
        config._compiled_rules = compiled  # type: ignore[attr-defined]
    return Policy(config.settings, compiled, config.sequences, config.audiences)


def _parse(
    services: Services, body: Any, region: str, prefix: str, topics: dict[str, Topic]
) -> tuple[CheckBody, Target]:
    if not isinstance(body, dict):
        raise InvalidInput("a check must be an object", fields={prefix.rstrip(".") or "body": "must be an object"})
    try:
        check = CheckBody.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput("invalid send-check", fields=pydantic_fields(exc, prefix)) from None
    target = parse_target(body, region, prefix)
    for name in ("sequence_id", "audience_id", "topic_id"):
        value = getattr(check, name)
        if value is not None and not is_valid_id(value):
            raise InvalidInput(f"invalid {name}", fields={prefix + name: "1-128 of A-Z a-z 0-9 _ . : @ + -"})
    # A deleted topic is still known (its unsubscribes keep blocking); a never-defined one is a typo.
    if check.topic_id is not None and check.topic_id not in topics:
        raise InvalidInput(f"unknown topic {check.topic_id}", fields={prefix + "topic_id": "no such topic"})
    if target.contact_id is None:
        needed = CHANNEL_ADDRESS.get(check.channel)
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
    return check, target


def check_many(
    services: Services, workspace_id: str, bodies: list[Any], *, single: bool = False
) -> list[dict[str, Any]]:
    config = services.config_cache.get(workspace_id)
    region = config.settings.default_phone_region
    parsed = [
        _parse(services, body, region, "" if single else f"checks[{i}].", config.topics)
        for i, body in enumerate(bodies)
    ]
    contacts = _load_contacts(services, workspace_id, [t.contact_id for _, t in parsed if t.contact_id])

    # Second round trip: every address item and enrollment the checks need, in one batch (<= 100 keys/request).
    dnd_table, enrollments_table = services.config.dnd_table, services.config.enrollments_table
    wanted: dict[str, list[dict[str, Any]]] = {dnd_table: [], enrollments_table: []}
    plans: list[tuple[CheckBody, Target, dict[str, Any] | None, list[str]]] = []
    for check, target in parsed:
        contact = contacts.get(target.contact_id) if target.contact_id else None
        if target.contact_id and contact is None:
            plans.append((check, target, None, []))
            continue
        if contact is not None:
            pks = list(contact_address_pks(contact).values())
        elif target.email:
            pks = [address_pk(services, workspace_id, "email", target.email)]
        else:
            pks = [address_pk(services, workspace_id, "phone", target.phone or "")]
        wanted[dnd_table].extend(to_item({"pk": pk}) for pk in pks)
        if check.sequence_id and target.contact_id:
            wanted[enrollments_table].append(
                to_item({"pk": keys.enrollment_pk(workspace_id, check.sequence_id), "sk": target.contact_id})
            )
        plans.append((check, target, contact, pks))
    found = batch_get({t: k for t, k in wanted.items() if k}) if any(wanted.values()) else {}
    addresses = {item["pk"]: item for item in found.get(dnd_table, [])}
    enrollments = {(item["pk"], item["sk"]): item for item in found.get(enrollments_table, [])}

    policy = policy_for(config)
    now = utcnow()
    results: list[dict[str, Any]] = []
    for check, target, contact, pks in plans:
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
        states = [DndState.model_validate((contact or {}).get("dnd") or {})]
        states.extend(DndState.model_validate(addresses[pk].get("dnd") or {}) for pk in pks if pk in addresses)
        enrollment = None
        if check.sequence_id and target.contact_id:
            enrollment = enrollments.get((keys.enrollment_pk(workspace_id, check.sequence_id), target.contact_id))
        recipient = Recipient(target.contact_id, match_subject(contact, target), states, enrollment)
        request = CheckRequest(
            check.channel, check.mode, check.sequence_id, check.audience_id, check.topic_id, check.purpose
        )
        results.append(decide_send(request, recipient, policy, now))
    record_send_check(results)
    return results


def _load_contacts(services: Services, workspace_id: str, contact_ids: list[str]) -> dict[str, dict[str, Any]]:
    """First round trip: the contacts (consistent), one GetItem for one, one BatchGetItem for many."""
    unique = list(dict.fromkeys(contact_ids))
    if not unique:
        return {}
    if len(unique) == 1:
        item = services.contacts.get(workspace_id, unique[0])
        return {unique[0]: item} if item else {}
    table = services.config.contacts_table
    found = batch_get({table: [to_item({"pk": keys.contact_pk(workspace_id, cid)}) for cid in unique]})
    return {item["contact_id"]: item for item in found.get(table, []) if not item.get("deleted")}


def check_one(services: Services, workspace_id: str, body: Any) -> dict[str, Any]:
    return check_many(services, workspace_id, [body], single=True)[0]


def check_batch(services: Services, workspace_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("checks"), list):
        raise InvalidInput("checks must be a list", fields={"checks": "required list of send-check bodies"})
    checks = body["checks"]
    if not checks or len(checks) > MAX_BATCH:
        raise InvalidInput(f"1 to {MAX_BATCH} checks per batch", fields={"checks": f"1 to {MAX_BATCH} items"})
    return {"results": check_many(services, workspace_id, checks)}
