"""The one normalizer for emails, phones, domains and ids (R3, R10).

Suppressions are keyed by these forms, so every path (API, webhooks, SES,
CSV import, exclusion matching) must call these functions and nothing else.
"""

from __future__ import annotations

import re

from chalicelib.errors import InvalidAddress

# email_validator and phonenumbers are imported where they are used: together ~160 ms of a Lambda
# cold start, and a send-check by contact id (the common case) needs neither.

ID_RE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}$")
_DOMAIN_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _trimmed(raw: str, kind: str, max_length: int) -> str:
    """The input without surrounding space: a non-empty string of at most ``max_length`` characters."""
    if not isinstance(raw, str):
        raise InvalidAddress(f"{kind} must be a string")
    candidate = raw.strip()
    if not candidate or len(candidate) > max_length:
        raise InvalidAddress(f"{kind} is empty or too long")
    return candidate


def normalize_email(raw: str) -> str:
    """Trimmed, lower-cased, syntactically valid address (no DNS lookups)."""
    candidate = _trimmed(raw, "email", 320)
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return result.normalized.lower()


def normalize_phone(raw: str, default_region: str = "US") -> str:
    """E.164 form of a valid phone number; national numbers use ``default_region``."""
    candidate = _trimmed(raw, "phone", 64)
    import phonenumbers

    try:
        number = phonenumbers.parse(candidate, default_region.upper() if default_region else None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAddress("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_domain(raw: str) -> str:
    """Lower case, no scheme, path, port, ``www.`` or trailing dot; IDNA-encoded."""
    if not isinstance(raw, str):
        raise InvalidAddress("domain must be a string")
    candidate = raw.strip().lower()
    candidate = re.sub(r"^[a-z][a-z0-9+.-]*://", "", candidate)
    candidate = candidate.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in candidate:
        candidate = candidate.rsplit("@", 1)[1]
    candidate = candidate.split(":", 1)[0].rstrip(".")
    if candidate.startswith("www."):
        candidate = candidate[4:]
    try:
        candidate = candidate.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidAddress("not a valid domain") from None
    labels = candidate.split(".")
    if len(candidate) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL_RE.match(label) for label in labels):
        raise InvalidAddress("not a valid domain")
    return candidate


def email_domain(normalized_email: str) -> str:
    return normalized_email.rsplit("@", 1)[1]


def try_normalize_email(raw: object) -> str | None:
    try:
        return normalize_email(raw)  # type: ignore[arg-type]
    except (InvalidAddress, TypeError, ValueError):
        return None


def try_normalize_phone(raw: object, default_region: str = "US") -> str | None:
    try:
        return normalize_phone(raw, default_region)  # type: ignore[arg-type]
    except (InvalidAddress, TypeError, ValueError):
        return None


def try_normalize_domain(raw: object) -> str | None:
    try:
        return normalize_domain(raw)  # type: ignore[arg-type]
    except (InvalidAddress, TypeError, ValueError):
        return None


def is_valid_id(value: object) -> bool:
    """Workspace, contact, sequence and other ids: they become parts of DynamoDB keys, and path
    segments of our URLs. Case-sensitive (``Acme`` and ``acme`` are two ids); no ``/``; and never
    only dots (``.``, ``..``), which URL resolution in clients, proxies and log tools rewrites."""
    return isinstance(value, str) and bool(ID_RE.match(value)) and value.strip(".") != ""
