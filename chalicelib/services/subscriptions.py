"""Topic subscriptions (R16): unsubscribe a contact or an address from one topic on one channel
(or every channel of the topic), resubscribe, and read the current state.

Stored like DND, on the same subjects: a channel's unsubscribe lives on the item of the address
that channel uses (email -> the email address item, sms/call/whatsapp -> the phone item), on the
contact item for channels without an address. So an address-level unsubscribe reaches contacts
created later with that address and survives the contact's erasure, and the send-check reads
topics from the items it already loads (no added request). A change is one DynamoDB transaction
(subjects conditional on their version, audit entries with ``topic_id``, the outbox item of its
``dnd.changed`` events with ``topic_id``, and the exactly-once marker when ``event_id`` is given).

Two functions are the service's API for other capabilities (the preference center, provider
webhooks): ``apply_topic_changes`` and ``current_topics``. ``request_subscription_change`` is the
HTTP body's path (``POST /v1/subscriptions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import ConcurrentUpdate, DndClearRefused, InvalidInput
from chalicelib.logic.dnd_rules import reasons_to_clear, strongest
from chalicelib.logic.topics import topic_entries, topics_view
from chalicelib.models.domain import (
    REASON_TOPIC_UNSUBSCRIBED,
    DndEntry,
    DndState,
    Source,
    SubscriptionStatus,
    Topic,
    address_channels,
)
from chalicelib.models.requests import SubscriptionBody, parse, require_id
from chalicelib.observability import record_dnd_change
from chalicelib.services.context import Services, iso
from chalicelib.services.dnd import (
    MAX_ATTEMPTS,
    DndChange,
    DndResult,
    _audit_entry,
    _complete,
    _home_subject,
    _outbox_item,
    load_target_subjects,
)
from chalicelib.services.recipients import Target
from chalicelib.store.dnd import AuditRecord, DuplicateEvent, Subject

TopicChanges = Mapping[str, Mapping[str, SubscriptionStatus]]
TopicsView = dict[str, dict[str, SubscriptionStatus]]
STATUSES = ("subscribed", "unsubscribed")


@dataclass
class SubscriptionResult:
    """What ``apply_topic_changes`` did: ``topics`` is the target's view after the change."""

    changed: bool
    duplicate: bool
    topics: TopicsView
    audit: list[dict[str, Any]] = field(default_factory=list)


def target_channels(target: Target) -> tuple[str, ...] | None:
    """The channels a raw address can be reached on; None for a contact (every channel)."""
    if target.contact_id:
        return None
    kind = target.address_kind if target.address_key else "email" if target.email else "phone"
    return address_channels(kind)


def _validate(topics: dict[str, Topic], target: Target, changes: TopicChanges) -> None:
    reachable = target_channels(target)
    for topic_id, by_channel in changes.items():
        topic = topics.get(topic_id)
        if topic is None:
            raise InvalidInput(f"unknown topic {topic_id}", fields={"topic_id": "no such topic"})
        if not by_channel:
            raise InvalidInput(f"no channel given for topic {topic_id}", fields={"channel": "at least one channel"})
        for channel, status in by_channel.items():
            if status not in STATUSES:
                raise InvalidInput("unknown subscription status", fields={"action": "subscribed or unsubscribed"})
            if status == "unsubscribed" and topic.deleted:
                raise InvalidInput(f"topic {topic_id} was deleted", fields={"topic_id": "no such topic"})
            if channel not in topic.channels and not (status == "subscribed" and topic.deleted):
                raise InvalidInput(
                    f"topic {topic_id} does not use channel {channel}",
                    fields={"channel": "one of the topic's channels: " + ", ".join(topic.channels)},
                )
            if reachable is not None and channel not in reachable:
                raise InvalidInput(
                    f"this address cannot be reached on {channel}",
                    fields={"channel": "an address carries only its own channels: " + ", ".join(reachable)},
                )


def _plan(
    change: DndChange, changes: TopicChanges, subjects: dict[str, Subject], at: str
) -> tuple[list[Subject], list[AuditRecord]]:
    """New subject states and audit records, or DndClearRefused for a resubscribe R2 forbids."""
    changed: dict[str, Subject] = {}
    audit: list[AuditRecord] = []
    kind = "permanent" if change.source == "contact" else "temporary"

    def current(name: str) -> Subject:
        return changed.get(name) or subjects[name]

    def replace(name: str, state: DndState) -> None:
        changed[name] = Subject(**{**current(name).__dict__, "state": state})

    def audited(channel: str, action: str, entry_kind: str, home: Subject, topic_id: str) -> None:
        entry = _audit_entry(change, channel, action, REASON_TOPIC_UNSUBSCRIBED, entry_kind, at, at)
        audit.append(AuditRecord(home.audit_pk, at, {**entry, "topic_id": topic_id}))

    for topic_id in sorted(changes):
        for channel in sorted(changes[topic_id]):
            active = topic_entries([current(n).state for n in subjects], topic_id, channel)
            home = _home_subject(subjects, "outbound", channel) or next(iter(subjects.values()))
            home_name = next(n for n, s in subjects.items() if s is home)
            if changes[topic_id][channel] == "unsubscribed":
                existing = strongest(active.values())
                if existing is not None and (existing.kind == "permanent" or kind == "temporary"):
                    continue  # already unsubscribed at least as strongly
                state = current(home_name).state.model_copy(deep=True)
                entry = DndEntry(
                    reason=REASON_TOPIC_UNSUBSCRIBED, kind=kind, source=change.source, actor=change.actor, at=at
                )
                state.topics.setdefault(topic_id, {})[channel] = entry
                replace(home_name, state)
                audited(channel, "enabled", kind, home, topic_id)
                continue
            if not active:
                continue
            try:
                reasons_to_clear(active, source=change.source, evidence=change.evidence, only_reasons=None)
            except DndClearRefused as exc:
                raise DndClearRefused(
                    f"the person unsubscribed from topic {topic_id} themselves: only their own resubscribe "
                    "or a user's opt-in evidence undoes it",
                    code="permanent_unsubscribe",
                    fields={"evidence": "required to resubscribe a person who unsubscribed themselves"},
                    extra={"topic_id": topic_id, "channel": channel},
                ) from exc
            removed_kind = strongest(active.values()).kind  # type: ignore[union-attr]
            for name in subjects:
                by_channel = current(name).state.topics.get(topic_id) or {}
                if channel in by_channel:
                    state = current(name).state.model_copy(deep=True)
                    state.topics[topic_id].pop(channel)
                    if not state.topics[topic_id]:
                        state.topics.pop(topic_id)
                    replace(name, state)
            audited(channel, "disabled", removed_kind, home, topic_id)
    return list(changed.values()), audit


def apply_topic_changes(
    services: Services,
    workspace_id: str,
    target: Target,
    changes: TopicChanges,
    *,
    source: Source,
    actor: str | None = None,
    evidence: str | None = None,
    note: str | None = None,
    event_id: str | None = None,
) -> SubscriptionResult:
    """Apply topic subscription changes for one target; the service API of R16.

    - ``target``: a contact (``Target(contact_id=...)``) or a raw address (``Target(email=...)``,
      ``Target(phone=...)`` normalized, or ``Target(address_key=..., address_kind=...)`` from a
      token). A raw address is changed at address level: it reaches contacts created later with
      it and survives erasure.
    - ``changes``: ``{topic_id: {channel: "subscribed" | "unsubscribed"}}``; only what is named
      changes, and naming the current state changes nothing (no audit entry, no event). Topics
      must exist (a deleted topic can still be resubscribed, to clear what it left); channels must
      be the topic's, and for a raw address the address's own (email; or sms/call/whatsapp).
    - ``source``: ``contact`` for the person's own choice (a preference center, a provider's
      unsubscribe: a ``contact`` unsubscribe is ``permanent`` and a resubscribe by ``contact``
      clears anything), else ``user``/``workflow``/``crm``/``system`` (temporary; such a source
      cannot undo the person's own unsubscribe without a ``user``'s opt-in ``evidence``: 409
      ``permanent_unsubscribe``). ``actor``/``evidence``/``note`` go on the audit entries.
    - ``event_id``: the natural id of a delivery (webhook event); applied exactly once.

    One transaction per call (subjects, audit entries with ``topic_id``, the outbox item of the
    ``dnd.changed`` events with ``topic_id``, the marker). Raises InvalidInput (422), NotFound
    (unknown contact), DndClearRefused (409), StoreUnavailable (503).
    """
    topics = services.config_cache.get(workspace_id).topics
    _validate(topics, target, changes)
    channels = tuple(sorted({c for by_channel in changes.values() for c in by_channel}))
    change = DndChange(
        workspace_id,
        target,
        "outbound",
        channels,
        "topic",
        source,
        REASON_TOPIC_UNSUBSCRIBED,
        actor=actor,
        evidence=evidence,
        note=note,
        event_id=event_id,
    )
    marker = f"evt#{workspace_id}#{event_id}" if event_id else None
    reachable = target_channels(target)
    for _attempt in range(MAX_ATTEMPTS):
        contact, subjects = load_target_subjects(services, workspace_id, target)
        at = iso(services.clock())
        changed, audit = _plan(change, changes, subjects, at)
        by_pk = {subject.pk: subject for subject in changed}
        states = [by_pk.get(s.pk, s).state for s in subjects.values()]
        if marker and not changed and services.dnd.is_processed(marker):
            return SubscriptionResult(False, True, topics_view(states, topics, reachable))
        entries = [record.entry for record in audit]
        outbox = _outbox_item(services, "topic", change, subjects, entries, []) if audit else None
        try:
            services.dnd.commit(
                changed,
                audit,
                marker_id=marker if audit else None,
                extra_updates=[services.outbox.put_action(outbox)] if outbox else None,
            )
        except DuplicateEvent:
            original = [s.state for s in subjects.values()]
            return SubscriptionResult(False, True, topics_view(original, topics, reachable))
        except ConcurrentUpdate:
            continue
        if outbox is not None:
            record_dnd_change(entries)
            # Events only: a topic change is no DND change, so no unenrollment or CRM write-back.
            _complete(services, outbox, DndResult(bool(changed), False, states, contact, entries))
        return SubscriptionResult(bool(changed), False, topics_view(states, topics, reachable), entries)
    raise ConcurrentUpdate("the record kept changing; retry")


def current_topics(services: Services, workspace_id: str, target: Target) -> TopicsView:
    """The target's topics view, ``{topic_id: {channel: "subscribed" | "unsubscribed"}}``.

    Every live topic of the workspace on each of its channels (for a raw address: the channels
    that address is reached on), plus any unsubscribe still recorded for a deleted topic or a
    channel the topic dropped (they still block checks naming the topic). A contact's view merges
    its own item and its addresses' items, as the send-check does. NotFound for an unknown contact.
    """
    _, subjects = load_target_subjects(services, workspace_id, target)
    topics = services.config_cache.get(workspace_id).topics
    return topics_view([s.state for s in subjects.values()], topics, target_channels(target))


# --- POST /v1/subscriptions -----------------------------------------------------------------


def request_subscription_change(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/subscriptions``: one topic, one channel or (default) every channel of the topic
    the target can be reached on."""
    from chalicelib.services.recipients import parse_target

    parsed = parse(SubscriptionBody, body)
    require_id(parsed.topic_id, "topic_id")
    if parsed.source == "contact" and not parsed.actor:
        raise InvalidInput(
            "the person's own choice recorded by a team member names who heard it",
            fields={"actor": "required with source contact"},
        )
    config = services.config_cache.get(workspace_id)
    target = parse_target(body, config.settings.default_phone_region)
    topic = config.topics.get(parsed.topic_id)
    if topic is None or (topic.deleted and parsed.action == "unsubscribe"):
        raise InvalidInput(f"unknown topic {parsed.topic_id}", fields={"topic_id": "no such topic"})
    status: SubscriptionStatus = "unsubscribed" if parsed.action == "unsubscribe" else "subscribed"
    if parsed.channel is not None:
        channels: list[str] = [parsed.channel]
    else:
        reachable = target_channels(target)
        channels = [c for c in topic.channels if reachable is None or c in reachable]
        if topic.deleted:  # resubscribing a deleted topic clears whatever it left behind
            current = current_topics(services, workspace_id, target).get(topic.topic_id, {})
            channels = sorted(set(channels) | set(current))
        if not channels:
            raise InvalidInput(
                f"topic {topic.topic_id} uses no channel this address is reached on",
                fields={"channel": "the topic's channels: " + ", ".join(topic.channels)},
            )
    note = f"via={parsed.via}" if parsed.via else None
    result = apply_topic_changes(
        services,
        workspace_id,
        target,
        {topic.topic_id: {channel: status for channel in channels}},
        source=parsed.source,
        actor=parsed.actor,
        evidence=parsed.evidence,
        note=note,
    )
    return {
        **({"contact_id": target.contact_id} if target.contact_id else {}),
        "changed": result.changed,
        "topics": result.topics,
    }
