"""R17 over real HTTP on `python -m infra.local` (`make run`): quiet hours answer right at whatever
hour the test runs, send_at pins scheduled instants, and the send-check's DynamoDB requests stay
what they were (counted on the embedded AWS endpoint with moto's request recorder)."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import LocalStack, start_local_stack

pytestmark = pytest.mark.e2e

NEW_YORK = "+12125550123"
MIAMI = "+13055550123"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of its own whose embedded endpoint can record requests (to a temporary file)."""
    tmp = tmp_path_factory.mktemp("quiet-hours")
    running = start_local_stack(tmp, MOTO_RECORDER_FILEPATH=str(tmp / "moto-recording.jsonl"))
    yield running
    assert running.terminate() == 0, running.output()[-4000:]


@pytest.fixture(scope="module")
def workspace(stack: LocalStack) -> tuple[str, str]:
    workspace_id = "qh-" + uuid.uuid4().hex[:10]
    response = stack.request(
        "POST",
        "/v1/admin/workspaces",
        {"workspace_id": workspace_id, "settings": {"quiet_hours": {"enabled": True}}},
        key=stack.admin_key,
    )
    assert response.status == 201, response.body
    return workspace_id, response.json()["api_key"]


def call(stack: LocalStack, key: str, method: str, path: str, body: Any = None) -> Any:
    response = stack.request(method, path, body, key=key)
    assert response.status in (200, 201), (response.status, response.body)
    return response.json()


def fixed_offset_zone(local_hour: int, now: datetime) -> str:
    """An IANA zone (Etc/GMT-N is UTC+N) where it is ``local_hour`` o'clock at ``now``."""
    offset = (local_hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_r17_now_night_recipient_blocked_until_8_local_day_recipient_allowed(stack, workspace):
    _, key = workspace
    # Given two contacts: one where it is 03:xx now, one where it is 14:xx now (whatever the hour here)
    now = datetime.now(UTC)
    night_zone, day_zone = fixed_offset_zone(3, now), fixed_offset_zone(14, now)
    call(stack, key, "PUT", "/v1/contacts/night", {"phone": NEW_YORK, "attributes": {"timezone": night_zone}})
    call(stack, key, "PUT", "/v1/contacts/day", {"phone": NEW_YORK, "attributes": {"timezone": day_zone}})
    # When a text to each is checked now
    night = call(stack, key, "POST", "/v1/send-check", {"contact_id": "night", "channel": "sms"})
    day = call(stack, key, "POST", "/v1/send-check", {"contact_id": "day", "channel": "sms"})
    # Then the night one is blocked until 08:00 its time today, the day one allowed
    local_now = now.astimezone(ZoneInfo(night_zone))
    opens = local_now.replace(hour=8, minute=0, second=0, microsecond=0)
    assert night["allowed"] is False, night
    assert night["blocked_by"] == [
        {"type": "quiet_hours", "channel": "sms", "timezone": night_zone, "next_allowed_at": iso(opens)}
    ]
    assert day["allowed"] is True, day
    # and email is not a quiet-hours channel
    contact = {"phone": NEW_YORK, "email": "n@example.com", "attributes": {"timezone": night_zone}}
    call(stack, key, "PUT", "/v1/contacts/night", contact)
    assert call(stack, key, "POST", "/v1/send-check", {"contact_id": "night", "channel": "email"})["allowed"]


def test_r17_florida_at_20_30_blocked_new_york_allowed_by_send_at(stack, workspace):
    _, key = workspace
    # 20:30 in Miami and New York (same zone), tomorrow, pinned with send_at
    tomorrow = datetime.now(ZoneInfo("America/New_York")).date() + timedelta(days=1)
    evening = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 20, 30, tzinfo=ZoneInfo("America/New_York"))
    body = {"channel": "call", "send_at": iso(evening)}
    florida = call(stack, key, "POST", "/v1/send-check", {"phone": MIAMI, **body})
    new_york = call(stack, key, "POST", "/v1/send-check", {"phone": NEW_YORK, **body})
    next_morning = (evening + timedelta(days=1)).replace(hour=8, minute=0)
    assert florida["allowed"] is False
    assert florida["blocked_by"] == [
        {
            "type": "quiet_hours",
            "channel": "call",
            "timezone": "America/New_York",
            "next_allowed_at": iso(next_morning),
            "state": "FL",
        }
    ]
    assert new_york["allowed"] is True, new_york


def test_r17_send_at_answers_for_the_scheduled_instant_single_and_batch(stack, workspace):
    _, key = workspace
    call(stack, key, "PUT", "/v1/contacts/ny", {"phone": NEW_YORK})
    day = datetime.now(ZoneInfo("America/New_York")).date() + timedelta(days=2)
    at = lambda h, m=0: iso(datetime(day.year, day.month, day.day, h, m, tzinfo=ZoneInfo("America/New_York")))  # noqa: E731
    night = call(stack, key, "POST", "/v1/send-check", {"contact_id": "ny", "channel": "sms", "send_at": at(23)})
    assert night["blocked_by"][0]["next_allowed_at"] == iso(
        datetime(day.year, day.month, day.day, 8, tzinfo=ZoneInfo("America/New_York")) + timedelta(days=1)
    )
    checks = [{"contact_id": "ny", "channel": "sms", "send_at": s} for s in (at(7, 59), at(8), at(20, 59), at(21))]
    results = call(stack, key, "POST", "/v1/send-check/batch", {"checks": checks})["results"]
    assert [r["allowed"] for r in results] == [False, True, True, False]
    # A timestamp without an offset is refused, naming the field
    response = stack.request(
        "POST", "/v1/send-check", {"contact_id": "ny", "channel": "sms", "send_at": "2030-01-01T12:00:00"}, key=key
    )
    assert response.status == 422 and "send_at" in response.json()["fields"]


# --- request budget -------------------------------------------------------------------------------


def recorded_dynamodb(stack: LocalStack, workspace_id: str, action: Any) -> Counter[str]:
    """The DynamoDB operations naming ``workspace_id`` the endpoint received while ``action`` ran,
    config-cache refreshes (Query, at most once a second) left out."""
    base = stack.aws_url + "/moto-api/recorder/"
    for step in ("reset-recording", "start-recording"):
        assert stack_post(stack, base + step) == 200
    try:
        action()
    finally:
        assert stack_post(stack, base + "stop-recording") == 200
    import urllib.request

    with urllib.request.urlopen(base + "download-recording", timeout=10) as response:  # noqa: S310 (local)
        lines = response.read().decode().splitlines()
    operations: Counter[str] = Counter()
    for line in lines:
        entry = json.loads(line)
        target = next((v for k, v in entry["headers"].items() if k.lower() == "x-amz-target"), "")
        if not target.startswith("DynamoDB_"):
            continue
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        operation = target.split(".", 1)[1]
        if workspace_id in body and operation != "Query":
            operations[operation] += 1
    return operations


def stack_post(stack: LocalStack, url: str) -> int:
    import urllib.request

    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (local endpoint)
        return int(response.status)


def test_r17_request_budget_unchanged_with_quiet_hours_on(stack, workspace):
    workspace_id, key = workspace
    ids = [f"b{i}" for i in range(100)]
    for i, cid in enumerate(ids):
        call(stack, key, "PUT", f"/v1/contacts/{cid}", {"email": f"b{i}@example.com", "phone": f"+1305555{2000 + i}"})
    single = {"contact_id": "b0", "channel": "sms", "send_at": "2030-07-02T03:00:00Z"}
    checks = [{"contact_id": cid, "channel": "sms", "send_at": "2030-07-02T03:00:00Z"} for cid in ids]

    def one() -> None:
        answer = call(stack, key, "POST", "/v1/send-check", single)
        assert answer["blocked_by"][0]["type"] == "quiet_hours"

    def batch() -> None:
        results = call(stack, key, "POST", "/v1/send-check/batch", {"checks": checks})["results"]
        assert all(r["blocked_by"][0]["type"] == "quiet_hours" for r in results)

    one()  # warm the key and config caches
    # One recipient: the contact, then its addresses in one batch (<= 2)
    assert recorded_dynamodb(stack, workspace_id, one) == Counter({"GetItem": 1, "BatchGetItem": 1})
    # 100 recipients: 100 contacts in one batch, 200 address items in two (<= 4)
    assert recorded_dynamodb(stack, workspace_id, batch) == Counter({"BatchGetItem": 3})
