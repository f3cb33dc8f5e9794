"""R10: exclusion conditions are validated and normalized once, matched by the one matcher, and
stored in chunks that never exceed DynamoDB's 400 KB item limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.logic.exclusions import MatchSubject, compile_rules, matching_rules, normalize_conditions
from chalicelib.models.domain import Audience, Condition, ExclusionRule, Sequence
from chalicelib.store.exclusions import assemble_rules, split_rule
from chalicelib.store.items import to_item

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def subject(email: str, company: str | None = None, **attributes) -> MatchSubject:
    return MatchSubject(
        email=email, email_domain=email.rsplit("@", 1)[1], company_domain=company, attributes=attributes
    )


def rule_of(level: str, *conditions: dict, **flags) -> ExclusionRule:
    return ExclusionRule(
        exclusion_id="r1", name="r", level=level, conditions=normalize_conditions(level, list(conditions)), **flags
    )


def matches(rule: ExclusionRule, who: MatchSubject) -> bool:
    return compile_rules([rule])[0].matches(who, NOW)


def test_r10_domains_are_exact_after_normalization():
    # Given a company rule written with scheme, www. and capitals
    rule = rule_of("company", {"field": "company_domain", "op": "eq", "value": "HTTPS://WWW.Acme.com/pricing"})
    assert rule.conditions[0].value == "acme.com"
    # Then the domain matches exactly, not its subdomains or look-alikes
    assert matches(rule, subject("a@x.com", "acme.com"))
    assert not matches(rule, subject("a@x.com", "eu.acme.com"))
    assert not matches(rule, subject("a@x.com", "notacme.com"))
    # And without a company domain the email's domain stands in
    assert matches(rule, subject("a@acme.com"))


def test_r10_ends_with_on_email_is_lower_cased_and_covers_variants():
    rule = rule_of("person", {"field": "email", "op": "ends_with", "value": "  @GMAIL.com "})
    assert rule.conditions[0].value == "@gmail.com"
    assert matches(rule, subject("first.last+tag@gmail.com"))
    assert not matches(rule, subject("someone@googlemail.com"))


def test_r10_in_lists_are_normalized_and_deduplicated():
    rule = rule_of("person", {"field": "email", "op": "in", "values": [" Ann@Example.com", "ann@example.com"]})
    assert rule.conditions[0].values == ["ann@example.com"]
    assert matches(rule, subject("ann@example.com"))


@pytest.mark.parametrize(
    ("level", "condition", "field"),
    [
        ("person", {"field": "phone", "op": "eq", "value": "x"}, "conditions[0].field"),
        ("person", {"field": "attributes.", "op": "eq", "value": "x"}, "conditions[0].field"),
        ("person", {"field": "email", "op": "between", "value": "x"}, "conditions[0].op"),
        ("person", {"field": "email", "op": "eq", "value": "nope"}, "conditions[0].value"),
        ("person", {"field": "email", "op": "eq"}, "conditions[0].value"),
        ("person", {"field": "email_domain", "op": "not_in", "values": []}, "conditions[0].values"),
        ("person", {"field": "email_domain", "op": "in", "values": ["a.com", {"x": 1}]}, "conditions[0].values[1]"),
        ("person", {"field": "attributes.t", "op": "within_days", "value": "7"}, "conditions[0].value"),
        ("person", {"field": "attributes.t", "op": "exists", "value": "yes"}, "conditions[0].value"),
        ("person", {"field": "email", "op": "eq", "value": "a@b.com", "extra": 1}, "conditions[0].extra"),
        ("company", {"field": "email", "op": "ends_with", "value": "@a.com"}, "conditions[0].field"),
        ("company", {"field": "attributes.size", "op": "exists"}, "conditions[0].field"),
    ],
)
def test_r10_invalid_conditions_name_the_field(level, condition, field):
    with pytest.raises(InvalidInput) as raised:
        normalize_conditions(level, [condition])
    assert field in raised.value.fields


def test_r10_all_conditions_must_hold_and_ops_behave():
    rule = rule_of(
        "person",
        {"field": "email_domain", "op": "not_in", "values": ["partner.com"]},
        {"field": "attributes.stage", "op": "in", "values": ["Customer", "churned"]},
        {"field": "attributes.last_touch", "op": "within_days", "value": 14},
        {"field": "attributes.owner", "op": "exists"},
        {"field": "email", "op": "contains", "value": "sales"},
    )
    recent = (NOW - timedelta(days=3)).isoformat()
    assert matches(rule, subject("sales@acme.com", stage="customer", last_touch=recent, owner="kim"))
    assert not matches(rule, subject("sales@partner.com", stage="customer", last_touch=recent, owner="kim"))
    assert not matches(rule, subject("sales@acme.com", stage="lead", last_touch=recent, owner="kim"))
    old = (NOW - timedelta(days=30)).isoformat()
    assert not matches(rule, subject("sales@acme.com", stage="customer", last_touch=old, owner="kim"))
    assert not matches(rule, subject("sales@acme.com", stage="customer", last_touch=recent))
    assert not matches(rule, subject("ops@acme.com", stage="customer", last_touch=recent, owner="kim"))


def test_r10_hierarchy_rule_enabled_sequence_ruleset_audience():
    rule = rule_of("person", {"field": "email_domain", "op": "eq", "value": "gmail.com"})
    compiled = compile_rules([rule])
    who = subject("a@gmail.com")
    on, off = Sequence(sequence_id="s"), Sequence(sequence_id="s", exclusions_enabled=False)
    assert matching_rules(compiled, who, NOW, sequence=on, sequence_id="s") == [rule]
    assert matching_rules(compiled, who, NOW, sequence=off, sequence_id="s") == []
    audience = Audience(audience_id="a", disabled_exclusions=["r1"])
    assert matching_rules(compiled, who, NOW, sequence=on, sequence_id="s", audience=audience) == []
    disabled = compile_rules([rule.model_copy(update={"enabled": False})])
    assert matching_rules(disabled, who, NOW) == []


def test_r10_large_lists_are_chunked_below_the_item_limit_and_reassemble_exactly():
    """A CSV import of 60,000 addresses: every stored item stays well under 400 KB."""
    values = [f"someone.with.a.long.name.{n}@a-rather-long-company-domain.example" for n in range(60_000)]
    rule = ExclusionRule(
        exclusion_id="big",
        name="big",
        level="person",
        conditions=[
            Condition(field="email", op="in", values=values),
            Condition(field="email_domain", op="neq", value="x.com"),
        ],
    )
    items = split_rule("ws1", rule)
    sizes = [len(json.dumps(to_item(item))) for item in items]
    assert len(items) > 5
    assert max(sizes) < 300_000
    # Reassembled in any order, the rule is the same
    assert assemble_rules(list(reversed(items))) == [rule]
    # A torn read (a chunk missing) yields no rule rather than a partial list
    assert assemble_rules(items[:-1]) == []
    # Small lists stay inline in the rule item
    small = ExclusionRule(
        exclusion_id="s", name="s", level="person", conditions=[Condition(field="email", op="in", values=values[:10])]
    )
    assert len(split_rule("ws1", small)) == 1
