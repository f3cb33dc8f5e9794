"""Exclusion matching (R10): one matcher for send-check, enrollment, preview and unenrollment."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.models.domain import Audience, Condition, ExclusionRule, Sequence

DOMAIN_FIELDS = ("email_domain", "company_domain")
COMPANY_LEVEL_FIELDS = DOMAIN_FIELDS


@dataclass(frozen=True)
class MatchSubject:
    """What a rule can see of a recipient. Values already normalized."""

    email: str | None = None
    email_domain: str | None = None
    company_domain: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def value(self, field_name: str) -> Any:
        if field_name.startswith("attributes."):
            return self.attributes.get(field_name.split(".", 1)[1])
        if field_name == "company_domain":
            return self.company_domain or self.email_domain
        return getattr(self, field_name, None)


Predicate = Callable[[MatchSubject, datetime], bool]


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def compile_condition(condition: Condition) -> Predicate:
    name, op = condition.field, condition.op
    single = _fold(condition.value)
    many = frozenset(_fold(v) for v in (condition.values or []) if not isinstance(v, (dict, list)))

    def read(subject: MatchSubject) -> Any:
        return _fold(subject.value(name))

    if op == "eq":
        return lambda s, now: _present(v := read(s)) and v == single
    if op == "neq":
        return lambda s, now: read(s) != single
    if op == "in":
        return lambda s, now: _present(v := read(s)) and not isinstance(v, (dict, list)) and v in many
    if op == "not_in":
        return lambda s, now: isinstance(v := read(s), (dict, list)) or v not in many
    if op == "ends_with":
        suffix = str(single)
        return lambda s, now: isinstance(v := read(s), str) and v.endswith(suffix)
    if op == "contains":
        needle = str(single)
        return lambda s, now: isinstance(v := read(s), str) and needle in v
    if op == "within_days":
        days = float(condition.value)

        def within(s: MatchSubject, now: datetime) -> bool:
            moment = _as_datetime(s.value(name))
            return moment is not None and now - timedelta(days=days) <= moment <= now + timedelta(minutes=5)

        return within
    if op == "exists":
        wanted = True if condition.value is None else bool(condition.value)
        return lambda s, now: _present(s.value(name)) == wanted
    raise ValueError(f"unknown op {op}")


@dataclass(frozen=True)
class CompiledRule:
    rule: ExclusionRule
    predicates: tuple[Predicate, ...]

    def matches(self, subject: MatchSubject, now: datetime) -> bool:
        return all(predicate(subject, now) for predicate in self.predicates)


def compile_rules(rules: Iterable[ExclusionRule]) -> list[CompiledRule]:
    return [CompiledRule(rule, tuple(compile_condition(c) for c in rule.conditions)) for rule in rules]


def rule_applies(
    rule: ExclusionRule, sequence: Sequence | None, sequence_id: str | None, audience: Audience | None
) -> bool:
    """The hierarchy: enabled rule, sequence ruleset on, audience has not disabled it.
    Without a sequence a rule blocks direct sends whenever it is enabled."""
    if not rule.enabled:
        return False
    if audience is not None and rule.exclusion_id in audience.disabled_exclusions:
        return False
    if sequence_id is None:
        return True
    if not rule.exclude_from_sequences:
        return False
    return sequence is None or sequence.exclusions_enabled


def matching_rules(
    compiled: list[CompiledRule],
    subject: MatchSubject,
    now: datetime,
    *,
    sequence: Sequence | None = None,
    sequence_id: str | None = None,
    audience: Audience | None = None,
) -> list[ExclusionRule]:
    return [
        c.rule
        for c in compiled
        if rule_applies(c.rule, sequence, sequence_id, audience) and c.matches(subject, now)
    ]
