"""R1/R2: the pure DND rules -- what an enable or a clear does to a subject's entries."""

from __future__ import annotations

import pytest

from chalicelib.errors import DndClearRefused
from chalicelib.logic.dnd_rules import (
    dnd_view,
    is_do_not_contact,
    merged_entries,
    reasons_to_clear,
    strongest,
    with_entry,
    without_reasons,
)
from chalicelib.models.domain import CHANNELS, DndEntry, DndState

T0 = "2024-01-01T00:00:00.000000Z"
T1 = "2024-01-02T00:00:00.000000Z"


def entry(reason: str, kind: str = "temporary", source: str = "user", at: str = T0) -> DndEntry:
    return DndEntry(reason=reason, kind=kind, source=source, actor=None, at=at)


def state_with(channel: str, *entries: DndEntry) -> DndState:
    return DndState(outbound={channel: {e.reason: e for e in entries}})


UNSUB = entry("unsubscribed", "permanent", "contact")
BOUNCE = entry("hard_bounce", "temporary", "system", T1)
MANUAL = entry("manual", "temporary", "user")
SPAM = entry("spam_complaint", "permanent", "system")
SMS_STOP = entry("sms_stop", "permanent", "contact")


# --- enabling --------------------------------------------------------------------------


def test_r2_enable_stores_entry_keyed_by_reason():
    # Given no DND / When a manual entry is added on email / Then it is stored under its reason.
    updated = with_entry(DndState(), "outbound", "email", MANUAL)
    assert updated is not None
    assert updated.outbound == {"email": {"manual": MANUAL}}
    assert updated.inbound == {}


def test_r2_enable_does_not_mutate_input_state():
    original = DndState()
    with_entry(original, "outbound", "email", MANUAL)
    assert original.is_empty()


def test_r2_later_bounce_does_not_replace_unsubscribe():
    # Given the person unsubscribed / When a bounce arrives later / Then both reasons stand.
    updated = with_entry(state_with("email", UNSUB), "outbound", "email", BOUNCE)
    assert updated is not None
    assert updated.outbound["email"] == {"unsubscribed": UNSUB, "hard_bounce": BOUNCE}
    assert strongest(updated.outbound["email"].values()) == UNSUB


def test_r2_weaker_repeat_of_same_reason_never_overwrites_stronger():
    permanent = entry("manual", "permanent", "contact")
    state = state_with("email", permanent)
    assert with_entry(state, "outbound", "email", entry("manual", "temporary", "user", T1)) is None


def test_r2_same_reason_repeated_is_no_change():
    state = state_with("email", MANUAL)
    assert with_entry(state, "outbound", "email", entry("manual", at=T1)) is None


def test_r2_temporary_reason_is_upgraded_to_permanent():
    state = state_with("email", entry("manual"))
    stronger = entry("manual", "permanent", "contact", T1)
    updated = with_entry(state, "outbound", "email", stronger)
    assert updated is not None
    assert updated.outbound["email"]["manual"] == stronger


def test_r1_outbound_channels_are_independent():
    updated = with_entry(DndState(), "outbound", "sms", SMS_STOP)
    assert updated is not None
    assert updated.entries("outbound", "sms") == {"sms_stop": SMS_STOP}
    assert updated.entries("outbound", "email") == {}
    assert updated.entries("outbound", "call") == {}
    assert updated.entries("inbound", None) == {}


def test_r1_inbound_is_one_entry_set_not_per_channel():
    updated = with_entry(DndState(), "inbound", None, MANUAL)
    assert updated is not None
    assert updated.inbound == {"manual": MANUAL}
    assert updated.outbound == {}


# --- clearing ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
def test_r2_user_workflow_crm_clear_temporary(source):
    active = {"manual": MANUAL, "hard_bounce": BOUNCE}
    assert reasons_to_clear(active, source=source, evidence=None, only_reasons=None) == {"manual", "hard_bounce"}


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
def test_r2_permanent_without_evidence_is_refused_permanent_dnd(source):
    with pytest.raises(DndClearRefused) as refused:
        reasons_to_clear({"unsubscribed": UNSUB}, source=source, evidence=None, only_reasons=None)
    assert refused.value.code == "permanent_dnd"
    assert refused.value.status == 409


@pytest.mark.parametrize("source", ["workflow", "crm"])
def test_r2_evidence_only_counts_from_a_user(source):
    with pytest.raises(DndClearRefused) as refused:
        reasons_to_clear({"unsubscribed": UNSUB}, source=source, evidence="signed form", only_reasons=None)
    assert refused.value.code == "permanent_dnd"


def test_r2_user_with_evidence_clears_permanent():
    cleared = reasons_to_clear(
        {"unsubscribed": UNSUB, "manual": MANUAL}, source="user", evidence="opt-in form 2024-02-01", only_reasons=None
    )
    assert cleared == {"unsubscribed", "manual"}


def test_r2_mixed_temporary_and_permanent_refuses_the_whole_clear():
    # Nothing partial: a user without evidence does not even clear the temporary part.
    with pytest.raises(DndClearRefused):
        reasons_to_clear({"unsubscribed": UNSUB, "manual": MANUAL}, source="user", evidence=None, only_reasons=None)


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
@pytest.mark.parametrize("evidence", [None, "signed form"])
def test_r2_spam_complaint_is_never_cleared_by_user_workflow_or_crm(source, evidence):
    with pytest.raises(DndClearRefused) as refused:
        reasons_to_clear({"spam_complaint": SPAM}, source=source, evidence=evidence, only_reasons=None)
    assert refused.value.code == "spam_complaint"


def test_r2_contact_reopt_in_clears_permanent_and_spam():
    active = {"unsubscribed": UNSUB, "spam_complaint": SPAM}
    assert reasons_to_clear(active, source="contact", evidence=None, only_reasons=None) == set(active)


def test_r6_contact_reopt_in_clears_only_the_reasons_it_covers():
    # Given SMS STOP and a user's manual SMS DND / When the person texts START (only sms_stop) /
    # Then only the keyword's entry is cleared.
    active = {"sms_stop": SMS_STOP, "manual": MANUAL}
    cleared = reasons_to_clear(active, source="contact", evidence=None, only_reasons=frozenset({"sms_stop"}))
    assert cleared == {"sms_stop"}


def test_r2_clearing_a_bounce_leaves_the_unsubscribe():
    # Given unsubscribed + hard bounce / When a user clears only the bounce / Then the unsubscribe stays.
    state = state_with("email", UNSUB, BOUNCE)
    active = state.entries("outbound", "email")
    cleared = reasons_to_clear(active, source="user", evidence=None, only_reasons=frozenset({"hard_bounce"}))
    assert cleared == {"hard_bounce"}
    updated = without_reasons(state, "outbound", "email", cleared)
    assert updated is not None
    assert updated.outbound["email"] == {"unsubscribed": UNSUB}


def test_r2_only_reasons_not_active_clears_nothing():
    assert reasons_to_clear({"manual": MANUAL}, source="user", evidence=None, only_reasons=frozenset({"x"})) == set()


def test_r2_nothing_active_is_nothing_to_clear():
    assert reasons_to_clear({}, source="workflow", evidence=None, only_reasons=None) == set()


def test_without_reasons_drops_empty_channel_and_leaves_others():
    state = DndState(outbound={"email": {"manual": MANUAL}, "sms": {"sms_stop": SMS_STOP}})
    updated = without_reasons(state, "outbound", "email", {"manual"})
    assert updated is not None
    assert "email" not in updated.outbound
    assert updated.outbound["sms"] == {"sms_stop": SMS_STOP}
    assert state.outbound["email"] == {"manual": MANUAL}  # input untouched


def test_without_reasons_is_none_when_nothing_matches():
    assert without_reasons(state_with("email", MANUAL), "outbound", "email", {"other"}) is None


def test_without_reasons_inbound():
    state = DndState(inbound={"manual": MANUAL})
    updated = without_reasons(state, "inbound", None, {"manual"})
    assert updated is not None and updated.inbound == {}


# --- views ------------------------------------------------------------------------------


def test_r1_status_off_when_nothing_blocked():
    view = dnd_view([DndState()])
    assert view["status"] == "off"
    assert set(view["outbound"]) == set(CHANNELS)
    assert all(value is None for value in view["outbound"].values())
    assert view["inbound"] is None


def test_r1_status_partial_when_some_channels_blocked():
    view = dnd_view([state_with("email", MANUAL)])
    assert view["status"] == "partial"
    assert view["outbound"]["email"]["reason"] == "manual"
    assert view["outbound"]["email"]["kind"] == "temporary"
    assert view["outbound"]["email"]["source"] == "user"
    assert view["outbound"]["sms"] is None


def test_r1_status_on_when_every_outbound_channel_blocked_across_subjects():
    # Given DND spread over the contact and its address subjects / Then the union decides.
    contact = DndState(outbound={c: {"manual": MANUAL} for c in ("facebook", "gbp")})
    email = state_with("email", UNSUB)
    phone = DndState(outbound={c: {"sms_stop": SMS_STOP} for c in ("sms", "call", "whatsapp")})
    assert dnd_view([contact, email])["status"] == "partial"
    assert dnd_view([contact, email, phone])["status"] == "on"


def test_r1_inbound_does_not_count_toward_outbound_status():
    view = dnd_view([DndState(inbound={"manual": MANUAL})])
    assert view["status"] == "off"
    assert view["inbound"]["reason"] == "manual"


def test_r2_view_shows_strongest_entry_and_every_reason():
    view = dnd_view([state_with("email", BOUNCE, UNSUB)])
    assert view["outbound"]["email"]["reason"] == "unsubscribed"
    assert view["outbound"]["email"]["kind"] == "permanent"
    assert view["outbound"]["email"]["reasons"] == ["hard_bounce", "unsubscribed"]


def test_strongest_prefers_permanent_then_the_persons_own_then_oldest():
    late_permanent_system = entry("a", "permanent", "system", T1)
    early_permanent_contact = entry("b", "permanent", "contact", T1)
    temporary_contact = entry("c", "temporary", "contact", T0)
    assert strongest([temporary_contact, late_permanent_system, early_permanent_contact]) == early_permanent_contact
    assert strongest([entry("x", at=T1), entry("y", at=T0)]).reason == "y"
    assert strongest([]) is None


def test_merged_entries_keeps_strongest_per_reason_across_subjects():
    weak = entry("manual", "temporary", "user")
    strong = entry("manual", "permanent", "user")
    merged = merged_entries([state_with("email", weak), state_with("email", strong)], "outbound", "email")
    assert merged == {"manual": strong}


def test_r2_do_not_contact_when_all_blocked_or_person_opted_out():
    assert not is_do_not_contact([DndState()])
    assert not is_do_not_contact([state_with("email", MANUAL)])
    assert is_do_not_contact([state_with("email", UNSUB)])
    assert is_do_not_contact([DndState(outbound={c: {"manual": MANUAL} for c in CHANNELS})])
