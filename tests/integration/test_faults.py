"""Faults (R14, R12): DynamoDB throttling and outages injected into the one boto3 client the
stores share. An opt-out that could not be stored is never answered 2xx (the sender retries),
nothing half-written remains (no audit entry without its DND change, no exactly-once marker
without the change), and the redelivered event then lands exactly once.

Injection: the methods of ``chalicelib.store.aws.client("dynamodb")`` are replaced on that
instance to raise the ClientError AWS would send (or to lose the reply after a successful write).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import PHONE, Api, LogRecords, Twilio, record_text, sample
from tests.integration.test_ses import audit as ses_audit
from tests.integration.test_ses import deliver, for_workspace
from tests.integration.test_ses import ses_handler as ses_handler  # noqa: F401  (fixture)

EMAIL = "ann@example.com"
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
READS = ("get_item", "query", "batch_get_item", "scan")
THROTTLING = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
OUTAGE = ("InternalServerError", "ServiceUnavailable")


class DynamoFaults:
    """Makes chosen DynamoDB operations fail until heal(); counts what was injected."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.store.aws import client

        self.ddb = client("dynamodb")
        self.monkeypatch = monkeypatch
        self.originals: dict[str, Callable[..., Any]] = {}
        self.active: dict[str, tuple[str, str]] = {}  # operation -> (mode, error code)
        self.injected: Counter[str] = Counter()
        self.passes: dict[str, int] = {}

    def _install(self, operation: str) -> None:
        if operation in self.originals:
            return
        original = getattr(self.ddb, operation)
        self.originals[operation] = original

        def faulty(*args: Any, **kwargs: Any) -> Any:
            mode, code = self.active.get(operation, ("ok", ""))
            if mode == "ok" or self.passes.get(operation, 0) > 0:
                self.passes[operation] = self.passes.get(operation, 0) - 1
                return original(*args, **kwargs)
            self.injected[code] += 1
            error = ClientError({"Error": {"Code": code, "Message": "injected fault"}}, operation)
            if mode == "lost_reply":  # the write happened; the caller never hears so
                original(*args, **kwargs)
            raise error

        self.monkeypatch.setattr(self.ddb, operation, faulty)

    def fail(self, operations: tuple[str, ...], code: str, *, mode: str = "raise", after: int = 0) -> None:
        """Fail ``operations`` with ``code`` from the (after+1)-th call on, until heal()."""
        for operation in operations:
            self._install(operation)
            self.active[operation] = (mode, code)
            self.passes[operation] = after

    def heal(self) -> None:
        self.active.clear()
        self.passes.clear()

    @property
    def total(self) -> int:
        return sum(self.injected.values())


INJECTED: Counter[str] = Counter()  # over the module, for the report


@pytest.fixture()
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoFaults]:
    injector = DynamoFaults(monkeypatch)
    yield injector
    injector.heal()
    INJECTED.update(injector.injected)


def audit(api: Api, **query: str) -> list[dict[str, Any]]:
    status, body = api.get("/v1/audit?" + urlencode(query))
    assert status == 200, body
    return body["entries"]


def dnd_of(api: Api, contact_id: str = "c1") -> dict[str, Any]:
    status, body = api.get(f"/v1/contacts/{contact_id}")
    assert status == 200, body
    return body["dnd"]


def snapshot(api: Api) -> tuple[Any, ...]:
    return (dnd_of(api), audit(api, contact_id="c1"), audit(api, email=EMAIL), audit(api, phone=PHONE))


@pytest.fixture()
def contact(api: Api) -> Api:
    assert api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})[0] == 200
    return api


FAULTS = [pytest.param(WRITES, code, id=f"writes-{code}") for code in THROTTLING] + [
    pytest.param(READS + WRITES, code, id=f"outage-{code}") for code in OUTAGE
]


# --- POST /v1/dnd -----------------------------------------------------------------------------


@pytest.mark.parametrize(("operations", "code"), FAULTS)
def test_r14_dnd_change_during_a_fault_is_503_and_writes_nothing(contact: Api, faults: DynamoFaults, operations, code):
    before = snapshot(contact)
    body = {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"}
    # Given DynamoDB throttles (or is down)
    faults.fail(operations, code)
    # When a DND change is requested
    status, answer = contact.post("/v1/dnd", body)
    # Then the caller is told to retry, never 2xx
    assert status == 503, answer
    assert faults.total >= 1
    # And once DynamoDB is back, nothing of the failed attempt is there
    faults.heal()
    assert snapshot(contact) == before
    # And the retry lands exactly once
    assert contact.post("/v1/dnd", body)[0] == 200
    assert contact.post("/v1/dnd", body)[0] == 200
    assert dnd_of(contact)["outbound"]["email"]["reason"] == "manual"
    assert [e["action"] for e in audit(contact, contact_id="c1")] == ["enabled"]


def test_r2_dnd_clear_during_a_fault_keeps_the_opt_out(contact: Api, faults: DynamoFaults):
    assert (
        contact.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"})[0] == 200
    )
    before = snapshot(contact)
    faults.fail(("transact_write_items",), "ProvisionedThroughputExceededException")
    status, _ = contact.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "disable", "source": "user"})
    assert status == 503
    faults.heal()
    assert snapshot(contact) == before


def test_r12_event_publishing_outage_does_not_fail_a_stored_change(contact: Api, monkeypatch):
    """The change is stored; a lost notification must not make the sender retry (and re-apply)."""
    from chalicelib.services.context import get_services

    def broken(_events: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "Publish")

    monkeypatch.setattr(get_services().events, "publish", broken)
    status, body = contact.post(
        "/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"}
    )
    assert status == 200, body
    assert dnd_of(contact)["outbound"]["email"] is not None
    INJECTED["sns:InternalError"] += 1


# --- Twilio webhooks (R6, R7) -------------------------------------------------------------------


@pytest.mark.parametrize(("operations", "code"), FAULTS)
def test_r6_sms_stop_during_a_fault_is_not_acknowledged_and_redelivery_lands_once(
    twilio: Twilio,
    faults: DynamoFaults,
    operations,
    code,  # noqa: F811
):
    api = twilio.api
    before = audit(api, phone=PHONE)
    # Given DynamoDB fails while Twilio delivers STOP
    faults.fail(operations, code)
    status, _body, _headers = twilio.sms("twilio-sms-stop.txt")
    # Then Twilio is told to retry (non-2xx) and nothing was written: no audit, no marker
    assert status >= 500
    faults.heal()
    assert audit(api, phone=PHONE) == before
    assert dnd_of(api)["outbound"]["sms"] is None
    # When Twilio redelivers the same message (same MessageSid), twice
    assert twilio.sms("twilio-sms-stop.txt")[0] == 200
    assert twilio.sms("twilio-sms-stop.txt")[0] == 200
    # Then the opt-out is stored once (had a marker been left behind, the redelivery would be lost)
    entries = audit(api, phone=PHONE)
    assert [(e["action"], e["reason"]) for e in entries] == [("enabled", "sms_stop")]
    assert dnd_of(api)["outbound"]["sms"]["kind"] == "permanent"


def test_r6_stop_stored_but_reply_lost_is_a_no_op_on_redelivery(twilio: Twilio, faults: DynamoFaults):  # noqa: F811
    """The transaction committed but its reply was lost: Twilio gets a 5xx and redelivers; the
    exactly-once marker written in the same transaction turns the redelivery into a no-op."""
    api = twilio.api
    faults.fail(("transact_write_items",), "InternalServerError", mode="lost_reply")
    assert twilio.sms("twilio-sms-stop.txt")[0] >= 500
    faults.heal()
    assert twilio.sms("twilio-sms-stop.txt")[0] == 200
    entries = audit(api, phone=PHONE)
    assert [(e["action"], e["reason"]) for e in entries] == [("enabled", "sms_stop")]


@pytest.mark.parametrize(("operations", "code"), FAULTS[:1] + FAULTS[-1:])
def test_r7_status_callback_during_a_fault_is_not_acknowledged_and_redelivery_lands_once(
    twilio: Twilio,
    faults: DynamoFaults,
    operations,
    code,  # noqa: F811
):
    api = twilio.api
    params = sample("twilio-status-30004.txt")
    faults.fail(operations, code)
    assert twilio.post("status", params)[0] >= 500
    faults.heal()
    assert audit(api, phone=PHONE) == []
    for _ in range(2):
        assert twilio.post("status", params)[0] == 200
    assert [(e["action"], e["reason"]) for e in audit(api, phone=PHONE)] == [("enabled", "carrier_30004")]


# --- the unsubscribe POST (R5) -----------------------------------------------------------------


def _link_path(api: Api, **body: Any) -> str:
    status, link = api.post("/v1/unsubscribe-links", body or {"contact_id": "c1"})
    assert status == 200, link
    return urlparse(link["url"]).path


@pytest.mark.parametrize(("operations", "code"), FAULTS)
@pytest.mark.parametrize("form", [ONE_CLICK, "scope=all"])
def test_r5_unsubscribe_post_during_a_fault_is_503_and_the_retry_lands_once(
    contact: Api, faults: DynamoFaults, operations, code, form
):
    path = _link_path(contact)
    before = snapshot(contact)
    # Given DynamoDB fails when the person (or their mail client) posts the unsubscribe
    faults.fail(operations, code)
    response = contact.client.http.request("POST", path, headers=FORM, body=form)
    # Then the answer is a retryable non-2xx page, and nothing was written
    assert response.status_code == 503
    assert response.headers.get("Retry-After")
    assert b"nothing was lost" in response.body
    faults.heal()
    assert snapshot(contact) == before
    # When the mail client retries (twice)
    for _ in range(2):
        assert contact.client.http.request("POST", path, headers=FORM, body=form).status_code == 200
    # Then the person is opted out, with one audit entry per channel
    dnd = dnd_of(contact)
    assert dnd["outbound"]["email"]["reason"] == "unsubscribed"
    channels = Counter(e["channel"] for e in audit(contact, contact_id="c1") if e["action"] == "enabled")
    assert channels and set(channels.values()) == {1}, channels


def test_r5_unsubscribe_page_get_during_an_outage_is_not_a_5xx_other_than_503(contact: Api, faults: DynamoFaults):
    path = _link_path(contact)
    faults.fail(READS, "InternalServerError")
    response = contact.client.http.request("GET", path)
    assert response.status_code == 503
    faults.heal()
    assert contact.client.http.request("GET", path).status_code == 200


# --- reads during an outage: 503, never a wrong answer --------------------------------------------


def test_r4_send_check_during_an_outage_is_503_never_allowed(contact: Api, faults: DynamoFaults):
    assert (
        contact.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})[0]
        == 200
    )
    faults.fail(READS, "InternalServerError")
    status, body = contact.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})
    assert status == 503, body
    status, body = contact.post("/v1/send-check", {"email": EMAIL, "channel": "email"})
    assert status == 503, body


# --- SES notifications via SNS (R8) ----------------------------------------------------------------


def test_r8_bounce_failing_after_its_first_recipient_raises_and_the_redelivery_completes_it(
    ses_handler,
    api: Api,
    faults: DynamoFaults,  # noqa: F811
):
    """Two recipients; the store fails after the first is stored. The handler raises (SNS/Lambda
    retry); the redelivery adds the second and does not repeat the first."""
    event = for_workspace("ses-bounce-permanent.json", api.workspace_id)
    faults.fail(("transact_write_items",), "ProvisionedThroughputExceededException", after=1)
    with pytest.raises(Exception):  # noqa: B017 - whatever the store error became, Lambda must see a failure
        deliver(ses_handler, event)
    faults.heal()
    stored = {email: len(ses_audit(api, email)) for email in ("jane@example.com", "richard@example.com")}
    assert sorted(stored.values()) == [0, 1], stored  # one stored, one not: no half-written recipient
    deliver(ses_handler, event)
    deliver(ses_handler, event)
    for email in ("jane@example.com", "richard@example.com"):
        assert [(e["action"], e["reason"]) for e in ses_audit(api, email)] == [("enabled", "hard_bounce")], email


# --- no personal data in the logs of the intake and failure paths (R3) -------------------------

RAW_FORMS = (EMAIL, "4155552671", "415-555-2671", "(415) 555-2671")


def test_r3_webhook_unsubscribe_and_fault_paths_log_no_address(
    twilio: Twilio,
    faults: DynamoFaults,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
):
    """test_logging.py covers the internal routes; these are the public intake paths and the
    exception paths (tracebacks of injected store errors), where an address is likeliest to leak."""
    from chalicelib.observability import logger as powertools_logger
    from chalicelib.services import sms

    records = LogRecords()
    optout, root = logging.getLogger(powertools_logger.name), logging.getLogger()
    levels = optout.level, root.level
    optout.setLevel(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    for name in ("botocore", "boto3", "urllib3", "moto"):  # their DEBUG dumps wire bodies; never on in a stage
        logging.getLogger(name).setLevel(logging.WARNING)
    for target in (optout, root):
        target.addHandler(records)
    api = twilio.api
    try:
        path = _link_path(api, email=EMAIL)
        # Given every intake path, once failing on the store and once succeeding
        faults.fail(WRITES, "InternalServerError")
        assert twilio.sms("twilio-sms-stop.txt")[0] >= 500
        assert api.client.http.request("POST", path, headers=FORM, body=ONE_CLICK).status_code == 503
        assert api.post("/v1/dnd", {"phone": PHONE, "channel": "call", "action": "enable", "source": "user"})[0] == 503
        faults.heal()
        assert twilio.sms("twilio-sms-stop.txt")[0] == 200
        assert twilio.sms("twilio-sms-start.txt")[0] == 200
        assert twilio.sms("twilio-sms-help.txt")[0] == 200
        assert (
            twilio.sms(
                "twilio-sms-stop.txt", changes={"Body": "please stop texting me", "MessageSid": "SMrevocation1"}
            )[0]
            == 200
        )
        assert twilio.post("status", sample("twilio-status-30004.txt"))[0] == 200
        assert twilio.sms("twilio-sms-stop.txt", signature="forged")[0] == 403
        assert api.client.http.request("POST", path, headers=FORM, body=ONE_CLICK).status_code == 200
        assert api.client.http.request("GET", "/u/not-a-token").status_code == 404
    finally:
        for target in (optout, root):
            target.removeHandler(records)
        optout.setLevel(levels[0])
        root.setLevel(levels[1])
    # Then the paths logged (the failures at least), and no form of the address appears anywhere
    assert any(r.levelno >= logging.WARNING for r in records.records), "the injected failures are logged"
    assert any(r.name == sms.logger.name for r in records.records), "the SMS path's own logs are seen"
    captured = capfd.readouterr()
    for text, where in (
        (" ".join(record_text(r) for r in records.records), "log records"),
        (captured.out, "stdout"),
        (captured.err, "stderr"),
    ):
        for form in RAW_FORMS:
            assert form.lower() not in text.lower(), f"{form} in {where}"
