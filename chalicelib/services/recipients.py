"""Resolving "who is this" (contact id or raw address) to DynamoDB subjects and keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidAddress, InvalidInput
from chalicelib.logic.exclusions import MatchSubject
from chalicelib.logic.normalize import email_domain, normalize_email, normalize_phone
from chalicelib.models.domain import AddressKind
from chalicelib.models.requests import require_id
from chalicelib.services.context import Services
from chalicelib.store import keys

if TYPE_CHECKING:
    from chalicelib.models.records import Contact


@dataclass(frozen=True)
class Target:
    """Exactly one of contact_id / email / phone, addresses normalized -- or an address known
    only by its key (``address_key`` + ``address_kind``), e.g. from an unsubscribe token that
    must not carry a readable address (R5)."""

    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    address_key: str | None = None  # full address pk (services.recipients.address_pk)
    address_kind: AddressKind | None = None

    @property
    def field(self) -> str:
        if self.address_key:
            return "email" if self.address_kind == "email" else "phone"
        return "contact_id" if self.contact_id else "email" if self.email else "phone"


def parse_target(body: dict[str, Any], default_region: str, prefix: str = "") -> Target:
    given = [name for name in ("contact_id", "email", "phone") if body.get(name) not in (None, "")]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of contact_id, email or phone",
            fields={prefix + "contact_id": "exactly one of contact_id, email, phone is required"},
        )
    name = given[0]
    value = body[name]
    if name == "contact_id":
        return Target(contact_id=require_id(value, "contact_id", prefix=prefix))
    try:
        if name == "email":
            return Target(email=normalize_email(value))
        return Target(phone=normalize_phone(value, default_region))
    except InvalidAddress as exc:
        raise InvalidInput(f"invalid {name}", fields={prefix + name: str(exc)}) from None


def address_pk(services: Services, workspace_id: str, kind: AddressKind, normalized: str) -> str:
    return keys.address_pk(workspace_id, kind, keys.address_hash(services.config.address_key, kind, normalized))


def contact_address_pks(contact: Contact) -> dict[AddressKind, str]:
    found: dict[AddressKind, str] = {}
    if contact.email_key:
        found["email"] = contact.email_key
    if contact.phone_key:
        found["phone"] = contact.phone_key
    return found


def match_subject(contact: Contact | None, target: Target) -> MatchSubject:
    email = (contact.email if contact else None) or target.email
    return MatchSubject(
        email=email,
        email_domain=email_domain(email) if email else None,
        company_domain=contact.company_domain if contact else None,
        attributes=contact.attributes if contact else {},
    )
