"""Topic subscriptions (R16): what a contact's or address's stored topic unsubscribes mean.

Pure: the DND states of the subjects covering a recipient (contact item and address items) in,
answers out. Unsubscribes live per topic and channel on the same subjects as DND
(``DndState.topics``); a recipient is unsubscribed when any of its subjects says so.
"""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.logic.dnd_rules import strongest
from chalicelib.models.domain import DndEntry, DndState, SubscriptionStatus, Topic


def topic_entries(states: Iterable[DndState], topic_id: str, channel: str) -> dict[str, DndEntry]:
    """The active unsubscribe of one topic on one channel across subjects, keyed by reason
    (the shape ``dnd_rules.reasons_to_clear`` takes)."""
    found: dict[str, DndEntry] = {}
    for state in states:
        entry = state.topic_entry(topic_id, channel)
        if entry is not None:
            current = found.get(entry.reason)
            if current is None or strongest([entry, current]) is entry:
                found[entry.reason] = entry
    return found


def unsubscribed_from(states: Iterable[DndState], topic_id: str, channel: str) -> DndEntry | None:
    return strongest(topic_entries(states, topic_id, channel).values())


def topics_view(
    states: list[DndState], topics: dict[str, Topic], channels: Iterable[str] | None = None
) -> dict[str, dict[str, SubscriptionStatus]]:
    """``{topic_id: {channel: "subscribed" | "unsubscribed"}}``: every live topic on each of its
    channels, plus any unsubscribe still recorded for a deleted topic or a channel the topic no
    longer uses (it still blocks checks naming it). ``channels`` narrows the view to the channels
    a raw address can be reached on."""
    allowed = None if channels is None else set(channels)
    view: dict[str, dict[str, SubscriptionStatus]] = {}
    for topic_id, topic in sorted(topics.items()):
        if topic.deleted:
            continue
        for channel in topic.channels:
            if allowed is None or channel in allowed:
                status: SubscriptionStatus = (
                    "unsubscribed" if unsubscribed_from(states, topic_id, channel) else "subscribed"
                )
                view.setdefault(topic_id, {})[channel] = status
    for state in states:
        for topic_id, recorded in state.topics.items():
            for name in recorded:
                if allowed is None or name in allowed:
                    view.setdefault(topic_id, {})[name] = "unsubscribed"
    return {topic_id: dict(sorted(by_channel.items())) for topic_id, by_channel in sorted(view.items())}
