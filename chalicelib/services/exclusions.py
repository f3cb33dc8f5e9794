"""Exclusion rules (R10): CRUD, preview, the breadth guard and CSV import.

Every answer about "who does this rule match" comes from logic/exclusions.py (the one matcher):
preview, the ``confirm_required`` guard, proactive unenrollment (services/jobs.py) and the
send-check/enrollment verdicts. Rule writes invalidate this instance's config cache; other
instances pick them up within the cache's one-second lifetime.
"""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from chalicelib.errors import Conflict, InvalidAddress, InvalidInput, NotFound
from chalicelib.logic.exclusions import MAX_LIST_VALUES, compile_rules, normalize_conditions
from chalicelib.logic.normalize import is_valid_id, normalize_domain, normalize_email
from chalicelib.models.domain import Condition, ExclusionRule
from chalicelib.models.records import Contact
from chalicelib.models.requests import RuleBody, RulePatch, parse
from chalicelib.services.context import Services, iso
from chalicelib.services.jobs import iter_exclusion_matches, start_unenroll_job
from chalicelib.services.recipients import Target, match_subject
from chalicelib.store.exclusions import iter_workspace_contacts

SAMPLE_SIZE = 10
MAX_REJECTIONS_LISTED = 1000
REASON_EXCLUSION = "exclusion"


def _new_id() -> str:
    return "exc_" + secrets.token_hex(8)


def rule_view(rule: ExclusionRule) -> dict[str, Any]:
    view = rule.model_dump(mode="json")
    view["conditions"] = [{k: v for k, v in c.items() if v is not None} for c in view["conditions"]]
    return view


def _parse_rule(body: dict[str, Any]) -> tuple[RuleBody, list[Condition]]:
    parsed = parse(RuleBody, body)
    return parsed, normalize_conditions(parsed.level, parsed.conditions)


# --- matching over the workspace's contacts ----------------------------------------------------


def match_contacts(services: Services, workspace_id: str, rule: ExclusionRule) -> tuple[int, dict[str, Contact]]:
    """(contacts in the workspace, matching contacts by id) for a rule's conditions."""
    compiled = compile_rules([rule])[0]
    now = services.clock()
    total = 0
    matched: dict[str, Contact] = {}
    for contact in iter_workspace_contacts(services.config, workspace_id):
        total += 1
        if compiled.matches(match_subject(contact, Target()), now):
            matched[contact.contact_id] = contact
    return total, matched


def _guard_breadth(services: Services, workspace_id: str, rule: ExclusionRule, confirm: bool) -> None:
    """Unify's filter-reset accident: a rule matching more than half the contacts needs confirm."""
    if confirm:
        return
    total, matched = match_contacts(services, workspace_id, rule)
    if total and len(matched) * 2 > total:
        raise Conflict(
            f'this rule matches {len(matched)} of {total} contacts; send "confirm": true to save it',
            code="confirm_required",
            extra={"matching_contacts": len(matched), "total_contacts": total},
        )


def _after_write(services: Services, workspace_id: str, rule: ExclusionRule, start_job: bool) -> dict[str, Any]:
    services.config_cache.invalidate(workspace_id)
    view = rule_view(rule)
    if start_job and rule.proactive_unenroll and rule.enabled and rule.exclude_from_sequences:
        view["job_id"] = start_unenroll_job(
            services, workspace_id, {"by": "exclusion", "exclusion_id": rule.exclusion_id}, REASON_EXCLUSION
        )
    return view


# --- routes ------------------------------------------------------------------------------------


def create_rule(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    parsed, conditions = _parse_rule(body)
    at = iso(services.clock())
    rule = ExclusionRule(
        exclusion_id=_new_id(),
        name=parsed.name.strip(),
        level=parsed.level,
        conditions=conditions,
        enabled=parsed.enabled,
        exclude_from_sequences=parsed.exclude_from_sequences,
        proactive_unenroll=parsed.proactive_unenroll,
        created_at=at,
        updated_at=at,
    )
    _guard_breadth(services, workspace_id, rule, parsed.confirm)
    services.exclusions.put(workspace_id, rule, create=True)
    return _after_write(services, workspace_id, rule, start_job=True)


def preview_rule(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """What saving this body would match, from the same matcher and planner pages: nothing is written."""
    parsed, conditions = _parse_rule(body)
    rule = ExclusionRule(
        exclusion_id="preview",
        name=parsed.name,
        level=parsed.level,
        conditions=conditions,
        enabled=parsed.enabled,
        exclude_from_sequences=parsed.exclude_from_sequences,
        proactive_unenroll=parsed.proactive_unenroll,
    )
    total, matched = match_contacts(services, workspace_id, rule)
    config = services.config_cache.get(workspace_id)
    compiled = compile_rules([rule])
    enrollments = sum(
        1 for _ in iter_exclusion_matches(services, workspace_id, compiled, config, services.clock(), matched)
    )
    return {
        "matching_contacts": len(matched),
        "active_enrollments": enrollments,
        "sample": sorted(matched)[:SAMPLE_SIZE],
        "total_contacts": total,
        "confirm_required": bool(total and len(matched) * 2 > total),
    }


def _require_rule_id(exclusion_id: str) -> None:
    if not is_valid_id(exclusion_id):
        raise NotFound("exclusion not found", fields={"exclusion_id": "no such exclusion"})


def get_rule(services: Services, workspace_id: str, exclusion_id: str) -> dict[str, Any]:
    _require_rule_id(exclusion_id)
    return rule_view(services.exclusions.get(workspace_id, exclusion_id))


def list_rules(services: Services, workspace_id: str) -> dict[str, Any]:
    rules = sorted(services.exclusions.load_rules(workspace_id), key=lambda r: r.created_at or "")
    summaries = []
    for rule in rules:
        view = rule_view(rule)
        for condition in view["conditions"]:
            if "values" in condition and len(condition["values"]) > 100:
                condition["values_count"] = len(condition.pop("values"))
        summaries.append(view)
    return {"exclusions": summaries}


def patch_rule(services: Services, workspace_id: str, exclusion_id: str, body: dict[str, Any]) -> dict[str, Any]:
    _require_rule_id(exclusion_id)
    patch = parse(RulePatch, body)
    current = services.exclusions.get(workspace_id, exclusion_id)
    if patch.level is not None and patch.level != current.level:
        raise InvalidInput("an exclusion's level is fixed at creation", fields={"level": "cannot be changed"})
    if patch.exclusion_id is not None and patch.exclusion_id != exclusion_id:
        raise InvalidInput("an exclusion's id cannot change", fields={"exclusion_id": "cannot be changed"})
    changes: dict[str, Any] = {
        k: v
        for k, v in patch.model_dump(exclude={"level", "confirm", "exclusion_id", "conditions"}).items()
        if v is not None
    }
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    if patch.conditions is not None:
        changes["conditions"] = normalize_conditions(current.level, patch.conditions)
    updated = current.model_copy(update={**changes, "updated_at": iso(services.clock())})
    if patch.conditions is not None:
        _guard_breadth(services, workspace_id, updated, patch.confirm)
    services.exclusions.put(workspace_id, updated, create=False)
    widened = any(name in changes for name in ("conditions", "enabled", "exclude_from_sequences", "proactive_unenroll"))
    return _after_write(services, workspace_id, updated, start_job=widened)


def delete_rule(services: Services, workspace_id: str, exclusion_id: str) -> None:
    _require_rule_id(exclusion_id)
    services.exclusions.delete(workspace_id, exclusion_id)
    services.config_cache.invalidate(workspace_id)


# --- CSV import ---------------------------------------------------------------------------------


def _flag(params: dict[str, str], name: str) -> bool:
    value = (params.get(name) or "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise InvalidInput(f"invalid {name}", fields={name: "true or false"})


def import_csv(
    services: Services, workspace_id: str, params: dict[str, str], raw: bytes | str | None
) -> dict[str, Any]:
    """One rule from a CSV with an ``email`` or ``domain`` column; bad rows are reported by line
    (1 = the header) and the good ones still land."""
    level = params.get("level")
    if level not in ("person", "company"):
        raise InvalidInput("invalid level", fields={"level": "person or company"})
    name = (params.get("name") or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("invalid name", fields={"name": "1 to 200 characters"})
    confirm, proactive = _flag(params, "confirm"), _flag(params, "proactive_unenroll")
    try:
        text = raw.lstrip("\ufeff") if isinstance(raw, str) else (raw or b"").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV must be UTF-8", fields={"body": "not UTF-8 text"}) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    columns = [c.strip().lower() for c in header or []]
    column = next((c for c in ("email", "domain") if c in columns), None)
    if column is None:
        raise InvalidInput("the CSV needs a column named email or domain", fields={"body": "no email or domain column"})
    if level == "company" and column == "email":
        raise InvalidInput(
            "company-level rules match by domain", fields={"body": "company imports need a domain column"}
        )
    position = columns.index(column)
    normalize = normalize_email if column == "email" else normalize_domain
    values: dict[str, None] = {}
    rejected: list[dict[str, Any]] = []
    rejected_count = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cell = row[position].strip() if position < len(row) else ""
            try:
                if not cell:
                    raise InvalidAddress(f"empty {column}")
                values[normalize(cell)] = None
            except InvalidAddress as exc:
                rejected_count += 1
                if len(rejected) < MAX_REJECTIONS_LISTED:
                    rejected.append({"line": reader.line_num, "error": f"invalid {column}: {exc}"})
    except csv.Error as exc:
        raise InvalidInput("the CSV cannot be read", fields={"body": f"line {reader.line_num}: {exc}"}) from None
    if not values:
        raise InvalidInput(
            "no valid rows", fields={"body": "no valid rows"}, extra={"imported": 0, "rejected": rejected}
        )
    if len(values) > MAX_LIST_VALUES:
        raise InvalidInput("too many rows", fields={"body": f"at most {MAX_LIST_VALUES} values per rule"})
    field = "email" if column == "email" else ("company_domain" if level == "company" else "email_domain")
    at = iso(services.clock())
    rule = ExclusionRule(
        exclusion_id=_new_id(),
        name=name,
        level=level,  # type: ignore[arg-type]
        conditions=[Condition(field=field, op="in", values=list(values))],
        proactive_unenroll=proactive,
        created_at=at,
        updated_at=at,
    )
    _guard_breadth(services, workspace_id, rule, confirm)
    services.exclusions.put(workspace_id, rule, create=True)
    view = _after_write(services, workspace_id, rule, start_job=True)
    answer = {
        "exclusion_id": rule.exclusion_id,
        "imported": len(values),
        "rejected": rejected,
        "rejected_count": rejected_count,
    }
    if "job_id" in view:
        answer["job_id"] = view["job_id"]
    return answer
