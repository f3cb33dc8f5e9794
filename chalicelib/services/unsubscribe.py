"""Unsubscribe links and one-click unsubscribe (R5).

Minting: a signed token naming the workspace, the recipient (contact id, or the keyed hash of
an email address -- never the address itself), the channel and the optional sequence; a contact's
link also carries the keyed hashes of the contact's email and phone.
Reading a link (GET) only verifies and describes it; applying it (POST) records a permanent
DND from the person themselves and removes them from the sequences their choice covers.

A link outlives its contact (R3, R5): once the contact is erased, the opt-out lands on the
contact's tombstone and on the address items named by the hashes the link carries, so the
addresses stay suppressed and a contact created later with one of them is blocked. A link minted
before the hashes were carried still records the opt-out on the tombstone.
A link never expires (R15): an authentic token is honoured however old. Every bad link --
malformed, tampered, signed by an unknown key, naming a workspace that does not exist or a
contact that never did -- is the same InvalidLink, so the page reveals nothing about which check
failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.logic import tokens
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.domain import CHANNEL_ADDRESS, CHANNELS, REASON_UNSUBSCRIBED, AddressKind, PageSettings
from chalicelib.services import context
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, apply_dnd_change
from chalicelib.services.recipients import Target, parse_target
from chalicelib.store import keys

logger = logging.getLogger(__name__)

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


class InvalidLink(NotFound):
    """Any unusable unsubscribe link; deliberately says nothing more."""

    code = "invalid_link"


@dataclass(frozen=True)
class LinkView:
    """What the confirmation page may show and offer (no personal data)."""

    channel: str
    has_sequence: bool
    keep_options: tuple[str, ...]  # channels the person may choose to keep
    brand: PageSettings | None = None  # the workspace's `page` setting (R16)


@dataclass
class UnsubscribeOutcome:
    scope: str  # sequence | all
    channels: tuple[str, ...]
    kept: tuple[str, ...]
    changed: bool
    unenrolled: int = 0
    contact_ids: list[str] = field(default_factory=list)
    brand: PageSettings | None = None


# --- minting ------------------------------------------------------------------------------


def mint_link(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/unsubscribe-links: the URL plus the RFC 8058 headers for the message."""
    if body.get("phone") not in (None, ""):
        raise InvalidInput(
            "unsubscribe links are for a contact or an email address", fields={"phone": "use contact_id or email"}
        )
    channel = body.get("channel", "email")
    if channel not in CHANNELS:
        raise InvalidInput("invalid channel", fields={"channel": "one of " + ", ".join(CHANNELS)})
    sequence_id = body.get("sequence_id")
    if sequence_id is not None and not is_valid_id(sequence_id):
        raise InvalidInput("invalid sequence_id", fields={"sequence_id": "1-128 of A-Z a-z 0-9 _ . : @ + -"})
    region = services.config_cache.get(workspace_id).settings.default_phone_region
    target = parse_target({k: body.get(k) for k in ("contact_id", "email")}, region)
    now = int(context.utcnow().timestamp())
    claims_args: dict[str, Any] = {
        "workspace_id": workspace_id,
        "channel": channel,
        "issued_at": now,
        "sequence_id": sequence_id,
    }
    if target.contact_id:
        contact = services.contacts.get(workspace_id, target.contact_id)
        if contact is None:
            raise NotFound("contact not found", fields={"contact_id": "no such contact"})
        claims_args["contact_id"] = target.contact_id
        # So the link still suppresses the addresses once the contact is erased (R3).
        secret = services.config.address_key
        if contact.get("email"):
            claims_args["email_digest"] = keys.address_hash(secret, "email", contact["email"])
        if contact.get("phone"):
            claims_args["phone_digest"] = keys.address_hash(secret, "phone", contact["phone"])
    else:
        if channel != "email":
            raise InvalidInput(
                "a link for an email address covers the email channel",
                fields={"channel": "must be email when the link is minted for an email"},
            )
        claims_args["address_kind"] = "email"
        claims_args["address_digest"] = keys.address_hash(services.config.address_key, "email", target.email or "")
    token = tokens.sign(tokens.UnsubscribeClaims(**claims_args), services.config.token_keys)
    url = f"{services.config.public_url.rstrip('/')}/u/{token}"
    return {
        "url": url,
        "headers": {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    }


# --- reading and applying -------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    claims: tokens.UnsubscribeClaims
    contact_erased: bool = False


def _link(services: Services, token: str) -> _Link:
    try:
        claims = tokens.verify(token, services.config.token_keys)
    except tokens.InvalidToken:
        raise InvalidLink("this link is not valid") from None
    if not services.workspaces.exists(claims.workspace_id):
        raise InvalidLink("this link is not valid")
    if claims.contact_id is None:
        return _Link(claims)
    # An erased contact keeps a tombstone: its link still works (R3, R5); no item at all = unknown.
    contact = services.contacts.get_raw(claims.workspace_id, claims.contact_id)
    if contact is None:
        raise InvalidLink("this link is not valid")
    return _Link(claims, contact_erased=bool(contact.get("deleted")))


def _erased_address_pks(link: _Link) -> dict[AddressKind, str] | None:
    """The address keys an erased contact's link stands for (None while the contact is live)."""
    if not link.contact_erased:
        return None
    claims = link.claims
    digests: dict[AddressKind, str | None] = {"email": claims.email_digest, "phone": claims.phone_digest}
    return {kind: keys.address_pk(claims.workspace_id, kind, digest) for kind, digest in digests.items() if digest}


def _keep_options(services: Services, claims: tokens.UnsubscribeClaims) -> tuple[str, ...]:
    if claims.contact_id is None:
        return ()  # an address-only link covers that address's channel only
    settings = services.config_cache.get(claims.workspace_id).settings
    if not (settings.unsubscribe_all_channels and settings.unsubscribe_allow_keep_channels):
        return ()
    return tuple(c for c in CHANNELS if c != claims.channel)


def describe_link(services: Services, token: str) -> LinkView:
    """GET /u/{token}: verify and describe; never changes anything."""
    claims = _link(services, token).claims
    brand = services.config_cache.get(claims.workspace_id).settings.page
    return LinkView(claims.channel, claims.sequence_id is not None, _keep_options(services, claims), brand)


def is_one_click(form: dict[str, list[str]]) -> bool:
    return any(v.strip() == ONE_CLICK_VALUE for v in form.get(ONE_CLICK_FIELD, []))


def apply_unsubscribe(services: Services, token: str, form: dict[str, list[str]]) -> UnsubscribeOutcome:
    """POST /u/{token}: a one-click post (scope all) or the page's form (scope + kept channels)."""
    link = _link(services, token)
    claims = link.claims
    keep_options = _keep_options(services, claims)
    kept: tuple[str, ...] = ()
    if is_one_click(form):
        scope = "all"
    else:
        scope = (form.get("scope") or ["all"])[0]
        if scope not in ("sequence", "all"):
            raise InvalidInput("unknown choice", fields={"scope": "sequence or all"})
        if scope == "sequence" and claims.sequence_id is None:
            scope = "all"
        requested = tuple(dict.fromkeys(form.get("keep", [])))
        unknown = [c for c in requested if c not in CHANNELS]
        if unknown:
            raise InvalidInput("unknown channel", fields={"keep": "unknown channel"})
        kept = tuple(c for c in requested if c in keep_options)
    settings = services.config_cache.get(claims.workspace_id).settings
    if claims.contact_id is None:
        channels: tuple[str, ...] = (claims.channel,)
    elif settings.unsubscribe_all_channels:
        channels = tuple(c for c in CHANNELS if c not in kept)
    else:
        channels = (claims.channel,)
    target = _target(services, claims)
    result = apply_dnd_change(
        services,
        DndChange(
            claims.workspace_id,
            target,
            "outbound",
            channels,
            "enable",
            "contact",
            REASON_UNSUBSCRIBED,
            kind="permanent",
            actor="unsubscribe_link",
            note="one-click" if is_one_click(form) else f"scope={scope}",
            sequence_scope=claims.sequence_id if scope == "sequence" else None,
            erased_address_pks=_erased_address_pks(link),
        ),
    )
    contact_ids = _contact_ids(services, claims, target)
    outcome = UnsubscribeOutcome(scope, channels, kept, result.changed, contact_ids=contact_ids, brand=settings.page)
    if contact_ids:
        # Another capability owns enrollments; imported here so this path stays light.
        from chalicelib.services.enrollments import unenroll_contacts

        outcome.unenrolled = unenroll_contacts(
            services,
            claims.workspace_id,
            contact_ids,
            claims.sequence_id if scope == "sequence" else None,
            REASON_UNSUBSCRIBED,
        )
    logger.info(
        "unsubscribe applied",
        extra={
            "workspace_id": claims.workspace_id,
            "scope": scope,
            "channels": list(channels),
            "changed": result.changed,
        },
    )
    return outcome


def _target(services: Services, claims: tokens.UnsubscribeClaims) -> Target:
    if claims.contact_id:
        return Target(contact_id=claims.contact_id)
    kind = claims.address_kind or "email"
    digest = claims.address_digest or ""
    return Target(address_key=keys.address_pk(claims.workspace_id, kind, digest), address_kind=kind)  # type: ignore[arg-type]


def _contact_ids(services: Services, claims: tokens.UnsubscribeClaims, target: Target) -> list[str]:
    if claims.contact_id:
        return [claims.contact_id]
    kind = CHANNEL_ADDRESS.get(claims.channel, "email")
    return services.contacts.contact_ids_with_address(target.address_key or "", kind)
