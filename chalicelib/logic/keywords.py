"""SMS keyword matching (R6): what an inbound text asks for. Pure.

A keyword counts only as the whole message: trimmed, case-insensitive, with surrounding
whitespace, punctuation and symbols (``"Stop."``, ``" STOP!! "``, ``"'stop' 🛑"``) ignored
(CTIA / Twilio rules). Anything longer is not a keyword, but may still read like a
revocation of consent ("please stop texting me"), which a human must review (FCC: consent may
be revoked by any reasonable means).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

KeywordClass = Literal["opt_out", "opt_in", "help"]

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

_MAX_KEYWORD_MESSAGE = 64  # longer texts are never a bare keyword; skip the normalization work
_INNER_DASH = re.compile(r"(?<=\w)[-_\u2010-\u2015](?=\w)")  # "Opt-Out" reads as "OPT OUT"

# Phrases that read like "stop contacting me" without being a keyword. Matched on the
# normalized (lower-case, single-spaced, apostrophe-free) text.
_CONTACT_WORDS = r"(text\w*|txt\w*|messag\w*|msg\w*|sms|contact\w*|call\w*|email\w*|spam\w*|bother\w*|harass\w*)"
_REVOCATION_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        rf"\b(stop|quit|cease)\b.{{0,40}}\b{_CONTACT_WORDS}",
        rf"\b(dont|do not|never)( ever)? {_CONTACT_WORDS}",
        rf"\b(dont|do not) want\b.{{0,30}}\b{_CONTACT_WORDS}",
        rf"\bno (more|longer)\b.{{0,20}}\b{_CONTACT_WORDS}",
        r"\b(remove|delete)\b.{0,20}\b(me|my (number|phone|info\w*|details|data))\b",
        r"\btake me off\b",
        r"\b(unsubscribe|unsub)\b",
        r"\bopt(ing)?[ -]?(me )?out\b",
        r"\b(leave me alone|wrong (number|person)|not interested stop)\b",
        r"\bstop\b\W*$",
        r"^\W*stop\b",
    )
)


def _strip_edges(text: str) -> str:
    """Drop whitespace, punctuation, symbols and invisible format characters at both ends."""

    def ignorable(char: str) -> bool:
        return char.isspace() or unicodedata.category(char)[0] in ("P", "S", "Z", "C")

    start, end = 0, len(text)
    while start < end and ignorable(text[start]):
        start += 1
    while end > start and ignorable(text[end - 1]):
        end -= 1
    return text[start:end]


def normalize_message(body: str) -> str:
    """Upper-case, edges stripped, inner whitespace collapsed to single spaces."""
    text = _strip_edges(unicodedata.normalize("NFKC", body or ""))
    return " ".join(_INNER_DASH.sub(" ", text).split()).upper()


def classify(body: str) -> KeywordClass | None:
    """The keyword class of a whole message, or None when it is not a bare keyword."""
    if not isinstance(body, str) or len(body) > _MAX_KEYWORD_MESSAGE:
        return None
    word = normalize_message(body)
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if word in HELP_KEYWORDS:
        return "help"
    return None


def looks_like_revocation(body: str) -> bool:
    """True for free text that probably withdraws consent; a human reviews these (never auto-DND)."""
    if not isinstance(body, str) or classify(body) is not None:
        return False
    text = unicodedata.normalize("NFKC", body).lower().replace("'", "").replace("\u2019", "")
    text = " ".join(text.split())[:1000]
    return any(pattern.search(text) for pattern in _REVOCATION_PATTERNS)
