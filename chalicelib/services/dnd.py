"""Recording DND changes from every path (R2, R3, R12): one function, atomic, exactly once.

Follow-ups (the dnd.changed events, then ``services.follow_ups``: CRM write-back, unenroll on
do-not-contact; listed in chalicelib/services/context.py) go through a transactional outbox: the
change's transaction also stores an outbox item describing them; the request runs them and deletes
the item; if anything fails (or the process dies) the item stays and
``chalicelib.services.outbox.sweep_outbox`` re-runs it after a grace period.
Every follow-up is idempotent, so a re-run is harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.errors import ConcurrentUpdate, InvalidInput, NotFound
from chalicelib.logic.dnd_rules import reasons_to_clear, with_entry, without_reasons
from chalicelib.models.domain import (
    CHANNEL_ADDRESS,
    CHANNELS,
    REASON_MANUAL,
    AddressKind,
    Direction,
    DndEntry,
    DndState,
    Kind,
    Source,
    address_channels,
)
from chalicelib.models.records import Contact
from chalicelib.models.requests import AuditSearchBody, DndBody, parse
from chalicelib.observability import SERVICE, record_dnd_change
from chalicelib.services.context import Services, iso
from chalicelib.services.recipients import Target, address_pk, contact_address_pks
from chalicelib.store import keys
from chalicelib.store.dnd import AuditRecord, DuplicateEvent, Subject, contact_dnd_subject, subject_from_item

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids
MAX_ATTEMPTS = 6
# How long the request path has to finish (and delete) its own outbox item before the sweeper
# takes it over; far above the API's 30 s Lambda timeout, so the two never run it at once.
OUTBOX_GRACE_SECONDS = 60
# Free text a person types (reason, evidence): R15 allows up to 500 characters.
VIA_VALUES = "phone, dialer, in_person, email, chat, letter or other"
REASON_CONTACT_REQUEST = "contact_request"
# Audit fields the follow-ups read (events and hooks). Actor, evidence and note stay out of the
# outbox: they are stored with the audit entry, and the outbox needs no personal data.
_FOLLOW_UP_FIELDS = ("at", "channel", "direction", "action", "reason", "kind", "source", "topic_id")


@dataclass(frozen=True)
class DndChange:
    workspace_id: str
    target: Target
    direction: Direction
    channels: tuple[str, ...]
    action: str  # enable | disable
    source: Source
    reason: str
    kind: Kind = "temporary"
    actor: str | None = None
    evidence: str | None = None
    note: str | None = None
    via: str | None = None  # how the contact said it (source contact recorded by a person, R15)
    only_reasons: frozenset[str] | None = None
    event_id: str | None = None  # natural id of the delivery (Twilio MessageSid, SES messageId+recipient)
    # The one sequence a person chose to leave ("this sequence only", R5): the caller unenrolls
    # from it, and the follow-ups must not widen that to every sequence.
    sequence_scope: str | None = None
    # More TransactWriteItems entries that must land with the change or not at all (e.g. the
    # conditional resolution of the flag a person resolved as an opt-out).
    extra_items: tuple[dict[str, Any], ...] = ()
    # When the opt-out was first recorded elsewhere (imports, R18): the entry and its audit keep
    # this time, and the audit entry says it was imported (and when). None: now.
    at: str | None = None
    # Set by an unsubscribe link (R3, R5): if its contact has been erased since the link was minted,
    # the contact's tombstone plus these address keys (carried by the link as keyed hashes) stand in
    # for it, so the opt-out still lands and still suppresses the addresses.
    erased_address_pks: dict[AddressKind, str] | None = None


@dataclass
class DndResult:
    changed: bool
    duplicate: bool
    states: list[DndState]
    contact: Contact | None
    audit: list[dict[str, Any]] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)
    sequence_scope: str | None = None
    # The keyed hashes of the addresses the change is about (``{"email": pk, "phone": pk}``), set
    # from the outbox item before the follow-ups run; no address.
    address_pks: dict[str, str] = field(default_factory=dict)


def _load_subjects(services: Services, change: DndChange) -> tuple[Contact | None, dict[str, Subject]]:
    return load_target_subjects(services, change.workspace_id, change.target, change.erased_address_pks)


def load_target_subjects(
    services: Services, ws: str, target: Target, erased_address_pks: dict[AddressKind, str] | None = None
) -> tuple[Contact | None, dict[str, Subject]]:
    """Subjects covering the target: 'contact' and/or 'email'/'phone' address subjects.
    ``erased_address_pks`` (unsubscribe links, R3): if the contact was erased, its tombstone and
    these address keys stand in for it."""
    contact = None
    address_pks: dict[AddressKind, str] = {}
    if target.contact_id:
        contact = services.contacts.get(ws, target.contact_id)
        if contact is not None:
            address_pks = contact_address_pks(contact)
        elif erased_address_pks is not None:
            contact = services.contacts.get_raw(ws, target.contact_id)  # the tombstone
            address_pks = dict(erased_address_pks)
        if contact is None:
            raise NotFound("contact not found", fields={"contact_id": "no such contact"})
    elif target.email:
        address_pks = {"email": address_pk(services, ws, "email", target.email)}
    elif target.phone:
        address_pks = {"phone": address_pk(services, ws, "phone", target.phone)}
    elif target.address_key and target.address_kind:
        address_pks = {target.address_kind: target.address_key}
    items = services.dnd.get_address_items(list(address_pks.values()))
    subjects: dict[str, Subject] = {}
    if contact is not None:
        subjects["contact"] = contact_dnd_subject(services.config.contacts_table, contact)
    for kind, pk in address_pks.items():
        subjects[kind] = subject_from_item(services.config.dnd_table, pk, pk, ws, items.get(pk))
    return contact, subjects


def _home_subject(subjects: dict[str, Subject], direction: Direction, channel: str | None) -> Subject | None:
    """Where a new entry is stored: the channel's address if known, else the contact."""
    kind = "phone" if direction == "inbound" else CHANNEL_ADDRESS.get(channel or "")
    if kind and kind in subjects:
        return subjects[kind]
    return subjects.get("contact")


def _audit_entry(
    change: DndChange, channel: str | None, action: str, reason: str, kind: str, at: str, now: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "at": at,
        "channel": channel if change.direction == "outbound" else "all",
        "direction": change.direction,
        "action": action,
        "reason": reason,
        "kind": kind,
        "source": change.source,
        "actor": change.actor,
    }
    if change.evidence:
        entry["evidence"] = change.evidence
    if change.note:
        entry["note"] = change.note
    if change.via:
        entry["via"] = change.via
    if change.target.contact_id:
        entry["contact_id"] = change.target.contact_id
    if change.event_id:
        entry["event_id"] = change.event_id
    if change.at:
        entry["imported"] = True
        entry["imported_at"] = now
    return entry


def _plan(change: DndChange, subjects: dict[str, Subject], at: str) -> tuple[list[Subject], list[AuditRecord]]:
    """New subject states and audit records for the change, or DndClearRefused. ``at``: now."""
    now, at = at, change.at or at
    changed: dict[str, Subject] = {}
    audit: list[AuditRecord] = []
    channels: tuple[str | None, ...] = (None,) if change.direction == "inbound" else change.channels

    def current(name: str) -> Subject:
        return changed.get(name) or subjects[name]

    for channel in channels:
        if change.action == "enable":
            home = _home_subject(subjects, change.direction, channel)
            if home is None:
                raise InvalidInput(
                    f"no {CHANNEL_ADDRESS.get(channel or '', 'contact')} to suppress for channel {channel}",
                    fields={"channel": "the recipient has no address for this channel"},
                )
            name = next(n for n, s in subjects.items() if s is home)
            entry = DndEntry(reason=change.reason, kind=change.kind, source=change.source, actor=change.actor, at=at)
            updated = with_entry(current(name).state, change.direction, channel, entry)
            if updated is not None:
                changed[name] = Subject(**{**current(name).__dict__, "state": updated})
                entry_enabled = _audit_entry(change, channel, "enabled", change.reason, change.kind, at, now)
                audit.append(AuditRecord(home.audit_pk, at, entry_enabled))
            continue
        active: dict[str, DndEntry] = {}
        for name in subjects:
            active.update(current(name).state.entries(change.direction, channel))
        clear = reasons_to_clear(
            active, source=change.source, evidence=change.evidence, only_reasons=change.only_reasons
        )
        for name in list(subjects):
            updated = without_reasons(current(name).state, change.direction, channel, clear)
            if updated is not None:
                changed[name] = Subject(**{**current(name).__dict__, "state": updated})
        home = _home_subject(subjects, change.direction, channel) or next(iter(subjects.values()))
        for reason in sorted(clear):
            entry_disabled = _audit_entry(change, channel, "disabled", reason, active[reason].kind, at, now)
            audit.append(AuditRecord(home.audit_pk, at, entry_disabled))
    return list(changed.values()), audit


def apply_dnd_change(services: Services, change: DndChange) -> DndResult:
    """Set or clear DND. Atomic (subjects + audit + exactly-once marker + outbox item in one
    transaction), retried on concurrent updates; raises DndClearRefused (409) or StoreUnavailable (503)."""
    marker = f"evt#{change.workspace_id}#{change.event_id}" if change.event_id else None
    for _attempt in range(MAX_ATTEMPTS):
        contact, subjects = _load_subjects(services, change)
        if not subjects:
            raise InvalidInput("nothing to suppress", fields={change.target.field: "unknown recipient"})
        at = iso(services.clock())
        changed, audit = _plan(change, subjects, at)
        if marker and not changed and services.dnd.is_processed(marker):
            return DndResult(False, True, [s.state for s in subjects.values()], contact)
        by_pk = {subject.pk: subject for subject in changed}
        final = {name: by_pk.get(s.pk, s) for name, s in subjects.items()}
        states = [s.state for s in final.values()]
        outbox = _outbox_item(services, "change", change, subjects, [r.entry for r in audit], states) if audit else None
        extra = [services.outbox.put_action(outbox)] if outbox else []
        try:
            services.dnd.commit(
                changed,
                audit,
                marker_id=marker if (changed or audit) else None,
                extra_updates=extra + list(change.extra_items),
            )
        except DuplicateEvent:
            # Already applied: its follow-ups are done, or pending in its outbox item (the sweeper's).
            return DndResult(False, True, [s.state for s in subjects.values()], contact)
        except ConcurrentUpdate:
            continue
        result = DndResult(
            changed=bool(changed),
            duplicate=False,
            states=states,
            contact=contact,
            audit=[record.entry for record in audit],
            sequence_scope=change.sequence_scope,
        )
        if outbox is not None:
            record_dnd_change(result.audit)
            _complete(services, outbox, result)
        return result
    raise ConcurrentUpdate("the record kept changing; retry")


# At most this many items in one TransactWriteItems request (DynamoDB's limit).
MAX_TRANSACTION_ITEMS = 100
_Group = tuple[list[int], list[dict[str, Any]], list[dict[str, Any]]]  # change indexes, actions, outbox payloads


def apply_dnd_changes(services: Services, changes: list[DndChange]) -> list[str]:
    """Enable DND for many address targets at once (imports, R18) through the same rules, records
    and transaction shape as ``apply_dnd_change``, batched: one read of the markers and one of the
    address items for the whole batch, then transactions of up to 100 items, each holding whole
    changes (subject update, index items, audit entries, exactly-once markers) and one outbox item
    for the follow-ups of all of them. A change is either fully written or not at all. A transaction
    that is refused (a concurrent change, a marker written meanwhile) falls back to
    ``apply_dnd_change`` for each of its changes.

    Returns per change: ``applied`` | ``unchanged`` | ``duplicate`` | ``rejected: <why>``."""
    outcomes = ["" for _ in changes]
    for change in changes:
        if change.action != "enable" or not change.event_id or not change.target.address_key:
            raise ValueError("apply_dnd_changes takes enables of address targets with an event id")
    markers = [f"evt#{c.workspace_id}#{c.event_id}" for c in changes]
    done = services.dnd.processed_markers(markers)
    seen: set[str] = set()
    pending: list[int] = []
    for index, marker in enumerate(markers):
        if marker in done or marker in seen:
            outcomes[index] = "duplicate"
        else:
            seen.add(marker)
            pending.append(index)
    items = services.dnd.get_address_items([changes[i].target.address_key or "" for i in pending])
    # Plan per address, in file order: later rows see the entries earlier rows added.
    by_address: dict[str, list[int]] = {}
    for index in pending:
        by_address.setdefault(changes[index].target.address_key or "", []).append(index)
    groups: list[_Group] = []
    for pk, indexes in by_address.items():
        group = _plan_address(services, pk, indexes, changes, items.get(pk), markers, outcomes)
        if group is not None:
            groups.append(group)
    outbox_store = services.outbox
    committed: list[dict[str, Any]] = []
    for batch in _transactions(groups):
        indexes = [i for group in batch for i in group[0]]
        actions = [a for group in batch for a in group[1]]
        payloads = [p for group in batch for p in group[2]]
        outbox = outbox_store.item(
            changes[indexes[0]].workspace_id,
            uuid.uuid4().hex,
            int(services.clock().timestamp()) + OUTBOX_GRACE_SECONDS,
            {"kind": "batch", "changes": payloads, "created_at": iso(services.clock())},
        )
        actions.append(outbox_store.put_action(outbox))
        if len(actions) <= MAX_TRANSACTION_ITEMS and services.dnd.transact(actions) is None:
            committed.append(outbox)
            for index in indexes:
                outcomes[index] = "applied"
            continue
        for index in indexes:  # refused, or one address with too many rows: one change at a time
            try:
                result = apply_dnd_change(services, changes[index])
            except InvalidInput as exc:
                outcomes[index] = f"rejected: {exc.message}"
                continue
            outcomes[index] = "duplicate" if result.duplicate else "applied" if result.audit else "unchanged"
    _complete_batches(services, committed)
    return outcomes


def _plan_address(
    services: Services,
    pk: str,
    indexes: list[int],
    changes: list[DndChange],
    item: dict[str, Any] | None,
    markers: list[str],
    outcomes: list[str],
) -> _Group | None:
    """The writes of every change of one address, planned one after the other (None: nothing to write)."""
    first = changes[indexes[0]]
    kind = first.target.address_kind or "email"
    original = subject_from_item(services.config.dnd_table, pk, pk, first.workspace_id, item)
    current = original
    audit: list[AuditRecord] = []
    payloads: list[dict[str, Any]] = []
    applied: list[int] = []
    now = iso(services.clock())
    for index in indexes:
        change = changes[index]
        try:
            changed, records = _plan(change, {kind: current}, now)
        except InvalidInput as exc:
            outcomes[index] = f"rejected: {exc.message}"
            continue
        if not records:
            outcomes[index] = "unchanged"
            continue
        if changed:
            current = changed[0]
        audit.extend(records)
        payloads.append(
            _outbox_payload("change", change, {kind: current}, [r.entry for r in records], [current.state], now)
        )
        applied.append(index)
    if not applied:
        return None
    actions = services.dnd.change_actions(
        [current] if current is not original else [], audit, markers=[markers[index] for index in applied]
    )
    return applied, actions, payloads


def _transactions(groups: list[_Group]) -> list[list[_Group]]:
    """Whole address groups packed into transactions of at most MAX_TRANSACTION_ITEMS items (one
    kept for the outbox item)."""
    packed: list[list[_Group]] = []
    size = 0
    for group in groups:
        if not packed or size + len(group[1]) > MAX_TRANSACTION_ITEMS - 1:
            packed.append([])
            size = 0
        packed[-1].append(group)
        size += len(group[1])
    return packed


def _complete_batches(services: Services, outboxes: list[dict[str, Any]]) -> None:
    """Follow-ups of committed batches; the completed outbox items are deleted in batches. Never
    raises: what fails stays for the sweeper."""
    finished = []
    holders = None  # the contacts of every address of these batches, in one lookup
    workspaces = {outbox["ws"] for outbox in outboxes}
    if len(workspaces) == 1:
        try:
            holders = services.contacts.contact_ids_with_addresses(
                workspaces.pop(), _addresses([p for outbox in outboxes for p in outbox["changes"]])
            )
        except Exception:  # each batch looks its contacts up again below
            logger.exception("finding the contacts of dnd changes failed")
    for outbox in outboxes:
        for payload in outbox["changes"]:
            record_dnd_change(payload["entries"])
        if run_follow_ups(services, outbox, holders=holders):
            finished.append(outbox["pk"])
    try:
        services.outbox.delete_many(finished)
    except Exception:  # the sweeper re-runs them (idempotently) and deletes them then
        logger.exception("deleting completed dnd outbox items failed")


def _run_batch_follow_ups(
    services: Services, outbox: dict[str, Any], holders: dict[str, list[str]] | None = None
) -> bool:
    """The follow-ups of a batch outbox item: the contacts of every change (one lookup for the
    batch), every event in PublishBatch calls of 10, then the hooks per change."""
    ws = outbox["ws"]
    payloads = list(outbox.get("changes") or [])
    try:
        contact_ids = _batch_contacts(services, ws, payloads, holders)
    except Exception:
        logger.exception("finding the contacts of dnd changes failed")
        return False
    ok = True
    events = [
        event
        for n, (payload, ids) in enumerate(zip(payloads, contact_ids, strict=True))
        for event in _events(ws, f"{outbox['outbox_id']}-{n}", payload.get("entries") or [], ids)
    ]
    try:
        services.events.publish(events)
    except Exception:  # the change is stored; a lost notification must not fail the import
        logger.exception("publishing dnd events failed")
        ok = False
    for payload, ids in zip(payloads, contact_ids, strict=True):
        result = DndResult(
            changed=True,
            duplicate=False,
            states=[DndState.model_validate(s) for s in payload.get("states") or []],
            contact=None,
            audit=list(payload.get("entries") or []),
            contact_ids=ids,
            address_pks=dict(payload.get("address_pks") or {}),
        )
        ok = _run_hooks(services, ws, result) and ok
    return ok


def _addresses(payloads: list[dict[str, Any]]) -> dict[str, str]:
    return {pk: kind for p in payloads for kind, pk in (p.get("address_pks") or {}).items()}


def _batch_contacts(
    services: Services, ws: str, payloads: list[dict[str, Any]], holders: dict[str, list[str]] | None = None
) -> list[list[str]]:
    """``_affected_contacts`` of every change of a batch, from one lookup of all their addresses
    (``holders``: that lookup, made for several batches at once)."""
    addresses = _addresses(payloads)
    if holders is None or not addresses.keys() <= holders.keys():
        holders = services.contacts.contact_ids_with_addresses(ws, addresses)
    found = []
    for payload in payloads:
        ids = [payload["contact_id"]] if payload.get("contact_id") else []
        for _kind, pk in sorted((payload.get("address_pks") or {}).items()):  # email, then phone
            ids.extend(holders[pk])
        found.append(list(dict.fromkeys(ids)))
    return found


def _outbox_item(
    services: Services,
    kind: str,
    change: DndChange,
    subjects: dict[str, Subject],
    entries: list[dict[str, Any]],
    states: list[DndState],
) -> dict[str, Any]:
    """What the follow-ups need, stored with the change: ids and hashed address keys, no address."""
    payload = _outbox_payload(kind, change, subjects, entries, states, iso(services.clock()))
    return services.outbox.item(
        change.workspace_id, uuid.uuid4().hex, int(services.clock().timestamp()) + OUTBOX_GRACE_SECONDS, payload
    )


def _outbox_payload(
    kind: str,
    change: DndChange,
    subjects: dict[str, Subject],
    entries: list[dict[str, Any]],
    states: list[DndState],
    now: str,
) -> dict[str, Any]:
    return {
        "kind": kind,  # change: events + hooks; flag: events only (a flag changes no DND)
        "entries": [{k: e[k] for k in _FOLLOW_UP_FIELDS if e.get(k) is not None} for e in entries],
        "states": [_anonymous_state(state) for state in states],
        "contact_id": change.target.contact_id,
        "address_pks": {k: subjects[k].pk for k in ("email", "phone") if k in subjects},
        "sequence_scope": change.sequence_scope,
        "created_at": entries[0]["at"] if entries else now,
    }


def _anonymous_state(state: DndState) -> dict[str, Any]:
    """A state as the hooks read it (which entries exist, from which source), without actors."""
    dumped = state.model_dump(mode="json")
    outbound = [entry for by_reason in dumped["outbound"].values() for entry in by_reason.values()]
    by_topic = [entry for by_channel in dumped.get("topics", {}).values() for entry in by_channel.values()]
    for entry in [*dumped["inbound"].values(), *outbound, *by_topic]:
        entry.pop("actor", None)
    return dumped


def _complete(services: Services, outbox: dict[str, Any], result: DndResult) -> None:
    """Run the follow-ups on the request path; delete the outbox item only if all of them succeeded.
    Never raises: the change is stored, and a failure here is the sweeper's to finish."""
    if not run_follow_ups(services, outbox, result):
        logger.warning(
            "dnd follow-ups incomplete; left to the outbox sweeper",
            extra={"workspace_id": outbox["ws"], "outbox_id": outbox["outbox_id"]},
        )
        return
    try:
        services.outbox.delete(outbox["pk"])
    except Exception:  # the sweeper re-runs it (idempotently) and deletes it then
        logger.exception("deleting a completed dnd outbox item failed")


def run_follow_ups(
    services: Services,
    outbox: dict[str, Any],
    result: DndResult | None = None,
    holders: dict[str, list[str]] | None = None,
) -> bool:
    """Publish the dnd.changed events and run every follow-up for one outbox item.
    True when all succeeded; each failure is logged and the rest still run. Idempotent: the events
    carry stable ``event_id``s, the unenroll hook is conditional, a CRM write-back writes current state."""
    if outbox.get("kind") == "batch":
        return _run_batch_follow_ups(services, outbox, holders)
    ws = outbox["ws"]
    if result is None:
        result = DndResult(
            changed=outbox.get("kind") == "change",
            duplicate=False,
            states=[DndState.model_validate(s) for s in outbox.get("states") or []],
            contact=None,
            audit=list(outbox.get("entries") or []),
            sequence_scope=outbox.get("sequence_scope"),
        )
    ok = True
    result.address_pks = dict(outbox.get("address_pks") or {})
    try:
        result.contact_ids = _affected_contacts(services, outbox.get("contact_id"), result.address_pks)
    except Exception:
        logger.exception("finding the contacts of a dnd change failed")
        return False
    try:
        _publish(services, ws, outbox["outbox_id"], outbox.get("entries") or [], result.contact_ids)
    except Exception:  # the change is stored; a lost notification must not make the sender retry
        logger.exception("publishing dnd events failed")
        ok = False
    if outbox.get("kind") != "change":
        return ok
    return _run_hooks(services, ws, result) and ok


def _run_hooks(services: Services, workspace_id: str, result: DndResult) -> bool:
    """Every follow-up of ``services.follow_ups``, in order; a failure is logged and the rest still run."""
    ok = True
    for hook in services.follow_ups:
        try:
            hook(services, workspace_id, result)
        except Exception:  # a follow-up must never undo or fail a stored opt-out
            logger.exception("dnd after-change hook failed")
            ok = False
    return ok


def _affected_contacts(services: Services, contact_id: str | None, address_pks: dict[str, str]) -> list[str]:
    ids = [contact_id] if contact_id else []
    for kind in ("email", "phone"):
        if kind in address_pks:
            ids.extend(services.contacts.contact_ids_with_address(address_pks[kind], kind))
    return list(dict.fromkeys(ids))


def _publish(
    services: Services, workspace_id: str, outbox_id: str, entries: list[dict[str, Any]], contact_ids: list[str]
) -> None:
    services.events.publish(_events(workspace_id, outbox_id, entries, contact_ids))


def _events(
    workspace_id: str, outbox_id: str, entries: list[dict[str, Any]], contact_ids: list[str]
) -> list[dict[str, Any]]:
    return [
        {
            "type": "dnd.changed",
            "version": 1,
            # Stable across re-runs of the same outbox item: consumers dedupe on it.
            "event_id": f"{outbox_id}-{index}",
            "workspace_id": workspace_id,
            "contact_ids": contact_ids,
            "channel": entry["channel"],
            "direction": entry["direction"],
            "action": entry["action"],
            "reason": entry["reason"],
            "kind": entry["kind"],
            "source": entry["source"],
            "at": entry["at"],
            # A topic subscription change (R16): about that topic only, not the channel's DND.
            **({"topic_id": entry["topic_id"]} if entry.get("topic_id") else {}),
        }
        for index, entry in enumerate(entries)
    ]


def record_flag(
    services: Services,
    workspace_id: str,
    target: Target,
    channel: str,
    reason: str,
    source: Source,
    event_id: str | None,
    note: str | None = None,
    channels: tuple[str, ...] | None = None,
    origin: str | None = None,
) -> str | None:
    """A flag a person must resolve (R15): an audit entry with action 'flagged' (no DND change),
    the flag item (due in 10 business days; ``GET /v1/flags``) and its event, in one transaction,
    exactly once. The flag keeps the keyed address hash, never the address. Returns the flag id,
    or None for a redelivery."""
    from chalicelib.logic.business_days import revocation_due_by

    change = DndChange(
        workspace_id, target, "outbound", (channel,), "flag", source, reason, note=note, event_id=event_id
    )
    contact, subjects = _load_subjects(services, change)
    home = _home_subject(subjects, "outbound", channel) or next(iter(subjects.values()))
    now = services.clock()
    at = iso(now)
    entry = _audit_entry(change, channel, "flagged", reason, "none", at, at)
    marker = f"evt#{workspace_id}#{event_id}" if event_id else None
    states = [s.state for s in subjects.values()]
    outbox = _outbox_item(services, "flag", change, subjects, [entry], states)
    address_kind = CHANNEL_ADDRESS.get(channel)
    address = subjects.get(address_kind) if address_kind else None
    contact_ids = [contact.contact_id] if contact else []
    if not contact_ids and address is not None and address_kind:
        contact_ids = services.contacts.contact_ids_with_address(address.pk, address_kind)
    flag = {
        "flag_id": uuid.uuid4().hex,
        "ws": workspace_id,
        "status": "open",
        "at": at,
        "due_by": iso(revocation_due_by(now)),
        "channel": channel,
        "channels": list(channels or (channel,)),
        "reason": reason,
        "origin": origin or channel,
        "contact_ids": contact_ids,
        "contact_id": target.contact_id,
        "address_key": address.pk if address is not None else None,
        "address_kind": address_kind if address is not None else None,
    }
    try:
        services.dnd.commit(
            [],
            [AuditRecord(home.audit_pk, at, {**entry, "flag_id": flag["flag_id"]})],
            marker_id=marker,
            extra_updates=[
                services.outbox.put_action(outbox),
                services.flags.put_action(flag),
            ],
        )
    except DuplicateEvent:
        return None
    _complete(services, outbox, DndResult(False, False, states, contact, [entry]))
    return str(flag["flag_id"])


# --- the internal API's view of DND: POST /v1/dnd and GET /v1/audit ------------------------


def request_dnd_change(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.logic.dnd_rules import dnd_view, is_do_not_contact
    from chalicelib.services.recipients import parse_target

    parsed = parse(DndBody, body)
    region = services.config_cache.get(workspace_id).settings.default_phone_region
    target = parse_target(body, region)
    if parsed.direction == "inbound" and parsed.channel not in ("all", "call", "sms"):
        raise InvalidInput(
            "inbound DND covers calls and SMS together", fields={"channel": "inbound takes all, call or sms"}
        )
    if parsed.source == "contact":
        # The contact's own words, recorded by whoever heard them (R15): who and how are required.
        missing = {
            name: f"required with source contact ({VIA_VALUES if name == 'via' else 'who heard it'})"
            for name in ("actor", "via")
            if getattr(parsed, name) is None
        }
        if missing:
            raise InvalidInput("source contact needs actor and via", fields=missing)
        if parsed.action == "disable":
            raise InvalidInput(
                "source contact records an opt-out; a re-opt-in is cleared by a user with evidence",
                fields={"source": "contact can only enable"},
            )
    elif parsed.via is not None:
        raise InvalidInput("via is only for source contact", fields={"via": "only with source contact"})
    elif parsed.evidence and parsed.source != "user":
        raise InvalidInput("only a user can supply opt-in evidence", fields={"evidence": "source must be user"})
    channels = CHANNELS if parsed.channel == "all" else (parsed.channel,)
    if parsed.channel == "all" and not target.contact_id:
        # A raw address carries only its own channels (email; or sms/call/whatsapp for a phone).
        kind: AddressKind = "email" if target.email else "phone"
        channels = address_channels(kind)
    if parsed.action == "enable":
        default_reason = {"crm": "crm_opt_out", "contact": REASON_CONTACT_REQUEST}.get(parsed.source, REASON_MANUAL)
        change = DndChange(
            workspace_id,
            target,
            parsed.direction,
            channels,
            "enable",
            parsed.source,
            parsed.reason or default_reason,
            # Every opt-out the contact expressed is permanent (R2, R15; 47 CFR 64.1200(d)).
            kind="permanent" if parsed.source == "contact" else "temporary",
            actor=parsed.actor,
            evidence=parsed.evidence,
            via=parsed.via,
        )
    else:
        change = DndChange(
            workspace_id,
            target,
            parsed.direction,
            channels,
            "disable",
            parsed.source,
            parsed.reason or "cleared",
            actor=parsed.actor,
            evidence=parsed.evidence,
            note=parsed.reason,
            only_reasons=frozenset(parsed.clear_reasons) if parsed.clear_reasons else None,
        )
    result = apply_dnd_change(services, change)
    return {
        **({"contact_id": target.contact_id} if target.contact_id else {}),
        "changed": result.changed,
        "dnd": dnd_view(result.states),
        "do_not_contact": is_do_not_contact(result.states),
    }


def audit_search_body(body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/audit/search: the GET's query (exactly one of contact_id / email / phone, checked as
    the GET's is by audit_entries), nothing else."""
    return parse(AuditSearchBody, body).model_dump(exclude_none=True)


def audit_entries(services: Services, workspace_id: str, params: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.services.recipients import parse_target

    region = services.config_cache.get(workspace_id).settings.default_phone_region
    target = parse_target(params, region)
    if target.contact_id:
        contact = services.contacts.get_raw(workspace_id, target.contact_id)
        if contact is None:
            raise NotFound("contact not found", fields={"contact_id": "no such contact"})
        pks = [f"{workspace_id}#{keys.contact_subject(target.contact_id)}", *contact_address_pks(contact).values()]
    elif target.email:
        pks = [address_pk(services, workspace_id, "email", target.email)]
    else:
        pks = [address_pk(services, workspace_id, "phone", target.phone or "")]
    hidden = {"pk", "sk", "event_id"}
    return {
        "entries": [
            {"actor": None, **{k: v for k, v in e.items() if k not in hidden}} for e in services.audit.entries(pks)
        ]
    }
