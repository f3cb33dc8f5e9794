"""R16: the pages speak the person's language, chosen from Accept-Language (q-values honoured)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.logic.language import negotiate

SUPPORTED = ("en", "fr", "es")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),  # a regional range falls back to its language
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("de-DE,de;q=0.9,fr;q=0.5", "fr"),  # an unsupported first choice: the next supported one
        ("en;q=0.1, es;q=0.8", "es"),  # quality decides, not order
        ("fr;q=0.5, es;q=0.5", "fr"),  # equal qualities: the order given
        ("ES", "es"),
        ("fr;q=0, *", "en"),  # refused, then anything
        ("en;q=0, *", "fr"),  # anything but English: the first supported language not refused
        ("fr-CA;q=0, fr;q=0.5", "fr"),  # refusing Canadian French is not refusing French
        ("de, it", "en"),  # nothing supported: the default
        ("fr;q=2, es", "es"),  # an invalid quality skips that range
        ("fr;q=abc, es;q=0.3", "es"),
        ("fr;q=nan, es;q=0.3", "es"),
        ("<script>, es", "es"),
        ("x" * 10_000, "en"),
    ],
)
def test_r16_accept_language_picks_the_preferred_supported_language(header, expected):
    assert negotiate(header, SUPPORTED, "en") == expected


@given(st.text(alphabet=string.printable + "éñ", max_size=300))
def test_r16_any_header_yields_a_supported_language(header):
    assert negotiate(header, SUPPORTED, "en") in SUPPORTED
