"""R15: free-text revocations -- a pure, table-driven matcher. The corpus (tests/unit/data/
revocation_corpus.tsv) holds real-looking messages in both directions: what must opt out, what must
only be flagged for a person, and what must change nothing ("don't stop", "can you stop by")."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.logic.revocation import RULES, classify_revocation, matching_rules

CORPUS_FILE = Path(__file__).parent / "data" / "revocation_corpus.tsv"
PROPERTY = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def corpus() -> list[tuple[str, str]]:
    rows = []
    for line in CORPUS_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            expected, message = line.split("\t", 1)
            rows.append((expected, message))
    return rows


CORPUS = corpus()
OPT_OUTS = [message for expected, message in CORPUS if expected == "opt_out"]
NOTHING = [message for expected, message in CORPUS if expected == "none"]


def test_r15_corpus_is_large_and_covers_both_directions():
    counts = {
        verdict: sum(1 for expected, _ in CORPUS if expected == verdict) for verdict in ("opt_out", "flag", "none")
    }
    assert len(CORPUS) >= 100, counts
    assert counts["opt_out"] >= 30 and counts["flag"] >= 20 and counts["none"] >= 30, counts


@pytest.mark.parametrize(("expected", "message"), CORPUS, ids=[m[:40] for _, m in CORPUS])
def test_r15_corpus_message_gets_its_verdict(expected: str, message: str):
    # Given a real-looking inbound message / When matched / Then its verdict is the corpus's
    assert (classify_revocation(message) or "none") == expected, matching_rules(message)


@pytest.mark.parametrize("message", ["don't stop", "stop by tomorrow?", "can you stop by", "I'll stop at the store"])
def test_r15_issue_examples_never_opt_out(message: str):
    assert classify_revocation(message) is None


def test_r15_every_rule_is_exercised_by_the_corpus():
    fired = {name for _, message in CORPUS for name in matching_rules(message)}
    assert {name for name, _, _ in RULES} <= fired


# --- properties ---------------------------------------------------------------------------------

prefixes = st.sampled_from(["", "hi ", "Hey, ", "ok. ", "Hello there! ", "Sorry but ", "Look - "])
suffixes = st.sampled_from(["", ".", "!!", " thanks", ", thank you", " 🙏", "?!", " - Ann", " …"])


def random_case(draw, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flags, strict=True))


@PROPERTY
@given(data=st.data(), message=st.sampled_from(OPT_OUTS), before=prefixes, after=suffixes)
def test_r15_a_clear_revocation_opts_out_in_any_case_with_greetings_and_sign_offs(data, message, before, after):
    # Given a clear revocation, in any case, after a greeting and before a sign-off / Then opt_out
    assert classify_revocation(before + random_case(data.draw, message) + after) == "opt_out"


@PROPERTY
@given(message=st.sampled_from(OPT_OUTS))
def test_r15_accents_do_not_matter(message: str):
    plain = "".join(c for c in unicodedata.normalize("NFKD", message) if not unicodedata.combining(c))
    assert classify_revocation(plain) == classify_revocation(message) == "opt_out"


stop_phrases = st.sampled_from(["stop texting me", "stop sending me messages", "unsubscribe me", "remove me"])
negations = st.sampled_from(["please don't ", "I don't want you to ", "do not ", "never "])


@PROPERTY
@given(phrase=stop_phrases, negation=negations, before=prefixes)
def test_r15_a_negated_revocation_never_opts_out(phrase: str, negation: str, before: str):
    assert classify_revocation(before + negation + phrase) != "opt_out"


# Words no rule is about: any sentence made of them is nothing.
NEUTRAL = [
    "yes",
    "sure",
    "great",
    "see",
    "you",
    "at",
    "the",
    "meeting",
    "tomorrow",
    "what",
    "time",
    "price",
    "order",
    "package",
    "thanks",
    "love",
    "it",
]


@PROPERTY
@given(words=st.lists(st.sampled_from(NEUTRAL), max_size=30), marks=st.sampled_from(["", ".", "?", "!", " :)"]))
def test_r15_ordinary_conversation_is_nothing(words: list[str], marks: str):
    assert classify_revocation(" ".join(words) + marks) is None


@PROPERTY
@given(body=st.text(max_size=300))
def test_r15_matcher_is_total(body: str):
    assert classify_revocation(body) in (None, "opt_out", "flag")


def test_r15_long_messages_are_bounded():
    assert classify_revocation("hello " * 100_000 + "stop texting me") is None  # judged on the beginning
    assert classify_revocation("stop texting me " + "x" * 100_000) == "opt_out"
