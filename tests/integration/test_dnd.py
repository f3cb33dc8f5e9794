"""R1/R2/R12 through POST /v1/dnd and GET /v1/audit: per-channel and inbound DND, the clearing
rules and their 409s, the append-only audit and the dnd-events event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.models.domain import CHANNELS
from tests.integration.conftest import Api, allowed, audit, dnd_event_subscription

EMAIL = "ann@example.com"
PHONE = "+14155552671"


def enable(api: Api, channel: str, *, direction: str = "outbound", source: str = "user", **extra: Any):
    return api.post(
        "/v1/dnd",
        {"contact_id": "c1", "channel": channel, "direction": direction, "action": "enable", "source": source, **extra},
    )


def disable(api: Api, channel: str, *, direction: str = "outbound", source: str = "user", **extra: Any):
    return api.post(
        "/v1/dnd",
        {
            "contact_id": "c1",
            "channel": channel,
            "direction": direction,
            "action": "disable",
            "source": source,
            **extra,
        },
    )


def apply_directly(api: Api, channel: str, *, source: str, reason: str, kind: str = "permanent") -> None:
    """A DND entry only intake paths (webhooks, SES) create: the contact's own opt-out, a complaint."""
    from chalicelib.services.context import get_services
    from chalicelib.services.dnd import DndChange, apply_dnd_change
    from chalicelib.services.recipients import Target

    change = DndChange(
        api.workspace_id,
        Target(contact_id="c1"),
        "outbound",
        (channel,),
        "enable",
        source,
        reason,
        kind=kind,
        actor=f"{source}-path",
    )  # type: ignore[arg-type]
    assert apply_dnd_change(get_services(), change).changed


@pytest.fixture()
def contact(api: Api) -> Api:
    status, body = api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})
    assert status == 200, body
    return api


# --- setting DND ---------------------------------------------------------------------------


def test_r1_outbound_channels_are_independent(contact: Api):
    # Given a clean contact / When SMS DND is enabled
    status, body = enable(contact, "sms")
    # Then only SMS is blocked
    assert status == 200, body
    assert body["changed"] is True
    assert body["dnd"]["status"] == "partial"
    assert body["dnd"]["outbound"]["sms"]["reason"] == "manual"
    assert [c for c in CHANNELS if body["dnd"]["outbound"][c]] == ["sms"]
    assert not allowed(contact, "sms")
    for channel in ("email", "call", "whatsapp", "facebook", "gbp"):
        assert allowed(contact, channel), channel


def test_r1_status_off_partial_on_and_all(contact: Api):
    assert contact.get("/v1/contacts/c1")[1]["dnd"]["status"] == "off"
    enable(contact, "email")
    assert contact.get("/v1/contacts/c1")[1]["dnd"]["status"] == "partial"
    status, body = enable(contact, "all")
    assert status == 200
    assert body["dnd"]["status"] == "on"
    assert body["do_not_contact"] is True
    assert all(body["dnd"]["outbound"][c] for c in CHANNELS)
    assert not any(allowed(contact, c) for c in CHANNELS)
    # Clearing "all" (temporary, by a user) brings it back to off
    status, body = disable(contact, "all")
    assert status == 200, body
    assert body["dnd"]["status"] == "off"
    assert all(allowed(contact, c) for c in CHANNELS)


def test_r1_enable_all_writes_one_audit_entry_per_channel(contact: Api):
    enable(contact, "all")
    entries = audit(contact)
    assert sorted(e["channel"] for e in entries) == sorted(CHANNELS)
    assert {e["action"] for e in entries} == {"enabled"}


def test_r1_inbound_covers_calls_and_sms_together(contact: Api):
    # When inbound DND is enabled naming sms
    status, body = enable(contact, "sms", direction="inbound")
    # Then one inbound entry exists, outbound is untouched
    assert status == 200, body
    assert body["dnd"]["inbound"]["reason"] == "manual"
    assert body["dnd"]["status"] == "off"
    assert allowed(contact, "sms") and allowed(contact, "call")
    # Naming call or all addresses the same single entry (nothing new to add)
    for channel in ("call", "all"):
        status, body = enable(contact, channel, direction="inbound")
        assert status == 200 and body["changed"] is False
    entries = audit(contact)
    assert len(entries) == 1
    assert entries[0]["direction"] == "inbound" and entries[0]["channel"] == "all"
    # Clearing it through "call" clears it for SMS too
    status, body = disable(contact, "call", direction="inbound")
    assert status == 200 and body["dnd"]["inbound"] is None


@pytest.mark.parametrize("channel", ["email", "whatsapp", "facebook", "gbp"])
def test_r1_inbound_for_a_single_other_channel_is_422(contact: Api, channel: str):
    status, body = enable(contact, channel, direction="inbound")
    assert status == 422
    assert "channel" in body["fields"]
    assert contact.get("/v1/contacts/c1")[1]["dnd"]["inbound"] is None
    assert audit(contact) == []


def test_r3_dnd_by_raw_address(api: Api):
    # Given no contact at all / When a phone is suppressed by raw address for all its channels
    status, body = api.post(
        "/v1/dnd", {"phone": "(415) 555-2671", "channel": "all", "action": "enable", "source": "workflow"}
    )
    assert status == 200, body
    # Then its channels are blocked for raw checks and for a contact created later
    for channel in ("sms", "call", "whatsapp"):
        assert not allowed(api, channel, phone=PHONE), channel
    api.put("/v1/contacts/c1", {"phone": PHONE, "email": EMAIL})
    assert not allowed(api, "sms") and allowed(api, "email") and allowed(api, "facebook")
    assert len(audit(api, phone=PHONE)) == 3


def test_r2_repeat_enable_is_no_change_and_no_audit(contact: Api):
    enable(contact, "email")
    status, body = enable(contact, "email")
    assert status == 200 and body["changed"] is False
    assert len(audit(contact)) == 1


def test_r2_entry_records_reason_source_actor_kind(contact: Api):
    status, body = enable(contact, "email", source="workflow", actor="wf-42", reason="lead_disqualified")
    assert status == 200
    entry = body["dnd"]["outbound"]["email"]
    assert entry["reason"] == "lead_disqualified"
    assert entry["source"] == "workflow"
    assert entry["actor"] == "wf-42"
    assert entry["kind"] == "temporary"
    assert entry["at"]


# --- clearing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
def test_r2_user_workflow_crm_clear_temporary(contact: Api, source: str):
    enable(contact, "email")
    status, body = disable(contact, "email", source=source)
    assert status == 200, body
    assert body["changed"] is True
    assert body["dnd"]["outbound"]["email"] is None
    assert allowed(contact, "email")


def state_and_audit(api: Api) -> tuple[Any, int]:
    return api.get("/v1/contacts/c1")[1]["dnd"], len(audit(api))


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
def test_r2_permanent_clear_without_evidence_is_409_and_changes_nothing(contact: Api, source: str):
    # Given the person's own unsubscribe (permanent) plus a manual entry
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    enable(contact, "email")
    before = state_and_audit(contact)
    # When it is cleared without evidence
    status, body = disable(contact, "email", source=source)
    # Then 409 permanent_dnd, and neither the state nor the audit moved
    assert status == 409, body
    assert body["error"] == "permanent_dnd"
    assert {"error", "message", "fields"} <= set(body)
    assert state_and_audit(contact) == before
    assert not allowed(contact, "email")


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
def test_r2_spam_complaint_clear_is_409_spam_complaint_even_with_evidence(contact: Api, source: str):
    apply_directly(contact, "email", source="system", reason="spam_complaint")
    before = state_and_audit(contact)
    extra = {"evidence": "signed re-opt-in"} if source == "user" else {}
    status, body = disable(contact, "email", source=source, **extra)
    assert status == 409, body
    assert body["error"] == "spam_complaint"
    assert state_and_audit(contact) == before


def test_r2_refused_clear_of_all_changes_no_channel(contact: Api):
    # Given a temporary SMS entry and a permanent email one
    enable(contact, "sms")
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    before = state_and_audit(contact)
    # When "all" is cleared without evidence / Then nothing at all is cleared, not even SMS
    assert disable(contact, "all")[0] == 409
    assert state_and_audit(contact) == before
    assert not allowed(contact, "sms")


def test_r2_user_with_evidence_clears_permanent_and_audit_keeps_evidence(contact: Api):
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    status, body = disable(contact, "email", evidence="re-opt-in form 2024-06-01 #881", actor="rep-7")
    assert status == 200, body
    assert body["dnd"]["outbound"]["email"] is None
    assert allowed(contact, "email")
    cleared = audit(contact)[-1]
    assert cleared["action"] == "disabled"
    assert cleared["reason"] == "unsubscribed"
    assert cleared["kind"] == "permanent"
    assert cleared["evidence"] == "re-opt-in form 2024-06-01 #881"
    assert cleared["actor"] == "rep-7"
    assert cleared["source"] == "user"


@pytest.mark.parametrize("source", ["workflow", "crm"])
def test_r2_evidence_from_anyone_but_a_user_is_422(contact: Api, source: str):
    # Reading of the code: evidence is a user's attestation; from a workflow/crm it is invalid input (422).
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    before = state_and_audit(contact)
    status, body = disable(contact, "email", source=source, evidence="form")
    assert status == 422
    assert "evidence" in body["fields"]
    assert state_and_audit(contact) == before


def test_r2_clearing_a_bounce_leaves_the_unsubscribe(contact: Api):
    # Given an unsubscribe and a later hard bounce
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    apply_directly(contact, "email", source="system", reason="hard_bounce", kind="temporary")
    view = contact.get("/v1/contacts/c1")[1]["dnd"]["outbound"]["email"]
    assert view["reason"] == "unsubscribed" and view["reasons"] == ["hard_bounce", "unsubscribed"]
    # When a user clears just the bounce (address fixed)
    status, body = disable(contact, "email", clear_reasons=["hard_bounce"])
    # Then the unsubscribe still blocks
    assert status == 200, body
    assert body["dnd"]["outbound"]["email"]["reasons"] == ["unsubscribed"]
    assert not allowed(contact, "email")


def test_r2_clear_with_nothing_active_changes_nothing(contact: Api):
    status, body = disable(contact, "email")
    assert status == 200 and body["changed"] is False
    assert audit(contact) == []


# --- audit --------------------------------------------------------------------------------


def test_r12_audit_is_append_only_and_oldest_first(contact: Api):
    enable(contact, "email", actor="a1")
    enable(contact, "facebook", actor="a2")
    disable(contact, "email", actor="a3")
    enable(contact, "email", actor="a4", reason="again")
    entries = audit(contact)
    assert [(e["channel"], e["action"], e["actor"]) for e in entries] == [
        ("email", "enabled", "a1"),
        ("facebook", "enabled", "a2"),
        ("email", "disabled", "a3"),
        ("email", "enabled", "a4"),
    ]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    for entry in entries:
        assert {"at", "channel", "direction", "action", "reason", "kind", "source", "actor"} <= set(entry)
        assert entry["direction"] == "outbound"
        assert "pk" not in entry and "sk" not in entry
    # Entries never change: the first still reads as it did
    assert entries[0]["reason"] == "manual" and entries[0]["kind"] == "temporary" and entries[0]["source"] == "user"


def test_r12_audit_by_address_shows_raw_address_changes(api: Api):
    api.post("/v1/dnd", {"email": " ANN@example.com", "channel": "email", "action": "enable", "source": "crm"})
    entries = audit(api, email=EMAIL)
    assert len(entries) == 1
    assert entries[0]["source"] == "crm" and entries[0]["reason"] == "crm_opt_out"
    assert entries[0]["actor"] is None


def test_r12_audit_query_needs_exactly_one_valid_target(api: Api):
    assert api.get("/v1/audit")[0] == 422
    status, body = api.get("/v1/audit?email=not-an-email")
    assert status == 422 and "email" in body["fields"]
    status, body = api.get("/v1/audit?contact_id=nobody")
    assert status == 404


def test_r12_audit_survives_contact_deletion_without_personal_data(contact: Api):
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    disable(contact, "email", evidence=f"form signed by {EMAIL}")
    contact.delete("/v1/contacts/c1")
    entries = audit(contact, email=EMAIL)
    assert [e["action"] for e in entries] == ["enabled", "disabled"]
    assert EMAIL not in json.dumps(entries)
    assert "evidence" not in entries[1]


# --- events -------------------------------------------------------------------------------


@pytest.fixture()
def dnd_events(contact: Api) -> Iterator[Callable[[], list[tuple[str, dict[str, Any]]]]]:
    """Events published to dnd-events for this test's workspace.

    The local stack's tap queue (OPTOUT_LOCAL_DND_EVENTS_TAP_URL) receives every workspace's
    events for the whole session, so draining it gets slower as the suite grows; instead this
    subscribes a queue of its own, filtered on the workspace_id message attribute."""
    with dnd_event_subscription(contact.workspace_id) as drain:

        def read() -> list[tuple[str, dict[str, Any]]]:
            found = drain()
            assert all(event["workspace_id"] == contact.workspace_id for _, event in found)
            return found

        yield read


def test_r12_dnd_change_publishes_event_without_raw_address(contact: Api, dnd_events):
    # Given a second contact sharing the email
    contact.put("/v1/contacts/c2", {"email": EMAIL.upper()})
    # When email DND is enabled on c1
    enable(contact, "email", actor="rep-1")
    # Then exactly one event in the API.md shape names both contacts and no address
    events = dnd_events()
    assert len(events) == 1
    raw, event = events[0]
    assert set(event) >= {
        "type",
        "version",
        "workspace_id",
        "contact_ids",
        "channel",
        "direction",
        "action",
        "reason",
        "kind",
        "source",
        "at",
    }
    assert event["type"] == "dnd.changed" and event["version"] == 1
    assert sorted(event["contact_ids"]) == ["c1", "c2"]
    assert (event["channel"], event["direction"], event["action"]) == ("email", "outbound", "enabled")
    assert (event["reason"], event["kind"], event["source"]) == ("manual", "temporary", "user")
    for address in (EMAIL, EMAIL.upper(), PHONE, PHONE[1:], "ann@"):
        assert address not in raw
    # And a clear publishes a "disabled" event; a no-op publishes nothing
    disable(contact, "email")
    disable(contact, "email")
    events = dnd_events()
    assert [e["action"] for _, e in events] == ["disabled"]


def test_r12_refused_clear_publishes_nothing(contact: Api, dnd_events):
    apply_directly(contact, "email", source="contact", reason="unsubscribed")
    assert [e["action"] for _, e in dnd_events()] == ["enabled"]
    assert disable(contact, "email")[0] == 409
    assert dnd_events() == []


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "pager"}, "channel"),
        ({"channel": None}, "channel"),
        ({"action": "toggle"}, "action"),
        ({"action": None}, "action"),
        ({"source": "contact"}, "via"),  # R15: a person recording the contact's words says how
        ({"source": "system"}, "source"),
        ({"direction": "sideways"}, "direction"),
        ({"reason": "x" * 501}, "reason"),  # R15: free text, at most 500 characters
        ({"reason": ""}, "reason"),
        ({"actor": 5}, "actor"),
        ({"contact_id": None, "email": "bad"}, "email"),
        ({"contact_id": None, "phone": "12"}, "phone"),
        ({"contact_id": None}, "contact_id"),
        ({"email": EMAIL}, "contact_id"),  # two targets
        ({"contact_id": 42}, "contact_id"),
        ({"clear_reasons": "manual"}, "clear_reasons"),
    ],
)
def test_r14_bad_dnd_input_is_422_naming_the_field_and_writes_nothing(contact: Api, body, field):
    request = {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user", **body}
    status, answer = contact.post("/v1/dnd", {k: v for k, v in request.items()})
    assert status == 422, answer
    assert field in answer["fields"], answer
    assert audit(contact) == []


def test_dnd_unknown_contact_is_404(api: Api):
    status, body = api.post(
        "/v1/dnd",
        {"contact_id": "ghost-" + uuid.uuid4().hex[:6], "channel": "email", "action": "enable", "source": "user"},
    )
    assert status == 404
    assert "contact_id" in body["fields"]


def test_dnd_raw_address_without_that_channel_is_422(api: Api):
    status, body = api.post("/v1/dnd", {"email": EMAIL, "channel": "sms", "action": "enable", "source": "user"})
    assert status == 422
    assert "channel" in body["fields"]


# --- atomicity, retries, exactly once ------------------------------------------------------------


def test_r14_store_failure_is_503_and_nothing_is_written(contact: Api, monkeypatch: pytest.MonkeyPatch):
    from chalicelib.errors import StoreUnavailable
    from chalicelib.services.context import get_services

    def failing_commit(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("could not store the change; retry")

    monkeypatch.setattr(get_services().dnd, "commit", failing_commit)
    status, body = enable(contact, "email")
    # A failure to store an opt-out is never a 2xx: the sender must retry
    assert status == 503 and body["error"] == "store_unavailable"
    monkeypatch.undo()
    assert contact.get("/v1/contacts/c1")[1]["dnd"]["status"] == "off"
    assert audit(contact) == []


def test_r2_concurrent_change_is_retried_and_both_land(contact: Api, monkeypatch: pytest.MonkeyPatch):
    # Given another writer changes the same address between this change's read and its commit
    import chalicelib.services.dnd as dnd_service

    real_plan = dnd_service._plan
    calls = {"n": 0}

    def plan_with_interference(*args: Any, **kwargs: Any):
        calls["n"] += 1
        if calls["n"] == 1:
            apply_directly(contact, "email", source="contact", reason="unsubscribed")
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(dnd_service, "_plan", plan_with_interference)
    # When a user enables email DND
    status, body = enable(contact, "email")
    # Then the stale write was refused by its version condition, re-planned, and both entries stand
    assert status == 200, body
    assert calls["n"] >= 3  # ours, the interfering one, ours again
    assert body["dnd"]["outbound"]["email"]["reasons"] == ["manual", "unsubscribed"]
    assert [e["reason"] for e in audit(contact)] == ["unsubscribed", "manual"]


def test_r12_redelivered_event_changes_nothing_and_adds_no_audit(contact: Api):
    from chalicelib.services.context import get_services
    from chalicelib.services.dnd import DndChange, apply_dnd_change
    from chalicelib.services.recipients import Target

    change = DndChange(
        contact.workspace_id,
        Target(phone=PHONE),
        "outbound",
        ("sms",),
        "enable",
        "contact",
        "sms_stop",
        kind="permanent",
        event_id="SM-" + uuid.uuid4().hex,
    )
    first = apply_dnd_change(get_services(), change)
    again = apply_dnd_change(get_services(), change)
    assert first.changed and not first.duplicate
    assert again.duplicate and not again.changed
    assert len(audit(contact, phone=PHONE)) == 1
    assert first.contact_ids == ["c1"]
