"""Salesforce: ``Contact.HasOptedOutOfEmail`` through the REST API (sObject PATCH)."""

from __future__ import annotations

from urllib.parse import quote

from chalicelib.crm.base import CrmClient, check_base_url, patch_json

API_VERSION = "v60.0"
DEFAULT_FIELD = "HasOptedOutOfEmail"


class SalesforceClient(CrmClient):
    provider = "salesforce"

    def __init__(self, instance_url: str | None, access_token: str | None, field: str | None = None) -> None:
        self.instance_url = instance_url
        self.access_token = access_token
        self.field = field or DEFAULT_FIELD

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        base = check_base_url(self.instance_url)
        url = f"{base}/services/data/{API_VERSION}/sobjects/Contact/{quote(record_ref, safe='')}"
        patch_json(url, self.access_token, {self.field: opted_out})
        return True
