"""Property tests (hypothesis) for the pure core: the one normalizer (R3), SMS keyword matching (R6)
and the send-check verdict (R4) against a simple reference model.

PROPERTY_EXAMPLES raises the examples per property (default kept modest for `make test`).
"""

from __future__ import annotations

import os
import string
from datetime import UTC, datetime

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.errors import InvalidAddress
from chalicelib.logic import keywords, normalize
from chalicelib.logic.exclusions import MatchSubject, compile_rules
from chalicelib.logic.verdict import CheckRequest, Policy, Recipient, decide_send
from chalicelib.models.domain import (
    CHANNELS,
    Audience,
    Condition,
    DndEntry,
    DndState,
    ExclusionRule,
    Sequence,
    WorkspaceSettings,
)
from chalicelib.models.records import Enrollment

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "100"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Any text at all, biased towards the characters that matter to addresses.
address_chars = st.sampled_from(
    list(string.ascii_letters + string.digits + "@.+-_ ()#:/\t\n")
    + ["İ", "ß", "é", "\u200b", "\uff20", "\u3002", "１", "\x00"]
)
any_text = st.one_of(st.text(), st.text(address_chars, max_size=40))
any_object = st.one_of(
    any_text,
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(),
    st.lists(st.text(), max_size=2),
    st.dictionaries(st.text(), st.text(), max_size=2),
    st.booleans(),
)
regions = st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS))


# --- normalization (R3): total and idempotent ------------------------------------------------


@PROPERTY
@given(raw=any_text)
def test_r3_normalize_email_is_total_and_idempotent(raw):
    # Given any string; When normalized; Then a string that normalizes to itself, or InvalidAddress
    try:
        normalized = normalize.normalize_email(raw)
    except InvalidAddress:
        return
    assert normalized == normalized.strip().lower() or normalized == normalized.strip()
    assert normalize.normalize_email(normalized) == normalized


@PROPERTY
@given(
    email=st.emails(),
    spaces=st.tuples(st.sampled_from(["", " ", "\t", "  "]), st.sampled_from(["", " ", "\n"])),
    upper=st.booleans(),
)
def test_r3_case_and_surrounding_space_never_make_a_second_email(email, spaces, upper):
    try:
        base = normalize.normalize_email(email)
    except InvalidAddress:
        assume(False)
    variant = spaces[0] + (email.upper() if upper else email) + spaces[1]
    try:
        assert normalize.normalize_email(variant) == base
    except InvalidAddress:
        # Upper-casing can turn a valid unicode local part into an invalid one; never the reverse.
        assert upper


@PROPERTY
@given(raw=any_text, region=regions)
def test_r3_normalize_phone_is_total_and_idempotent(raw, region):
    try:
        normalized = normalize.normalize_phone(raw, region)
    except InvalidAddress:
        return
    assert normalized.startswith("+") and normalized[1:].isdigit()
    # E.164 is the same whatever the default region
    assert normalize.normalize_phone(normalized, region) == normalized
    assert normalize.normalize_phone(normalized, "US") == normalized


@PROPERTY
@given(region=regions, style=st.sampled_from(["E164", "INTERNATIONAL", "NATIONAL", "RFC3966"]))
def test_r3_every_written_form_of_a_valid_number_is_one_e164(region, style):
    example = phonenumbers.example_number(region)
    assume(example is not None and phonenumbers.is_valid_number(example))
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(example, getattr(phonenumbers.PhoneNumberFormat, style))
    assert normalize.normalize_phone(f"  {written} ", region) == e164


@PROPERTY
@given(raw=any_text)
def test_r10_normalize_domain_is_total_and_idempotent(raw):
    try:
        normalized = normalize.normalize_domain(raw)
    except InvalidAddress:
        return
    assert normalized == normalized.lower() and not normalized.startswith("www.")
    assert normalize.normalize_domain(normalized) == normalized
    assert normalize.normalize_domain("https://www." + normalized + "/path") == normalized


@PROPERTY
@given(value=any_object, region=st.one_of(regions, st.sampled_from(["", "zz", "XX", "us"])))
def test_r3_try_normalizers_and_id_check_never_raise(value, region):
    for result in (
        normalize.try_normalize_email(value),
        normalize.try_normalize_phone(value, region),
        normalize.try_normalize_domain(value),
    ):
        assert result is None or isinstance(result, str)
    assert isinstance(normalize.is_valid_id(value), bool)


# --- SMS keywords (R6) ------------------------------------------------------------------------

edge = st.text(st.sampled_from(list(" \t\n.!?,;:'\"()*-~…🛑❤") + ["\u200b", "\u00a0"]), max_size=4)
KEYWORD_CLASSES = [
    (keywords.OPT_OUT_KEYWORDS, "opt_out"),
    (keywords.OPT_IN_KEYWORDS, "opt_in"),
    (keywords.HELP_KEYWORDS, "help"),
]
all_keywords = st.sampled_from([(word, cls) for words, cls in KEYWORD_CLASSES for word in sorted(words)])


def random_case(draw, word: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.lower() if f else c.upper() for c, f in zip(word, flags, strict=True))


@PROPERTY
@given(data=st.data(), keyword=all_keywords, before=edge, after=edge)
def test_r6_a_keyword_in_any_case_with_any_surrounding_punctuation_is_recognized(data, keyword, before, after):
    word, expected = keyword
    body = before + random_case(data.draw, word) + after
    assert keywords.classify(body) == expected
    assert keywords.looks_like_revocation(body) is False  # a keyword is acted on, never only flagged


@PROPERTY
@given(body=st.one_of(st.text(), st.text(st.sampled_from(list("stopSTOPaenrtyu .!")), max_size=20)))
def test_r6_classify_is_total_and_only_whole_message_keywords_count(body):
    result = keywords.classify(body)
    assert result in (None, "opt_out", "opt_in", "help")
    assert isinstance(keywords.looks_like_revocation(body), bool)
    if result is not None:
        word = keywords.normalize_message(body)
        assert any(word in words and cls == result for words, cls in KEYWORD_CLASSES)


@PROPERTY
@given(
    keyword=all_keywords,
    prefix=st.sampled_from(["please ", "I said ", "don't ", "ok "]),
    suffix=st.sampled_from([" now", " thanks", " me", " 2"]),
)
def test_r6_a_keyword_inside_a_sentence_is_not_a_keyword(keyword, prefix, suffix):
    word, _ = keyword
    assert keywords.classify(prefix + word + suffix) is None
    assert keywords.classify(word + suffix) is None


# --- the send-check verdict (R4) against a reference model -----------------------------------

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REASONS = ["unsubscribed", "sms_stop", "hard_bounce", "manual", "carrier_30003"]


@st.composite
def dnd_states(draw):
    states = []
    for _ in range(draw(st.integers(0, 3))):  # the contact and each of its addresses
        outbound = {}
        for channel in draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=4)):
            entries = {}
            for reason in draw(st.lists(st.sampled_from(REASONS), unique=True, min_size=1, max_size=2)):
                entries[reason] = DndEntry(
                    reason=reason,
                    kind=draw(st.sampled_from(["permanent", "temporary"])),
                    source=draw(st.sampled_from(["contact", "user", "workflow", "system", "crm"])),
                    at=f"2026-10-{draw(st.integers(1, 28)):02d}T00:00:00+00:00",
                )
            outbound[channel] = entries
        states.append(DndState(outbound=outbound))
    return states


@st.composite
def rules(draw):
    found = []
    for n in range(draw(st.integers(0, 3))):
        found.append(
            ExclusionRule(
                exclusion_id=f"exc_{n}",
                name=f"rule {n}",
                level="person",
                conditions=[
                    Condition(
                        field="email", op="ends_with", value=draw(st.sampled_from(["@blocked.test", "@other.test"]))
                    )
                ],
                enabled=draw(st.booleans()),
                exclude_from_sequences=draw(st.booleans()),
            )
        )
    return found


@st.composite
def scenarios(draw):
    rule_list = draw(rules())
    rule_ids = [r.exclusion_id for r in rule_list]
    sequence_id = draw(st.sampled_from([None, "s1"]))
    sequences = {}
    if draw(st.booleans()):
        sequences["s1"] = Sequence(sequence_id="s1", exclusions_enabled=draw(st.booleans()))
    audiences = {}
    if draw(st.booleans()):
        audiences["a1"] = Audience(
            audience_id="a1", disabled_exclusions=draw(st.lists(st.sampled_from(rule_ids or ["x"]), unique=True))
        )
    enrollment = None
    if sequence_id and draw(st.booleans()):
        enrollment = {"status": draw(st.sampled_from(["active", "unenrolled"]))}
        if draw(st.booleans()):
            enrollment["audience_id"] = "a1"
    return {
        "channel": draw(st.sampled_from(CHANNELS)),
        "mode": draw(st.sampled_from(["automated", "manual"])),
        "respect": draw(st.booleans()),
        "states": draw(dnd_states()),
        "rules": rule_list,
        "sequence_id": sequence_id,
        "audience_id": draw(st.sampled_from([None, "a1", "a2"])),
        "sequences": sequences,
        "audiences": audiences,
        "enrollment": enrollment,
        "email": draw(st.sampled_from(["p@blocked.test", "p@ok.test", None])),
    }


def reference_verdict(s) -> dict:
    """The rules of R4/R10/R11 written as plainly as possible."""
    entries = [e for state in s["states"] for e in state.outbound.get(s["channel"], {}).values()]
    blocks, warnings = [], []
    if entries:
        team_temporary = all(e.source in ("user", "workflow", "crm") and e.kind == "temporary" for e in entries)
        if s["mode"] == "manual" and not s["respect"] and team_temporary:  # R15: the contact's own still block
            warnings.append("do_not_contact")
        else:
            blocks.append(("dnd", None))
    audience_id = s["audience_id"] or (s["enrollment"] or {}).get("audience_id")
    audience = s["audiences"].get(audience_id) if audience_id else None
    sequence = s["sequences"].get(s["sequence_id"]) if s["sequence_id"] else None
    for rule in s["rules"]:
        matches = s["email"] is not None and s["email"].endswith(rule.conditions[0].value)
        applies = rule.enabled and not (audience and rule.exclusion_id in audience.disabled_exclusions)
        if s["sequence_id"]:
            applies = applies and rule.exclude_from_sequences and (sequence is None or sequence.exclusions_enabled)
        if matches and applies:
            blocks.append(("exclusion", rule.exclusion_id))
    if s["sequence_id"] and (s["enrollment"] or {}).get("status") != "active":
        blocks.append(("enrollment", None))
    blocked_channels = sum(1 for c in CHANNELS if any(state.outbound.get(c) for state in s["states"]))
    status = "on" if blocked_channels == len(CHANNELS) else "off" if blocked_channels == 0 else "partial"
    return {"allowed": not blocks, "blocks": sorted(blocks, key=str), "warnings": warnings, "dnd_status": status}


@PROPERTY
@given(s=scenarios())
def test_r4_verdict_agrees_with_the_reference_model(s):
    # Given random DND on the contact and its addresses, exclusions, sequence/audience settings, enrollment
    policy = Policy(
        WorkspaceSettings(manual_sends_respect_dnd=s["respect"]),
        compile_rules(s["rules"]),
        s["sequences"],
        s["audiences"],
    )
    email = s["email"]
    recipient = Recipient(
        "c1",
        MatchSubject(email=email, email_domain=email.split("@")[1] if email else None),
        s["states"],
        Enrollment("w1", "s1", "c1", **s["enrollment"]) if s["enrollment"] is not None else None,
    )
    # When the verdict is asked
    answer = decide_send(
        CheckRequest(s["channel"], s["mode"], s["sequence_id"], s["audience_id"]), recipient, policy, NOW
    )
    # Then it agrees with the plain reading of the rules
    expected = reference_verdict(s)
    got_blocks = sorted(((b["type"], b.get("exclusion_id")) for b in answer["blocked_by"]), key=str)
    assert (answer["allowed"], got_blocks, answer["warnings"], answer["dnd_status"]) == (
        expected["allowed"],
        expected["blocks"],
        expected["warnings"],
        expected["dnd_status"],
    )
    # And a DND block names a reason active on that channel, permanent whenever one is permanent
    for block in answer["blocked_by"]:
        if block["type"] == "dnd":
            entries = [e for st_ in s["states"] for e in st_.outbound.get(s["channel"], {}).values()]
            assert block["reason"] in {e.reason for e in entries}
            assert (block["kind"] == "permanent") == any(e.kind == "permanent" for e in entries)


@pytest.mark.parametrize("mode", ["automated", "manual"])
def test_r4_reference_model_can_fail(mode):
    """Guard against a vacuous model: DND on the channel blocks an automated send."""
    state = DndState(
        outbound={
            "email": {
                "manual": DndEntry(reason="manual", kind="temporary", source="user", at="2026-10-01T00:00:00+00:00")
            }
        }
    )
    s = {
        "channel": "email",
        "mode": mode,
        "respect": True,
        "states": [state],
        "rules": [],
        "sequence_id": None,
        "audience_id": None,
        "sequences": {},
        "audiences": {},
        "enrollment": None,
        "email": "p@ok.test",
    }
    assert reference_verdict(s)["allowed"] is False
