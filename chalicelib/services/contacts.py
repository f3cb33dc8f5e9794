"""Contacts: store normalized, show with their DND (R1-R3)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidAddress, InvalidInput, NotFound
from chalicelib.logic.dnd_rules import dnd_view, is_do_not_contact
from chalicelib.logic.normalize import normalize_domain, normalize_email, normalize_phone
from chalicelib.logic.quiet_hours import valid_state, valid_timezone
from chalicelib.models.domain import DndState
from chalicelib.models.records import Contact
from chalicelib.models.requests import ContactBody, parse, require_id
from chalicelib.services.context import Services, iso
from chalicelib.services.recipients import address_pk, contact_address_pks
from chalicelib.store import keys

MAX_CRM_ID = 255  # Salesforce ids are 15/18 characters, HubSpot's numeric; a GSI key allows 2048 bytes


def place_attribute_errors(attributes: dict[str, Any]) -> dict[str, str]:
    """The attributes quiet hours read (R17) must be usable when set: a bad one is a 422 now,
    not a silently ignored zone later."""
    errors = {}
    if attributes.get("timezone") is not None and not valid_timezone(attributes["timezone"]):
        errors["attributes.timezone"] = "an IANA time zone name, e.g. America/New_York"
    if attributes.get("state") is not None and not valid_state(attributes["state"]):
        errors["attributes.state"] = "two letters, e.g. FL"
    return errors


def crm_record_id(value: Any) -> str | None:
    """The CRM record id of ``attributes.crm_id`` as indexed (by_crm_id), or None if not usable."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= MAX_CRM_ID else None


def put_contact(services: Services, workspace_id: str, contact_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require_id(contact_id, "contact_id")
    parsed = parse(ContactBody, body)
    region = services.config_cache.get(workspace_id).settings.default_phone_region
    fields: dict[str, Any] = {"attributes": parsed.attributes}
    errors: dict[str, str] = place_attribute_errors(parsed.attributes)
    for name, normalize in (
        ("email", normalize_email),
        ("phone", lambda v: normalize_phone(v, region)),
        ("company_domain", normalize_domain),
    ):
        raw = getattr(parsed, name)
        if raw is None or raw == "":
            continue
        try:
            fields[name] = normalize(raw)
        except InvalidAddress as exc:
            errors[name] = str(exc)
    if crm_record_id(parsed.attributes.get("crm_id")) is None and parsed.attributes.get("crm_id") not in (None, ""):
        errors["attributes.crm_id"] = f"a string or number of 1-{MAX_CRM_ID} characters (the CRM record id)"
    if errors:
        raise InvalidInput("invalid contact", fields=errors)
    if "email" in fields:
        fields["email_key"] = address_pk(services, workspace_id, "email", fields["email"])
    if "phone" in fields:
        fields["phone_key"] = address_pk(services, workspace_id, "phone", fields["phone"])
    if "company_domain" in fields:
        fields["company_key"] = keys.company_key(workspace_id, fields["company_domain"])
    crm_id = crm_record_id(parsed.attributes.get("crm_id"))
    if crm_id is not None:
        fields["crm_key"] = keys.crm_key(workspace_id, crm_id)
    contact = services.contacts.put(workspace_id, contact_id, fields, iso(services.clock()))
    return contact_view(services, contact)


def contact_states(services: Services, contact: Contact) -> list[DndState]:
    items = services.dnd.get_address_items(list(contact_address_pks(contact).values()))
    states = [DndState.model_validate(contact.dnd)]
    states.extend(DndState.model_validate(item.get("dnd") or {}) for item in items.values())
    return states


def contact_view(services: Services, contact: Contact, states: list[DndState] | None = None) -> dict[str, Any]:
    from chalicelib.logic.topics import topics_view

    states = states if states is not None else contact_states(services, contact)
    topics = services.config_cache.get(contact.workspace_id).topics
    return {
        "contact_id": contact.contact_id,
        "email": contact.email,
        "phone": contact.phone,
        "company_domain": contact.company_domain,
        "attributes": contact.attributes,
        "dnd": dnd_view(states),
        "do_not_contact": is_do_not_contact(states),
        "topics": topics_view(states, topics),
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def get_contact(services: Services, workspace_id: str, contact_id: str) -> dict[str, Any]:
    require_id(contact_id, "contact_id")
    contact = services.contacts.get(workspace_id, contact_id)
    if contact is None:
        raise NotFound("contact not found", fields={"contact_id": "no such contact"})
    return contact_view(services, contact)


def delete_contact(services: Services, workspace_id: str, contact_id: str) -> None:
    """Erase the contact's personal data, its audit entries' included (R12); its suppressions
    stay, on the tombstone and on the keyed-hash address items (R3)."""
    require_id(contact_id, "contact_id")
    contact = services.contacts.get(workspace_id, contact_id)
    if contact is None:
        raise NotFound("contact not found", fields={"contact_id": "no such contact"})
    own_pk = f"{workspace_id}#{keys.contact_subject(contact_id)}"
    address_pks = set(contact_address_pks(contact).values())

    def belongs(pk: str, entry: dict[str, Any]) -> bool:
        # Its own entries, and entries on its addresses made for it or by raw address.
        return pk == own_pk or (pk in address_pks and entry.get("contact_id") in (None, contact_id))

    services.audit.redact([own_pk, *address_pks], belongs)
    services.contacts.erase(workspace_id, contact_id, iso(services.clock()))
