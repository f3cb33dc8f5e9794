"""R17: quiet hours in the recipient's time zone, state rules, DST -- the pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.logic.quiet_hours import (
    HORIZON,
    allowed_week,
    country_zones,
    first_allowed,
    is_allowed,
    phone_place,
    quiet_hours_block,
    valid_state,
    valid_timezone,
)
from chalicelib.logic.quiet_hours_rules import STATE_RULES, US_STATES
from chalicelib.logic.us_area_codes import US_AREA_CODES
from chalicelib.models.domain import QuietHoursSettings

NEW_YORK = "+12125550123"  # America/New_York, NY
MIAMI = "+13055550123"  # America/New_York, FL
TULSA = "+19185550123"  # America/Chicago, OK
BALTIMORE = "+14105550123"  # America/New_York, MD
JACKSON_MS = "+16015550123"  # America/Chicago, MS (no calls on Sundays)
SAN_FRANCISCO = "+14155550123"  # America/Los_Angeles, CA
TOLL_FREE = "+18005550100"
MOSCOW_MOBILE = "+79161234567"  # phonenumbers: 16 zones, Kaliningrad to Kamchatka

ON = QuietHoursSettings(enabled=True)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def block(
    at: datetime,
    *,
    phone: str | None = None,
    attributes: dict | None = None,
    channel: str = "sms",
    settings: QuietHoursSettings = ON,
    region: str = "US",
):
    return quiet_hours_block(settings, channel, at, phone=phone, attributes=attributes or {}, default_region=region)


# --- the setting --------------------------------------------------------------------------------


def test_r17_off_by_default_nothing_is_ever_blocked():
    assert QuietHoursSettings().enabled is False
    assert block(local("America/New_York", 2026, 1, 6, 3, 0), phone=NEW_YORK, settings=QuietHoursSettings()) is None


def test_r17_only_listed_channels_are_affected_email_by_default_not():
    night = local("America/New_York", 2026, 1, 6, 23, 0)
    assert block(night, phone=NEW_YORK, channel="email") is None
    assert block(night, phone=NEW_YORK, channel="call")["type"] == "quiet_hours"
    with_email = QuietHoursSettings(enabled=True, channels=["email"])
    assert block(night, phone=NEW_YORK, channel="email", settings=with_email) is not None
    assert block(night, phone=NEW_YORK, channel="sms", settings=with_email) is None


# --- the recipient's zone ----------------------------------------------------------------------


def test_r17_night_in_the_numbers_zone_is_blocked_until_the_window_opens():
    # Given a New York number at 23:00 local (a Tuesday in winter, UTC-5)
    answer = block(local("America/New_York", 2026, 1, 6, 23, 0), phone=NEW_YORK)
    # Then it is blocked until 08:00 local the next morning, given in UTC
    assert answer == {
        "type": "quiet_hours",
        "channel": "sms",
        "timezone": "America/New_York",
        "next_allowed_at": "2026-01-07T13:00:00Z",
    }


def test_r17_daytime_is_allowed_and_the_window_edges_are_exact():
    assert block(local("America/Los_Angeles", 2026, 1, 6, 12, 0), phone=SAN_FRANCISCO) is None
    assert block(local("America/Los_Angeles", 2026, 1, 6, 8, 0), phone=SAN_FRANCISCO) is None
    assert block(local("America/Los_Angeles", 2026, 1, 6, 20, 59), phone=SAN_FRANCISCO) is None
    assert block(local("America/Los_Angeles", 2026, 1, 6, 21, 0), phone=SAN_FRANCISCO) is not None
    assert block(local("America/Los_Angeles", 2026, 1, 6, 7, 59), phone=SAN_FRANCISCO) is not None


def test_r17_the_contact_attribute_timezone_wins_over_the_number():
    # 23:00 in New York is 13:00 in Tokyo
    at = local("America/New_York", 2026, 1, 6, 23, 0)
    assert block(at, phone=NEW_YORK, attributes={"timezone": "Asia/Tokyo"}) is None
    answer = block(local("Asia/Tokyo", 2026, 1, 6, 22, 0), phone=NEW_YORK, attributes={"timezone": "Asia/Tokyo"})
    assert answer["timezone"] == "Asia/Tokyo"
    assert answer["next_allowed_at"] == "2026-01-06T23:00:00Z"  # 08:00 Tokyo (UTC+9)


def test_r17_a_number_spanning_several_zones_is_allowed_only_when_allowed_in_all():
    zones, _ = phone_place(MOSCOW_MOBILE)
    assert len(zones) > 1
    # 08:30 in Moscow (allowed there) is 07:30 in Bucharest, one of the number's zones
    at = local("Europe/Moscow", 2026, 1, 6, 8, 30)
    moscow_allowed = is_allowed(at, ZoneInfo("Europe/Moscow"), allowed_week("21:00", "08:00"))
    assert moscow_allowed
    answer = block(at, phone=MOSCOW_MOBILE)
    # Then some zone of the number is at night; next_allowed_at is allowed in every one of them
    assert answer["timezone"] == "Europe/Bucharest"
    assert answer["next_allowed_at"] == "2026-01-06T06:00:00Z"  # 08:00 in Bucharest, 18:00 in Kamchatka
    following = datetime.fromisoformat(answer["next_allowed_at"])
    week = allowed_week("21:00", "08:00")
    assert all(is_allowed(following, ZoneInfo(z), week) for z in zones)
    assert not all(is_allowed(following - timedelta(minutes=1), ZoneInfo(z), week) for z in zones)


def test_r17_unknown_zone_allow_block_and_strictest():
    at = utc(2026, 1, 6, 17, 0)  # Tuesday 12:00 in New York, 07:00 in Honolulu
    allow = QuietHoursSettings(enabled=True, unknown_timezone="allow")
    refuse = QuietHoursSettings(enabled=True, unknown_timezone="block")
    assert block(at, settings=allow) is None
    assert block(at, settings=refuse) == {
        "type": "quiet_hours",
        "channel": "sms",
        "timezone": None,
        "next_allowed_at": None,
    }
    # strictest: every zone of the workspace's country -- Hawaii is still at 07:00
    answer = block(at)
    assert answer["timezone"] in country_zones("US")
    assert answer["next_allowed_at"] == "2026-01-06T18:00:00Z"  # 08:00 in Honolulu
    # and, the state being unknown, the table's strictest rules too: no sends on a Sunday
    sunday_noon = utc(2026, 1, 11, 22, 0)  # Sunday 17:00 New York, 12:00 Honolulu
    assert block(sunday_noon)["next_allowed_at"] == "2026-01-12T18:00:00Z"  # Monday 08:00 in Honolulu
    # a state the contact names narrows strictest to that state's rule
    assert block(sunday_noon, attributes={"state": "NY"}) is None


def test_r17_strictest_uses_the_workspace_region_outside_the_us():
    at = local("Europe/Paris", 2026, 1, 6, 22, 0)
    answer = block(at, region="FR")
    assert answer["timezone"] == "Europe/Paris"
    assert answer["next_allowed_at"] == "2026-01-07T07:00:00Z"
    assert set(country_zones("FR")) == {"Europe/Paris"}


def test_r17_a_toll_free_number_has_no_zone():
    assert phone_place(TOLL_FREE) == ((), None)
    refuse = QuietHoursSettings(enabled=True, unknown_timezone="block")
    assert block(utc(2026, 1, 6, 17, 0), phone=TOLL_FREE, settings=refuse)["timezone"] is None


def test_r17_an_unusable_attribute_falls_back_to_the_number():
    at = local("America/New_York", 2026, 1, 6, 23, 0)
    assert block(at, phone=NEW_YORK, attributes={"timezone": "Mars/Olympus", "state": 7})["timezone"] == (
        "America/New_York"
    )


# --- state rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("phone, state", [(MIAMI, "FL"), (TULSA, "OK"), (BALTIMORE, "MD")])
def test_r17_florida_oklahoma_maryland_numbers_are_blocked_at_20_30_local(phone, state):
    zone = phone_place(phone)[0][0]
    at = local(zone, 2026, 7, 1, 20, 30)
    answer = block(at, phone=phone)
    assert answer is not None and answer["state"] == state
    assert answer["next_allowed_at"] == local(zone, 2026, 7, 2, 8, 0).strftime("%Y-%m-%dT%H:%M:%SZ")
    # while a New York number at 20:30 local is allowed (federal window until 21:00)
    assert block(local("America/New_York", 2026, 7, 1, 20, 30), phone=NEW_YORK) is None
    # and with state_rules off the stricter window does not apply
    assert block(at, phone=phone, settings=QuietHoursSettings(enabled=True, state_rules=False)) is None


def test_r17_the_contact_attribute_state_wins_over_the_area_code():
    at = local("America/New_York", 2026, 7, 1, 20, 30)
    assert block(at, phone=NEW_YORK, attributes={"state": "fl"})["state"] == "FL"
    assert block(at, phone=MIAMI, attributes={"state": "NY"}) is None


def test_r17_mississippi_has_no_sends_on_sunday():
    sunday_noon = local("America/Chicago", 2026, 1, 11, 12, 0)
    answer = block(sunday_noon, phone=JACKSON_MS)
    assert answer["state"] == "MS"
    assert answer["next_allowed_at"] == "2026-01-12T14:00:00Z"  # Monday 08:00 CST
    assert block(local("America/Chicago", 2026, 1, 10, 12, 0), phone=JACKSON_MS) is None  # Saturday


def test_r17_state_table_has_a_source_per_rule_and_the_required_states():
    for code in ("FL", "OK", "MD"):
        assert (STATE_RULES[code].start, STATE_RULES[code].end) == ("08:00", "20:00")
    for rule in STATE_RULES.values():
        assert rule.state in US_STATES.values()
        assert len(rule.source) > 40, rule


def test_r17_area_code_table_matches_the_phonenumbers_geocoder():
    """The table is libphonenumber's English geocoder data, reduced to one state per area code (the
    area code's own entry, else the single state its longer prefixes name). Regenerate from here."""
    from phonenumbers.geodata import GEOCODE_DATA

    aliases = {"Washington State": "WA", "Washington D.C.": "DC"}

    def state_of(description: str | None) -> str | None:
        if not description:
            return None
        if description in aliases or description in US_STATES:
            return aliases.get(description) or US_STATES[description]
        name, _, code = description.rpartition(", ")
        return code if name and code in US_STATES.values() else None

    exact: dict[str, str | None] = {}
    longer: dict[str, set[str]] = {}
    for prefix, names in GEOCODE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            state = state_of(names.get("en"))
            if len(prefix) == 4:
                exact[prefix[1:]] = state
            if state:
                longer.setdefault(prefix[1:4], set()).add(state)
    expected = {
        npa: exact.get(npa) or next(iter(states))
        for npa, states in longer.items()
        if exact.get(npa) or len(states) == 1
    }
    assert expected == US_AREA_CODES


def test_r17_attribute_validators():
    assert valid_timezone("America/New_York") and valid_timezone("UTC")
    for bad in ("Mars/Olympus", "america/new_york", "", "Etc/Unknown", 5, None, "../etc/passwd"):
        assert not valid_timezone(bad), bad
    assert valid_state("FL") and valid_state("ny")
    for bad in ("Florida", "F", "F1", 12, None, "ÉÉ"):
        assert not valid_state(bad), bad


# --- DST ----------------------------------------------------------------------------------------


def test_r17_spring_forward_night_ends_at_8_local_daylight_time():
    # Given 01:30 EST on 2026-03-08, the night clocks go from 02:00 EST to 03:00 EDT
    at = local("America/New_York", 2026, 3, 8, 1, 30)
    assert at == utc(2026, 3, 8, 6, 30)
    # Then the window opens at 08:00 EDT = 12:00 UTC (not 13:00: the night was an hour shorter)
    assert block(at, phone=NEW_YORK)["next_allowed_at"] == "2026-03-08T12:00:00Z"


def test_r17_fall_back_night_ends_at_8_local_standard_time():
    # Given 01:30 EDT on 2026-11-01 (the first of two 01:30s)
    at = local("America/New_York", 2026, 11, 1, 1, 30, fold=0)
    assert at == utc(2026, 11, 1, 5, 30)
    assert block(at, phone=NEW_YORK)["next_allowed_at"] == "2026-11-01T13:00:00Z"  # 08:00 EST
    # and at the second 01:30 (EST) too
    assert block(local("America/New_York", 2026, 11, 1, 1, 30, fold=1), phone=NEW_YORK)["next_allowed_at"] == (
        "2026-11-01T13:00:00Z"
    )


def test_r17_a_window_opening_inside_the_spring_forward_gap_opens_at_the_switch():
    # Quiet 21:00-02:30: 02:30 never happens on 2026-03-08 in New York; 03:00 EDT (07:00 UTC) is the
    # first local time past it
    settings_ = QuietHoursSettings(enabled=True, start="21:00", end="02:30", state_rules=False)
    at = local("America/New_York", 2026, 3, 8, 1, 30)
    assert block(at, phone=NEW_YORK, settings=settings_)["next_allowed_at"] == "2026-03-08T07:00:00Z"


def test_r17_a_window_closing_inside_the_repeated_hour_is_quiet_twice():
    # Quiet 01:15-01:45: on 2026-11-01 the hour 01:00-02:00 happens twice in New York
    settings_ = QuietHoursSettings(enabled=True, start="01:15", end="01:45", state_rules=False)
    first = local("America/New_York", 2026, 11, 1, 1, 20, fold=0)  # EDT
    second = local("America/New_York", 2026, 11, 1, 1, 20, fold=1)  # EST, one hour later
    assert block(first, phone=NEW_YORK, settings=settings_)["next_allowed_at"] == "2026-11-01T05:45:00Z"
    assert block(first + timedelta(minutes=30), phone=NEW_YORK, settings=settings_) is None  # 01:50 EDT
    assert block(second, phone=NEW_YORK, settings=settings_)["next_allowed_at"] == "2026-11-01T06:45:00Z"


def test_r17_half_hour_dst_of_lord_howe():
    # Lord Howe moves by 30 minutes (UTC+11 in summer, +10:30 in winter); first Sunday of April 2026
    week = allowed_week("21:00", "08:00")
    zone = ZoneInfo("Australia/Lord_Howe")
    at = local("Australia/Lord_Howe", 2026, 4, 5, 1, 0)  # before the 02:00 -> 01:30 switch
    following = first_allowed(at, [zone], week)
    assert following is not None and following.astimezone(zone).strftime("%H:%M") == "08:00"
    assert following.astimezone(zone).utcoffset() == timedelta(hours=10, minutes=30)


# --- edges --------------------------------------------------------------------------------------


def test_r17_no_common_window_within_the_horizon_answers_none():
    # An hour's window in zones 12 hours apart never overlaps
    week = allowed_week("09:00", "08:00")  # allowed 08:00-09:00 only
    zones = [ZoneInfo("Europe/London"), ZoneInfo("Pacific/Auckland")]
    assert first_allowed(utc(2026, 1, 6, 0, 0), zones, week) is None


def test_r17_allowed_week_shape():
    week = allowed_week("21:00", "08:00")
    assert week[0] == (8 * 60, 21 * 60) and len(week) == 7
    assert allowed_week("08:00", "21:00")[0] == (0, 8 * 60)  # quiet by day, allowed by night
    ms = allowed_week("21:00", "08:00", ("MS",))
    assert len(ms) == 6 and ms[0] == (8 * 60, 20 * 60)  # no Sunday


# --- properties ---------------------------------------------------------------------------------

ZONES = sorted(z for z in available_timezones() if not z.startswith(("SystemV", "posix", "right")))
CLOCK = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    start=CLOCK,
    end=CLOCK,
    states=st.lists(st.sampled_from(sorted(STATE_RULES)), max_size=2, unique=True),
)
def test_r17_property_next_allowed_is_allowed_and_nothing_before_it_is(at, zones, start, end, states):
    if start == end:
        return
    week = allowed_week(start, end, tuple(states))
    loaded = [ZoneInfo(z) for z in zones]

    def allowed(moment: datetime) -> bool:
        return all(is_allowed(moment, zone, week) for zone in loaded)

    following = first_allowed(at, loaded, week)
    if following is None:
        # nothing allowed anywhere in the horizon (checked minute by minute over the first 2 days)
        assert not any(allowed(at + timedelta(minutes=k)) for k in range(0, 2 * 24 * 60))
        return
    assert at <= following <= at + HORIZON
    assert allowed(following)
    if following > at:
        assert not allowed(following - timedelta(seconds=1))
    moment = at
    while moment < following:
        assert not allowed(moment), (moment, following)
        moment += timedelta(minutes=1)
