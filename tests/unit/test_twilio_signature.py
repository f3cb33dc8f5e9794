"""R6/R7: X-Twilio-Signature, proven against Twilio's published example.

The vector is the one Twilio publishes with its request-validation docs and SDKs
(twilio-python tests/unit/test_request_validator.py, twilio-php docs/usage/validation.rst):
auth token "12345", URL https://mycompany.com/myapp.php?foo=1&bar=2, five call parameters.
"""

from __future__ import annotations

from chalicelib.logic.twilio_signature import compute_signature, is_valid_signature

TWILIO_AUTH_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
TWILIO_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_r6_signature_matches_twilios_published_example():
    assert compute_signature(TWILIO_URL, TWILIO_PARAMS, TWILIO_AUTH_TOKEN) == TWILIO_EXPECTED


def test_r6_parameter_order_does_not_matter_but_every_parameter_counts():
    assert compute_signature(TWILIO_URL, list(reversed(TWILIO_PARAMS)), TWILIO_AUTH_TOKEN) == TWILIO_EXPECTED
    assert compute_signature(TWILIO_URL, TWILIO_PARAMS[:-1], TWILIO_AUTH_TOKEN) != TWILIO_EXPECTED


def test_r6_repeated_parameters_sort_by_value_like_twilios_sdk():
    # twilio-python's duplicate-parameter vector
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert compute_signature(TWILIO_URL, params, TWILIO_AUTH_TOKEN) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_r6_validation_accepts_the_genuine_signature_only():
    assert is_valid_signature(TWILIO_URL, TWILIO_PARAMS, TWILIO_AUTH_TOKEN, TWILIO_EXPECTED)
    assert not is_valid_signature(TWILIO_URL, TWILIO_PARAMS, "54321", TWILIO_EXPECTED)  # other account
    assert not is_valid_signature(TWILIO_URL + "&baz=3", TWILIO_PARAMS, TWILIO_AUTH_TOKEN, TWILIO_EXPECTED)
    tampered = [(k, "+10000000000" if k == "From" else v) for k, v in TWILIO_PARAMS]
    assert not is_valid_signature(TWILIO_URL, tampered, TWILIO_AUTH_TOKEN, TWILIO_EXPECTED)
    assert not is_valid_signature(TWILIO_URL, TWILIO_PARAMS, TWILIO_AUTH_TOKEN, None)
    assert not is_valid_signature(TWILIO_URL, TWILIO_PARAMS, TWILIO_AUTH_TOKEN, "")
    assert not is_valid_signature(TWILIO_URL, TWILIO_PARAMS, TWILIO_AUTH_TOKEN, "ünicode")
