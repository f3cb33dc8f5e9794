"""R15: flags are due 10 US business days after they arrive -- weekends and federal holidays
(computed by rule, with observed dates) skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.logic.business_days import add_business_days, is_business_day, observed_holidays, revocation_due_by


def test_2026_observed_holidays_match_opm():
    # OPM's 2026 list; July 4 is a Saturday, observed Friday July 3
    assert observed_holidays(2026) == {
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 10, 12),
        date(2026, 11, 11),
        date(2026, 11, 26),
        date(2026, 12, 25),
    }


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2021, 12, 31), False),  # New Year's Day 2022 (a Saturday) observed in 2021
        (date(2022, 12, 26), False),  # Christmas 2022 (a Sunday) observed Monday
        (date(2023, 1, 2), False),  # New Year's Day 2023 (a Sunday) observed Monday
        (date(2027, 6, 18), False),  # Juneteenth 2027 (a Saturday) observed Friday
        (date(2020, 6, 19), True),  # Juneteenth became a holiday in 2021
        (date(2026, 7, 4), False),  # a Saturday anyway
        (date(2026, 11, 27), True),  # the day after Thanksgiving is not a federal holiday
    ],
)
def test_observed_dates(day: date, business: bool):
    assert is_business_day(day) is business


def test_ten_business_days_skip_weekends_and_holidays():
    # Given a flag on Friday 2026-12-18 / Then Dec 25 (Fri) and Jan 1 (Fri) are skipped
    assert add_business_days(date(2026, 12, 18), 10) == date(2027, 1, 5)
    # Thanksgiving week 2026: Thursday 26 is off
    assert add_business_days(date(2026, 11, 20), 10) == date(2026, 12, 7)


def test_due_by_is_the_end_of_the_tenth_business_day_in_eastern_time():
    # Given a message at 2026-12-04 03:00 UTC (still Thursday Dec 3 in New York)
    due = revocation_due_by(datetime(2026, 12, 4, 3, 0, tzinfo=UTC))
    # Then due at the end of Thursday Dec 17 Eastern (EST, UTC-5)
    assert due == datetime(2026, 12, 18, 4, 59, 59, tzinfo=UTC)
