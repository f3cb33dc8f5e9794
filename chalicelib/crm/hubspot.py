"""HubSpot: the contact property ``hs_email_optout`` through the CRM v3 objects API.

HubSpot does not let an integration re-subscribe a contact, so a clear (``False``) is never sent
(SPEC R13): the client refuses it without a request.
"""

from __future__ import annotations

from urllib.parse import quote

from chalicelib.crm.base import CrmClient, check_base_url, patch_json

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_PROPERTY = "hs_email_optout"


class HubSpotClient(CrmClient):
    provider = "hubspot"

    def __init__(self, access_token: str | None, base_url: str | None = None, field: str | None = None) -> None:
        self.access_token = access_token
        self.base_url = base_url or DEFAULT_BASE_URL
        self.field = field or DEFAULT_PROPERTY

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        if not opted_out:
            return False
        base = check_base_url(self.base_url)
        url = f"{base}/crm/v3/objects/contacts/{quote(record_ref, safe='')}"
        patch_json(url, self.access_token, {"properties": {self.field: "true"}})
        return True
