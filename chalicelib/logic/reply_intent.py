"""Does a reply ask to be unsubscribed? (R9) A pure function of the reply text.

Only the person's own words count: the quoted original (which itself carries an "Unsubscribe"
footer) and signatures are cut off first. Phrases are deliberately explicit ("unsubscribe",
"remove me", "stop emailing me", "opt out", ...); a vague "not interested" stays with a human.
A negation right before the phrase ("please don't remove me") cancels it.
"""

from __future__ import annotations

import re

_QUOTE_STARTS = [
    re.compile(r"^\s*on\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(original|forwarded) message\s*-{2,}", re.IGNORECASE),
    re.compile(r"^\s*_{5,}\s*$"),
    re.compile(r"^\s*(from|sent|de|von):\s", re.IGNORECASE),
    re.compile(r"^\s*sent from my\b", re.IGNORECASE),
    re.compile(r"^\s*--\s*$"),
]

# Phrases a negation may cancel ("don't unsubscribe me").
_NEGATABLE = [
    r"unsubscribe",
    r"unsub",
    r"opt[\s-]?out",
    r"remove (?:me|us|my (?:email|e-mail|address|name|contact))",
    r"take (?:me|us|my (?:email|e-mail|address|name)) off",
    r"(?:delete|erase) my (?:email|e-mail|address|data|details|information|info|contact)",
]
# Phrases that are requests on their own.
_DIRECT = [
    r"stop (?:e-?mailing|mailing|contacting|messaging|writing to|sending (?:me|us|these|this|emails?)|spamming)",
    r"(?:do not|don'?t|never) (?:e-?mail|contact|message|write to) (?:me|us) (?:again|anymore|any more)",
    r"(?:do not|don'?t|never) (?:e-?mail|contact|message|write to) (?:me|us)\b",
    r"no (?:more|further) (?:e-?mails?|messages|contact)",
    r"leave me alone",
    r"off (?:your|the|this) (?:mailing |email |e-mail )?list",
]
_NEGATION = re.compile(r"\b(?:do not|don'?t|dont|never|not|no need to|won'?t)\b(?:\s+\w+){0,2}\s*$")
_NEGATABLE_RE = re.compile(r"\b(?:" + "|".join(_NEGATABLE) + r")\b")
_DIRECT_RE = re.compile(r"\b(?:" + "|".join(_DIRECT) + r")\b")
_ALONE_RE = re.compile(r"^\W*(?:stop|unsubscribe|remove|opt out|optout)\W*$")


def own_words(body: str) -> str:
    """The reply without the quoted original, forwarded headers or signature."""
    kept: list[str] = []
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        # "On <date>, <name> wrote:" is sometimes wrapped over two lines.
        joined = line + " " + lines[index + 1] if index + 1 < len(lines) else line
        if line.lstrip().startswith(">"):
            continue
        if any(p.match(line) for p in _QUOTE_STARTS) or (
            line.strip().lower().startswith("on ") and _QUOTE_STARTS[0].match(joined)
        ):
            break
        kept.append(line)
    return "\n".join(kept)


def _normalized(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    return re.sub(r"\s+", " ", text).strip()


def asks_to_unsubscribe(body: str | None) -> bool:
    if not body:
        return False
    text = _normalized(own_words(body))
    if not text:
        return False
    if _ALONE_RE.match(text) or _DIRECT_RE.search(text):
        return True
    for match in _NEGATABLE_RE.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        before = re.split(r"[.!?;,]", before)[-1]  # a negation in an earlier sentence does not count
        if not _NEGATION.search(before):
            return True
    return False
