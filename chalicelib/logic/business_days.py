"""Business days for the FCC's 10-business-day revocation deadline (R15). Pure.

US federal holidays (5 U.S.C. 6103) computed by rule, with their observed dates: a holiday on a
Saturday is observed the Friday before (New Year's Day on a Saturday: December 31 of the year
before), one on a Sunday the Monday after. Business days are Monday to Friday except observed
holidays, counted in US Eastern time (where the FCC sits; one zone keeps the deadline the same
for every reader).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
REVOCATION_BUSINESS_DAYS = 10


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) ``weekday`` (Mon=0) of the month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (date(year + (month == 12), month % 12 + 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def federal_holidays(year: int) -> dict[date, str]:
    """The legal public holidays of ``year`` on the dates they fall (not yet observed)."""
    holidays = {
        date(year, 1, 1): "New Year's Day",
        _nth_weekday(year, 1, 0, 3): "Birthday of Martin Luther King, Jr.",
        _nth_weekday(year, 2, 0, 3): "Washington's Birthday",
        _nth_weekday(year, 5, 0, -1): "Memorial Day",
        date(year, 7, 4): "Independence Day",
        _nth_weekday(year, 9, 0, 1): "Labor Day",
        _nth_weekday(year, 10, 0, 2): "Columbus Day",
        date(year, 11, 11): "Veterans Day",
        _nth_weekday(year, 11, 3, 4): "Thanksgiving Day",
        date(year, 12, 25): "Christmas Day",
    }
    if year >= 2021:
        holidays[date(year, 6, 19)] = "Juneteenth National Independence Day"
    return holidays


@cache
def observed_holidays(year: int) -> frozenset[date]:
    """Days off in ``year``: every holiday's observed date that falls in that year (New Year's Day
    of ``year + 1`` on a Saturday is observed on December 31 of ``year``)."""
    days = {_observed(day) for y in (year, year + 1) for day in federal_holidays(y)}
    return frozenset(day for day in days if day.year == year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in observed_holidays(day.year)


def add_business_days(start: date, days: int) -> date:
    """The ``days``-th business day after ``start`` (``start`` itself is not counted)."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            left -= 1
    return current


def revocation_due_by(arrived: datetime, days: int = REVOCATION_BUSINESS_DAYS) -> datetime:
    """When a revocation that arrived at ``arrived`` must be honoured: the end (23:59:59 Eastern)
    of the ``days``-th business day after the day it arrived, as a UTC datetime."""
    local_day = arrived.astimezone(EASTERN).date()
    due_day = add_business_days(local_day, days)
    return datetime.combine(due_day, time(23, 59, 59), tzinfo=EASTERN).astimezone(UTC)
