"""Performance budget (SPEC, issue 2): send-check costs at most 2 DynamoDB requests for one
recipient and at most 4 for a batch of 100 -- counted on the boto3 client itself.

Per-instance caches: the API key -> workspace lookup and the workspace config (settings,
sequences, audiences, exclusion rules) are cached per Lambda instance; the config is refreshed
at most once a second per workspace per instance, whatever the check rate. At 10,000 checks/s
that refresh is amortized to ~0 requests per check, so the budget is measured on a warm
instance (one call first) and excluded; ``test_cold_cache_adds_exactly_the_config_refresh``
shows what a refresh costs on its own.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bench.inprocess import RoundRecorder
from tests.integration.conftest import Api

SEQUENCE = "s-budget"


class DynamoCalls:
    """Counts DynamoDB API calls (operation names) made through chalicelib's shared client."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.operations.values())

    def reset(self) -> None:
        self.operations.clear()


@pytest.fixture()
def ddb_calls(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoCalls]:
    from chalicelib.services.context import get_services
    from chalicelib.store.aws import client

    services = get_services()
    # Every store holds the one shared client; a different object would count nothing.
    assert services.contacts._ddb is client("dynamodb")
    # Pin the warm cache for the test's duration: a slow machine must not turn it cold between
    # the warming call and the measured one (the cold cost is measured on its own below).
    monkeypatch.setattr(services.config_cache, "_max_age", 3600.0)
    monkeypatch.setattr(services.api_keys, "_ttl", 3600.0)  # likewise the key cache (1 s, R18)
    counter = DynamoCalls()
    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb.*", counter, unique_id="budget-counter")
    yield counter
    events.unregister("before-call.dynamodb.*", unique_id="budget-counter")


def enroll(workspace_id: str, contact_ids: list[str]) -> None:
    from chalicelib.store import keys
    from chalicelib.store.aws import client
    from chalicelib.store.items import to_item

    ddb = client("dynamodb")
    table = os.environ["OPTOUT_ENROLLMENTS_TABLE"]
    for start in range(0, len(contact_ids), 25):
        ddb.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": to_item(
                                {
                                    "pk": keys.enrollment_pk(workspace_id, SEQUENCE),
                                    "sk": cid,
                                    "contact_id": cid,
                                    "status": "active",
                                    "ws": workspace_id,
                                }
                            )
                        }
                    }
                    for cid in contact_ids[start : start + 25]
                ]
            }
        )


def phone(i: int) -> str:
    return f"+1415555{2000 + i:04d}"


def test_budget_one_recipient_with_email_phone_and_sequence_costs_at_most_2(api: Api, ddb_calls: DynamoCalls):
    # Given a contact with email, phone, DND on both addresses and an active enrollment
    api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": phone(0)})
    for channel in ("email", "sms"):
        api.post("/v1/dnd", {"contact_id": "c1", "channel": channel, "action": "enable", "source": "user"})
    enroll(api.workspace_id, ["c1"])
    body = {"contact_id": "c1", "channel": "sms", "sequence_id": SEQUENCE}
    api.post("/v1/send-check", body)  # warm the per-instance key and config caches
    # When one send-check runs
    ddb_calls.reset()
    status, answer = api.post("/v1/send-check", body)
    # Then it is right, and it cost at most 2 DynamoDB requests
    assert status == 200
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "sms", "reason": "manual", "kind": "temporary"}]
    assert ddb_calls.total <= 2, ddb_calls.operations
    # (the contact, consistently; then its address items and the enrollment in one batch)
    assert ddb_calls.operations == Counter({"GetItem": 1, "BatchGetItem": 1})


def test_budget_raw_address_check_costs_1(api: Api, ddb_calls: DynamoCalls):
    api.post("/v1/send-check", {"email": "x@example.com", "channel": "email"})
    ddb_calls.reset()
    assert api.post("/v1/send-check", {"email": "ann@example.com", "channel": "email"})[0] == 200
    assert ddb_calls.operations == Counter({"BatchGetItem": 1})


def seed_100_enrolled_contacts(api: Api) -> list[str]:
    """100 contacts with email and phone, all enrolled in SEQUENCE, every tenth with email DND."""
    ids = [f"c{i}" for i in range(100)]
    for i, cid in enumerate(ids):
        assert api.put(f"/v1/contacts/{cid}", {"email": f"p{i}@example.com", "phone": phone(i)})[0] == 200
    enroll(api.workspace_id, ids)
    for cid in ids[::10]:
        api.post("/v1/dnd", {"contact_id": cid, "channel": "email", "action": "enable", "source": "user"})
    return ids


def test_budget_batch_of_100_distinct_contacts_costs_at_most_4(api: Api, ddb_calls: DynamoCalls):
    # Given 100 contacts, each with an email and a phone, all actively enrolled; some suppressed
    ids = seed_100_enrolled_contacts(api)
    checks = [{"contact_id": cid, "channel": "email", "sequence_id": SEQUENCE} for cid in ids]
    api.post("/v1/send-check", checks[1])  # warm the per-instance key and config caches
    # When the whole batch is checked
    ddb_calls.reset()
    status, body = api.post("/v1/send-check/batch", {"checks": checks})
    # Then every answer is right, in order, for at most 4 requests
    assert status == 200
    assert [r["allowed"] for r in body["results"]] == [i % 10 != 0 for i in range(100)]
    assert ddb_calls.total <= 4, ddb_calls.operations
    # (100 contacts in one batch; 200 address items + 100 enrollments in three)
    assert ddb_calls.operations == Counter({"BatchGetItem": 4})


def test_r17_quiet_hours_add_no_request_to_one_check(api: Api, ddb_calls: DynamoCalls):
    # Given quiet hours on, and a contact whose zone comes from its number and another from its attribute
    status, _ = api.patch("/v1/settings", {"quiet_hours": {"enabled": True}})
    assert status == 200
    api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": "+13055550123"})
    api.put("/v1/contacts/c2", {"phone": phone(2), "attributes": {"timezone": "Europe/Paris", "state": "FL"}})
    enroll(api.workspace_id, ["c1"])
    night = {"contact_id": "c1", "channel": "sms", "sequence_id": SEQUENCE, "send_at": "2026-07-02T03:00:00Z"}
    api.post("/v1/send-check", night)  # warm the per-instance key and config caches
    # When one check is blocked by quiet hours and another is not
    ddb_calls.reset()
    status, answer = api.post("/v1/send-check", night)
    assert status == 200 and answer["blocked_by"][0]["type"] == "quiet_hours", answer
    # Then each costs what a check cost before: the contact, then one batch
    assert ddb_calls.operations == Counter({"GetItem": 1, "BatchGetItem": 1})
    ddb_calls.reset()
    status, answer = api.post("/v1/send-check", {"contact_id": "c2", "channel": "sms"})
    assert status == 200
    assert ddb_calls.operations == Counter({"GetItem": 1, "BatchGetItem": 1})


def test_r17_quiet_hours_add_no_request_to_a_batch_of_100(api: Api, ddb_calls: DynamoCalls):
    # Given quiet hours on and 100 enrolled contacts with phones
    status, _ = api.patch("/v1/settings", {"quiet_hours": {"enabled": True}})
    assert status == 200
    ids = [f"c{i}" for i in range(100)]
    for i, cid in enumerate(ids):
        assert api.put(f"/v1/contacts/{cid}", {"email": f"p{i}@example.com", "phone": phone(i)})[0] == 200
    enroll(api.workspace_id, ids)
    # 23:00 in San Francisco (the numbers' zone) for the even ones, noon for the odd ones
    night, noon = "2026-07-02T06:00:00Z", "2026-07-01T19:00:00Z"
    checks = [
        {"contact_id": cid, "channel": "sms", "sequence_id": SEQUENCE, "send_at": night if i % 2 == 0 else noon}
        for i, cid in enumerate(ids)
    ]
    api.post("/v1/send-check", checks[1])  # warm the per-instance key and config caches
    # When the whole batch is checked
    ddb_calls.reset()
    status, body = api.post("/v1/send-check/batch", {"checks": checks})
    # Then every item has its own answer, for the same 4 requests as without quiet hours
    assert status == 200
    assert [r["allowed"] for r in body["results"]] == [i % 2 == 1 for i in range(100)]
    assert ddb_calls.operations == Counter({"BatchGetItem": 4})


def test_cold_cache_adds_exactly_the_config_refresh(api: Api, ddb_calls: DynamoCalls):
    from chalicelib.services.context import get_services

    api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": phone(1)})
    body = {"contact_id": "c1", "channel": "email"}
    api.post("/v1/send-check", body)
    ddb_calls.reset()
    api.post("/v1/send-check", body)
    warm = ddb_calls.operations.copy()

    # Given this instance's copy of the workspace config has expired
    get_services().config_cache.invalidate(api.workspace_id)
    ddb_calls.reset()
    api.post("/v1/send-check", body)
    # Then the check costs its warm requests plus the refresh: one query of the workspace's
    # items (settings, sequences, audiences) and one of its exclusion rules
    assert ddb_calls.operations - warm == Counter({"Query": 2})
    assert warm - ddb_calls.operations == Counter()

    # And an API key not yet seen by this instance adds its one lookup
    get_services().api_keys._entries.pop(api.key, None)
    ddb_calls.reset()
    api.post("/v1/send-check", body)
    assert ddb_calls.operations - warm == Counter({"GetItem": 1})


# --- R16: one round trip for a check by contact + its address; concurrent second rounds ----------


def test_r16_check_by_contact_and_its_address_costs_one_batch_get(api: Api, ddb_calls: DynamoCalls):
    # Given a contact with email, phone, DND on both addresses, an active enrollment and a topic
    api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": phone(0)})
    for channel in ("email", "sms"):
        api.post("/v1/dnd", {"contact_id": "c1", "channel": channel, "action": "enable", "source": "user"})
    api.put("/v1/topics/news", {"name": "News", "channels": ["email", "sms"]})
    enroll(api.workspace_id, ["c1"])
    checks = [
        {"contact_id": "c1", "email": "Ann@Example.com", "channel": "email", "sequence_id": SEQUENCE},
        {"contact_id": "c1", "phone": phone(0), "channel": "sms", "sequence_id": SEQUENCE, "topic_id": "news"},
        {
            "contact_id": "c1",
            "email": "ann@example.com",
            "phone": phone(0),
            "channel": "sms",
            "purpose": "transactional",
        },
    ]
    api.post("/v1/send-check", checks[0])  # warm the per-instance key and config caches
    for body in checks:
        # When the check names the contact and the address the send will use
        ddb_calls.reset()
        status, answer = api.post("/v1/send-check", body)
        # Then it is right, and it cost one BatchGetItem (contact + address item (+ enrollment) together)
        assert status == 200, answer
        assert answer["allowed"] is False, answer
        assert answer["blocked_by"][0]["type"] == "dnd" and answer["blocked_by"][0]["channel"] == body["channel"]
        assert ddb_calls.operations == Counter({"BatchGetItem": 1}), (body, ddb_calls.operations)


def test_r16_an_address_that_is_not_the_contacts_falls_back_to_the_contacts_own(api: Api, ddb_calls: DynamoCalls):
    # Given a contact whose own email has DND, and another address with none
    api.put("/v1/contacts/c1", {"email": "ann@example.com"})
    api.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    body = {"contact_id": "c1", "email": "other@example.com", "channel": "email"}
    api.post("/v1/send-check", body)
    # When a check names the contact with an address that is not the contact's
    ddb_calls.reset()
    status, answer = api.post("/v1/send-check", body)
    # Then it is answered for the contact's own address, in two requests
    assert status == 200 and answer["allowed"] is False, answer
    assert ddb_calls.operations == Counter({"BatchGetItem": 2})
    # And an unknown contact is still 404
    assert api.post("/v1/send-check", {**body, "contact_id": "nobody"})[0] == 404


class RoundGate(RoundRecorder):
    """Records every DynamoDB request's time in flight, to count sequential rounds: requests that
    overlap are one round. ``hold`` requests (by order of arrival, 1-based) wait at a barrier until
    all of them are in flight: if the code issued them one after another, the barrier breaks and the
    request fails, so a passing run proves they were concurrent."""

    def __init__(self, hold: range, parties: int) -> None:
        super().__init__()
        self.hold = hold
        self.barrier = threading.Barrier(parties, timeout=20)
        self.count = 0

    def before(self, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1
            index = self.count
        super().before(**kwargs)
        if index in self.hold:
            self.barrier.wait()


def gated_batch(api: Api, ddb_calls: DynamoCalls, checks: list[dict[str, Any]], gate: RoundGate) -> tuple[int, Any]:
    """The batch send-check, its DynamoDB requests counted and passed through ``gate``."""
    with gate.recording():
        ddb_calls.reset()
        return api.post("/v1/send-check/batch", {"checks": checks})


@pytest.mark.parametrize(
    ("with_address", "held", "requests", "rounds"),
    [
        # by contact: the second round (200 address items + 100 enrollments) is requests 2-4, concurrent
        pytest.param(False, range(2, 5), 4, 2, id="by-contact-second-round-concurrent"),
        # by contact and address: 100 contacts + 100 address items + 100 enrollments, all in flight together
        pytest.param(True, range(1, 4), 3, 1, id="by-contact-and-address-one-round"),
    ],
)
def test_r16_batch_of_100_rounds_are_concurrent(
    api: Api, ddb_calls: DynamoCalls, with_address: bool, held: range, requests: int, rounds: int
):
    # Given 100 contacts with email and phone, all enrolled, some suppressed
    ids = seed_100_enrolled_contacts(api)
    checks = [
        {
            "contact_id": cid,
            "channel": "email",
            "sequence_id": SEQUENCE,
            **({"email": f"p{i}@example.com"} if with_address else {}),
        }
        for i, cid in enumerate(ids)
    ]
    api.post("/v1/send-check", checks[1])
    # When the batch runs, its concurrent requests held until all three are in flight
    gate = RoundGate(hold=held, parties=3)
    status, body = gated_batch(api, ddb_calls, checks, gate)
    # Then the answers are right, in so many requests and sequential rounds
    assert status == 200, body
    assert [r["allowed"] for r in body["results"]] == [i % 10 != 0 for i in range(100)]
    assert ddb_calls.operations == Counter({"BatchGetItem": requests})
    assert gate.rounds() == rounds


def test_r16_topics_and_purpose_add_no_request(api: Api, ddb_calls: DynamoCalls):
    api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": phone(0)})
    api.put("/v1/topics/news", {"name": "News", "channels": ["email"]})
    api.post("/v1/subscriptions", {"contact_id": "c1", "topic_id": "news", "action": "unsubscribe", "source": "user"})
    plain = {"contact_id": "c1", "channel": "email"}
    api.post("/v1/send-check", plain)
    ddb_calls.reset()
    api.post("/v1/send-check", plain)
    baseline = ddb_calls.operations.copy()
    for extra in ({"topic_id": "news"}, {"topic_id": "news", "purpose": "transactional"}):
        ddb_calls.reset()
        status, answer = api.post("/v1/send-check", {**plain, **extra})
        assert status == 200
        assert ddb_calls.operations == baseline == Counter({"GetItem": 1, "BatchGetItem": 1})
