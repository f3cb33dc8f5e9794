"""Exclusion rules through the HTTP API (R10): CRUD, validation, matching, hierarchy, preview,
the breadth guard, CSV import, chunked storage."""

from __future__ import annotations

from datetime import timedelta

import pytest


def contact(api, contact_id, email, company=None, **attributes):
    body = {"email": email, "attributes": attributes}
    if company:
        body["company_domain"] = company
    status, created = api.put(f"/v1/contacts/{contact_id}", body)
    assert status == 200, created


def rule(api, conditions, level="person", **flags):
    status, body = api.post("/v1/exclusions", {"name": "rule", "level": level, "conditions": conditions, **flags})
    assert status == 201, body
    return body


def check(api, contact_id, sequence_id=None, **extra):
    body = {"contact_id": contact_id, "channel": "email", **extra}
    if sequence_id:
        body["sequence_id"] = sequence_id
    status, verdict = api.post("/v1/send-check", body)
    assert status == 200, verdict
    return verdict


def excluded_by(verdict):
    return [b["exclusion_id"] for b in verdict["blocked_by"] if b["type"] == "exclusion"]


@pytest.fixture()
def people(api):
    """Ten contacts: 4 at gmail, 3 at acme (company acme.com), 3 at other companies."""
    for n in range(4):
        contact(api, f"g{n}", f"person{n}@Gmail.com")
    for n in range(3):
        contact(api, f"a{n}", f"worker{n}@mail.acme.com", company="www.ACME.com")
    contact(api, "o0", "x@beta.io", company="beta.io", tier="gold", signed_up=None)
    contact(api, "o1", "y@gamma.io", tier="silver")
    contact(api, "o2", "z@delta.io")
    return api


def test_r10_create_normalizes_and_get_returns_the_rule(api):
    # When a rule is saved with raw values
    created = rule(
        api,
        [
            {"field": "company_domain", "op": "in", "values": ["HTTPS://www.Acme.com/about", "beta.io"]},
            {"field": "email", "op": "ends_with", "value": " @Gmail.COM "},
        ],
    )
    # Then values are stored normalized, with the flags' defaults
    assert created["conditions"] == [
        {"field": "company_domain", "op": "in", "values": ["acme.com", "beta.io"]},
        {"field": "email", "op": "ends_with", "value": "@gmail.com"},
    ]
    assert (created["enabled"], created["exclude_from_sequences"], created["proactive_unenroll"]) == (True, True, False)
    assert "job_id" not in created
    status, fetched = api.get(f"/v1/exclusions/{created['exclusion_id']}")
    assert status == 200 and fetched == created
    assert [r["exclusion_id"] for r in api.get("/v1/exclusions")[1]["exclusions"]] == [created["exclusion_id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"level": "team"}, "level"),
        ({"conditions": []}, "conditions"),
        ({"conditions": [{"field": "phone", "op": "eq", "value": "1"}]}, "conditions[0].field"),
        ({"conditions": [{"field": "email", "op": "like", "value": "a"}]}, "conditions[0].op"),
        ({"conditions": [{"field": "email", "op": "eq", "value": "not-an-email"}]}, "conditions[0].value"),
        (
            {"conditions": [{"field": "email_domain", "op": "in", "values": ["ok.com", "bad domain"]}]},
            "conditions[0].values[1]",
        ),
        ({"conditions": [{"field": "email_domain", "op": "in"}]}, "conditions[0].values"),
        ({"conditions": [{"field": "email", "op": "within_days", "value": 3}]}, "conditions[0].field"),
        ({"conditions": [{"field": "attributes.seen", "op": "within_days", "value": -3}]}, "conditions[0].value"),
        (
            {"level": "company", "conditions": [{"field": "email", "op": "eq", "value": "a@b.com"}]},
            "conditions[0].field",
        ),
        (
            {"level": "company", "conditions": [{"field": "attributes.tier", "op": "eq", "value": "x"}]},
            "conditions[0].field",
        ),
        ({"name": ""}, "name"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_r10_invalid_rules_are_422_naming_the_field(api, body, field):
    base = {"name": "r", "level": "person", "conditions": [{"field": "email_domain", "op": "eq", "value": "a.com"}]}
    status, answer = api.post("/v1/exclusions", {**base, **body})
    assert status == 422, answer
    assert field in answer["fields"], answer
    assert api.get("/v1/exclusions")[1]["exclusions"] == []  # nothing half-written


def test_r10_person_rule_blocks_exactly_the_matching_contacts(people):
    api = people
    # Given a rule on gmail addresses (ends_with covers every variant)
    created = rule(api, [{"field": "email", "op": "ends_with", "value": "@gmail.com"}])
    # Then the very next check (same instance: cache invalidated) blocks gmail contacts, manual sends too
    for n in range(4):
        assert excluded_by(check(api, f"g{n}")) == [created["exclusion_id"]]
        assert check(api, f"g{n}", mode="manual")["allowed"] is False
    for other in ("a0", "o0", "o1", "o2"):
        assert check(api, other)["allowed"] is True


def test_r10_company_rule_matches_by_exact_normalized_domain(people):
    api = people
    # Given a company rule on acme.com (given with scheme and www.)
    created = rule(api, [{"field": "company_domain", "op": "eq", "value": "http://WWW.acme.com"}], level="company")
    # Then every acme contact is excluded; a look-alike domain is not
    contact(api, "lookalike", "q@notacme.com", company="notacme.com")
    contact(api, "sub", "q@eu.acme.com", company="eu.acme.com")
    for n in range(3):
        assert excluded_by(check(api, f"a{n}")) == [created["exclusion_id"]]
    for other in ("lookalike", "sub", "g0", "o0"):
        assert excluded_by(check(api, other)) == []


def test_r10_company_rule_falls_back_to_email_domain(api):
    contact(api, "c1", "ann@initech.com")
    rule(api, [{"field": "email_domain", "op": "eq", "value": "initech.com"}], level="company", confirm=True)
    assert check(api, "c1")["allowed"] is False


def test_r10_attribute_ops(people, monkeypatch):
    api = people
    from chalicelib.services.context import get_services, utcnow

    now = utcnow()
    contact(api, "recent", "r@r.io", last_meeting=(now - timedelta(days=2)).isoformat())
    contact(api, "old", "o@o.io", last_meeting=(now - timedelta(days=40)).isoformat())
    gold = rule(api, [{"field": "attributes.tier", "op": "in", "values": ["GOLD", "platinum"]}])
    met = rule(api, [{"field": "attributes.last_meeting", "op": "within_days", "value": 30}])
    has_tier = rule(
        api,
        [
            {"field": "attributes.tier", "op": "exists", "value": True},
            {"field": "attributes.tier", "op": "neq", "value": "gold"},
        ],
    )
    assert excluded_by(check(api, "o0")) == [gold["exclusion_id"]]
    assert excluded_by(check(api, "recent")) == [met["exclusion_id"]]
    assert excluded_by(check(api, "old")) == []
    assert excluded_by(check(api, "o1")) == [has_tier["exclusion_id"]]
    # When time moves on, the within_days window moves with it
    later = now + timedelta(days=29)
    monkeypatch.setattr(get_services(), "clock", lambda: later)
    assert excluded_by(check(api, "recent")) == []


def test_r10_flags_and_hierarchy(people):
    api = people
    # Given a gmail rule, a sequence with exclusions off and an audience that disables the rule
    created = rule(api, [{"field": "email_domain", "op": "eq", "value": "gmail.com"}])
    rule_id = created["exclusion_id"]
    api.put("/v1/sequences/open", {"exclusions_enabled": False})
    api.put("/v1/sequences/strict", {})
    api.put("/v1/audiences/partners", {"disabled_exclusions": [rule_id]})
    # Then: sequence ruleset off -> rule does not apply there; on -> applies
    assert excluded_by(check(api, "g0", "open")) == []
    assert excluded_by(check(api, "g0", "strict")) == [rule_id]
    # The audience the contact came from disabled it -> does not apply (given on the check...)
    assert excluded_by(check(api, "g0", "strict", audience_id="partners")) == []
    # ...or recorded on the enrollment
    assert api.post("/v1/sequences/strict/enrollments", {"contact_id": "g1", "audience_id": "partners"})[0] == 201
    assert check(api, "g1", "strict")["allowed"] is True
    status, refused = api.post("/v1/sequences/strict/enrollments", {"contact_id": "g2"})
    assert status == 409 and refused["blocked_by"][0]["type"] == "exclusion"
    # exclude_from_sequences false: not in sequences, still for direct sends
    assert api.patch(f"/v1/exclusions/{rule_id}", {"exclude_from_sequences": False})[0] == 200
    assert excluded_by(check(api, "g0", "strict")) == []
    assert excluded_by(check(api, "g0")) == [rule_id]
    # Disabled: nowhere
    assert api.patch(f"/v1/exclusions/{rule_id}", {"enabled": False})[1]["enabled"] is False
    assert excluded_by(check(api, "g0")) == []


def test_r10_dnd_is_never_overridden_by_hierarchy(people):
    api = people
    # Given a contact with DND and a sequence whose exclusions are off and an audience disabling everything
    api.put("/v1/sequences/open", {"exclusions_enabled": False})
    api.post("/v1/dnd", {"contact_id": "o2", "channel": "email", "action": "enable", "source": "user"})
    verdict = check(api, "o2", "open", audience_id="anything")
    assert verdict["allowed"] is False
    assert "dnd" in [b["type"] for b in verdict["blocked_by"]]


def test_r10_patch_cannot_change_level_and_delete_removes(people):
    api = people
    created = rule(api, [{"field": "email_domain", "op": "eq", "value": "gmail.com"}])
    rule_id = created["exclusion_id"]
    status, body = api.patch(f"/v1/exclusions/{rule_id}", {"level": "company"})
    assert status == 422 and "level" in body["fields"]
    assert api.patch(f"/v1/exclusions/{rule_id}", {"level": "person", "name": "renamed"})[1]["name"] == "renamed"
    bad = {"conditions": [{"field": "email", "op": "eq", "value": "x"}]}
    status, body = api.patch(f"/v1/exclusions/{rule_id}", bad)
    assert status == 422 and "conditions[0].value" in body["fields"]
    assert api.patch("/v1/exclusions/exc_nope", {"name": "x"})[0] == 404
    assert api.delete(f"/v1/exclusions/{rule_id}")[0] == 204
    assert api.get(f"/v1/exclusions/{rule_id}")[0] == 404
    assert api.delete(f"/v1/exclusions/{rule_id}")[0] == 404
    assert check(api, "g0")["allowed"] is True


def test_r10_rule_changes_reach_other_instances_within_one_second(people, monkeypatch):
    """Another instance's cache is at most config_cache_seconds old."""
    api = people
    import time as real_time

    from chalicelib.services.context import get_services

    cache = get_services().config_cache
    cache.get(api.workspace_id)  # warm this instance's copy
    clock = {"now": real_time.monotonic()}
    monkeypatch.setattr("chalicelib.store.workspaces.time.monotonic", lambda: clock["now"])
    cache.get(api.workspace_id)
    # When a rule is written behind the cache's back (as by another instance)
    from chalicelib.models.domain import Condition, ExclusionRule
    from chalicelib.store.exclusions import ExclusionStore

    ExclusionStore(get_services().config).put(
        api.workspace_id,
        ExclusionRule(
            exclusion_id="exc_other",
            name="x",
            level="person",
            conditions=[Condition(field="email_domain", op="eq", value="gmail.com")],
        ),
        create=True,
    )
    # Then it is in force once the copy is a second old
    clock["now"] += 1.01
    assert excluded_by(check(api, "g0")) == ["exc_other"]


def test_r10_preview_agrees_with_saving(people):
    api = people
    # Given enrollments: 2 gmail contacts and 1 acme contact in s1, 1 gmail in s2 (exclusions off)
    api.put("/v1/sequences/s2", {"exclusions_enabled": False})
    for contact_id, sequence_id in (("g0", "s1"), ("g1", "s1"), ("a0", "s1"), ("g2", "s2")):
        assert api.post(f"/v1/sequences/{sequence_id}/enrollments", {"contact_id": contact_id})[0] == 201
    body = {
        "name": "gmail",
        "level": "person",
        "conditions": [{"field": "email", "op": "ends_with", "value": "@gmail.com"}],
    }
    # When previewed
    status, preview = api.post("/v1/exclusions/preview", body)
    assert status == 200, preview
    # Then 4 contacts match, 2 active enrollments would end (s2 has exclusions off), sample from the matches
    assert preview["matching_contacts"] == 4
    assert preview["active_enrollments"] == 2
    assert set(preview["sample"]) == {"g0", "g1", "g2", "g3"}
    assert api.get("/v1/exclusions")[1]["exclusions"] == []  # preview writes nothing
    # And saving blocks exactly the previewed contacts
    rule(api, body["conditions"])
    blocked = {
        cid for cid in ("g0", "g1", "g2", "g3", "a0", "a1", "a2", "o0", "o1", "o2") if not check(api, cid)["allowed"]
    }
    assert blocked == set(preview["sample"])


def test_r10_broad_rule_requires_confirm(people):
    api = people
    body = {"name": "everyone", "level": "person", "conditions": [{"field": "email", "op": "contains", "value": "@"}]}
    # When a rule matching more than half the contacts is saved without confirm
    status, answer = api.post("/v1/exclusions", body)
    # Then 409 confirm_required with the count, and nothing is saved
    assert status == 409, answer
    assert answer["error"] == "confirm_required" and answer["matching_contacts"] == 10
    assert api.get("/v1/exclusions")[1]["exclusions"] == []
    assert check(api, "g0")["allowed"] is True
    # When confirmed, Then it is saved
    assert api.post("/v1/exclusions", {**body, "confirm": True})[0] == 201
    # Exactly half (5 of 10) needs no confirm; PATCH widening a rule is guarded too
    small = rule(api, [{"field": "email_domain", "op": "in", "values": ["gmail.com", "beta.io"]}])
    status, answer = api.patch(
        f"/v1/exclusions/{small['exclusion_id']}", {"conditions": [{"field": "email", "op": "contains", "value": "."}]}
    )
    assert status == 409 and answer["error"] == "confirm_required"


CSV = "name,Email\nAnn,ann@example.com\nBad,not-an-email\n,\nBob, BOB@Example.com \nEmpty,\nAnn again,ann@example.com\n"


def test_r10_csv_import_reports_bad_lines_and_keeps_good_rows(api):
    contact(api, "ann", "ann@example.com")
    contact(api, "bob", "bob@example.com")
    contact(api, "cy", "cy@example.com")
    contact(api, "dee", "dee@example.com")
    contact(api, "eve", "eve@example.com")
    # When a CSV with good, bad, blank and duplicate rows is imported
    status, answer = api.post(
        "/v1/exclusions/import?level=person&name=list", raw=CSV, headers={"Content-Type": "text/csv"}
    )
    # Then the good rows land, the bad ones are reported by line (header = line 1)
    assert status == 201, answer
    assert answer["imported"] == 2
    assert [r["line"] for r in answer["rejected"]] == [3, 6]
    assert all(r["error"] for r in answer["rejected"])
    assert check(api, "ann")["allowed"] is False
    assert check(api, "bob")["allowed"] is False
    assert check(api, "cy")["allowed"] is True
    fetched = api.get(f"/v1/exclusions/{answer['exclusion_id']}")[1]
    assert fetched["conditions"] == [{"field": "email", "op": "in", "values": ["ann@example.com", "bob@example.com"]}]


def test_r10_csv_import_of_domains_at_company_level(api):
    contact(api, "c1", "a@acme.com", company="acme.com")
    contact(api, "c2", "b@free.com")
    contact(api, "c3", "c@other.com")
    csv_body = "domain\nhttps://www.ACME.com\nfree.com\n"
    # 2 of 3 contacts: the breadth guard applies to imports too
    status, answer = api.post(
        "/v1/exclusions/import?level=company&name=accounts", raw=csv_body, headers={"Content-Type": "text/csv"}
    )
    assert status == 409 and answer["error"] == "confirm_required"
    status, answer = api.post(
        "/v1/exclusions/import?level=company&name=accounts&confirm=true",
        raw=csv_body,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 201, answer
    assert (answer["imported"], answer["rejected"]) == (2, [])
    assert [check(api, c)["allowed"] for c in ("c1", "c2", "c3")] == [False, False, True]


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("level=team&name=x", "email\na@b.com\n", "level"),
        ("level=person", "email\na@b.com\n", "name"),
        ("level=person&name=x", "address\na@b.com\n", "body"),
        ("level=company&name=x", "email\na@b.com\n", "body"),
        ("level=person&name=x", "email\nnope\n", "body"),
    ],
)
def test_r10_csv_import_rejects_unusable_files(api, query, body, field):
    status, answer = api.post(f"/v1/exclusions/import?{query}", raw=body, headers={"Content-Type": "text/csv"})
    assert status == 422 and field in answer["fields"], answer
    assert api.get("/v1/exclusions")[1]["exclusions"] == []


def test_r10_large_import_is_chunked_under_the_item_limit_and_reassembled(api):
    """Tens of thousands of addresses exceed DynamoDB's 400 KB item limit unless chunked."""
    from chalicelib.services.context import get_services
    from chalicelib.store.aws import client

    contact(api, "listed", "user11999@bulk-example.com")
    contact(api, "free", "someone@else.com")
    rows = "\n".join(f"user{n}@bulk-example.com" for n in range(12_000))
    status, answer = api.post(
        "/v1/exclusions/import?level=person&name=bulk",
        raw="email\n" + rows + "\n",
        headers={"Content-Type": "text/csv"},
    )
    assert status == 201, answer
    assert answer["imported"] == 12_000
    # Then several items each well under 400 KB hold it
    items = client("dynamodb").query(
        TableName=get_services().config.exclusions_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": api.workspace_id}},
    )["Items"]
    assert len(items) >= 3  # the rule item and at least two chunks
    assert max(len(str(item)) for item in items) < 400_000
    # And the rule works whole, through the cache and through GET
    assert check(api, "listed")["allowed"] is False
    assert check(api, "free")["allowed"] is True
    assert len(api.get(f"/v1/exclusions/{answer['exclusion_id']}")[1]["conditions"][0]["values"]) == 12_000
    # A rename rewrites the chunks without losing values; delete removes them all
    assert api.patch(f"/v1/exclusions/{answer['exclusion_id']}", {"name": "bulk2"})[0] == 200
    assert check(api, "listed")["allowed"] is False
    assert api.delete(f"/v1/exclusions/{answer['exclusion_id']}")[0] == 204
    left = client("dynamodb").query(
        TableName=get_services().config.exclusions_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": api.workspace_id}},
    )["Items"]
    assert left == []


def test_r14_rules_do_not_cross_workspaces(people, other_api):
    api = people
    created = rule(api, [{"field": "email_domain", "op": "eq", "value": "gmail.com"}])
    assert other_api.get(f"/v1/exclusions/{created['exclusion_id']}")[0] == 404
    assert other_api.get("/v1/exclusions")[1]["exclusions"] == []
    other_api.put("/v1/contacts/g0", {"email": "person0@gmail.com"})
    assert other_api.post("/v1/send-check", {"contact_id": "g0", "channel": "email"})[1]["allowed"] is True
