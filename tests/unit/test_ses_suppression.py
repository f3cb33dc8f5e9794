"""Issue 16 point 5 (SPEC R18, optional): permanent email DND pushed to the SES suppression list.

The follow-up on in-memory fakes (what it pushes, what it leaves, clears, skips, retries), the
composition root's registration behind OPTOUT_SES_SUPPRESSION, and the store's exact SESv2 requests
through botocore's Stubber (moto has no suppression-list API). No sockets: Stubber answers before
anything is sent.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.config import Config
from chalicelib.services.context import Services, _follow_ups, _ses_suppression_list
from chalicelib.services.crm import enqueue_crm_writeback
from chalicelib.services.dnd import DndChange, DndResult, apply_dnd_change, apply_dnd_changes, run_follow_ups
from chalicelib.services.enrollments import unenroll_on_do_not_contact
from chalicelib.services.recipients import Target, address_pk
from chalicelib.services.ses_suppression import push_ses_suppression, sync_ses_suppression
from chalicelib.store.ses_suppression import SesSuppressionList
from tests.unit.fakes import FakeOutbox, FakeSesSuppressionList, fake_services

WS = "ws1"
EMAIL = "jane@example.com"


def ses_services(scope: str = "account", workspace_id: str = WS) -> tuple[Services, FakeSesSuppressionList]:
    ses = FakeSesSuppressionList()
    config = Config(ses_suppression=scope)  # type: ignore[arg-type]
    services = fake_services(config=config, follow_ups=(push_ses_suppression,), ses_suppression=ses)
    services.config_cache.set(workspace_id)  # type: ignore[attr-defined]
    return services, ses


def add_contact(services: Services, contact_id: str = "c1", email: str = EMAIL, workspace_id: str = WS, **more: Any):
    key = address_pk(services, workspace_id, "email", email)
    return services.contacts.add(workspace_id, contact_id, email=email, email_key=key, **more)  # type: ignore[attr-defined]


def change(
    action: str = "enable",
    source: Any = "contact",
    reason: str = "contact_request",
    kind: Any = "permanent",
    channel: str = "email",
    target: Target | None = None,
    workspace_id: str = WS,
    **extra: Any,
) -> DndChange:
    return DndChange(
        workspace_id, target or Target(contact_id="c1"), "outbound", (channel,), action, source, reason, kind, **extra
    )


def outbox_items(services: Services) -> dict[str, dict[str, Any]]:
    outbox: FakeOutbox = services.outbox  # type: ignore[assignment]
    return outbox.items


# --- what is pushed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason", "expected"),
    [
        ("contact", "contact_request", "COMPLAINT"),  # the person's own words, recorded by a rep (R15)
        ("system", "spam_complaint", "COMPLAINT"),
        ("contact", "reply_unsubscribe", "COMPLAINT"),
        ("system", "suppression_list_bounce", "BOUNCE"),
    ],
)
def test_issue16_a_permanent_email_dnd_is_put_on_the_account_list_with_its_ses_reason(source, reason, expected):
    # Given the feature on at account scope and a contact with an email address
    services, ses = ses_services("account")
    add_contact(services)
    # When a permanent email DND is stored
    assert apply_dnd_change(services, change(source=source, reason=reason)).changed
    # Then the address is put on the account-level list (no TenantName) with SES's reason
    assert ses.calls == [("put", EMAIL, expected, "")]
    # And the follow-up succeeded: the outbox item is gone
    assert outbox_items(services) == {}


def test_issue16_tenant_scope_names_the_workspaces_tenant():
    services, ses = ses_services("tenant", workspace_id="acme_eu-1")
    add_contact(services, workspace_id="acme_eu-1")
    apply_dnd_change(services, change(workspace_id="acme_eu-1", source="system", reason="spam_complaint"))
    assert ses.calls == [("put", EMAIL, "COMPLAINT", "acme_eu-1")]


def test_issue16_a_workspace_id_that_cannot_name_a_tenant_is_skipped_not_retried():
    # Given tenant scope and a workspace id SES cannot take as a tenant name ('.' and '@' are ids' only)
    services, ses = ses_services("tenant", workspace_id="acme.eu@x")
    add_contact(services, workspace_id="acme.eu@x")
    # When a permanent email DND is stored
    result = apply_dnd_change(services, change(workspace_id="acme.eu@x"))
    # Then nothing is pushed, and the run counts as done (no retry of what can never succeed)
    assert result.changed and ses.calls == []
    assert outbox_items(services) == {}


@pytest.mark.parametrize(
    ("source", "reason", "kind", "channel"),
    [
        ("user", "manual", "temporary", "email"),  # the team's temporary DND
        ("system", "hard_bounce", "temporary", "email"),  # hard bounces are temporary (R2)
        ("contact", "unsubscribed", "permanent", "email"),  # a link unsubscribe: marketing only (R16)
        ("contact", "sms_stop", "permanent", "sms"),  # permanent, but not email
    ],
)
def test_issue16_temporary_marketing_only_and_non_email_dnd_are_not_pushed(source, reason, kind, channel):
    services, ses = ses_services()
    add_contact(services, phone="+14155552671", phone_key=address_pk(services, WS, "phone", "+14155552671"))
    assert apply_dnd_change(services, change(source=source, reason=reason, kind=kind, channel=channel)).changed
    assert ses.calls == []
    assert outbox_items(services) == {}


def test_issue16_an_address_no_contact_holds_is_skipped_without_a_call():
    # Given an opt-out for a raw address that no contact holds (R3: optout keeps no readable address)
    services, ses = ses_services()
    # When it is stored as a complaint
    result = apply_dnd_change(services, change(source="system", reason="spam_complaint", target=Target(email=EMAIL)))
    # Then SES is not called (there is no address to send) and the follow-up does not fail
    assert result.changed and ses.calls == []
    assert outbox_items(services) == {}


def test_issue16_only_the_contact_holding_the_changed_address_gives_the_address():
    # Given two contacts sharing a phone, with different emails; c2's email is the one suppressed
    services, ses = ses_services()
    phone_key = address_pk(services, WS, "phone", "+14155552671")
    add_contact(services, "c1", "c1@example.com", phone="+14155552671", phone_key=phone_key)
    add_contact(services, "c2", "c2@example.com", phone="+14155552671", phone_key=phone_key)
    apply_dnd_change(services, change(source="system", reason="spam_complaint", target=Target(email="c2@example.com")))
    assert ses.calls == [("put", "c2@example.com", "COMPLAINT", "")]


def test_issue16_imported_permanent_opt_outs_are_pushed_through_the_batch_follow_ups():
    services, ses = ses_services()
    add_contact(services)
    pk = address_pk(services, WS, "email", EMAIL)
    imported = DndChange(
        WS,
        Target(address_key=pk, address_kind="email"),
        "outbound",
        ("email",),
        "enable",
        "system",
        "spam_complaint",
        "permanent",
        event_id="import-1",
    )
    assert apply_dnd_changes(services, [imported]) == ["applied"]
    assert ses.calls == [("put", EMAIL, "COMPLAINT", "")]


# --- clears ---------------------------------------------------------------------------------------


def test_issue16_a_clear_that_leaves_no_email_dnd_deletes_the_address_from_the_list():
    # Given the person's own opt-out, pushed to the tenant's list
    services, ses = ses_services("tenant")
    add_contact(services)
    apply_dnd_change(services, change())
    # When a user clears it with the person's opt-in evidence (R2)
    cleared = apply_dnd_change(services, change("disable", "user", "cleared", evidence="signed form 2026-03-01"))
    # Then the address leaves the tenant's list
    assert cleared.changed
    assert ses.calls == [("put", EMAIL, "COMPLAINT", WS), ("delete", EMAIL, WS)]
    assert ses.listed == {}


def test_issue16_a_clear_that_leaves_a_temporary_entry_leaves_ses_alone_and_one_leaving_a_permanent_re_puts():
    services, ses = ses_services()
    add_contact(services)
    apply_dnd_change(services, change())  # contact_request: pushed
    apply_dnd_change(services, change(source="user", reason="manual", kind="temporary"))  # not pushed
    # When the permanent entry is cleared with evidence, the temporary one remains: SES untouched
    apply_dnd_change(
        services, change("disable", "user", "cleared", evidence="form", only_reasons=frozenset({"contact_request"}))
    )
    assert ses.calls == [("put", EMAIL, "COMPLAINT", "")]
    # When a complaint arrives and then the manual entry is cleared, the complaint is (re-)put
    apply_dnd_change(services, change(source="system", reason="spam_complaint"))
    apply_dnd_change(services, change("disable", "user", "cleared", only_reasons=frozenset({"manual"})))
    assert ses.calls[1:] == [("put", EMAIL, "COMPLAINT", ""), ("put", EMAIL, "COMPLAINT", "")]


# --- failures are retried like every follow-up ------------------------------------------------------


def test_issue16_a_failing_ses_call_keeps_the_opt_out_and_leaves_the_item_for_the_sweeper():
    # Given SES failing
    services, ses = ses_services()
    add_contact(services)
    ses.fail = True
    # When a permanent email DND is stored, it is stored and answered; the outbox item stays
    assert apply_dnd_change(services, change()).changed
    [item] = outbox_items(services).values()
    assert ses.calls == []
    # When SES is back and the sweeper re-runs the item, the address is put once
    ses.fail = False
    assert run_follow_ups(services, item) is True
    assert ses.calls == [("put", EMAIL, "COMPLAINT", "")]


def test_issue16_without_a_wired_list_the_follow_up_fails_loudly():
    services = fake_services(config=Config(ses_suppression="account"), follow_ups=(push_ses_suppression,))
    services.config_cache.set(WS)  # type: ignore[attr-defined]
    add_contact(services)
    apply_dnd_change(services, change())
    assert len(outbox_items(services)) == 1  # left for the sweeper, never silently dropped


def test_issue16_a_result_without_an_email_change_is_ignored():
    services, ses = ses_services()
    result = DndResult(changed=True, duplicate=False, states=[], contact=None, audit=[])
    assert sync_ses_suppression(services, WS, result) == "ignored"


# --- the composition root ------------------------------------------------------------------------------


def test_issue16_the_follow_up_is_registered_third_and_only_when_the_setting_is_on():
    off = Config()
    assert off.ses_suppression == "off"
    assert _follow_ups(off) == (enqueue_crm_writeback, unenroll_on_do_not_contact)
    assert _ses_suppression_list(off) is None
    for scope in ("account", "tenant"):
        assert _follow_ups(Config(ses_suppression=scope)) == (  # type: ignore[arg-type]
            enqueue_crm_writeback,
            unenroll_on_do_not_contact,
            push_ses_suppression,
        )


def test_issue16_the_setting_is_read_from_optout_ses_suppression_and_checked():
    assert Config.from_env({"OPTOUT_SES_SUPPRESSION": "tenant"}).ses_suppression == "tenant"
    assert Config.from_env({}).ses_suppression == "off"
    with pytest.raises(ValueError, match="ses_suppression"):
        Config.from_env({"OPTOUT_SES_SUPPRESSION": "yes"})


# --- the store: exact SESv2 requests (botocore Stubber) -------------------------------------------------


@pytest.fixture()
def stubbed() -> Any:
    client = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_issue16_store_puts_on_the_account_list_without_a_tenant(stubbed):
    client, stub = stubbed
    stub.add_response("put_suppressed_destination", {}, {"EmailAddress": EMAIL, "Reason": "BOUNCE"})
    SesSuppressionList(client).put(EMAIL, "BOUNCE", None)


def test_issue16_store_puts_and_deletes_on_a_tenants_list(stubbed):
    client, stub = stubbed
    stub.add_response(
        "put_suppressed_destination", {}, {"EmailAddress": EMAIL, "Reason": "COMPLAINT", "TenantName": "acme"}
    )
    stub.add_response("delete_suppressed_destination", {}, {"EmailAddress": EMAIL, "TenantName": "acme"})
    store = SesSuppressionList(client)
    store.put(EMAIL, "COMPLAINT", "acme")
    assert store.delete(EMAIL, "acme") is True


def test_issue16_store_delete_of_an_unlisted_address_is_done_and_other_errors_raise(stubbed):
    from botocore.exceptions import ClientError

    client, stub = stubbed
    stub.add_client_error("delete_suppressed_destination", "NotFoundException", http_status_code=404)
    stub.add_client_error("put_suppressed_destination", "BadRequestException", http_status_code=400)
    store = SesSuppressionList(client)
    assert store.delete(EMAIL, None) is False
    with pytest.raises(ClientError):
        store.put(EMAIL, "COMPLAINT", None)
    with pytest.raises(ValueError):
        store.put(EMAIL, "UNSUBSCRIBE", None)  # SES knows BOUNCE and COMPLAINT only
