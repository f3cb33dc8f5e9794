"""Quiet hours (R17): may this channel reach this recipient at this instant, in the recipient's local
time? Pure: the contact's attributes, its phone number and the workspace setting in, a block out.

Where the recipient is:
- the contact attribute ``timezone`` (IANA) when set, else the zones ``phonenumbers`` gives for the
  number; a number spanning several zones is allowed only when the instant is allowed in all of them;
- the US state from the contact attribute ``state``, else from the number's area code (a table
  derived from the phonenumbers geocoder, chalicelib/logic/us_area_codes.py);
- neither (no phone, a toll-free number, an unknown prefix): ``unknown_timezone`` decides --
  ``allow``, ``block`` (no ``next_allowed_at``), or ``strictest``: as if the recipient could be in
  any zone of the workspace's ``default_phone_region`` and, in the US with ``state_rules`` on, in any
  state of the table (the strictest window of all of them).

Allowed is decided per local minute: the workspace window (e.g. quiet 21:00-08:00) and, with
``state_rules``, each state rule's window and closed days. Local time comes from zoneinfo, so DST
is exact: the first allowed instant is searched per span of constant UTC offset.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.logic.quiet_hours_rules import STATE_RULES
from chalicelib.logic.us_area_codes import US_AREA_CODES
from chalicelib.models.domain import QuietHoursSettings, clock_minutes

DAY = 24 * 60
WEEK = 7 * DAY
HORIZON = timedelta(days=15)  # no allowed instant within this: next_allowed_at is null
PROBE = timedelta(hours=6)  # offsets change at most once in this span (true of every zone in tzdata)
UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers for a number it cannot place

Week = tuple[tuple[int, int], ...]  # allowed [from, to) minutes of the week, Monday 00:00 = 0


# -- the allowed week -----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def allowed_week(quiet_start: str, quiet_end: str, states: tuple[str, ...] = ()) -> Week:
    """The minutes of a local week when sending is allowed: outside the workspace's quiet window and
    inside every given state's rule."""
    start, end = clock_minutes(quiet_start), clock_minutes(quiet_end)
    rules = [STATE_RULES[s] for s in states if s in STATE_RULES]
    windows = [(clock_minutes(r.start), clock_minutes(r.end), r.closed_days) for r in rules]
    intervals: list[tuple[int, int]] = []
    for minute in range(WEEK):
        day, of_day = divmod(minute, DAY)
        quiet = start <= of_day < end if start < end else (of_day >= start or of_day < end)
        allowed = not quiet and all(a <= of_day < b and day not in closed for a, b, closed in windows)
        if not allowed:
            continue
        if intervals and intervals[-1][1] == minute:
            intervals[-1] = (intervals[-1][0], minute + 1)
        else:
            intervals.append((minute, minute + 1))
    return tuple(intervals)


def _minute_of_week(local: datetime) -> int:
    return local.weekday() * DAY + local.hour * 60 + local.minute


def _minutes_until_allowed(week: Week, minute: int) -> int | None:
    """0 when ``minute`` is allowed, else how many minutes until the next allowed one (None: never)."""
    if not week:
        return None
    i = bisect.bisect_right(week, (minute, WEEK + 1)) - 1
    if i >= 0 and week[i][0] <= minute < week[i][1]:
        return 0
    following = week[i + 1][0] if i + 1 < len(week) else week[0][0] + WEEK
    return following - minute


def is_allowed(at: datetime, zone: ZoneInfo, week: Week) -> bool:
    return _minutes_until_allowed(week, _minute_of_week(at.astimezone(zone))) == 0


def _offset(at: datetime, zone: ZoneInfo) -> timedelta:
    return at.astimezone(zone).utcoffset() or timedelta(0)


def _transition(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second in (lo, hi] whose UTC offset differs from lo's (it does at hi)."""
    before = _offset(lo, zone)
    low, high = int(lo.timestamp()), int(-(-hi.timestamp() // 1))
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(datetime.fromtimestamp(middle, UTC), zone) == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _first_allowed_in_zone(at: datetime, zone: ZoneInfo, week: Week, until: datetime) -> datetime | None:
    """The first instant >= ``at`` allowed in ``zone``, walking span by span of constant UTC offset."""
    moment = at
    while moment < until:
        local = moment.astimezone(zone)
        wait = _minutes_until_allowed(week, _minute_of_week(local))
        if wait is None:
            return None
        if wait == 0:
            return moment
        offset = local.utcoffset() or timedelta(0)
        wall = local.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=wait)
        candidate = (wall - offset).replace(tzinfo=UTC)
        # Accept it if the offset held all the way; else resume at the transition (DST).
        probe, previous = moment + PROBE, moment
        while True:
            point = min(probe, candidate)
            if _offset(point, zone) != offset:
                moment = _transition(previous, point, zone)
                break
            if point == candidate:
                return candidate
            previous, probe = point, probe + PROBE
    return None


def first_allowed(at: datetime, zones: Sequence[ZoneInfo], week: Week) -> datetime | None:
    """The first instant >= ``at`` allowed in every zone (None: none within HORIZON)."""
    until = at + HORIZON
    moment = at
    while moment < until:
        latest = moment
        for zone in zones:
            found = _first_allowed_in_zone(moment, zone, week, until)
            if found is None:
                return None
            latest = max(latest, found)
        if latest == moment:
            return moment
        moment = latest
    return None


# -- where the recipient is -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def valid_timezone(value: Any) -> bool:
    """An IANA zone name zoneinfo can load (contact attribute ``timezone``)."""
    return isinstance(value, str) and value != UNKNOWN_ZONE and value in _known_zones()


def valid_state(value: Any) -> bool:
    """Two letters (contact attribute ``state``: a USPS code such as "FL")."""
    return isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=64)
def country_zones(region: str) -> tuple[str, ...]:
    """Every zone of an ISO 3166 country, from the tz database's zone.tab (shipped by tzdata)."""
    from importlib import resources

    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is a pinned dependency
        with open("/usr/share/zoneinfo/zone.tab", encoding="utf-8") as file:
            text = file.read()
    zones = []
    for line in text.splitlines():
        fields = line.split("\t")
        if not line.startswith("#") and len(fields) >= 3 and fields[0] == region.upper():
            zones.append(fields[2])
    return tuple(zones)


def phone_place(phone: str) -> tuple[tuple[str, ...], str | None]:
    """The zones of an E.164 number and, for a US number, its state (by area code)."""
    import phonenumbers
    from phonenumbers import timezone as phone_timezones

    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return (), None
    if phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
    ):
        return (), None  # not tied to a place: phonenumbers answers every zone of the country code
    zones = tuple(z for z in phone_timezones.time_zones_for_number(number) if z != UNKNOWN_ZONE)
    state = None
    if phonenumbers.region_code_for_number(number) == "US":
        state = US_AREA_CODES.get(phonenumbers.national_significant_number(number)[:3])
    return zones, state


# -- the block ------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _loaded(names: Iterable[str]) -> list[tuple[str, ZoneInfo]]:
    return [(name, zone) for name in dict.fromkeys(names) if (zone := _zone(name)) is not None]


def quiet_hours_block(
    settings: QuietHoursSettings,
    channel: str,
    at: datetime,
    *,
    phone: str | None,
    attributes: dict[str, Any],
    default_region: str,
) -> dict[str, Any] | None:
    """``{"type": "quiet_hours", "channel", "timezone", "next_allowed_at"}`` when ``channel`` may not
    reach the recipient at ``at``; None when it may (or quiet hours do not apply)."""
    if not settings.enabled or channel not in settings.channels:
        return None
    zone_attr, state_attr = attributes.get("timezone"), attributes.get("state")
    zones: list[str] = [zone_attr] if isinstance(zone_attr, str) and valid_timezone(zone_attr) else []
    state = state_attr.upper() if isinstance(state_attr, str) and valid_state(state_attr) else None
    if phone and (not zones or state is None):
        phone_zones, phone_state = phone_place(phone)
        zones = zones or list(phone_zones)
        state = state or phone_state
    loaded = _loaded(zones)
    states: tuple[str, ...] = (state,) if state else ()
    if not loaded:
        if settings.unknown_timezone == "allow":
            return None
        if settings.unknown_timezone == "block":
            return {"type": "quiet_hours", "channel": channel, "timezone": None, "next_allowed_at": None}
        loaded = _loaded(country_zones(default_region))
        if state is None and default_region.upper() == "US":
            states = tuple(sorted(STATE_RULES))
        if not loaded:
            return {"type": "quiet_hours", "channel": channel, "timezone": None, "next_allowed_at": None}
    week = allowed_week(settings.start, settings.end, states if settings.state_rules else ())
    blocking = [name for name, zone in loaded if not is_allowed(at, zone, week)]
    if not blocking:
        return None
    following = first_allowed(at, [zone for _, zone in loaded], week)
    block: dict[str, Any] = {
        "type": "quiet_hours",
        "channel": channel,
        "timezone": blocking[0],
        "next_allowed_at": _iso(following) if following else None,
    }
    if settings.state_rules and len(states) == 1 and states[0] in STATE_RULES:
        block["state"] = states[0]
    return block
