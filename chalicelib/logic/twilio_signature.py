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
from collections.abc import Iterable


def compute_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str, signature: str | None) -> bool:
    """Constant-time check of the header against the expected signature; False when missing."""
    if not signature or not auth_token:
        return False
    expected = compute_signature(url, params, auth_token)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))
