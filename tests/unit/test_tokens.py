"""R5: unsubscribe tokens -- signed, unforgeable, >= 60 days, rotatable, no readable address."""

from __future__ import annotations

import base64
import json

import pytest

from chalicelib.logic import tokens
from chalicelib.logic.tokens import InvalidToken, UnsubscribeClaims, sign, verify

NOW = 1_700_000_000
KEYS = ["k1:first-secret-0123456789abcdef"]
DIGEST = "ab" * 32


def claims(**overrides) -> UnsubscribeClaims:
    values = dict(
        workspace_id="ws-a",
        channel="email",
        issued_at=NOW,
        expires_at=NOW + tokens.TOKEN_LIFETIME_SECONDS,
        contact_id="c1",
        sequence_id="seq-1",
    )
    values.update(overrides)
    return UnsubscribeClaims(**values)


def reencode(token: str, mutate) -> str:
    kid, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    mutate(data)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{kid}.{forged}.{signature}"


def test_r5_a_signed_token_verifies_to_its_claims():
    token = sign(claims(), KEYS)
    assert verify(token, KEYS, NOW + 1) == claims()


def test_r5_links_stay_valid_at_least_60_days():
    assert tokens.TOKEN_LIFETIME_SECONDS >= 60 * 24 * 3600
    token = sign(claims(), KEYS)
    assert verify(token, KEYS, NOW + 60 * 24 * 3600).contact_id == "c1"


def test_r5_an_expired_token_is_refused():
    token = sign(claims(expires_at=NOW + 10), KEYS)
    with pytest.raises(InvalidToken):
        verify(token, KEYS, NOW + 10)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(w="ws-b"),  # another workspace
        lambda d: d.update(c="someone-else"),  # another contact
        lambda d: d.update(exp=d["exp"] + 10**9),  # longer life
        lambda d: d.pop("s"),  # widen a sequence link
    ],
)
def test_r5_a_tampered_payload_is_refused(mutate):
    token = reencode(sign(claims(), KEYS), mutate)
    with pytest.raises(InvalidToken):
        verify(token, KEYS, NOW)


@pytest.mark.parametrize(
    "bad",
    ["", "x", "a.b", "a.b.c.d", "k1..", "k1.e30.AAAA", "nokid.e30.AAAA", "k1.!!!.AAAA", "k1.e30." + "A" * 5000],
)
def test_r5_malformed_tokens_are_refused(bad):
    with pytest.raises(InvalidToken):
        verify(bad, KEYS, NOW)


def test_r5_a_token_signed_by_a_foreign_deployment_is_refused():
    # Given a token from a deployment with another secret under the same kid
    foreign = sign(claims(), ["k1:someone-elses-secret-0123"])
    with pytest.raises(InvalidToken):
        verify(foreign, KEYS, NOW)


def test_r5_flipping_one_signature_character_is_refused():
    token = sign(claims(), KEYS)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(InvalidToken):
        verify(flipped, KEYS, NOW)


def test_r5_rotating_keys_keeps_issued_links_working():
    # Given a link signed with k1, then a new key k2 put in front
    old_link = sign(claims(), KEYS)
    rotated = ["k2:second-secret-0123456789abcdef", *KEYS]
    # When new links are minted they use k2; the old link still verifies with k1
    new_link = sign(claims(), rotated)
    assert new_link.startswith("k2.")
    assert verify(old_link, rotated, NOW).contact_id == "c1"
    assert verify(new_link, rotated, NOW).contact_id == "c1"
    # And once k1 is retired, its links stop working
    with pytest.raises(InvalidToken):
        verify(old_link, rotated[:1], NOW)


def test_r5_an_address_token_carries_a_hash_never_the_address():
    token = sign(claims(contact_id=None, address_kind="email", address_digest=DIGEST), KEYS)
    payload = token.split(".")[1]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "@" not in decoded and DIGEST in decoded
    assert verify(token, KEYS, NOW).address_digest == DIGEST


@pytest.mark.parametrize(
    "overrides",
    [
        {"contact_id": None},  # neither recipient
        {"address_kind": "email", "address_digest": DIGEST},  # both recipients
        {"contact_id": None, "address_kind": "email", "address_digest": "jane@example.com"},  # readable address
        {"channel": "pigeon"},
        {"workspace_id": "ws/../other"},
    ],
)
def test_r5_signing_refuses_malformed_claims(overrides):
    with pytest.raises(ValueError):
        sign(claims(**overrides), KEYS)


def test_r5_token_keys_must_be_kid_and_secret():
    with pytest.raises(ValueError):
        tokens.parse_keys(["no-separator"])
    with pytest.raises(ValueError):
        tokens.parse_keys(["k1:short"])
    with pytest.raises(ValueError):
        tokens.parse_keys([])
