"""R3/R10: the one normalizer. Suppressions are keyed by these forms, so two spellings of
one address must normalize alike and anything unusable must be refused."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidAddress
from chalicelib.logic.normalize import (
    email_domain,
    is_valid_id,
    normalize_domain,
    normalize_email,
    normalize_phone,
    try_normalize_domain,
    try_normalize_email,
    try_normalize_phone,
)

# --- email -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ann@Example.COM ", "ann@example.com"),
        ("ann@example.com", "ann@example.com"),
        ("\tANN.SMITH+tag@Sub.Example.org\n", "ann.smith+tag@sub.example.org"),
        # IDN domains: the punycode and the unicode spelling are the same mailbox.
        ("ann@xn--exmple-cua.de", "ann@exämple.de"),
        ("ANN@EXÄMPLE.DE", "ann@exämple.de"),
    ],
)
def test_r3_email_is_trimmed_and_lower_cased(raw, expected):
    # Given an address as a sender might type it / When normalized / Then one canonical form.
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "ann", "a@b", "a@@b.com", "a b@c.com", "ann@localhost", "x" * 330 + "@a.com", "@example.com"],
)
def test_r3_invalid_email_is_refused(raw):
    with pytest.raises(InvalidAddress):
        normalize_email(raw)
    assert try_normalize_email(raw) is None


@pytest.mark.parametrize("raw", [None, 42, ["a@b.com"], {"email": "a@b.com"}])
def test_r3_non_string_email_is_refused_not_crashed(raw):
    with pytest.raises(InvalidAddress):
        normalize_email(raw)
    assert try_normalize_email(raw) is None


def test_email_domain_is_the_part_after_the_last_at():
    assert email_domain(normalize_email("Ann@Example.com")) == "example.com"


# --- phone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415-555-2671", "US", "+14155552671"),
        ("+1 415 555 2671", "US", "+14155552671"),
        ("  +14155552671 ", "US", "+14155552671"),
        # International numbers ignore the default region.
        ("+1 415 555 2671", "GB", "+14155552671"),
        # National numbers use the default region (workspace setting default_phone_region).
        ("020 7183 8750", "GB", "+442071838750"),
        ("020 7183 8750", "gb", "+442071838750"),
    ],
)
def test_r3_phone_is_e164_with_default_region(raw, region, expected):
    assert normalize_phone(raw, region) == expected


def test_r3_phone_default_region_is_us():
    assert normalize_phone("(415) 555-2671") == "+14155552671"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", "US"),
        ("12", "US"),
        ("abc", "US"),
        ("+1415555267199", "US"),
        ("+1 (000) 000-0000", "US"),
        # A UK national number is not a valid US number.
        ("020 7183 8750", "US"),
        ("1" * 70, "US"),
    ],
)
def test_r3_invalid_phone_is_refused(raw, region):
    with pytest.raises(InvalidAddress):
        normalize_phone(raw, region)
    assert try_normalize_phone(raw, region) is None


@pytest.mark.parametrize("raw", [None, 4155552671, ["+14155552671"]])
def test_r3_non_string_phone_is_refused_not_crashed(raw):
    with pytest.raises(InvalidAddress):
        normalize_phone(raw)
    assert try_normalize_phone(raw) is None


# --- domain ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("EXAMPLE.com", "example.com"),
        ("https://www.Example.com/path?x=1", "example.com"),
        ("http://example.com#top", "example.com"),
        ("www.example.com", "example.com"),
        ("example.com:8080", "example.com"),
        ("https://example.com:443/a/b", "example.com"),
        ("example.com.", "example.com"),
        ("  sub.example.co.uk  ", "sub.example.co.uk"),
        ("user@example.com", "example.com"),
        # IDN: unicode and punycode spellings are the same domain, stored as IDNA.
        ("bücher.de", "xn--bcher-kva.de"),
        ("http://www.bücher.de/", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_r10_domain_has_no_scheme_www_path_port_or_trailing_dot(raw, expected):
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "localhost", "-bad.com", "bad-.com", "a..com", "www.", "exa mple.com", "a" * 64 + ".com", "http://"]
)
def test_r10_invalid_domain_is_refused(raw):
    with pytest.raises(InvalidAddress):
        normalize_domain(raw)
    assert try_normalize_domain(raw) is None


@pytest.mark.parametrize("raw", [None, 7, ["example.com"]])
def test_r10_non_string_domain_is_refused_not_crashed(raw):
    with pytest.raises(InvalidAddress):
        normalize_domain(raw)
    assert try_normalize_domain(raw) is None


# --- ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["c1", "ABC-1_2.3:4@5+6", "x" * 128, "contact@example.com", "a..b", ".a", "..x"])
def test_r14_valid_ids(value):
    assert is_valid_id(value)


@pytest.mark.parametrize(
    "value",
    # '#' separates key parts (every key starts with the workspace id); '/' and spaces break paths.
    # Only dots ("." / "..") are path navigation to every URL resolver (issue 11 point 11).
    ["", "a#b", "a/b", "a b", "x" * 129, "ü", None, 5, ["c1"], ".", "..", "...", "../x", "./"],
)
def test_r14_invalid_ids_cannot_become_key_parts(value):
    assert not is_valid_id(value)
