"""Free-text consent revocations (R15; FCC: consent may be revoked by any reasonable means). Pure.

``classify_revocation(text)`` answers ``"opt_out"`` for a message that clearly revokes consent
("please stop texting me", "remove me from your list", "no more texts", "unsubscribe me"),
``"flag"`` for one a person should read ("not interested", "who is this?", "wrong number",
"stop texting me until Monday"), and None for the rest ("can you stop by?", "don't stop").

Table-driven: ``RULES`` lists (name, verdict, pattern). The text is normalized first (lower case,
accents removed, English contractions joined -- "don't" is "dont" --, punctuation reduced to clause
breaks ``|``), then each clause is searched. A match is dropped when the words just before it, in
the same clause, negate it ("please don't unsubscribe me", "I don't want you to stop texting me") or
make it the writer's own plan or a question about the past ("I'll stop calling", "did you stop
texting?"); a clear match followed by a time or condition ("stop texting me until Monday") is only a
flag. Opt-out rules win over flag rules. English, French and Spanish.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Verdict = Literal["opt_out", "flag"]
MAX_TEXT = 2000  # longer messages are judged on their beginning (bounded work; people write first)

# --- vocabulary ------------------------------------------------------------------------------
_CONTACTING = (
    r"(?:text(?:ing|s)?|txt(?:ing|s)?|texting|messag(?:e|es|ing)|msg(?:s|ing)?|sms(?:ing)?|contact(?:ing)?"
    r"|call(?:ing)?|ring(?:ing)?|e ?mail(?:ing)?|spam(?:ming)?|bother(?:ing)?|harass(?:ing)?|pester(?:ing)?"
    r"|hitting me up|reaching out(?: to (?:me|us))?|writing(?: to (?:me|us))?)"
)
_MESSAGES = (
    r"(?:texts?|txts?|messages?|msgs?|sms|text messages?|calls?|e ?mails?|spam|notifications?|alerts?"
    r"|promos?|promotions?|offers?|marketing|communications?|solicitations?|reminders?)"
)
_WHOM = r"(?:me|us|this number|my (?:number|phone|cell|phone number|cell number)|him|her)"
_MY_DATA = (
    r"(?:me|us|this number|my (?:number|phone number|phone|cell|cell number|info|information|details|data|name"
    r"|contact info|contact))"
)
_LIST = (
    r"(?:list|lists|database|system|contacts?|contact list|mailing list|texting list|text list|sms list"
    r"|call list|calling list|distribution list|records?|file)"
)
_DETERMINER = r"(?:(?:your|the|this|that|ur|all|any|all of your|all your|every) )?"
_MORE = r"(?:(?:any ?more|more|further|these|those|the|your|ur|all|any|of your|of these|such) )*"

# --- the table -------------------------------------------------------------------------------
RULES: tuple[tuple[str, Verdict, str], ...] = (
    # English: requests to stop contacting
    (
        "stop_contacting",
        "opt_out",
        rf"\b(?:stop|quit|cease)(?: it)?(?: with)? {_DETERMINER}(?:sending (?:me |us )?)?{_MORE}"
        rf"(?:{_CONTACTING}|{_MESSAGES})\b",
    ),
    ("dont_contact", "opt_out", rf"\b(?:dont|do not|never|please never|no) (?:ever )?{_CONTACTING} {_WHOM}\b"),
    (
        "dont_want_messages",
        "opt_out",
        rf"\b(?:no longer|dont|do not|not|never) (?:want|wish|need|like) (?:to (?:receive|get|be sent|see) )?"
        rf"{_MORE}{_MESSAGES}\b",
    ),
    (
        "dont_want_to_be_contacted",
        "opt_out",
        r"\b(?:no longer|dont|do not) (?:want|wish) to be (?:contacted|texted|called|messaged|emailed|bothered)\b",
    ),
    ("no_more_messages", "opt_out", rf"\bno (?:more|further) {_MORE}{_MESSAGES}\b"),
    ("unsubscribe", "opt_out", r"\b(?:unsubscribe|unsubscribed|unsub|unenroll|opt (?:me |us )?out|optout)\b"),
    ("remove_me", "opt_out", rf"\b(?:remove|delete|erase) {_MY_DATA}\b"),
    ("take_me_off", "opt_out", rf"\b(?:take|get|drop|scratch|cross|pull) {_MY_DATA} (?:off|out of|from)\b"),
    ("lose_my_number", "opt_out", r"\b(?:lose|forget|delete|trash) (?:my|this) (?:number|contact)\b"),
    ("leave_me_alone", "opt_out", r"\bleave (?:me|us) alone\b"),
    (
        "put_me_on_dnc",
        "opt_out",
        r"\b(?:put|add|place) (?:me|us|my number|this number) (?:on|to) "
        r"(?:your |the |ur )?(?:do not (?:call|contact|text)|dnc) list\b",
    ),
    (
        "bare_stop",
        "opt_out",
        r"^(?:(?:i said|just|please|pls|plz|ok|okay|seriously|omg|hi|hey|hello|hello there|sorry|sorry but|look|yo|no"
        r"|ugh|again|for the last time) )*"
        r"(?:stop|stopall|stop all|unsubscribe|unsub|arret|alto|baja|parar)(?: (?:stop|it|please|pls|plz|now"
        r"|already|asap|immediately|thanks|thank you|thx|ty|again|right now|for good|forever|all))*$",
    ),
    # French
    (
        "fr_arretez",
        "opt_out",
        r"\b(?:arretez|arrete|arreter|cessez|cesser|stop) (?:de |d )?(?:me |m |nous )?"
        r"(?:envoyer|ecrire|contacter|appeler|texter|spammer|harceler|deranger)\b",
    ),
    (
        "fr_ne_plus",
        "opt_out",
        r"\bne (?:me |m |nous )(?:envoyez|ecrivez|contactez|appelez|textez|derangez|envoie|ecris|contacte|appelle)"
        r"(?: (?:jamais|plus))+\b",
    ),
    ("fr_plus_de", "opt_out", r"\b(?:plus|pas) de (?:sms|messages?|textos?|appels?)\b(?! (?:sil|si) )"),
    (
        "fr_desabonner",
        "opt_out",
        r"\b(?:desabonn\w*|desinscri\w*|retirez moi|supprimez (?:moi|mon numero)|effacez mon numero)\b",
    ),
    # Spanish
    (
        "es_no_me",
        "opt_out",
        r"\bno (?:me |nos )(?:envien|envies|manden|mandes|escriban|escribas|contacten|contactes|llamen|llames"
        r"|molesten|molestes|textees)\b",
    ),
    (
        "es_dejen_de",
        "opt_out",
        r"\b(?:dejen|deje|deja|paren|pare|para) de (?:enviarme|mandarme|escribirme|contactarme|llamarme"
        r"|molestarme|enviar|mandar|escribir|llamar)\b",
    ),
    (
        "es_baja",
        "opt_out",
        r"\b(?:darme de baja|dame de baja|denme de baja|deme de baja|eliminar mi numero|eliminen mi numero"
        r"|borren mi numero|borrar mi numero|quitenme|quitarme|sacame|sacarme|saquenme)\b",
    ),
    ("es_no_mas", "opt_out", r"\bno mas (?:mensajes|textos|sms|llamadas|correos)\b"),
    # Ambiguous: a person decides (flags)
    ("not_interested", "flag", r"\b(?:not|no longer) (?:interested|intrested|intersted)\b|\bno interest\b"),
    ("no_thanks", "flag", r"^(?:no|nope|nah)(?: (?:thanks|thank you|thx|ty|thank u))?$|^no (?:thanks|thank you)\b"),
    ("who_is_this", "flag", r"\b(?:who is this|whos this|who dis|who are you|who r u|who is it|quien es|qui est ce)\b"),
    ("wrong_number", "flag", r"\bwrong (?:number|person|#|no)\b|\bnumero equivocado\b|\bmauvais numero\b"),
    ("how_got_number", "flag", r"\b(?:how|where) did (?:you|u) get (?:my|this) (?:number|info|contact)\b"),
    ("spam_report", "flag", r"\b(?:this is spam|spammer|scam|scammer|harassment|reported|reporting you|report you)\b"),
    ("legal", "flag", r"\b(?:lawyer|attorney|sue you|tcpa|fcc|do not call list|dnc list|dnc)\b"),
    (
        "fr_es_not_interested",
        "flag",
        r"\b(?:pas interesse\w*|ne m ?interesse pas|no me interesa|no estoy interesad\w)\b",
    ),
    ("stop_first", "flag", r"^stop\b(?! (?:by|at|in|over|on|for|to|off at|here|there|the car|when|if)\b)"),
)
_COMPILED = tuple((name, verdict, re.compile(pattern)) for name, verdict, pattern in RULES)

# Words just before a match (same clause, up to 5 words) that cancel it.
_NEGATED = re.compile(
    r"\b(?:dont|do not|didnt|did not|never|not|wont|will not|doesnt|does not|no need to|shouldnt|wouldnt"
    r"|without|isnt|arent|wasnt|no se|ne pas|sin)\b"
)
# The writer's own plan, or a question about the past: "I'll stop calling", "did you stop texting?".
_NOT_A_REQUEST = re.compile(
    r"(?:^| )(?:ill|well|i will|we will|im going to|im gonna|gonna|going to|i might|i may|i can|i could"
    r"|i should|i would|i had to|i have to|ive|i just|i did|did you|have you|did u|why did you|when did you"
    r"|when will i|i wanted to|if you|if u|before you|when you)$"
)
# After a clear match: a time or a condition makes it something a person should read.
_QUALIFIED = re.compile(
    r"^ (?:\w+ ){0,3}?(?:today|tomorrow|tonight|until|till|til|before|after|this (?:week|weekend|morning|afternoon"
    r"|evening)|right now|for now|for a (?:while|bit|few)|at work|while|during|on (?:weekends?|sundays?|saturdays?"
    r"|mondays?)|so early|so late|at night|after \d+|past \d+|for (?:a )?(?:day|week|month)s?)\b"
)
_CONTRACTION = re.compile(r"(\w)['\u2019\u2018`\u00b4](t|s|ll|re|ve|d|m)\b")


def normalize(text: str) -> str:
    """Lower case, accents removed, contractions joined, clauses separated by `` | ``."""
    text = unicodedata.normalize("NFKD", (text or "")[:MAX_TEXT])
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    text = _CONTRACTION.sub(r"\1\2", text)
    text = re.sub(r"[.!?;,:\n()\[\]\"]+|\s-\s|\s\u2014\s*", " | ", text)  # clause breaks
    text = re.sub(r"[^a-z0-9#| ]+", " ", text)  # other marks (hyphens, apostrophes, emoji) are spaces
    return " ".join(text.split())


def _clauses(text: str) -> list[str]:
    return [clause.strip() for clause in normalize(text).split("|") if clause.strip()]


def _kept(clause: str, match: re.Match[str]) -> bool:
    """False when the words before the match in this clause negate it or make it no request."""
    before = " ".join(clause[: match.start()].split()[-5:])
    return not _NEGATED.search(before) and not _NOT_A_REQUEST.search(before)


def judge(text: str) -> tuple[Verdict | None, str | None]:
    """The verdict and the name of the rule that decided it (its ``fr_``/``es_`` prefix tells the
    language of a French or Spanish revocation)."""
    if not isinstance(text, str):
        return None, None
    found: tuple[Verdict | None, str | None] = (None, None)
    for clause in _clauses(text):
        for name, rule_verdict, pattern in _COMPILED:
            for match in pattern.finditer(clause):
                if not _kept(clause, match):
                    continue
                if rule_verdict == "opt_out" and not _QUALIFIED.match(clause[match.end() :]):
                    return "opt_out", name
                if found[0] is None:
                    found = ("flag", name)
    return found


def classify_revocation(text: str) -> Verdict | None:
    """``opt_out`` (a clear revocation), ``flag`` (a person should read it) or None."""
    return judge(text)[0]


def matching_rules(text: str) -> list[str]:
    """The names of the rules that fired (for tests and for explaining a verdict)."""
    names = []
    for clause in _clauses(text):
        for name, _verdict, pattern in _COMPILED:
            if any(_kept(clause, match) for match in pattern.finditer(clause)):
                names.append(name)
    return names
