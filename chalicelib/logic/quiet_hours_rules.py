"""State calling-hour rules stricter than the federal 08:00-21:00 (R17), one row per state with its
source. Applied in the recipient's local time when ``quiet_hours.state_rules`` is on. A summary of
statutes for engineering, not legal advice: the workspace decides what applies to its messages.

Not covered: state holidays (Louisiana, Alabama, Rhode Island, Utah...), emergency declarations
(Louisiana), per-day call caps and consent requirements; see README "Quiet hours".
"""

from __future__ import annotations

from dataclasses import dataclass

SUNDAY = 6  # datetime.weekday()


@dataclass(frozen=True)
class StateRule:
    state: str  # USPS code
    start: str  # allowed from (local "HH:MM")
    end: str  # allowed until, exclusive
    closed_days: frozenset[int]  # weekday() numbers with no sends at all
    source: str


STATE_RULES: dict[str, StateRule] = {
    rule.state: rule
    for rule in (
        StateRule(
            "FL",
            "08:00",
            "20:00",
            frozenset(),
            "Fla. Stat. 501.616(6)(a) as amended by SB 1120 (2021): no commercial telephone solicitation "
            "before 8 a.m. or after 8 p.m. local time in the called person's time zone",
        ),
        StateRule(
            "OK",
            "08:00",
            "20:00",
            frozenset(),
            "Okla. Stat. tit. 15, 775C.4 (Telephone Solicitation Act of 2022, in force 2022-11-01): "
            "commercial telephonic sales calls only between 8 a.m. and 8 p.m.",
        ),
        StateRule(
            "MD",
            "08:00",
            "20:00",
            frozenset(),
            "Md. Code, Com. Law 14-4502 (Stop the Spam Calls Act of 2023, SB 90, in force 2024-01-01): "
            "telephone solicitations only between 8 a.m. and 8 p.m. in the called party's time zone",
        ),
        StateRule(
            "MS",
            "08:00",
            "20:00",
            frozenset({SUNDAY}),
            "Miss. Code Ann. 77-3-723(1) (Mississippi Telephone Solicitation Act): calls only between "
            "8 a.m. and 8 p.m. (the statute says Central Standard Time); no telephone solicitation on a Sunday",
        ),
        StateRule(
            "LA",
            "08:00",
            "20:00",
            frozenset({SUNDAY}),
            "La. R.S. 45:811(2)-(3): automated or live-operator sales calls only 8 a.m. to 8 p.m. Monday "
            "through Saturday, none on Sundays (nor on state holidays: not covered here)",
        ),
    )
}

# USPS codes a contact attribute `state` may name: the 50 states, DC and the territories.
# fmt: off
US_STATES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "American Samoa": "AS", "Guam": "GU", "Northern Mariana Islands": "MP", "Puerto Rico": "PR",
    "U.S. Virgin Islands": "VI",
}
# fmt: on
US_STATE_CODES = frozenset(US_STATES.values())
