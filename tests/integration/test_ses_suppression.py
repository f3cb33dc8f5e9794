"""Issue 16 point 5 (SPEC R18, optional): with OPTOUT_SES_SUPPRESSION on, a permanent email DND
stored through the HTTP API or the SES handler reaches the SES suppression list as the third DND
follow-up; temporary, marketing-only and SMS DND do not; a failed SES call is retried by the outbox
sweeper and never fails the opt-out.

moto has no SES suppression-list API, so the composition root's list is a real ``sesv2`` client
answered by botocore's Stubber; the test asserts the exact request parameters. Everything else
(DynamoDB, SNS, SQS) is the stack on moto.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.integration.conftest import Api, LogRecords, record_text
from tests.integration.test_dnd_outbox import pending
from tests.integration.test_dnd_outbox import sweep as sweep  # noqa: F401  (fixture)
from tests.integration.test_ses import deliver, for_workspace
from tests.integration.test_ses import ses_handler as ses_handler  # noqa: F401  (fixture)

EMAIL = "ses.list@example.com"
PHONE = "+14155552671"
CONTACT_OPT_OUT = {
    "contact_id": "c1",
    "channel": "email",
    "action": "enable",
    "source": "contact",
    "actor": "rep-7",
    "via": "phone",
}


class SesList:
    """The SESv2 client the follow-up calls, stubbed: ``expect_*`` queue the exact requests allowed,
    ``calls`` lists every request made (operation, parameters)."""

    def __init__(self, client: Any, stub: Stubber) -> None:
        self.client, self.stub = client, stub
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.sesv2", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def expect_put(self, email: str, reason: str, tenant: str | None = None) -> None:
        params = {"EmailAddress": email, "Reason": reason, **({"TenantName": tenant} if tenant else {})}
        self.stub.add_response("put_suppressed_destination", {}, params)

    def expect_delete(self, email: str, tenant: str | None = None) -> None:
        params = {"EmailAddress": email, **({"TenantName": tenant} if tenant else {})}
        self.stub.add_response("delete_suppressed_destination", {}, params)


def _use_scope(monkeypatch: pytest.MonkeyPatch, scope: str) -> Iterator[SesList]:
    import boto3

    from chalicelib.services.context import _follow_ups, get_services
    from chalicelib.store.ses_suppression import SesSuppressionList

    services = get_services()
    client = boto3.client("sesv2", region_name="us-east-1")
    with Stubber(client) as stub:
        # OPTOUT_SES_SUPPRESSION=<scope>, as get_services() would have built it from the environment
        monkeypatch.setattr(services.config, "ses_suppression", scope)
        monkeypatch.setattr(services, "follow_ups", _follow_ups(services.config))
        monkeypatch.setattr(services, "ses_suppression", SesSuppressionList(client))
        yield SesList(client, stub)


@pytest.fixture()
def ses_list(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SesList]:
    yield from _use_scope(monkeypatch, "account")


@pytest.fixture()
def tenant_list(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SesList]:
    yield from _use_scope(monkeypatch, "tenant")


def test_issue16_the_persons_own_opt_out_through_the_api_is_put_on_the_account_list(api: Api, ses_list: SesList):
    # Given a contact with an email address
    assert api.put("/v1/contacts/c1", {"email": EMAIL})[0] == 200
    ses_list.expect_put(EMAIL, "COMPLAINT")
    # When a rep records the person's own "don't email me" (permanent, R15)
    status, body = api.post("/v1/dnd", CONTACT_OPT_OUT)
    # Then the opt-out is answered, and the address went to the account-level list as a complaint
    assert status == 200 and body["changed"] is True, body
    assert ses_list.calls == [("PutSuppressedDestination", {"EmailAddress": EMAIL, "Reason": "COMPLAINT"})]
    ses_list.stub.assert_no_pending_responses()
    # And every follow-up succeeded on the request path: no outbox item is left
    assert pending(api.workspace_id) == []


def test_issue16_an_ses_suppression_list_bounce_is_put_as_a_bounce(api: Api, ses_list: SesList, ses_handler):
    # Given a contact holding the address of the sample's suppression-list bounce (R8: permanent)
    assert api.put("/v1/contacts/c1", {"email": "mary@example.com"})[0] == 200
    ses_list.expect_put("mary@example.com", "BOUNCE")
    # When SES reports it through SNS
    deliver(ses_handler, for_workspace("ses-bounce-suppressed.json", api.workspace_id))
    # Then the address is put with reason BOUNCE
    assert ses_list.calls == [("PutSuppressedDestination", {"EmailAddress": "mary@example.com", "Reason": "BOUNCE"})]
    assert pending(api.workspace_id) == []


@pytest.mark.parametrize(
    "body",
    [
        # the team's temporary email DND
        {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"},
        # the person's own opt-out, but on SMS
        {**CONTACT_OPT_OUT, "channel": "sms"},
    ],
    ids=["temporary-email", "permanent-sms"],
)
def test_issue16_temporary_or_non_email_dnd_makes_no_ses_call(api: Api, ses_list: SesList, body: dict[str, Any]):
    assert api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})[0] == 200
    status, answer = api.post("/v1/dnd", body)
    assert status == 200 and answer["changed"] is True, answer
    # No SES request at all (a stray one would also fail against the empty stub and leave an item)
    assert ses_list.calls == []
    assert pending(api.workspace_id) == []


def test_issue16_a_link_unsubscribe_is_marketing_only_and_not_pushed(api: Api, ses_list: SesList, http: Any):
    # Given an unsubscribe link for the contact (R5); its one-click POST is a marketing opt-out (R16)
    assert api.put("/v1/contacts/c1", {"email": EMAIL})[0] == 200
    status, link = api.post("/v1/unsubscribe-links", {"contact_id": "c1"})
    assert status == 200, link
    path = link["url"].split("optout.test", 1)[1]
    response = http.http.request(
        "POST",
        path,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="List-Unsubscribe=One-Click",
    )
    assert response.status_code == 200
    # Then SES is not told: transactional mail must still reach the person
    assert ses_list.calls == []
    assert pending(api.workspace_id) == []


def test_issue16_tenant_scope_puts_then_a_clear_with_evidence_deletes_from_the_workspaces_tenant(
    api: Api, tenant_list: SesList
):
    assert api.put("/v1/contacts/c1", {"email": EMAIL})[0] == 200
    tenant = api.workspace_id  # type: ignore[attr-defined]
    tenant_list.expect_put(EMAIL, "COMPLAINT", tenant)
    tenant_list.expect_delete(EMAIL, tenant)
    # When the person's opt-out is recorded, then cleared by a user with their opt-in evidence (R2)
    assert api.post("/v1/dnd", CONTACT_OPT_OUT)[0] == 200
    status, body = api.post(
        "/v1/dnd",
        {"contact_id": "c1", "channel": "email", "action": "disable", "source": "user", "evidence": "signed form"},
    )
    assert status == 200 and body["changed"] is True, body
    # Then the tenant's list got the address, then lost it
    assert tenant_list.calls == [
        ("PutSuppressedDestination", {"EmailAddress": EMAIL, "Reason": "COMPLAINT", "TenantName": tenant}),
        ("DeleteSuppressedDestination", {"EmailAddress": EMAIL, "TenantName": tenant}),
    ]
    tenant_list.stub.assert_no_pending_responses()
    assert pending(api.workspace_id) == []


def test_issue16_a_failed_ses_call_never_fails_the_opt_out_and_the_sweeper_retries_it(
    api: Api, ses_list: SesList, sweep: Callable[..., Any]
):
    email = "ses.retry@example.com"  # the sweeper runs every workspace's due items: calls are filtered by it
    assert api.put("/v1/contacts/c1", {"email": email})[0] == 200
    records = LogRecords()
    logging.getLogger("optout").addHandler(records)
    try:
        # Given SES throttling the first call
        ses_list.stub.add_client_error(
            "put_suppressed_destination",
            "TooManyRequestsException",
            http_status_code=429,
            expected_params={"EmailAddress": email, "Reason": "COMPLAINT"},
        )
        # When the opt-out is recorded, it is stored and answered 200 regardless
        status, body = api.post("/v1/dnd", CONTACT_OPT_OUT)
        assert status == 200 and body["do_not_contact"] is True, body
        # And its outbox item stays for the sweeper
        assert len(pending(api.workspace_id)) == 1
        # When SES is back and the sweeper runs after the grace period
        ses_list.expect_put(email, "COMPLAINT")
        sweep(after=61)
        # Then the address is put (the same request again) and the item is done
        mine = [call for call in ses_list.calls if call[1].get("EmailAddress") == email]
        expected = ("PutSuppressedDestination", {"EmailAddress": email, "Reason": "COMPLAINT"})
        assert mine == [expected, expected]
        ses_list.stub.assert_no_pending_responses()
        assert pending(api.workspace_id) == []
    finally:
        logging.getLogger("optout").removeHandler(records)
    # No log line carries the address
    assert not [r for r in records.records if email in record_text(r)]


def test_issue16_an_address_no_contact_holds_is_skipped_and_logged_without_the_address(
    api: Api, ses_list: SesList, ses_handler
):
    records = LogRecords()
    logging.getLogger("optout").addHandler(records)
    try:
        # A complaint for an address no contact of the workspace holds (R3: no address is stored)
        deliver(ses_handler, for_workspace("ses-complaint-classic.json", api.workspace_id))
    finally:
        logging.getLogger("optout").removeHandler(records)
    assert ses_list.calls == []
    assert pending(api.workspace_id) == []
    skipped = [r for r in records.records if r.getMessage().startswith("SES suppression skipped")]
    assert skipped and all("@" not in record_text(r) for r in skipped)
