"""Salesforce (R13): ``Contact.HasOptedOutOfEmail`` through the REST API (sObject PATCH), and the
opt-out changes an Apex callout posts.

Webhook body: ``{"records": [{"Id", "Email"?, "contact_id"?, "HasOptedOutOfEmail": true|false,
"event_id"?, "LastModifiedDate"?|"SystemModstamp"?}]}``, or the list of records alone
(``JSON.serialize(Trigger.new)``); signed with X-Optout-Signature (``chalicelib/crm/webhooks.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chalicelib.crm.base import RestCrmClient
from chalicelib.crm.webhooks import CrmOptOutChange, event_id, flag, text, unreadable
from chalicelib.errors import MalformedBody
from chalicelib.models.domain import CrmSettings

NAME = "salesforce"
API_VERSION = "v60.0"
DEFAULT_FIELD = "HasOptedOutOfEmail"


class SalesforceClient(RestCrmClient):
    """``SalesforceClient(instance_url, access_token, field=None, *, allow_loopback, resolver, tls)``."""

    provider = NAME
    default_field = DEFAULT_FIELD

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        self.patch(
            f"/services/data/{API_VERSION}/sobjects/Contact/{quote(record_ref, safe='')}", {self.field: opted_out}
        )
        return True


def client(settings: CrmSettings, allow_loopback: bool) -> SalesforceClient:
    return SalesforceClient(settings.instance_url, settings.access_token, settings.field, allow_loopback=allow_loopback)


def records(body: Any) -> list[Any]:
    if isinstance(body, list):  # an Apex callout's JSON.serialize(Trigger.new): the sObjects themselves
        return body
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        return list(body["records"])
    raise MalformedBody('expected {"records": [...]}', fields={"records": "must be a list"})


def change(record: Any, field: str, fallback: str) -> CrmOptOutChange:
    if not isinstance(record, dict):
        return unreadable(NAME, fallback)
    ref = text(record.get("Id"))
    modified = text(record.get("SystemModstamp")) or text(record.get("LastModifiedDate"))
    own_id = text(record.get("event_id")) or text(record.get("NotificationId"))
    opted_out = flag(record.get(field))
    return CrmOptOutChange(
        ref,
        text(record.get("contact_id")),
        text(record.get("Email")) or text(record.get("email")),
        opted_out,
        event_id(NAME, own_id, ref, modified, fallback),
        None if opted_out is not None else "invalid",
    )
