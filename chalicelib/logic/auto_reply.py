"""Is an inbound email an automatic reply? (R15: auto-replies are not replies.) Pure.

Headers first, as RFC 3834 and the common mail systems mark them: ``Auto-Submitted`` with any
value but ``no``; ``X-Autoreply`` / ``X-Autorespond`` (any value); ``Precedence: auto_reply``,
``bulk`` or ``junk``. Then the subject: out-of-office and automatic-reply subjects in English,
French, Spanish and German (accents and case ignored), e.g. "Out of Office: ...", "Réponse
automatique : ...", "Fuera de la oficina", "Abwesenheitsnotiz".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

_AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
_PRESENCE_HEADERS = ("x-autoreply", "x-autorespond")
_OUT_OF_OFFICE = re.compile(
    r"\b(?:"
    # English
    r"out of (?:the )?office|ooo|automatic reply|auto ?reply|autoreply|auto response|autoresponse"
    r"|away from (?:the )?office|on vacation|on annual leave|on holiday"
    # French
    r"|absence du bureau|absent(?:e)? du bureau|reponse automatique|message d ?absence|en conge[s]?"
    # Spanish
    r"|fuera de la oficina|respuesta automatica|ausente de la oficina|fuera de oficina|de vacaciones"
    # German
    r"|abwesenheitsnotiz|automatische antwort|nicht im buro|ausser haus|auser haus|abwesend|im urlaub"
    r")\b"
)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    text = text.replace("\u00df", "ss")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _header_values(headers: Mapping[str, object], name: str) -> list[str]:
    values: list[str] = []
    for key, value in headers.items():
        if key.strip().lower() != name:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                values.append(item.strip())
    return values


def is_auto_reply(headers: Mapping[str, object] | None, subject: str | None) -> bool:
    headers = headers or {}
    for value in _header_values(headers, "auto-submitted"):
        if value.split(";", 1)[0].strip().lower() != "no":
            return True
    if any(_header_values(headers, name) for name in _PRESENCE_HEADERS):
        return True
    if any(value.lower() in _AUTO_PRECEDENCE for value in _header_values(headers, "precedence")):
        return True
    return bool(subject) and bool(_OUT_OF_OFFICE.search(_plain(subject or "")))
