"""Twilio request signatures (``X-Twilio-Signature``), as Twilio documents them. Pure.

The signed string is the full URL Twilio requested (scheme, host, path and query, exactly as
configured) followed by every POST parameter, sorted by name (then value, for repeated names),
as ``name + value`` with no delimiters. The signature is base64(HMAC-SHA1(auth token, string)).
Proven against Twilio's published example in tests/unit/test_twilio_signature.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit


def compute_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    # As twilio's RequestValidator: names sorted, each name's distinct values sorted.
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_signature(
    url: str | Sequence[str], params: Iterable[tuple[str, str]], auth_token: str, signature: str | None
) -> bool:
    """Constant-time check of the header against the signature of the URL (or of any of the
    candidate spellings of it, see ``candidate_urls``); False when missing."""
    if not signature or not auth_token:
        return False
    given = signature.strip().encode("utf-8")
    pairs = list(params)
    urls = [url] if isinstance(url, str) else list(url)
    return any(hmac.compare_digest(compute_signature(u, pairs, auth_token).encode("ascii"), given) for u in urls)


# Characters people leave unencoded in a query value (RFC 3986 sub-delims, ":", "@", "/", "?").
_LENIENT_SAFE = "/:@!$'()*,;?+="


def candidate_urls(base: str, path: str, query: Sequence[tuple[str, str]]) -> list[str]:
    """The URLs Twilio may have signed for ``base + path`` and this (decoded) query, in order.

    Twilio signs the URL exactly as it was configured, query string included. API Gateway (and
    chalice's local server) hand the query over decoded -- the raw string is gone --, so it is
    rebuilt in the order received, in the spellings a configured URL can have: spaces as ``%20``
    or ``+``, other characters strictly percent-encoded or left as typed. Like twilio's own
    RequestValidator, the URL is also tried with and without the default port."""
    url = base.rstrip("/") + path
    queries = [""]
    if query:
        queries = list(
            dict.fromkeys(
                "?" + "&".join(f"{encode(k, safe)}={encode(v, safe)}" for k, v in query)
                for encode in (quote, quote_plus)
                for safe in ("", _LENIENT_SAFE)
            )
        )
    spellings = [url, _with_default_port(url), _without_port(url)]
    return list(dict.fromkeys(spelling + q for spelling in spellings for q in queries))


def _with_default_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port:
        return url
    port = 443 if parts.scheme == "https" else 80
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def _without_port(url: str) -> str:
    parts = urlsplit(url)
    if not parts.port:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))
