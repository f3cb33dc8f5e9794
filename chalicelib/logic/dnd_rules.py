"""DND decisions (R1, R2): what an enable or clear does to a subject's entries.

Pure: states in, new states (or a refusal) out. The service layer loads the
subjects, calls these, and commits the result atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.errors import DndClearRefused
from chalicelib.models.domain import (
    CHANNELS,
    REASON_SPAM_COMPLAINT,
    Direction,
    DndEntry,
    DndState,
    Source,
)

_SOURCE_STRENGTH = {"contact": 0, "system": 1, "crm": 2, "user": 3, "workflow": 4}


def strongest(entries: Iterable[DndEntry]) -> DndEntry | None:
    """The entry that explains a block best: permanent first, the person's own first, oldest first."""
    ranked = sorted(entries, key=lambda e: (e.kind != "permanent", _SOURCE_STRENGTH.get(e.source, 9), e.at, e.reason))
    return ranked[0] if ranked else None


def merged_entries(states: Iterable[DndState], direction: Direction, channel: str | None) -> dict[str, DndEntry]:
    """All active entries for one channel across the subjects that cover a recipient."""
    merged: dict[str, DndEntry] = {}
    for state in states:
        for reason, entry in state.entries(direction, channel).items():
            current = merged.get(reason)
            if current is None or strongest([entry, current]) is entry:
                merged[reason] = entry
    return merged


def with_entry(state: DndState, direction: Direction, channel: str | None, entry: DndEntry) -> DndState | None:
    """Add an entry under its reason. None when nothing changes: the same reason is already
    active at least as strongly (a weaker repeat never overwrites a stronger one)."""
    existing = state.entries(direction, channel).get(entry.reason)
    if existing is not None and (existing.kind == "permanent" or entry.kind == "temporary"):
        return None
    updated = state.model_copy(deep=True)
    if direction == "inbound":
        updated.inbound[entry.reason] = entry
    else:
        updated.outbound.setdefault(channel or "", {})[entry.reason] = entry
    return updated


def reasons_to_clear(
    active: dict[str, DndEntry],
    *,
    source: Source,
    evidence: str | None,
    only_reasons: frozenset[str] | None,
) -> set[str]:
    """Which active reasons a clear removes, or DndClearRefused (R2).

    - the contact's own re-opt-in clears the reasons it covers (``only_reasons``; all if None);
    - a user/workflow/crm clear removes temporary entries; permanent ones need a user's
      opt-in ``evidence``; a spam complaint is never cleared by them;
    - ``only_reasons`` narrows any clear, so clearing a bounce leaves an unsubscribe in place.
    """
    scope = {r: e for r, e in active.items() if only_reasons is None or r in only_reasons}
    if not scope or source in ("contact", "system"):
        return set(scope)
    if any(e.reason == REASON_SPAM_COMPLAINT for e in scope.values()):
        raise DndClearRefused(
            "a spam complaint can only be cleared by the person's own re-opt-in",
            code="spam_complaint",
            fields={"channel": "blocked by a spam complaint"},
        )
    permanent = sorted(r for r, e in scope.items() if e.kind == "permanent")
    if permanent and not (source == "user" and evidence):
        raise DndClearRefused(
            "permanent DND needs the person's re-opt-in or a user's opt-in evidence",
            code="permanent_dnd",
            fields={"evidence": "required to clear a permanent entry"},
            extra={"reasons": permanent},
        )
    return set(scope)


def without_reasons(state: DndState, direction: Direction, channel: str | None, reasons: set[str]) -> DndState | None:
    current = state.entries(direction, channel)
    if not reasons & set(current):
        return None
    updated = state.model_copy(deep=True)
    if direction == "inbound":
        updated.inbound = {r: e for r, e in current.items() if r not in reasons}
    else:
        remaining = {r: e for r, e in current.items() if r not in reasons}
        if remaining:
            updated.outbound[channel or ""] = remaining
        else:
            updated.outbound.pop(channel or "", None)
    return updated


def entry_json(entries: dict[str, DndEntry]) -> dict[str, Any] | None:
    best = strongest(entries.values())
    if best is None:
        return None
    return {**best.model_dump(), "reasons": sorted(entries)}


def dnd_view(states: list[DndState]) -> dict[str, Any]:
    """The API's ``dnd`` object: status on/off/partial over outbound channels (R1)."""
    outbound = {channel: entry_json(merged_entries(states, "outbound", channel)) for channel in CHANNELS}
    blocked = sum(1 for entry in outbound.values() if entry is not None)
    status = "on" if blocked == len(CHANNELS) else "off" if blocked == 0 else "partial"
    return {"status": status, "outbound": outbound, "inbound": entry_json(merged_entries(states, "inbound", None))}


def is_do_not_contact(states: list[DndState]) -> bool:
    """Every outbound channel blocked, or the person opted out themselves on any channel."""
    view = dnd_view(states)
    if view["status"] == "on":
        return True
    return any(
        entry.source == "contact"
        for state in states
        for entries in state.outbound.values()
        for entry in entries.values()
    )
