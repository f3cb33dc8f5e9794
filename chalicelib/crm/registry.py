"""The CRM providers (R13): one entry each. Adding a CRM: one module beside ``salesforce.py`` (client,
webhook records and change, signature scheme) and one entry here; settings validation, both webhook
routes, the write-back worker and the OpenAPI enum read this table."""

from __future__ import annotations

from chalicelib.crm import hubspot, salesforce
from chalicelib.crm.base import CrmClient, CrmProvider
from chalicelib.crm.webhooks import optout_signed
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models.domain import CrmSettings

CRM_PROVIDERS: dict[str, CrmProvider] = {
    salesforce.NAME: CrmProvider(
        salesforce.NAME,
        client=salesforce.client,
        records=salesforce.records,
        change=salesforce.change,
        signed=optout_signed,  # an Apex callout signs the way our own route asks
        default_field=salesforce.DEFAULT_FIELD,
    ),
    hubspot.NAME: CrmProvider(
        hubspot.NAME,
        client=hubspot.client,
        records=hubspot.records,
        change=hubspot.change,
        signed=hubspot.signed,
        default_field=hubspot.DEFAULT_PROPERTY,
        clear_supported=False,  # HubSpot does not let an integration re-subscribe a contact
        default_base_url=hubspot.DEFAULT_BASE_URL,
    ),
}


def crm_provider(name: str) -> CrmProvider:
    """The provider of a workspace's mapping: a 422 naming ``crm.provider`` for one not registered
    (never a silent default)."""
    provider = CRM_PROVIDERS.get(name)
    if provider is None:
        raise InvalidInput("unknown CRM provider", fields={"crm.provider": "one of " + ", ".join(CRM_PROVIDERS)})
    return provider


def route_provider(name: str) -> CrmProvider:
    """The provider a webhook route names: 404 for any other (the route does not exist)."""
    provider = CRM_PROVIDERS.get(name)
    if provider is None:
        raise NotFound("unknown CRM provider", fields={"provider": " or ".join(CRM_PROVIDERS)})
    return provider


def client_for(settings: CrmSettings, *, allow_loopback: bool = False) -> CrmClient:
    """The adapter for a workspace's mapping. ``instance_url`` (optional where the provider has a
    default) overrides the API base URL (proxies, local fakes). ``allow_loopback``: the local stage
    only (Config.loopback_destinations), never in Lambda."""
    return crm_provider(settings.provider).client(settings, allow_loopback)
