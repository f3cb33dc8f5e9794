"""Unsubscribe-link tokens (R5): compact, signed, unforgeable, rotatable.

Format: ``<kid>.<payload>.<signature>`` where ``payload`` is base64url(JSON claims) and
``signature`` is base64url(HMAC-SHA256(secret[kid], "<kid>.<payload>")). Keys come from
``Config.token_keys`` (``["kid:secret", ...]``, newest first): new tokens are signed with
the first key, and a token verifies with whichever listed key its ``kid`` names, so a key can
be rotated in front of the old one without breaking links already in inboxes.

The claims name the workspace, the recipient (a contact id, or the keyed hash of an address
-- never a readable address), the channel, the optional sequence and topic, and the issue time. A contact's
link also carries the keyed hashes of the contact's addresses at minting, so it still suppresses
them after the contact is erased (R3, R5).

No expiry (R15, "old links still work"): an authentic token -- valid signature under a key id
still listed -- is honoured however old; an opt-out is never refused for age. Tokens minted
before this rule carry an ``exp`` claim: it is still covered by the signature and parsed, and
ignored. Retiring a key id is the one way to end a generation of links.
Pure: keys are arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.logic.normalize import ID_RE
from chalicelib.models.domain import ADDRESS_KINDS, CHANNELS

MAX_TOKEN_LENGTH = 2048
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


class InvalidToken(Exception):
    """Malformed, tampered or unknown-key: callers treat every case the same."""


@dataclass(frozen=True)
class UnsubscribeClaims:
    workspace_id: str
    channel: str
    issued_at: int
    contact_id: str | None = None
    address_kind: str | None = None  # "email" | "phone", with address_digest
    address_digest: str | None = None  # keyed hash of the normalized address (store/keys.address_hash)
    sequence_id: str | None = None
    # A contact link: keyed hashes of the contact's addresses when the link was minted (erasure, R3).
    email_digest: str | None = None
    phone_digest: str | None = None
    expires_at: int | None = None  # only in tokens minted before R15; signed, parsed, never enforced
    topic_id: str | None = None  # a topic link (R16): one-click leaves that topic; the page is a preference center

    def to_json(self) -> dict[str, Any]:
        """The signed claims: the required ones, and each optional one that is set."""
        return {
            claim: getattr(self, name)
            for claim, name in CLAIM_NAMES.items()
            if claim in REQUIRED_CLAIMS or getattr(self, name) is not None
        }


# Claim in the token -> field of UnsubscribeClaims. Short names keep links short; never rename one
# (links already in inboxes carry them).
CLAIM_NAMES = {
    "w": "workspace_id",
    "ch": "channel",
    "iat": "issued_at",
    "exp": "expires_at",
    "c": "contact_id",
    "ak": "address_kind",
    "a": "address_digest",
    "s": "sequence_id",
    "he": "email_digest",
    "hp": "phone_digest",
    "t": "topic_id",
}
REQUIRED_CLAIMS = ("w", "ch", "iat")


def parse_keys(token_keys: list[str]) -> list[tuple[str, bytes]]:
    """``["kid:secret", ...]`` -> ``[(kid, secret), ...]`` in the given (newest first) order."""
    parsed: list[tuple[str, bytes]] = []
    for entry in token_keys:
        kid, sep, secret = entry.partition(":")
        if not sep or not _KID_RE.match(kid) or len(secret) < 16:
            raise ValueError("token keys must look like 'kid:secret' (kid [A-Za-z0-9_-], secret >= 16 chars)")
        parsed.append((kid, secret.encode()))
    if not parsed:
        raise ValueError("at least one token key is required")
    return parsed


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise InvalidToken("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None


def _signature(secret: bytes, signed: str) -> str:
    return _b64encode(hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest())


def sign(claims: UnsubscribeClaims, token_keys: list[str]) -> str:
    _validate(claims)
    kid, secret = parse_keys(token_keys)[0]
    payload = _b64encode(json.dumps(claims.to_json(), separators=(",", ":"), sort_keys=True).encode())
    signed = f"{kid}.{payload}"
    return f"{signed}.{_signature(secret, signed)}"


def verify(token: str, token_keys: list[str]) -> UnsubscribeClaims:
    """The claims of a genuine token, however old, else InvalidToken (never says which check failed)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("bad token")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("bad token")
    kid, payload, given = parts
    secret = dict(parse_keys(token_keys)).get(kid)
    if secret is None:
        raise InvalidToken("unknown key")
    expected = _signature(secret, f"{kid}.{payload}")
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", errors="replace")):
        raise InvalidToken("bad signature")
    try:
        raw = json.loads(_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("bad payload") from None
    return _claims_from_json(raw)


def _claims_from_json(raw: Any) -> UnsubscribeClaims:
    if not isinstance(raw, dict):
        raise InvalidToken("bad payload")
    if any(claim not in raw for claim in REQUIRED_CLAIMS):
        raise InvalidToken("bad payload")
    fields: dict[str, Any] = {name: raw.get(claim) for claim, name in CLAIM_NAMES.items()}
    claims = UnsubscribeClaims(**fields)
    try:
        _validate(claims)
    except ValueError:
        raise InvalidToken("bad payload") from None
    return claims


def _is_id(value: Any) -> bool:
    # The id pattern alone: a link minted before ids could not be only dots still verifies.
    return isinstance(value, str) and bool(ID_RE.match(value))


def _validate(claims: UnsubscribeClaims) -> None:
    """Shape checks shared by signing and verifying (a signed token is still parsed defensively)."""
    if not _is_id(claims.workspace_id):
        raise ValueError("workspace_id")
    if claims.channel not in CHANNELS:
        raise ValueError("channel")
    for value in (claims.issued_at, claims.expires_at):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("times")
    if claims.issued_at is None:
        raise ValueError("issued_at")
    has_contact = claims.contact_id is not None
    has_address = claims.address_digest is not None or claims.address_kind is not None
    if has_contact == has_address:
        raise ValueError("exactly one of contact_id or address")
    if has_contact and not _is_id(claims.contact_id):
        raise ValueError("contact_id")
    if has_address and (
        claims.address_kind not in ADDRESS_KINDS
        or not isinstance(claims.address_digest, str)
        or not _DIGEST_RE.match(claims.address_digest)
    ):
        raise ValueError("address")
    if claims.sequence_id is not None and not _is_id(claims.sequence_id):
        raise ValueError("sequence_id")
    if claims.topic_id is not None and not _is_id(claims.topic_id):
        raise ValueError("topic_id")
    for digest in (claims.email_digest, claims.phone_digest):
        if digest is not None and (not has_contact or not isinstance(digest, str) or not _DIGEST_RE.match(digest)):
            raise ValueError("contact address digests")
