"""R15: flags a person can act on -- stored with due_by, listed oldest first and paged, resolved
once (opt_out: permanent DND from the contact; dismiss: why), from SMS and from replies; a flag
from a number with no contact keeps only the keyed hash; open flags past due become a metric.
Auto-replies change nothing."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import PHONE, Api, Twilio, sid
from tests.integration.test_twilio import audit

STRANGER = "+14155550199"  # a number no contact has


def flag_text(twilio: Twilio, body: str, n: int, sender: str = PHONE) -> None:
    status, answer, _ = twilio.sms("twilio-sms-stop.txt", changes={"Body": body, "MessageSid": sid(n), "From": sender})
    assert status == 200, answer


def flags(api: Api, query: str = "") -> dict[str, Any]:
    status, body = api.get("/v1/flags" + query)
    assert status == 200, body
    return body


def allowed(api: Api, phone: str, channel: str = "sms") -> bool:
    status, body = api.post("/v1/send-check", {"phone": phone, "channel": channel})
    assert status == 200, body
    return body["allowed"]


def test_r15_sms_flag_is_listed_with_due_by_and_resolved_as_opt_out_once(twilio):
    # Given an ambiguous text from the contact's number
    flag_text(twilio, "not interested", 1)
    flag_text(twilio, "not interested", 1)  # redelivered: still one flag
    (flag,) = flags(twilio.api)["flags"]
    assert flag["status"] == "open" and flag["contact_ids"] == ["c1"] and flag["channel"] == "sms"
    arrived = datetime.fromisoformat(flag["at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(flag["due_by"].replace("Z", "+00:00"))
    assert timedelta(days=13) < due - arrived < timedelta(days=20)  # 10 business days (+ holidays)
    assert allowed(twilio.api, PHONE)
    # When a person resolves it as an opt-out
    status, resolved = twilio.api.post(f"/v1/flags/{flag['flag_id']}", {"resolution": "opt_out", "actor": "rep-7"})
    # Then the flag is resolved, and SMS is permanently blocked from the contact
    assert status == 200, resolved
    assert (resolved["status"], resolved["resolution"], resolved["resolved_by"]) == ("resolved", "opt_out", "rep-7")
    assert not allowed(twilio.api, PHONE)
    last = audit(twilio.api)[-1]
    assert (last["action"], last["source"], last["kind"], last["reason"]) == (
        "enabled",
        "contact",
        "permanent",
        "revocation_flag",
    )
    # And resolving twice is 409, changing nothing
    status, body = twilio.api.post(f"/v1/flags/{flag['flag_id']}", {"resolution": "dismiss", "actor": "rep-8"})
    assert status == 409 and body["error"] == "flag_resolved", body
    assert flags(twilio.api)["flags"] == []
    assert [f["flag_id"] for f in flags(twilio.api, "?status=resolved")["flags"]] == [flag["flag_id"]]


def test_r15_dismiss_records_who_and_why(twilio):
    flag_text(twilio, "who is this?", 2)
    (flag,) = flags(twilio.api)["flags"]
    body = {"resolution": "dismiss", "actor": "rep-7", "reason": "asked who we are; answered"}
    status, resolved = twilio.api.post(f"/v1/flags/{flag['flag_id']}", body)
    assert status == 200 and resolved["resolution_reason"] == "asked who we are; answered", resolved
    assert allowed(twilio.api, PHONE)


def test_r15_flag_from_a_number_with_no_contact_keeps_only_the_hash_and_can_opt_out(twilio):
    from chalicelib.store.aws import client
    from chalicelib.store.flags import flag_pk
    from chalicelib.store.items import from_item, to_item

    flag_text(twilio, "wrong number", 3, sender=STRANGER)
    (flag,) = flags(twilio.api)["flags"]
    assert flag["contact_ids"] == []
    stored = from_item(
        client("dynamodb").get_item(
            TableName=os.environ["OPTOUT_DND_TABLE"], Key=to_item({"pk": flag_pk(twilio.workspace_id, flag["flag_id"])})
        )["Item"]
    )
    assert "4155550199" not in json.dumps(stored)  # no raw number anywhere in the flag
    assert stored["address_key"].startswith(f"{twilio.workspace_id}#p#")
    status, _ = twilio.api.post(f"/v1/flags/{flag['flag_id']}", {"resolution": "opt_out", "actor": "rep-7"})
    assert status == 200
    assert not allowed(twilio.api, STRANGER)


def test_r15_flags_page_oldest_first_with_a_cursor(twilio):
    for n in range(5):
        flag_text(twilio, "not interested", 10 + n)
    first = flags(twilio.api, "?limit=2")
    second = flags(twilio.api, f"?limit=2&cursor={first['next']}")
    third = flags(twilio.api, f"?limit=2&cursor={second['next']}")
    seen = [f["at"] for page in (first, second, third) for f in page["flags"]]
    assert len(seen) == 5 and seen == sorted(seen) and third["next"] is None
    assert len({f["flag_id"] for page in (first, second, third) for f in page["flags"]}) == 5


@pytest.mark.parametrize(
    ("query", "field"), [("?status=pending", "status"), ("?cursor=zzz", "cursor"), ("?limit=0", "limit")]
)
def test_r15_bad_flag_queries_are_422(api: Api, query: str, field: str):
    status, body = api.get("/v1/flags" + query)
    assert status == 422 and field in body["fields"], body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"resolution": "maybe", "actor": "a"}, "resolution"),
        ({"resolution": "dismiss"}, "actor"),
        ({"resolution": "dismiss", "actor": "a", "reason": "x" * 501}, "reason"),
        ({"resolution": "dismiss", "actor": "a", "extra": 1}, "extra"),
    ],
)
def test_r15_bad_resolutions_are_422_and_change_nothing(twilio, body, field):
    flag_text(twilio, "not interested", 20)
    (flag,) = flags(twilio.api)["flags"]
    status, answer = twilio.api.post(f"/v1/flags/{flag['flag_id']}", body)
    assert status == 422 and field in answer["fields"], answer
    assert flags(twilio.api)["flags"][0]["status"] == "open"


def test_r15_flags_belong_to_their_workspace(twilio, other_api: Api):
    flag_text(twilio, "not interested", 21)
    (flag,) = flags(twilio.api)["flags"]
    assert flags(other_api)["flags"] == []
    status, _ = other_api.post(f"/v1/flags/{flag['flag_id']}", {"resolution": "opt_out", "actor": "x"})
    assert status == 404
    assert flags(twilio.api)["flags"][0]["status"] == "open"


def test_r15_unknown_flag_is_404(api: Api):
    assert api.post("/v1/flags/" + "0" * 32, {"resolution": "dismiss", "actor": "a"})[0] == 404


def test_r15_open_flags_past_due_are_counted_for_the_alarm(twilio, monkeypatch, capsys):
    from chalicelib.observability import flush_metrics
    from chalicelib.services.context import get_services
    from chalicelib.services.flags import report_overdue_flags

    flag_text(twilio, "not interested", 30)
    before = report_overdue_flags(get_services())
    # When the sweep runs a month later
    later = datetime.now(UTC) + timedelta(days=31)
    monkeypatch.setattr(get_services(), "clock", lambda: later)
    after = report_overdue_flags(get_services())
    # Then this open flag is counted past due, and the count is an EMF metric
    assert after >= before + 1
    capsys.readouterr()
    flush_metrics()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(doc.get("FlagsPastDue") == [float(after)] or doc.get("FlagsPastDue") == after for doc in documents)


def test_r15_reply_that_may_revoke_is_a_flag_and_auto_replies_change_nothing(api: Api):
    assert api.put("/v1/contacts/ann", {"email": "ann@example.com"})[0] == 200
    assert api.put("/v1/sequences/s1", {})[0] == 200
    assert api.post("/v1/sequences/s1/enrollments", {"contact_id": "ann"})[0] == 201
    # An out-of-office that even says "unsubscribe": ignored, still enrolled
    ooo = {"contact_id": "ann", "sequence_id": "s1", "body": "I am away. To unsubscribe reply STOP."}
    for extra in ({"subject": "Out of Office: Re: hello"}, {"headers": {"Auto-Submitted": "auto-replied"}}):
        status, answer = api.post("/v1/replies", {**ooo, **extra})
        assert status == 200 and answer == {"unenrolled": [], "opted_out": False, "ignored": "auto_reply"}, answer
    status, enrollments = api.get("/v1/sequences/s1/enrollments?status=active")
    assert [e["contact_id"] for e in enrollments["enrollments"]] == ["ann"]
    assert flags(api)["flags"] == []
    # A real "not interested" reply: unenrolled, not opted out, and flagged for a person
    status, answer = api.post("/v1/replies", {"contact_id": "ann", "sequence_id": "s1", "body": "Not interested."})
    assert status == 200 and answer["opted_out"] is False and answer["flag_id"], answer
    (flag,) = flags(api)["flags"]
    assert (flag["channel"], flag["contact_ids"], flag["origin"]) == ("email", ["ann"], "reply")
    status, _ = api.post(f"/v1/flags/{flag['flag_id']}", {"resolution": "opt_out", "actor": "rep-7"})
    assert status == 200
    status, check = api.post("/v1/send-check", {"contact_id": "ann", "channel": "email"})
    assert check["allowed"] is False and check["blocked_by"][0]["reason"] == "revocation_flag"
