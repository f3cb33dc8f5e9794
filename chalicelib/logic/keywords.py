"""SMS keyword matching (R6, R15): what an inbound text asks for. Pure.

A keyword counts only as the whole message: trimmed, case- and accent-insensitive, with
surrounding whitespace, punctuation and symbols (``"Stop."``, ``" STOP!! "``, ``"'stop' 🛑"``)
ignored, inner runs of spaces/hyphens collapsed (``"Opt-Out"`` is ``"OPT OUT"``) -- CTIA / Twilio
rules, plus ARRET (French, mandatory on Canadian short codes) and the Spanish words. A workspace
adds its own words per class (``sms_keywords``); Twilio's ``OptOutType`` (Advanced Opt-Out) decides
the class when present. Anything longer is not a keyword; free text that revokes consent is the
business of ``chalicelib.logic.revocation``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

KeywordClass = Literal["opt_out", "opt_in", "help"]
Language = Literal["en", "fr", "es"]
KEYWORD_CLASSES: tuple[KeywordClass, ...] = ("opt_out", "opt_in", "help")

# Built-in words, in normalized form (upper case, accents removed, single spaces), by language.
BUILT_IN: dict[KeywordClass, dict[str, Language]] = {
    "opt_out": {
        **dict.fromkeys(
            ["STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "UNSUB", "CANCEL", "END", "QUIT", "REVOKE"], "en"
        ),
        **dict.fromkeys(["OPTOUT", "OPT OUT", "REMOVE"], "en"),
        "ARRET": "fr",
        **dict.fromkeys(["ALTO", "BAJA", "PARAR"], "es"),
    },
    "opt_in": dict.fromkeys(["START", "YES", "UNSTOP"], "en"),
    "help": {"HELP": "en", "INFO": "en", "AIDE": "fr", "AYUDA": "es"},
}
OPT_OUT_KEYWORDS = frozenset(BUILT_IN["opt_out"])
OPT_IN_KEYWORDS = frozenset(BUILT_IN["opt_in"])
HELP_KEYWORDS = frozenset(BUILT_IN["help"])

# Twilio Advanced Opt-Out's OptOutType parameter -> class (it decides when present).
OPT_OUT_TYPES: dict[str, KeywordClass] = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}

MAX_KEYWORD = 64  # a keyword (built in or a workspace's) is at most this long once normalized
_MAX_BODY = 1600  # Twilio's longest message; anything longer is cut before normalizing (bounded work)
_SEPARATORS = re.compile(r"[\s\-_\u2010-\u2015\u2212]+")  # "Opt-Out", "opt  out" read as "OPT OUT"


@dataclass(frozen=True)
class KeywordMatch:
    keyword_class: KeywordClass
    language: Language = "en"


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


def _without_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalize_message(body: str) -> str:
    """Upper-case, accents removed, edges stripped, inner spaces/hyphens collapsed to one space.
    The edges are stripped before any length limit applies: ``"STOP" + 70 spaces`` is STOP."""
    text = _strip_edges(unicodedata.normalize("NFKC", (body or "")[:_MAX_BODY]))
    return " ".join(_SEPARATORS.sub(" ", _without_accents(text)).split()).upper()


def normalize_keyword(word: str) -> str:
    """A workspace keyword in the form messages are compared in."""
    return normalize_message(word)


def match_keyword(
    body: str,
    custom: Mapping[str, Iterable[str]] | None = None,
    opt_out_type: str | None = None,
) -> KeywordMatch | None:
    """The class (and language) of a whole-message keyword, or None.

    ``custom`` is the workspace's ``sms_keywords`` (already normalized and checked for clashes
    with the built-in classes). ``opt_out_type`` is Twilio's OptOutType: when it names a class,
    that class wins (the language still comes from the word, when it is a known one).
    """
    word = normalize_message(body) if isinstance(body, str) else ""
    found: KeywordMatch | None = None
    if word and len(word) <= MAX_KEYWORD:
        for keyword_class in KEYWORD_CLASSES:
            language = BUILT_IN[keyword_class].get(word)
            if language is None and custom and word in set(custom.get(keyword_class) or ()):
                language = "en"
            if language is not None:
                found = KeywordMatch(keyword_class, language)
                break
    forced = OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
    if forced is not None:
        return KeywordMatch(forced, found.language if found else "en")
    return found


def classify(body: str) -> KeywordClass | None:
    """The built-in keyword class of a whole message, or None when it is not a bare keyword."""
    found = match_keyword(body)
    return found.keyword_class if found else None


def looks_like_revocation(body: str) -> bool:
    """True for free text that withdraws consent or may (a revocation phrase or a flag)."""
    from chalicelib.logic.revocation import classify_revocation

    if not isinstance(body, str) or classify(body) is not None:
        return False
    return classify_revocation(body) is not None
