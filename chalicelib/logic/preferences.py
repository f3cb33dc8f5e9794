"""The preference center's save (R16): exactly what the person changed, nothing else. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chalicelib.models.domain import CHANNELS, SubscriptionStatus

Pair = tuple[str, str]  # (topic_id, channel)
PREFERENCES_FORM = "preferences"  # the value of the preference center form's hidden field "form"


def parse_pairs(values: Iterable[str]) -> set[Pair]:
    """Form values ``<channel>/<topic_id>`` (a topic id never holds "/") -> pairs; others dropped."""
    pairs: set[Pair] = set()
    for value in values:
        channel, sep, topic_id = value.partition("/")
        if sep and channel in CHANNELS and topic_id:
            pairs.add((topic_id, channel))
    return pairs


def pair_value(topic_id: str, channel: str) -> str:
    return f"{channel}/{topic_id}"


def preference_changes(
    current: Mapping[str, Mapping[str, SubscriptionStatus]], shown: set[Pair], ticked: set[Pair]
) -> dict[str, dict[str, SubscriptionStatus]]:
    """Per shown box still offered: ticked = subscribed, not ticked = unsubscribed; only the boxes
    whose state differs from ``current`` change. A box the page did not show (a topic added since
    it was loaded) never changes, nor one no longer offered; a ticked value that was not shown
    is ignored."""
    changes: dict[str, dict[str, SubscriptionStatus]] = {}
    for topic_id, channel in sorted(shown):
        status = current.get(topic_id, {}).get(channel)
        if status is None:
            continue
        wanted: SubscriptionStatus = "subscribed" if (topic_id, channel) in ticked else "unsubscribed"
        if wanted != status:
            changes.setdefault(topic_id, {})[channel] = wanted
    return changes
