"""Sequences, audiences and enrollments through the HTTP API (R11, with R4 and R10 where they meet)."""

from __future__ import annotations

from datetime import timedelta

import pytest


def contact(api, contact_id, email=None, company=None, **attributes):
    body = {"email": email or f"{contact_id}@example.com", "attributes": attributes}
    if company:
        body["company_domain"] = company
    status, created = api.put(f"/v1/contacts/{contact_id}", body)
    assert status == 200, created
    return created


def enroll(api, sequence_id, contact_id, **extra):
    return api.post(f"/v1/sequences/{sequence_id}/enrollments", {"contact_id": contact_id, **extra})


def reasons(body):
    return sorted(block["type"] for block in body["blocked_by"])


def test_r11_put_sequence_and_audience_roundtrip(api):
    # When the settings are PUT
    status, body = api.put("/v1/sequences/s1", {"reenroll_cooldown_days": 30, "max_enrollments_per_company": 2})
    # Then they come back with the defaults filled in
    assert status == 200, body
    assert body == {
        "sequence_id": "s1",
        "exclusions_enabled": True,
        "reenroll_cooldown_days": 30,
        "max_enrollments_per_company": 2,
        "unenroll_company_on_reply": False,
    }
    assert api.get("/v1/sequences/s1")[1]["reenroll_cooldown_days"] == 30
    status, body = api.put("/v1/audiences/a1", {"disabled_exclusions": ["exc_1", "exc_1"]})
    assert (status, body) == (200, {"audience_id": "a1", "disabled_exclusions": ["exc_1"]})


def test_r11_invalid_sequence_settings_are_422_naming_the_field(api):
    status, body = api.put("/v1/sequences/s1", {"reenroll_cooldown_days": -1})
    assert status == 422 and "reenroll_cooldown_days" in body["fields"]
    status, body = api.put("/v1/sequences/s1", {"surprise": True})
    assert status == 422 and "surprise" in body["fields"]


def test_r11_enroll_then_send_check_allows_until_unenrolled(api):
    # Given an enrolled contact
    contact(api, "c1")
    status, body = enroll(api, "s1", "c1")
    assert status == 201 and body["status"] == "active", body
    check = {"contact_id": "c1", "channel": "email", "sequence_id": "s1"}
    assert api.post("/v1/send-check", check)[1]["allowed"] is True
    # When the contact is unenrolled
    status, body = api.delete("/v1/sequences/s1/enrollments/c1")
    assert status == 200 and body["status"] == "unenrolled" and body["unenrolled_at"], body
    # Then queued sends for that sequence are blocked (R4: no longer actively enrolled)
    status, verdict = api.post("/v1/send-check", check)
    assert verdict["allowed"] is False
    assert {"type": "enrollment", "reason": "unenrolled"} in verdict["blocked_by"]


def test_r11_enrolling_twice_is_refused_as_already_enrolled(api):
    contact(api, "c1")
    assert enroll(api, "s1", "c1")[0] == 201
    status, body = enroll(api, "s1", "c1")
    assert status == 409 and body["error"] == "enrollment_blocked"
    assert body["blocked_by"] == [{"type": "enrollment", "reason": "already_enrolled"}]


def test_r11_dnd_refuses_enrollment_automated_and_manual(api):
    # Given a contact who opted out themselves (do-not-contact)
    contact(api, "c1")
    status, _ = api.post("/v1/dnd", {"contact_id": "c1", "channel": "all", "action": "enable", "source": "user"})
    assert status == 200
    # When enrolled automatically or by hand, Then both are refused with reason dnd
    for mode in ("automated", "manual"):
        status, body = enroll(api, "s1", "c1", mode=mode)
        assert status == 409, body
        assert reasons(body) == ["dnd"]


def test_r11_exclusion_refuses_manual_enrollment_too(api):
    # Given a person exclusion on a domain
    contact(api, "c1", email="ann@competitor.com")
    contact(api, "c2", email="bob@customer.com")
    contact(api, "c3", email="cy@customer.com")
    status, rule = api.post(
        "/v1/exclusions",
        {
            "name": "competitors",
            "level": "person",
            "conditions": [{"field": "email_domain", "op": "eq", "value": "Competitor.COM"}],
        },
    )
    assert status == 201, rule
    # When the excluded contact is enrolled manually, Then it is refused naming the exclusion
    status, body = enroll(api, "s1", "c1", mode="manual")
    assert status == 409
    assert body["blocked_by"] == [{"type": "exclusion", "exclusion_id": rule["exclusion_id"], "reason": "competitors"}]
    # And others still enroll
    assert enroll(api, "s1", "c2")[0] == 201


def test_r11_unenroll_starts_the_reenrollment_cooldown(api, monkeypatch):
    from chalicelib.services.context import get_services, utcnow

    # Given a sequence with a 30-day cooldown and a contact unenrolled today
    api.put("/v1/sequences/s1", {"reenroll_cooldown_days": 30})
    contact(api, "c1")
    assert enroll(api, "s1", "c1")[0] == 201
    assert api.delete("/v1/sequences/s1/enrollments/c1")[0] == 200
    # When re-enrolled at once, Then cooldown refuses it
    status, body = enroll(api, "s1", "c1")
    assert status == 409 and reasons(body) == ["cooldown"], body
    # And unenrolling again does not move the cooldown start
    first = api.get("/v1/sequences/s1/enrollments?status=unenrolled")[1]["enrollments"][0]["unenrolled_at"]
    api.delete("/v1/sequences/s1/enrollments/c1")
    assert api.get("/v1/sequences/s1/enrollments?status=unenrolled")[1]["enrollments"][0]["unenrolled_at"] == first
    # When 31 days have passed, Then it is allowed
    later = utcnow() + timedelta(days=31)
    monkeypatch.setattr(get_services(), "clock", lambda: later)
    status, body = enroll(api, "s1", "c1")
    assert status == 201, body


def test_r11_company_cap_counts_active_enrollments_of_the_company(api):
    # Given a cap of 2 per company
    api.put("/v1/sequences/s1", {"max_enrollments_per_company": 2})
    for n in range(4):
        contact(api, f"c{n}", company="acme.com")
    contact(api, "other", company="other.com")
    assert enroll(api, "s1", "c0")[0] == 201
    assert enroll(api, "s1", "c1")[0] == 201
    # When a third acme contact is enrolled, Then company_cap refuses it
    status, body = enroll(api, "s1", "c2")
    assert status == 409 and reasons(body) == ["company_cap"], body
    # And another company is unaffected, and the same acme contact fits in another sequence
    assert enroll(api, "s1", "other")[0] == 201
    assert enroll(api, "s2", "c2")[0] == 201
    # When one acme contact leaves, Then a slot opens
    api.delete("/v1/sequences/s1/enrollments/c0")
    assert enroll(api, "s1", "c2")[0] == 201


def test_r11_refusal_lists_every_reason_at_once(api):
    api.put("/v1/sequences/s1", {"max_enrollments_per_company": 1})
    contact(api, "c0", company="acme.com")
    contact(api, "c1", email="x@acme.com", company="acme.com")
    assert enroll(api, "s1", "c0")[0] == 201
    api.post(
        "/v1/exclusions",
        {
            "name": "acme",
            "level": "company",
            "conditions": [{"field": "company_domain", "op": "eq", "value": "https://www.acme.com"}],
            "confirm": True,
        },
    )
    api.post("/v1/dnd", {"contact_id": "c1", "channel": "all", "action": "enable", "source": "user"})
    status, body = enroll(api, "s1", "c1")
    assert status == 409
    assert reasons(body) == ["company_cap", "dnd", "exclusion"]


def test_r11_enrollment_needs_a_known_contact_and_valid_body(api):
    assert enroll(api, "s1", "ghost")[0] == 404
    status, body = api.post("/v1/sequences/s1/enrollments", {"contact_id": "c1", "mode": "robot"})
    assert status == 422 and "mode" in body["fields"]
    assert api.delete("/v1/sequences/s1/enrollments/ghost")[0] == 404


def test_r11_list_enrollments_by_status_with_cursor(api):
    # Given 7 enrollments, 2 of them unenrolled
    for n in range(7):
        contact(api, f"c{n}")
        assert enroll(api, "s1", f"c{n}")[0] == 201
    api.delete("/v1/sequences/s1/enrollments/c1")
    api.delete("/v1/sequences/s1/enrollments/c4")
    # When listing active ones 2 at a time following the cursor
    seen, cursor = [], None
    for _ in range(10):
        path = "/v1/sequences/s1/enrollments?status=active&limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = api.get(path)
        assert status == 200, page
        seen.extend(e["contact_id"] for e in page["enrollments"])
        assert all(e["status"] == "active" for e in page["enrollments"])
        cursor = page["next"]
        if cursor is None:
            break
    # Then every active one appears once
    assert sorted(seen) == ["c0", "c2", "c3", "c5", "c6"]
    status, page = api.get("/v1/sequences/s1/enrollments?status=unenrolled")
    assert sorted(e["contact_id"] for e in page["enrollments"]) == ["c1", "c4"]
    assert api.get("/v1/sequences/s1/enrollments?status=paused")[0] == 422
    assert api.get("/v1/sequences/s1/enrollments?cursor=garbage!")[0] == 422


def test_r11_do_not_contact_removes_from_every_sequence(api):
    # Given a contact in two sequences and a coworker in one
    contact(api, "c1")
    contact(api, "c2")
    for sequence_id in ("s1", "s2"):
        assert enroll(api, sequence_id, "c1")[0] == 201
    assert enroll(api, "s1", "c2")[0] == 201
    # When the contact is marked do-not-contact on every channel
    status, _ = api.post("/v1/dnd", {"contact_id": "c1", "channel": "all", "action": "enable", "source": "user"})
    assert status == 200
    # Then they left both sequences, and the coworker stayed
    for sequence_id in ("s1", "s2"):
        listed = api.get(f"/v1/sequences/{sequence_id}/enrollments?status=active")[1]["enrollments"]
        assert "c1" not in [e["contact_id"] for e in listed]
    assert [e["contact_id"] for e in api.get("/v1/sequences/s1/enrollments?status=active")[1]["enrollments"]] == ["c2"]


def test_r11_partial_dnd_does_not_unenroll(api):
    # Given an enrolled contact, When only SMS DND is set by a user (not do-not-contact)
    contact(api, "c1")
    api.put("/v1/contacts/c1", {"email": "c1@example.com", "phone": "+14155552671"})
    assert enroll(api, "s1", "c1")[0] == 201
    api.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"})
    # Then the enrollment stays active
    listed = api.get("/v1/sequences/s1/enrollments?status=active")[1]["enrollments"]
    assert [e["contact_id"] for e in listed] == ["c1"]


def test_r11_unenroll_contacts_entry_point_for_other_capabilities(api):
    from chalicelib.services.context import get_services
    from chalicelib.services.enrollments import unenroll_contacts

    contact(api, "c1")
    for sequence_id in ("s1", "s2"):
        enroll(api, sequence_id, "c1")
    services = get_services()
    # When one sequence is named, Then only that one ends
    assert unenroll_contacts(services, api.workspace_id, ["c1"], "s1", "unsubscribed") == 1
    assert unenroll_contacts(services, api.workspace_id, ["c1"], "s1", "unsubscribed") == 0
    # When none is named, Then every active one ends
    assert unenroll_contacts(services, api.workspace_id, ["c1", "ghost"], None, "unsubscribed") == 1
    assert api.get("/v1/sequences/s2/enrollments?status=active")[1]["enrollments"] == []


def test_r14_enrollments_do_not_cross_workspaces(api, other_api):
    contact(api, "c1")
    assert enroll(api, "s1", "c1")[0] == 201
    assert other_api.get("/v1/sequences/s1/enrollments")[1]["enrollments"] == []
    assert enroll(other_api, "s1", "c1")[0] == 404


@pytest.mark.parametrize("path", ["/v1/sequences/s1/enrollments", "/v1/sequences/s1"])
def test_r14_routes_need_a_key(api, path):
    assert api.get(path, key=None)[0] == 401
