"""R8: SES bounces and complaints via SNS, through the very handler Lambda runs
(``app.on_ses_notification``) fed with the Lambda SNS events in events/."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.conftest import Api

EVENTS = Path(__file__).resolve().parents[2] / "events"


class LambdaContext:
    function_name = "optout-test-on_ses_notification"
    aws_request_id = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:optout-test-on_ses_notification"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def message_of(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["Records"][0]["Sns"]["Message"])


def with_message(event: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def for_workspace(name: str, workspace_id: str, *, how: str = "auto", message_id: str | None = None) -> dict[str, Any]:
    """The sample addressed to a workspace the way its shape allows: tag (event publishing) or
    the X-Optout-Workspace header (classic notifications carry no tags)."""
    event = load(name)
    message = message_of(event)
    if how == "tag" or (how == "auto" and "eventType" in message):
        message["mail"]["tags"]["workspace"] = [workspace_id]
    else:
        message["mail"]["headers"].append({"name": "X-Optout-Workspace", "value": workspace_id})
    if message_id:
        message["mail"]["messageId"] = message_id
    return with_message(event, message)


@pytest.fixture()
def ses_handler(chalice_app: Any) -> Any:
    """The app module's ``on_ses_notification``: what Lambda (and the local dispatcher) invokes."""
    import app as app_module

    return app_module.on_ses_notification


def deliver(handler: Any, event: dict[str, Any]) -> None:
    handler(event, LambdaContext())


def audit(api: Api, email: str) -> list[dict[str, Any]]:
    status, body = api.get("/v1/audit?" + urlencode({"email": email}))
    assert status == 200, body
    return body["entries"]


def email_allowed(api: Api, **target: str) -> bool:
    status, body = api.post("/v1/send-check", {**target, "channel": "email"})
    assert status == 200, body
    return body["allowed"]


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(e["action"], e["source"], e["reason"], e["kind"]) for e in entries]


# --- each shape and subtype -------------------------------------------------------------------------


def test_r8_classic_permanent_bounce_suppresses_every_recipient_once(ses_handler, api):
    # Given a contact holding one of the bounced addresses
    assert api.put("/v1/contacts/c1", {"email": "jane@example.com"})[0] == 200
    event = for_workspace("ses-bounce-permanent.json", api.workspace_id)
    # When SNS delivers the classic bounce (two bounced recipients)
    deliver(ses_handler, event)
    # Then both addresses are blocked at once, by address and for the contact
    for email in ("jane@example.com", "richard@example.com"):
        assert not email_allowed(api, email=email)
        assert summary(audit(api, email)) == [("enabled", "system", "hard_bounce", "temporary")]
    assert not email_allowed(api, contact_id="c1")
    assert email_allowed(api, email="mary@example.com")  # a destination that did not bounce
    # When SNS redelivers the same event
    deliver(ses_handler, event)
    # Then no second audit entry
    assert len(audit(api, "jane@example.com")) == 1


def test_r8_hard_bounce_is_clearable_by_a_user_once_the_address_is_fixed(ses_handler, api):
    deliver(ses_handler, for_workspace("ses-bounce-permanent.json", api.workspace_id))
    status, _ = api.post(
        "/v1/dnd", {"email": "jane@example.com", "channel": "email", "action": "disable", "source": "user"}
    )
    assert status == 200
    assert email_allowed(api, email="jane@example.com")


def test_r8_classic_complaint_is_permanent_and_never_cleared_by_a_user(ses_handler, api):
    deliver(ses_handler, for_workspace("ses-complaint-classic.json", api.workspace_id))
    assert not email_allowed(api, email="richard@example.com")
    assert summary(audit(api, "richard@example.com")) == [("enabled", "system", "spam_complaint", "permanent")]
    status, body = api.post(
        "/v1/dnd",
        {
            "email": "richard@example.com",
            "channel": "email",
            "action": "disable",
            "source": "user",
            "evidence": "they said yes on the phone",
        },
    )
    assert status == 409 and body["error"] == "spam_complaint"


def test_r8_suppression_list_bounce_is_permanent(ses_handler, api):
    deliver(ses_handler, for_workspace("ses-bounce-suppressed.json", api.workspace_id))
    assert not email_allowed(api, email="mary@example.com")
    assert summary(audit(api, "mary@example.com")) == [("enabled", "system", "suppression_list_bounce", "permanent")]
    status, body = api.post(
        "/v1/dnd", {"email": "mary@example.com", "channel": "email", "action": "disable", "source": "user"}
    )
    assert status == 409 and body["error"] == "permanent_dnd"


def test_r8_event_publishing_bounce_and_complaint_use_the_workspace_tag(ses_handler, api):
    deliver(ses_handler, for_workspace("ses-event-bounce.json", api.workspace_id))
    assert summary(audit(api, "recipient@example.com")) == [("enabled", "system", "hard_bounce", "temporary")]
    deliver(ses_handler, for_workspace("ses-event-complaint.json", api.workspace_id))
    assert [e["reason"] for e in audit(api, "recipient@example.com")] == ["hard_bounce", "spam_complaint"]
    assert not email_allowed(api, email="recipient@example.com")


def test_r8_a_bounce_never_replaces_the_contacts_own_unsubscribe(ses_handler, api):
    # Given jane unsubscribed herself
    assert api.put("/v1/contacts/c1", {"email": "jane@example.com"})[0] == 200
    status, link = api.post("/v1/unsubscribe-links", {"email": "jane@example.com"})
    token_path = "/u/" + link["url"].split("/u/")[1]
    response = api.client.http.request(
        "POST",
        token_path,
        body="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    # When a hard bounce arrives and a user clears it
    deliver(ses_handler, for_workspace("ses-bounce-permanent.json", api.workspace_id))
    api.post(
        "/v1/dnd",
        {
            "email": "jane@example.com",
            "channel": "email",
            "action": "disable",
            "source": "user",
            "clear_reasons": ["hard_bounce"],
        },
    )
    # Then the unsubscribe still blocks
    assert not email_allowed(api, email="jane@example.com")
    status, view = api.get("/v1/contacts/c1")
    assert "unsubscribed" in view["dnd"]["outbound"]["email"]["reasons"]


# --- soft bounces -----------------------------------------------------------------------------------


def transient(workspace_id: str, message_id: str) -> dict[str, Any]:
    return for_workspace("ses-bounce-transient.json", workspace_id, message_id=message_id)


def test_r8_soft_bounces_reaching_the_limit_set_temporary_dnd(ses_handler, api):
    assert api.patch("/v1/settings", {"soft_bounce_limit": 3, "soft_bounce_window_days": 7})[0] == 200
    # Given two transient bounces (one of them redelivered three times)
    for message_id in ("m-1", "m-2", "m-2", "m-2"):
        deliver(ses_handler, transient(api.workspace_id, message_id))
    # Then the address is still allowed: each message counts once
    assert email_allowed(api, email="jane@example.com")
    assert audit(api, "jane@example.com") == []
    # When a third distinct message soft-bounces
    deliver(ses_handler, transient(api.workspace_id, "m-3"))
    # Then temporary email DND is set by the system
    assert not email_allowed(api, email="jane@example.com")
    assert summary(audit(api, "jane@example.com")) == [("enabled", "system", "soft_bounce_limit", "temporary")]
    deliver(ses_handler, transient(api.workspace_id, "m-3"))  # redelivery
    assert len(audit(api, "jane@example.com")) == 1


def test_r8_soft_bounces_outside_the_window_do_not_add_up(ses_handler, api, monkeypatch):
    from chalicelib.services.context import get_services, utcnow

    assert api.patch("/v1/settings", {"soft_bounce_limit": 2, "soft_bounce_window_days": 1})[0] == 200
    start = utcnow()
    deliver(ses_handler, transient(api.workspace_id, "old-1"))
    monkeypatch.setattr(get_services(), "clock", lambda: start + timedelta(days=2))
    deliver(ses_handler, transient(api.workspace_id, "new-1"))
    assert email_allowed(api, email="jane@example.com")
    deliver(ses_handler, transient(api.workspace_id, "new-2"))
    assert not email_allowed(api, email="jane@example.com")


# --- workspace resolution ---------------------------------------------------------------------------


def test_r8_the_tag_wins_over_the_header(ses_handler, api, other_api):
    event = for_workspace("ses-event-bounce.json", api.workspace_id)
    message = message_of(event)
    message["mail"]["headers"].append({"name": "X-Optout-Workspace", "value": other_api.workspace_id})
    deliver(ses_handler, with_message(event, message))
    assert not email_allowed(api, email="recipient@example.com")
    assert email_allowed(other_api, email="recipient@example.com")


@pytest.mark.parametrize("registered", ["arn", "address", "domain"])
def test_r8_the_registered_sending_identity_names_the_workspace(ses_handler, admin, api, registered):
    domain = f"{api.workspace_id}.mail.example"
    arn = f"arn:aws:ses:us-east-1:123456789012:identity/{domain}"
    identity = {"arn": arn, "address": f"sales@{domain}", "domain": domain}[registered]
    assert admin.patch(f"/v1/admin/workspaces/{api.workspace_id}", {"ses_identities": [identity]})[0] == 200
    event = load("ses-complaint-classic.json")  # classic: no tags, no workspace header
    message = message_of(event)
    message["mail"].update(source=f"Sales <SALES@{domain}>", sourceArn=arn)
    deliver(ses_handler, with_message(event, message))
    assert summary(audit(api, "richard@example.com")) == [("enabled", "system", "spam_complaint", "permanent")]


def test_r8_an_unknown_sender_falls_back_to_the_default_workspace(ses_handler, api):
    from chalicelib.services.context import get_services
    from chalicelib.services.recipients import address_pk

    recipient = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    event = load("ses-event-bounce.json")
    message = message_of(event)
    message["mail"]["tags"].pop("workspace")
    message["mail"]["messageId"] = uuid.uuid4().hex
    message["bounce"]["bouncedRecipients"][0]["emailAddress"] = recipient
    deliver(ses_handler, with_message(event, message))
    services = get_services()
    entries = services.audit.entries([address_pk(services, "default", "email", recipient)])
    assert [e["reason"] for e in entries] == ["hard_bounce"]
    assert audit(api, recipient) == []  # not in the test's own workspace


def test_r8_a_tag_naming_no_existing_workspace_is_not_trusted(ses_handler, api):
    event = for_workspace("ses-event-bounce.json", "ws-that-does-not-exist", how="tag")
    message = message_of(event)
    message["mail"]["headers"].append({"name": "X-Optout-Workspace", "value": api.workspace_id})
    deliver(ses_handler, with_message(event, message))
    assert not email_allowed(api, email="recipient@example.com")


# --- malformed input and failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["not json", "{}", '{"notificationType": "Bounce", "mail": {"messageId": "x"}}', '"a string"'],
)
def test_r8_malformed_messages_are_dropped_not_retried(ses_handler, api, message, caplog):
    event = load("ses-event-bounce.json")
    event["Records"][0]["Sns"]["Message"] = message
    caplog.set_level(logging.WARNING)
    deliver(ses_handler, event)  # no exception: SNS must not retry it forever
    # Then it is dropped with a warning, and nothing is recorded for the sample's recipient
    dropped = [r for r in caplog.records if r.levelno == logging.WARNING and "dropped" in r.getMessage()]
    assert len(dropped) == 1, [r.getMessage() for r in caplog.records]
    assert audit(api, "recipient@example.com") == [] and email_allowed(api, email="recipient@example.com")


def test_r8_malformed_message_logs_carry_no_address(ses_handler, capsys):
    event = load("ses-event-bounce.json")
    message = message_of(event)
    message["bounce"]["bouncedRecipients"] = [{"emailAddress": "secret-person@example.com", "status": 5}]
    deliver(ses_handler, with_message(event, message))
    captured = capsys.readouterr()
    assert "secret-person" not in captured.out + captured.err


def test_r8_a_failure_to_store_raises_so_sns_retries(ses_handler, api, monkeypatch):
    from chalicelib.errors import StoreUnavailable
    from chalicelib.services import email_feedback  # SES records through the provider-neutral path

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("down")

    monkeypatch.setattr(email_feedback, "apply_dnd_change", broken)
    with pytest.raises(StoreUnavailable):
        deliver(ses_handler, for_workspace("ses-complaint-classic.json", api.workspace_id))
    monkeypatch.undo()
    # And the retry applies it
    deliver(ses_handler, for_workspace("ses-complaint-classic.json", api.workspace_id))
    assert not email_allowed(api, email="richard@example.com")
