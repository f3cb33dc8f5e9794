"""Exclusion matching (R10): one matcher for send-check, enrollment, preview and unenrollment."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

from chalicelib.errors import InvalidAddress, InvalidInput
from chalicelib.logic.normalize import normalize_domain, normalize_email
from chalicelib.models.domain import Audience, Condition, ConditionOp, ExclusionRule, Sequence

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
        c.rule for c in compiled if rule_applies(c.rule, sequence, sequence_id, audience) and c.matches(subject, now)
    ]


# --- validation and normalization of conditions (R10) ---------------------------------------

PERSON_FIELDS = ("email", *DOMAIN_FIELDS)
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
LIST_OPS = ("in", "not_in")
TEXT_OPS = ("ends_with", "contains")
MAX_CONDITIONS = 20
MAX_LIST_VALUES = 100_000


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and not value.strip())


def _normalizer(field_name: str, op: str) -> Callable[[Any], Any] | None:
    """How a condition's values are stored: exact ops on addresses/domains go through the one
    normalizer; pattern ops on them compare lower-cased text; attributes are kept as given."""
    if field_name.startswith("attributes."):
        return None
    if op in TEXT_OPS:

        def text(value: Any) -> str:
            if not isinstance(value, str) or not value.strip():
                raise InvalidAddress("must be a non-empty string")
            return value.strip().lower()

        return text
    return normalize_email if field_name == "email" else normalize_domain


def normalize_conditions(level: str, raw: Any) -> list[Condition]:
    """Validated conditions with normalized values, or InvalidInput naming the field."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("conditions must be a non-empty list", fields={"conditions": "1 or more conditions"})
    if len(raw) > MAX_CONDITIONS:
        raise InvalidInput("too many conditions", fields={"conditions": f"at most {MAX_CONDITIONS}"})
    conditions: list[Condition] = []
    for index, item in enumerate(raw):
        where = f"conditions[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput("a condition must be an object", fields={where: "must be an object"})
        unknown = set(item) - {"field", "op", "value", "values"}
        if unknown:
            raise InvalidInput("unknown condition keys", fields={f"{where}.{sorted(unknown)[0]}": "not allowed"})
        field_name, op = item.get("field"), item.get("op")
        is_attribute = isinstance(field_name, str) and field_name.startswith("attributes.")
        if not isinstance(field_name, str) or not (
            field_name in PERSON_FIELDS or (is_attribute and _ATTRIBUTE_NAME.match(field_name.split(".", 1)[1]))
        ):
            raise InvalidInput(
                "unknown condition field",
                fields={f"{where}.field": "one of email, email_domain, company_domain, attributes.<name>"},
            )
        if level == "company" and field_name not in COMPANY_LEVEL_FIELDS:
            raise InvalidInput(
                "company-level rules match by domain only",
                fields={f"{where}.field": "company rules may use email_domain or company_domain only"},
            )
        if op not in get_args(ConditionOp):
            raise InvalidInput("unknown op", fields={f"{where}.op": "one of " + ", ".join(get_args(ConditionOp))})
        value, values = item.get("value"), item.get("values")
        normalize = _normalizer(field_name, str(op))
        if op in LIST_OPS:
            if values is None and isinstance(value, list):
                values = value
            if not isinstance(values, list) or not values or len(values) > MAX_LIST_VALUES:
                raise InvalidInput(
                    f"{op} needs values", fields={f"{where}.values": f"a list of 1 to {MAX_LIST_VALUES} values"}
                )
            cleaned: list[Any] = []
            for n, one in enumerate(values):
                if not _is_scalar(one):
                    raise InvalidInput("invalid value", fields={f"{where}.values[{n}]": "must be a scalar"})
                try:
                    cleaned.append(normalize(one) if normalize else one)
                except (InvalidAddress, TypeError) as exc:
                    raise InvalidInput("invalid value", fields={f"{where}.values[{n}]": str(exc)}) from None
            conditions.append(Condition(field=field_name, op=op, values=list(dict.fromkeys(cleaned))))
        elif op == "within_days":
            if not is_attribute:
                raise InvalidInput(
                    "within_days applies to date attributes", fields={f"{where}.field": "attributes.<name> only"}
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 36_500:
                raise InvalidInput("invalid days", fields={f"{where}.value": "a number of days, 0 < days <= 36500"})
            conditions.append(Condition(field=field_name, op=op, value=value))
        elif op == "exists":
            if value is not None and not isinstance(value, bool):
                raise InvalidInput("invalid exists", fields={f"{where}.value": "true, false or omitted"})
            conditions.append(Condition(field=field_name, op=op, value=value))
        else:
            if not _is_scalar(value):
                raise InvalidInput(f"{op} needs a value", fields={f"{where}.value": "a non-empty scalar value"})
            try:
                conditions.append(Condition(field=field_name, op=op, value=normalize(value) if normalize else value))
            except (InvalidAddress, TypeError) as exc:
                raise InvalidInput("invalid value", fields={f"{where}.value": str(exc)}) from None
    return conditions
