"""R17 over the API: the quiet_hours setting, contact attributes timezone/state, send-check and batch
with send_at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.integration.conftest import Api

NEW_YORK = "+12125550123"
MIAMI = "+13055550123"
# 2026-07-01 (EDT, UTC-4): 20:30 local in New York and Miami; 23:00 local; 12:00 local
EVENING = "2026-07-02T00:30:00Z"
NIGHT = "2026-07-02T03:00:00Z"
NOON = "2026-07-01T16:00:00Z"


def enable(api: Api, **quiet: Any) -> dict[str, Any]:
    status, body = api.patch("/v1/settings", {"quiet_hours": {"enabled": True, **quiet}})
    assert status == 200, body
    return body["quiet_hours"]


def check(api: Api, **body: Any) -> dict[str, Any]:
    status, answer = api.post("/v1/send-check", body)
    assert status == 200, answer
    return answer


# --- setting ------------------------------------------------------------------------------------


def test_r17_setting_is_off_by_default_and_shown(api: Api):
    status, body = api.get("/v1/settings")
    assert status == 200
    assert body["quiet_hours"] == {
        "enabled": False,
        "channels": ["sms", "call", "whatsapp"],
        "start": "21:00",
        "end": "08:00",
        "state_rules": True,
        "unknown_timezone": "strictest",
    }
    # and a night-time check is allowed as before
    assert check(api, phone=NEW_YORK, channel="sms", send_at=NIGHT)["allowed"] is True


def test_r17_a_partial_patch_changes_only_the_named_keys(api: Api):
    enable(api, start="22:00", unknown_timezone="allow")
    assert enable(api, channels=["sms"]) == {
        "enabled": True,
        "channels": ["sms"],
        "start": "22:00",
        "end": "08:00",
        "state_rules": True,
        "unknown_timezone": "allow",
    }


@pytest.mark.parametrize(
    "quiet, field",
    [
        ({"start": "25:00"}, "quiet_hours.start"),
        ({"end": "8:00"}, "quiet_hours.end"),
        ({"start": "21:00", "end": "21:00"}, "quiet_hours.end"),
        ({"channels": ["fax"]}, "quiet_hours.channels"),
        ({"unknown_timezone": "lenient"}, "quiet_hours.unknown_timezone"),
        ({"enabled": "yes please"}, "quiet_hours.enabled"),
        ({"typo": 1}, "quiet_hours.typo"),
    ],
)
def test_r17_invalid_setting_is_422_naming_the_field_and_changes_nothing(api: Api, quiet, field):
    before = api.get("/v1/settings")[1]
    status, body = api.patch("/v1/settings", {"quiet_hours": quiet})
    assert status == 422, body
    assert any(name.startswith(field) for name in body["fields"]), body
    assert api.get("/v1/settings") == (200, before)


# --- contact attributes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes, field",
    [
        ({"timezone": "Mars/Olympus"}, "attributes.timezone"),
        ({"timezone": 5}, "attributes.timezone"),
        ({"state": "Florida"}, "attributes.state"),
    ],
)
def test_r17_invalid_timezone_or_state_attribute_is_422_when_saved(api: Api, attributes, field):
    status, body = api.put("/v1/contacts/c1", {"phone": NEW_YORK, "attributes": attributes})
    assert status == 422, body
    assert field in body["fields"], body
    assert api.get("/v1/contacts/c1")[0] == 404


def test_r17_valid_attributes_are_kept(api: Api):
    status, body = api.put("/v1/contacts/c1", {"attributes": {"timezone": "Europe/Paris", "state": "fl"}})
    assert status == 200, body
    assert body["attributes"] == {"timezone": "Europe/Paris", "state": "fl"}


# --- send-check ---------------------------------------------------------------------------------


def test_r17_night_is_blocked_with_next_allowed_at_and_day_is_allowed(api: Api):
    enable(api)
    api.put("/v1/contacts/ny", {"phone": NEW_YORK, "email": "ny@example.com"})
    # When a text is checked for 23:00 New York time
    answer = check(api, contact_id="ny", channel="sms", send_at=NIGHT)
    # Then it is blocked until 08:00 New York time
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [
        {
            "type": "quiet_hours",
            "channel": "sms",
            "timezone": "America/New_York",
            "next_allowed_at": "2026-07-02T12:00:00Z",
        }
    ]
    # And at noon it is allowed; email is not a quiet-hours channel by default
    assert check(api, contact_id="ny", channel="sms", send_at=NOON)["allowed"] is True
    assert check(api, contact_id="ny", channel="email", send_at=NIGHT)["allowed"] is True


def test_r17_florida_at_20_30_is_blocked_new_york_allowed(api: Api):
    enable(api)
    fl = check(api, phone=MIAMI, channel="call", send_at=EVENING)
    assert fl["allowed"] is False
    assert fl["blocked_by"][0]["state"] == "FL"
    assert fl["blocked_by"][0]["next_allowed_at"] == "2026-07-02T12:00:00Z"
    assert check(api, phone=NEW_YORK, channel="call", send_at=EVENING)["allowed"] is True


def test_r17_quiet_hours_add_to_other_blocks(api: Api):
    enable(api)
    api.put("/v1/contacts/ny", {"phone": NEW_YORK})
    api.post("/v1/dnd", {"contact_id": "ny", "channel": "sms", "action": "enable", "source": "user"})
    answer = check(api, contact_id="ny", channel="sms", send_at=NIGHT)
    assert [b["type"] for b in answer["blocked_by"]] == ["dnd", "quiet_hours"]


def test_r17_the_contact_timezone_attribute_decides(api: Api):
    enable(api)
    api.put("/v1/contacts/paris", {"phone": NEW_YORK, "attributes": {"timezone": "Europe/Paris"}})
    # 23:00 in New York is 05:00 in Paris: blocked until 08:00 Paris (CEST, UTC+2)
    answer = check(api, contact_id="paris", channel="whatsapp", send_at=NIGHT)
    assert answer["blocked_by"][0]["timezone"] == "Europe/Paris"
    assert answer["blocked_by"][0]["next_allowed_at"] == "2026-07-02T06:00:00Z"


def test_r17_without_send_at_the_check_is_about_now(api: Api, monkeypatch: pytest.MonkeyPatch):
    from chalicelib.services.context import get_services

    enable(api)
    api.put("/v1/contacts/ny", {"phone": NEW_YORK})
    monkeypatch.setattr(get_services(), "clock", lambda: datetime.fromisoformat(NIGHT))
    assert check(api, contact_id="ny", channel="sms")["blocked_by"][0]["next_allowed_at"] == "2026-07-02T12:00:00Z"
    monkeypatch.setattr(get_services(), "clock", lambda: datetime.fromisoformat(NOON))
    assert check(api, contact_id="ny", channel="sms")["allowed"] is True
    # and send_at, when given, wins over now
    assert check(api, contact_id="ny", channel="sms", send_at=NIGHT)["allowed"] is False


def test_r17_unknown_zone_with_block_is_blocked_with_no_next_allowed_at(api: Api):
    enable(api, unknown_timezone="block")
    # A contact with no phone and no zone: blocked whatever the hour (unknown_timezone = block)
    api.put("/v1/contacts/nowhere", {"email": "n@example.com"})
    answer = check(api, contact_id="nowhere", channel="sms")
    assert answer["blocked_by"][-1] == {
        "type": "quiet_hours",
        "channel": "sms",
        "timezone": None,
        "next_allowed_at": None,
    }


@pytest.mark.parametrize("send_at", ["tomorrow", "2026-07-02T03:00:00", "2026-13-01T00:00:00Z", 5, ""])
def test_r17_bad_send_at_is_422_naming_it(api: Api, send_at):
    status, body = api.post("/v1/send-check", {"phone": NEW_YORK, "channel": "sms", "send_at": send_at})
    assert status == 422, body
    assert "send_at" in body["fields"], body


def test_r17_batch_answers_per_item_with_its_own_send_at(api: Api):
    enable(api)
    api.put("/v1/contacts/ny", {"phone": NEW_YORK})
    checks = [
        {"contact_id": "ny", "channel": "sms", "send_at": NIGHT},
        {"contact_id": "ny", "channel": "sms", "send_at": NOON},
        {"phone": MIAMI, "channel": "sms", "send_at": EVENING},
        {"phone": NEW_YORK, "channel": "sms", "send_at": EVENING},
        {"contact_id": "ny", "channel": "email", "send_at": NIGHT},
    ]
    status, body = api.post("/v1/send-check/batch", {"checks": checks})
    assert status == 200, body
    assert [r["allowed"] for r in body["results"]] == [False, True, False, True, True]
    assert body["results"][0]["blocked_by"][0]["next_allowed_at"] == "2026-07-02T12:00:00Z"
    assert body["results"][2]["blocked_by"][0]["state"] == "FL"
    # A bad send_at in a batch names its item
    status, body = api.post("/v1/send-check/batch", {"checks": [checks[0], {**checks[1], "send_at": "noon"}]})
    assert status == 422
    assert "checks[1].send_at" in body["fields"], body


def test_r17_a_check_naming_the_number_it_will_use_is_placed_by_that_number(api: Api):
    enable(api)
    api.put("/v1/contacts/two-phones", {"phone": NEW_YORK})
    # The contact's own number is in New York (allowed at 20:30); the send will go to a Miami number
    assert check(api, contact_id="two-phones", channel="sms", send_at=EVENING)["allowed"] is True
    answer = check(api, contact_id="two-phones", phone=MIAMI, channel="sms", send_at=EVENING)
    assert answer["blocked_by"][-1]["state"] == "FL"
