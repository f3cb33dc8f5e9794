"""The person's language from ``Accept-Language`` (RFC 9110 12.5.4, RFC 4647 lookup). Pure.

Ranges are tried by quality (highest first; equal qualities in the order given); a range with a
region or script (``fr-CA``) falls back to its primary language (``fr``); ``q=0`` refuses a
language (exactly that tag); ``*`` takes the first supported language not refused. Anything unparsable is skipped,
never an error: a page must always render.
"""

from __future__ import annotations

import re

_QUALITY = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")
_RANGE = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
MAX_RANGES = 32  # a header is attacker-controlled: look at a bounded prefix


def negotiate(header: str | None, supported: tuple[str, ...], default: str) -> str:
    """The supported language (lower-case primary tag) the person prefers, else ``default``."""
    if not header:
        return default
    ranked: list[tuple[float, int, str]] = []
    refused: set[str] = set()
    for index, part in enumerate(header[:4096].split(",")[:MAX_RANGES]):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if not _RANGE.match(tag):
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = float(value.strip()) if _QUALITY.match(value.strip()) else -1.0
        if quality < 0:
            continue
        primary = tag.split("-")[0].lower()
        if quality == 0:
            refused.add(tag.lower())  # "fr-CA;q=0" refuses Canadian French, not French
            continue
        ranked.append((-quality, index, primary))
    for _, _, primary in sorted(ranked):
        if primary == "*":
            return next((lang for lang in supported if lang not in refused), default)
        if primary in supported and primary not in refused:
            return primary
    return default
