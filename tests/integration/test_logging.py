"""Observability (issue 5, R3 "no readable address where it is not needed"): a full flow's logs carry
correlation ids and no raw email or phone; its EMF metrics count opt-outs by source/channel and
send-check verdicts."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.observability import logger as powertools_logger
from tests.integration.conftest import Api, LogRecords, record_text

EMAIL = "Logged.Person@Example.com"
PHONE = "+14155552671"
RAW_FORMS = ("logged.person@example.com", "Logged.Person", "4155552671", "415) 555-2671", "415-555-2671")


@pytest.fixture()
def captured() -> Iterator[dict[str, Any]]:
    """Every record before formatting (what the code logs), and the JSON lines as shipped."""
    raw = LogRecords()
    shipped = io.StringIO()
    formatted = logging.StreamHandler(shipped)
    formatted.setFormatter(powertools_logger.registered_formatter)
    std_logger = logging.getLogger(powertools_logger.name)
    root = logging.getLogger()
    previous = std_logger.level, root.level
    std_logger.setLevel(logging.DEBUG)
    root.setLevel(logging.INFO)  # botocore DEBUG dumps request bodies; never enabled in a stage
    for target in (std_logger, root):
        target.addHandler(raw)
    std_logger.addHandler(formatted)
    try:
        yield {"raw": raw.records, "shipped": shipped}
    finally:
        for target in (std_logger, root):
            target.removeHandler(raw)
        std_logger.removeHandler(formatted)
        std_logger.setLevel(previous[0])
        root.setLevel(previous[1])


def test_r3_full_flow_logs_have_correlation_ids_and_no_addresses(
    api: Api, captured: dict[str, Any], capsys: pytest.CaptureFixture[str]
):
    # Given a contact with an email and a phone
    status, body = api.put("/v1/contacts/log-c1", {"email": EMAIL, "phone": PHONE})
    assert status in (200, 201), body
    # When it opts out of email, a malformed request fails, and sends are checked by address and id
    status, body = api.post(
        "/v1/dnd",
        {
            "email": EMAIL,
            "channel": "email",
            "direction": "outbound",
            "action": "enable",
            "source": "user",
            "reason": "asked",
        },
    )
    assert status == 200, body
    status, _ = api.post("/v1/dnd", {"phone": "(415) 555-2671 x", "channel": "sms", "action": "enable"})
    assert status in (400, 422)
    status, verdict = api.post("/v1/send-check", {"email": EMAIL, "channel": "email"})
    assert status == 200 and verdict["allowed"] is False
    status, verdict = api.post("/v1/send-check", {"phone": PHONE, "channel": "sms"})
    assert status == 200 and verdict["allowed"] is True
    status, _ = api.post(
        "/v1/send-check/batch",
        {"checks": [{"contact_id": "log-c1", "channel": "email"}, {"contact_id": "log-c1", "channel": "sms"}]},
    )
    assert status == 200

    # Then the flow logged something, every shipped line is JSON with a correlation id
    shipped = [json.loads(line) for line in captured["shipped"].getvalue().splitlines() if line.strip()]
    assert shipped, "the middleware logs each request at DEBUG"
    assert all(line.get("correlation_id") for line in shipped)
    assert {line.get("route") for line in shipped} >= {"/v1/dnd", "/v1/send-check"}
    # And no address appears anywhere: not in what the code logs, not in what is shipped, not in metrics
    metrics_out = capsys.readouterr().out
    raw = " ".join(record_text(r) for r in captured["raw"])
    for text, where in (
        (raw, "log records"),
        (captured["shipped"].getvalue(), "shipped logs"),
        (metrics_out, "EMF metrics"),
    ):
        for form in RAW_FORMS:
            assert form.lower() not in text.lower(), f"{form} in {where}"

    # And the EMF metrics count the opt-out by source/channel and the verdicts
    emf = [json.loads(line) for line in metrics_out.splitlines() if line.startswith('{"_aws"')]
    opt_outs = [m for m in emf if "OptOuts" in m]
    assert any(m["source"] == "user" and m["channel"] == "email" for m in opt_outs), emf
    verdicts = {m["verdict"]: m["SendCheckVerdicts"] for m in emf if "SendCheckVerdicts" in m}
    assert set(verdicts) == {"allowed", "blocked"}


def test_mask_is_the_last_line_of_defence_in_shipped_logs(captured: dict[str, Any]):
    """If a future change logs an address by mistake, the shipped line still masks it."""
    # Given a careless log call (a test-only record)
    powertools_logger.info(f"careless {EMAIL} {PHONE}", extra={"to": EMAIL})
    # When formatted for shipping / Then neither form survives
    shipped = captured["shipped"].getvalue()
    assert "<email>" in shipped and "<phone>" in shipped
    assert EMAIL.lower() not in shipped.lower() and "4155552671" not in shipped


TOKEN = "k1.eyJ3IjoiYWNtZSIsImMiOiJjLTQyIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


def test_urls_in_shipped_logs_lose_tokens_and_address_parameters(captured: dict[str, Any]):
    """Issue 11 point 8: a URL that reaches a log line (a request line, a message, a traceback) keeps
    its route and ids but not the unsubscribe token or an address, encoded or not."""
    # Given log calls carrying request targets with addresses and a token
    targets = [
        f"/u/{TOKEN}",
        f"/api/u/{TOKEN}?scope=all",
        "/v1/audit?email=logged.person%40example.com",
        "/v1/audit?phone=%2B14155552671&x=1",
        "/v1/audit?contact_id=log-c1&who=Logged.Person%40Example.com",
        "/v1/contacts/logged.person%40example.com",
    ]
    for target in targets:
        powertools_logger.info("request", extra={"path": target, "line": f'"GET {target} HTTP/1.1" 200 -'})
    # When shipped / Then no token or address survives, routes and ordinary parameters do
    shipped = captured["shipped"].getvalue()
    assert TOKEN not in shipped and TOKEN.split(".")[1] not in shipped
    for form in (*RAW_FORMS, "logged.person%40example.com", "%2B14155552671", "Logged.Person%40Example.com"):
        assert form.lower() not in shipped.lower(), form
    for kept in ("/u/<token>", "scope=all", "contact_id=log-c1", "email=<address>", "phone=<address>", "x=1"):
        assert kept in shipped, kept


SERVICE_MODULES = (
    "chalicelib.services.sms",
    "chalicelib.services.dnd",
    "chalicelib.services.email_webhooks",
    "chalicelib.services.unsubscribe",
    "chalicelib.services.email_feedback",
    "chalicelib.services.enrollments",
    "chalicelib.services.outbox",
    "chalicelib.store.workspaces",
)


@pytest.mark.parametrize("module_name", SERVICE_MODULES)
def test_issue12_every_module_logs_through_the_service_logger(module_name: str):
    """One logger tree: a module's logger is a Powertools child of the service logger, so its lines go
    out through that logger's masking JSON handler (not a second, std-logging path)."""
    import importlib

    module = importlib.import_module(module_name)
    assert module.logger.name == f"{powertools_logger.name}.{module_name}"
    assert logging.getLogger(module.logger.name).parent is logging.getLogger(powertools_logger.name)


def test_issue12_a_service_module_line_carries_the_correlation_id_and_service_keys(api: Api, captured: dict[str, Any]):
    # Given a contact enrolled in a sequence
    assert api.put("/v1/contacts/log-e1", {"email": EMAIL})[0] in (200, 201)
    assert api.put("/v1/sequences/log-s1", {})[0] == 200
    assert api.post("/v1/sequences/log-s1/enrollments", {"contact_id": "log-e1"})[0] == 201
    # When the contact opts out of everything (services/enrollments.py logs the unenrollment)
    status, body = api.post(
        "/v1/dnd", {"contact_id": "log-e1", "channel": "all", "action": "enable", "source": "user", "reason": "x"}
    )
    assert status == 200, body
    # Then that line is shipped as JSON by the service logger's handler, with the request's keys
    shipped = [json.loads(line) for line in captured["shipped"].getvalue().splitlines() if line.strip()]
    [line] = [entry for entry in shipped if entry["message"] == "do-not-contact unenrollment"]
    assert line["service"] == "optout" and line["correlation_id"] and line["route"] == "/v1/dnd"
    assert line["unenrolled"] == 1 and line["workspace_id"] == api.workspace_id  # type: ignore[attr-defined]
    assert line["location"].startswith("unenroll_on_do_not_contact:")
