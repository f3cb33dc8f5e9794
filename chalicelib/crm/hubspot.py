"""HubSpot: the contact property ``hs_email_optout`` through the CRM v3 objects API.

HubSpot does not let an integration re-subscribe a contact, so a clear (``False``) is never sent
(SPEC R13): the client refuses it without a request.
"""

from __future__ import annotations

import ssl
from urllib.parse import quote

from chalicelib.crm.base import CrmClient, Resolver, check_base_url, patch_json
from chalicelib.models.domain import HUBSPOT_API_BASE_URL

DEFAULT_BASE_URL = HUBSPOT_API_BASE_URL
DEFAULT_PROPERTY = "hs_email_optout"


class HubSpotClient(CrmClient):
    provider = "hubspot"

    def __init__(
        self,
        access_token: str | None,
        base_url: str | None = None,
        field: str | None = None,
        *,
        allow_loopback: bool = False,
        resolver: Resolver | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.access_token = access_token
        self.base_url = base_url or DEFAULT_BASE_URL
        self.field = field or DEFAULT_PROPERTY
        self.allow_loopback = allow_loopback
        self.resolver = resolver
        self.tls = tls

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        if not opted_out:
            return False
        destination = check_base_url(self.base_url, allow_loopback=self.allow_loopback)
        patch_json(
            destination,
            f"/crm/v3/objects/contacts/{quote(record_ref, safe='')}",
            self.access_token,
            {"properties": {self.field: "true"}},
            allow_loopback=self.allow_loopback,
            resolver=self.resolver,
            tls=self.tls,
        )
        return True
