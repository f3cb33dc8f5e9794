"""CRM integrations (R13): the client port, its Salesforce and HubSpot adapters, and the inbound
webhook's signature check and body parsing."""

from __future__ import annotations

from chalicelib.crm.base import CrmClient
from chalicelib.models.domain import CrmSettings


def client_for(settings: CrmSettings, *, allow_loopback: bool = False) -> CrmClient:
    """The adapter for a workspace's mapping. For HubSpot, ``instance_url`` (optional) overrides
    the API base URL (proxies, local fakes). ``allow_loopback``: the local stage only
    (Config.loopback_destinations), never in Lambda."""
    if settings.provider == "salesforce":
        from chalicelib.crm.salesforce import SalesforceClient

        return SalesforceClient(
            settings.instance_url, settings.access_token, settings.field, allow_loopback=allow_loopback
        )
    from chalicelib.crm.hubspot import HubSpotClient

    return HubSpotClient(settings.access_token, settings.instance_url, settings.field, allow_loopback=allow_loopback)
