"""Salesforce: ``Contact.HasOptedOutOfEmail`` through the REST API (sObject PATCH)."""

from __future__ import annotations

import ssl
from urllib.parse import quote

from chalicelib.crm.base import CrmClient, Resolver, check_base_url, patch_json

API_VERSION = "v60.0"
DEFAULT_FIELD = "HasOptedOutOfEmail"


class SalesforceClient(CrmClient):
    provider = "salesforce"

    def __init__(
        self,
        instance_url: str | None,
        access_token: str | None,
        field: str | None = None,
        *,
        allow_loopback: bool = False,
        resolver: Resolver | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.instance_url = instance_url
        self.access_token = access_token
        self.field = field or DEFAULT_FIELD
        self.allow_loopback = allow_loopback
        self.resolver = resolver
        self.tls = tls

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        destination = check_base_url(self.instance_url, allow_loopback=self.allow_loopback)
        patch_json(
            destination,
            f"/services/data/{API_VERSION}/sobjects/Contact/{quote(record_ref, safe='')}",
            self.access_token,
            {self.field: opted_out},
            allow_loopback=self.allow_loopback,
            resolver=self.resolver,
            tls=self.tls,
        )
        return True
