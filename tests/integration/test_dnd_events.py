"""R12: every DND change is published to the dnd-events topic in the documented, versioned shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.integration.conftest import dnd_event_subscription

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs/events/dnd.changed.v1.json").read_text())
EMAIL = "Ann.Events@Example.com"
PHONE = "+14155552671"


@pytest.fixture()
def dnd_events(aws_env: dict[str, str]) -> Iterator[Any]:
    """An SQS queue of our own subscribed to OPTOUT_DND_TOPIC; yields a reader of one workspace's events."""
    with dnd_event_subscription() as drain:
        yield lambda workspace_id: [(raw, event) for raw, event in drain() if event.get("workspace_id") == workspace_id]


def assert_valid_and_anonymous(raw: str, event: dict[str, Any]) -> None:
    errors = sorted(Draft202012Validator(SCHEMA, format_checker=FormatChecker()).iter_errors(event), key=str)
    assert not errors, [e.message for e in errors]
    assert set(SCHEMA["required"]) <= set(event)
    for address in (EMAIL, EMAIL.lower(), PHONE, PHONE.lstrip("+")):
        assert address not in raw
    assert "@" not in raw


def test_r12_enabling_email_dnd_publishes_a_schema_valid_event_without_addresses(api, dnd_events):
    # Given a contact with an email and a phone
    assert api.put("/v1/contacts/c-ev", {"email": EMAIL, "phone": PHONE})[0] == 200
    # When a user enables email DND
    status, body = api.post(
        "/v1/dnd", {"contact_id": "c-ev", "channel": "email", "action": "enable", "source": "user", "actor": "agent-7"}
    )
    assert status == 200, body
    # Then exactly one dnd.changed v1 event is published, valid against docs/events, with no raw address
    events = dnd_events(api.workspace_id)
    assert len(events) == 1
    raw, event = events[0]
    assert_valid_and_anonymous(raw, event)
    assert event | {"at": None, "event_id": None} == {
        "type": "dnd.changed",
        "version": 1,
        "workspace_id": api.workspace_id,
        "contact_ids": ["c-ev"],
        "channel": "email",
        "direction": "outbound",
        "action": "enabled",
        "reason": "manual",
        "kind": "temporary",
        "source": "user",
        "at": None,
        "event_id": None,
    }
    assert event["event_id"]  # stable across outbox re-runs: consumers dedupe on it


def test_r12_clearing_and_address_level_changes_are_published_too(api, dnd_events):
    # Given a contact whose phone got SMS and call DND by raw address (not by contact id)
    assert api.put("/v1/contacts/c-ev2", {"phone": PHONE})[0] == 200
    for channel in ("sms", "call"):
        body = {"phone": PHONE, "channel": channel, "action": "enable", "source": "workflow"}
        assert api.post("/v1/dnd", body)[0] == 200
    # When a user clears SMS
    clear = {"contact_id": "c-ev2", "channel": "sms", "action": "disable", "source": "user"}
    assert api.post("/v1/dnd", clear)[0] == 200
    # Then one event per change, each naming the contact that holds the address, none carrying the number
    events = dnd_events(api.workspace_id)
    assert [(e["channel"], e["action"], e["source"]) for _, e in events] == [
        ("sms", "enabled", "workflow"),
        ("call", "enabled", "workflow"),
        ("sms", "disabled", "user"),
    ]
    for raw, event in events:
        assert_valid_and_anonymous(raw, event)
        assert event["contact_ids"] == ["c-ev2"]


def test_r12_events_of_one_workspace_name_only_that_workspace(api, other_api, dnd_events):
    # Given the same address in two workspaces
    api.put("/v1/contacts/c1", {"email": EMAIL})
    other_api.put("/v1/contacts/c1", {"email": EMAIL})
    # When only the first workspace suppresses it
    assert api.post("/v1/dnd", {"email": EMAIL, "channel": "email", "action": "enable", "source": "user"})[0] == 200
    # Then the second workspace gets no event
    assert len(dnd_events(api.workspace_id)) == 1
    assert dnd_events(other_api.workspace_id) == []
