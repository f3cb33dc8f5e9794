"""Every DynamoDB key in one place; each starts with the workspace id (R14)."""

from __future__ import annotations

import hashlib
import hmac

from chalicelib.models.domain import AddressKind

_ADDRESS_PREFIX: dict[str, str] = {"email": "e", "phone": "p"}


def address_hash(secret: str, kind: AddressKind, normalized: str) -> str:
    """Keyed hash of a normalized address: a stable key that reveals no address (R3)."""
    message = f"{kind}:{normalized}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def address_pk(workspace_id: str, kind: AddressKind, digest: str) -> str:
    return f"{workspace_id}#{_ADDRESS_PREFIX[kind]}#{digest}"


def contact_pk(workspace_id: str, contact_id: str) -> str:
    return f"{workspace_id}#{contact_id}"


def contact_subject(contact_id: str) -> str:
    return f"c#{contact_id}"


def enrollment_pk(workspace_id: str, sequence_id: str) -> str:
    return f"{workspace_id}#{sequence_id}"


def company_key(workspace_id: str, domain: str) -> str:
    return f"{workspace_id}#{domain}"


def crm_key(workspace_id: str, crm_id: str) -> str:
    """Key of the by_crm_id index: a CRM record id (attributes.crm_id) within one workspace."""
    return f"{workspace_id}#{crm_id}"


def api_key_pk(api_key: str) -> str:
    return "key#" + hashlib.sha256(api_key.encode()).hexdigest()


def ses_identity_pk(identity: str) -> str:
    return "ses#" + identity


def job_pk(workspace_id: str, job_id: str) -> str:
    return f"{workspace_id}#{job_id}"
