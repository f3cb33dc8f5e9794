"""Services on in-memory fakes (tests/unit/fakes.py): the DND enable/clear rules (R2, R12), the
send-check verdict and its two read rounds (R4, R16), bulk unenrollment jobs (R11). No AWS, no
sockets: the same services code that runs on DynamoDB, wired through ``Services``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.errors import DndClearRefused
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, DndResult, apply_dnd_change, apply_dnd_changes
from chalicelib.services.jobs import PlanStep, UnenrollBatch, apply_batch, job_view, run_plan_step, start_unenroll_job
from chalicelib.services.recipients import Target, address_pk
from chalicelib.services.send_check import check_batch, check_one
from tests.unit.fakes import NOW, FakeCheckRecords, FakeEvents, FakeOutbox, FakeQueue, fake_services

WS = "ws1"


def with_contact(services: Services, contact_id: str = "c1", email: str = "jane@example.com") -> dict[str, Any]:
    services.config_cache.set(WS)  # type: ignore[attr-defined]
    return services.contacts.add(  # type: ignore[attr-defined]
        WS, contact_id, email=email, email_key=address_pk(services, WS, "email", email)
    )


def opt_out(services: Services, source: Any = "user", kind: Any = "temporary", **extra: Any) -> DndResult:
    change = DndChange(WS, Target(contact_id="c1"), "outbound", ("email",), "enable", source, "manual", kind, **extra)
    return apply_dnd_change(services, change)


def clear(services: Services, source: Any = "user", evidence: str | None = None) -> DndResult:
    change = DndChange(
        WS, Target(contact_id="c1"), "outbound", ("email",), "disable", source, "cleared", evidence=evidence
    )
    return apply_dnd_change(services, change)


# --- DND (R2, R12) -------------------------------------------------------------------------------


def test_r12_an_opt_out_is_stored_audited_and_its_follow_ups_run_in_order_then_the_outbox_item_goes():
    calls: list[str] = []
    follow_ups = (
        lambda services, ws, result: calls.append(f"crm:{result.contact_ids}"),
        lambda services, ws, result: calls.append(f"unenroll:{result.contact_ids}"),
    )
    # Given a contact with an email address
    services = fake_services(follow_ups=follow_ups)
    with_contact(services)
    # When a user turns email DND on
    result = opt_out(services)
    # Then the email address carries the entry, one audit entry says so, at the services' clock
    assert result.changed and not result.duplicate
    email_pk = address_pk(services, WS, "email", "jane@example.com")
    stored = services.dnd.get_address_item(email_pk)
    assert stored is not None and "manual" in stored["dnd"]["outbound"]["email"]
    assert [(r.entry["action"], r.entry["at"]) for r in services.dnd.audit] == [  # type: ignore[attr-defined]
        ("enabled", "2026-03-02T15:00:00.000000Z")
    ]
    # And the follow-ups ran in the order Services lists them, then the outbox item was deleted
    assert calls == ["crm:['c1']", "unenroll:['c1']"]
    events: FakeEvents = services.events  # type: ignore[assignment]
    assert [(e["type"], e["action"], e["contact_ids"]) for e in events.published] == [
        ("dnd.changed", "enabled", ["c1"])
    ]
    outbox: FakeOutbox = services.outbox  # type: ignore[assignment]
    assert outbox.items == {}


def test_r12_a_failing_follow_up_leaves_the_outbox_item_for_the_sweeper_and_the_others_still_run():
    calls: list[str] = []

    def broken(services: Services, ws: str, result: DndResult) -> None:
        raise RuntimeError("CRM queue down")

    services = fake_services(follow_ups=(broken, lambda services, ws, result: calls.append("unenroll")))
    with_contact(services)
    result = opt_out(services)
    # The opt-out is stored and answered; the next follow-up ran; the item stays for the sweeper
    assert result.changed and calls == ["unenroll"]
    outbox: FakeOutbox = services.outbox  # type: ignore[assignment]
    assert len(outbox.items) == 1


def test_r12_a_redelivered_event_changes_nothing_and_adds_no_audit_entry():
    services = fake_services()
    with_contact(services)
    first = opt_out(services, event_id="SM123")
    again = opt_out(services, event_id="SM123")
    assert first.changed and again.duplicate and not again.changed
    assert len(services.dnd.audit) == 1  # type: ignore[attr-defined]


def test_r2_a_workflow_clears_a_temporary_entry():
    services = fake_services()
    with_contact(services)
    opt_out(services)
    result = clear(services, source="workflow")
    assert result.changed
    assert [r.entry["action"] for r in services.dnd.audit] == ["enabled", "disabled"]  # type: ignore[attr-defined]


def test_r2_a_permanent_entry_needs_a_users_evidence_to_clear():
    services = fake_services()
    with_contact(services)
    opt_out(services, source="contact", kind="permanent")
    # A workflow, or a user without evidence, is refused; nothing is written
    for source, evidence in (("workflow", None), ("user", None)):
        with pytest.raises(DndClearRefused) as refused:
            clear(services, source=source, evidence=evidence)
        assert refused.value.code == "permanent_dnd"
    assert len(services.dnd.audit) == 1  # type: ignore[attr-defined]
    # A user with the person's opt-in evidence clears it
    assert clear(services, source="user", evidence="signed form 2026-03-01").changed


def test_r18_a_batch_of_imported_opt_outs_is_applied_once_per_event_and_followed_up():
    calls: list[list[str]] = []
    services = fake_services(follow_ups=(lambda services, ws, result: calls.append(result.contact_ids),))
    with_contact(services)
    jane = address_pk(services, WS, "email", "jane@example.com")
    other = address_pk(services, WS, "email", "other@example.com")

    def imported(pk: str, event_id: str) -> DndChange:
        target = Target(address_key=pk, address_kind="email")
        return DndChange(WS, target, "outbound", ("email",), "enable", "user", "imported", event_id=event_id)

    # Given an import naming jane twice (two reasons would be one: same reason) and a repeated row
    changes = [imported(jane, "row-1"), imported(other, "row-2"), imported(jane, "row-3"), imported(other, "row-2")]
    # When it is applied
    outcomes = apply_dnd_changes(services, changes)
    # Then each address carries the entry, the repeated event is a duplicate, the same entry unchanged
    assert outcomes == ["applied", "applied", "unchanged", "duplicate"]
    assert services.dnd.is_processed(f"evt#{WS}#row-1") and services.dnd.is_processed(f"evt#{WS}#row-2")
    assert [r.entry["action"] for r in services.dnd.audit] == ["enabled", "enabled"]  # type: ignore[attr-defined]
    # And the follow-ups ran per applied change (jane's contact found by its address), the outbox emptied
    assert calls == [["c1"], []]
    outbox: FakeOutbox = services.outbox  # type: ignore[assignment]
    assert outbox.items == {}


# --- send-check (R4, R16) ------------------------------------------------------------------------


def test_r4_the_verdict_reads_the_contacts_address_dnd_in_two_rounds_and_names_the_reason():
    services = fake_services()
    with_contact(services)
    records: FakeCheckRecords = services.check_records  # type: ignore[assignment]
    # Given no DND, a check by contact id is allowed (round 1: the contact; round 2: its addresses)
    assert check_one(services, WS, {"contact_id": "c1", "channel": "email"})["allowed"] is True
    assert records.rounds == 2
    # When the contact opts out of email
    opt_out(services)
    # Then email is blocked with the reason, and SMS (no phone) is not blocked by DND
    answer = check_one(services, WS, {"contact_id": "c1", "channel": "email"})
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "email", "reason": "manual", "kind": "temporary"}]


def test_r16_a_check_by_contact_and_its_own_address_is_one_round():
    services = fake_services()
    with_contact(services)
    opt_out(services)
    records: FakeCheckRecords = services.check_records  # type: ignore[assignment]
    answer = check_one(services, WS, {"contact_id": "c1", "email": "Jane@Example.com", "channel": "email"})
    assert answer["allowed"] is False and records.rounds == 1


def test_r4_a_batch_reports_an_unknown_contact_in_place():
    services = fake_services()
    with_contact(services)
    results = check_batch(
        services,
        WS,
        {"checks": [{"contact_id": "c1", "channel": "email"}, {"contact_id": "nobody", "channel": "email"}]},
    )["results"]
    assert results[0]["allowed"] is True
    assert results[1] == {
        "allowed": False,
        "dnd_status": "unknown",
        "blocked_by": [],
        "warnings": [],
        "error": "contact_not_found",
    }


# --- bulk unenrollment jobs (R11) ----------------------------------------------------------------


def test_r11_a_status_job_plans_batches_applies_them_once_and_finishes():
    services = fake_services()
    for n in range(250):
        services.enrollments.add(WS, "s1", f"c{n:03d}")  # type: ignore[attr-defined]
    queue: FakeQueue = services.unenroll_queue  # type: ignore[assignment]
    # Given a job for every active enrollment of s1
    job_id = start_unenroll_job(services, WS, {"by": "status", "sequence_id": "s1", "status": "active"}, "bulk")
    assert job_view(services, WS, job_id)["status"] == "queued"
    (plan,) = queue.take()
    # When its plan step runs, it sends batches of at most 100 contacts
    run_plan_step(services, PlanStep.model_validate(plan))
    batches = queue.take()
    assert [len(b["pairs"]) for b in batches] == [100, 100, 50]
    assert job_view(services, WS, job_id)["total"] == 250
    # And each batch applied (one of them delivered twice) unenrolls each contact once
    for body in [*batches, batches[0]]:
        apply_batch(services, UnenrollBatch.model_validate(json.loads(json.dumps(body))))
    view = job_view(services, WS, job_id)
    assert (view["status"], view["processed"], view["unenrolled"]) == ("done", 250, 250)
    assert services.enrollments.active_for_contact(WS, "c000") == []
    assert services.enrollments.get(WS, "s1", "c000").unenrolled_at == "2026-03-02T15:00:00.000000Z"  # type: ignore[union-attr]


def test_r11_a_job_that_cannot_be_queued_is_marked_failed():
    services = fake_services()

    class DownQueue(FakeQueue):
        def send(self, bodies: list[dict[str, Any]]) -> None:
            raise RuntimeError("SQS down")

    services.unenroll_queue = DownQueue()
    with pytest.raises(Exception, match="could not queue"):
        start_unenroll_job(services, WS, {"by": "status", "sequence_id": "s1", "status": "active"}, "bulk")
    (job,) = services.jobs.jobs.values()  # type: ignore[attr-defined]
    assert job["error"] == "could_not_queue"


def test_the_fake_clock_is_the_services_clock():
    assert fake_services().clock() == NOW
