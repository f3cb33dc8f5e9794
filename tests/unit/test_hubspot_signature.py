"""Issue 11.9: HubSpot's v3 request signature as its guide describes it: base64 HMAC-SHA256 with the
app secret over method + URI + body + timestamp, the URI with the escapes of its table decoded, and a
timestamp no older than 5 minutes."""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.crm.hubspot import hubspot_signature, hubspot_signature_matches, hubspot_uri

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
BODY = b'[{"eventId":1,"objectId":123,"propertyName":"hs_email_optout","propertyValue":"true"}]'
NOW = 1_738_314_000_000


def reference(method: str, uri: str, body: bytes, timestamp: str) -> str:
    # HubSpot's Python SDK (hubspot.utils.signature, v3): f"{method}{uri}{body}{timestamp}", HMAC, base64
    source = f"{method}{uri}{body.decode()}{timestamp}"
    return base64.b64encode(hmac.new(SECRET.encode(), source.encode(), hashlib.sha256).digest()).decode()


def test_issue11_signature_is_hubspots_v3():
    assert hubspot_signature(SECRET, "POST", URI, BODY, str(NOW)) == reference("POST", URI, BODY, str(NOW))


def test_issue11_uri_escapes_of_hubspots_table_are_decoded_others_kept():
    assert hubspot_uri("https://h.example/a%3Ab%2fc%3F%40%21%24%27%28%29%2A%2C%3B?q=%20x") == (
        "https://h.example/a:b/c?@!$'()*,;?q=%20x"
    )
    encoded = "https://h.example/v1/webhooks/crm/hubspot/acme%3Aeu%40x"
    good = reference("POST", "https://h.example/v1/webhooks/crm/hubspot/acme:eu@x", BODY, str(NOW))
    assert hubspot_signature_matches(SECRET, "POST", encoded, BODY, str(NOW), good, NOW)


def test_issue11_timestamp_window_is_five_minutes_either_way():
    for age_ms, ok in ((0, True), (299_000, True), (301_000, False), (-299_000, True), (-301_000, False)):
        stamp = str(NOW - age_ms)
        given = reference("POST", URI, BODY, stamp)
        assert hubspot_signature_matches(SECRET, "POST", URI, BODY, stamp, given, NOW) is ok, age_ms


def test_issue11_anything_else_fails():
    good = reference("POST", URI, BODY, str(NOW))
    assert not hubspot_signature_matches("other", "POST", URI, BODY, str(NOW), good, NOW)
    assert not hubspot_signature_matches(SECRET, "PUT", URI, BODY, str(NOW), good, NOW)
    assert not hubspot_signature_matches(SECRET, "POST", URI + "x", BODY, str(NOW), good, NOW)
    assert not hubspot_signature_matches(SECRET, "POST", URI, BODY + b" ", str(NOW), good, NOW)
    for stamp in (None, "", "1e12", "-5", "9" * 40):
        assert not hubspot_signature_matches(SECRET, "POST", URI, BODY, stamp, good, NOW)
    assert not hubspot_signature_matches(SECRET, "POST", URI, BODY, str(NOW), None, NOW)
