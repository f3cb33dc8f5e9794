"""R5, R15: unsubscribe tokens -- signed, unforgeable, never expiring, rotatable, no readable address."""

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
        contact_id="c1",
        sequence_id="seq-1",
    )
    values.update(overrides)
    return UnsubscribeClaims(**values)


def decoded_payload(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def reencode(token: str, mutate) -> str:
    kid, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    mutate(data)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{kid}.{forged}.{signature}"


def test_r5_a_signed_token_verifies_to_its_claims():
    token = sign(claims(), KEYS)
    assert verify(token, KEYS) == claims()


def test_r15_new_tokens_carry_no_expiry():
    # Given a freshly minted token
    token = sign(claims(), KEYS)
    # Then nothing in it can run out: an opt-out is never refused for age
    assert "exp" not in decoded_payload(token)


def test_r15_an_old_format_token_past_its_expiry_is_honoured():
    # Given a token minted before R15, with an "exp" claim long past (2023-11-14 + 10 s)
    old = sign(claims(expires_at=NOW + 10), KEYS)
    assert decoded_payload(old)["exp"] == NOW + 10
    # When it is verified years later (verify takes no clock at all)
    verified = verify(old, KEYS)
    # Then it is authentic and its claims are all there
    assert verified.contact_id == "c1" and verified.sequence_id == "seq-1" and verified.expires_at == NOW + 10


def test_r15_an_old_format_token_is_parsed_as_it_was_minted():
    # Given the exact payload an older release minted (w, ch, iat, exp, c, s), signed with k1
    payload = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"c": "c1", "ch": "email", "exp": 1, "iat": 0, "s": "seq-1", "w": "ws-a"}, separators=(",", ":")
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    token = f"k1.{payload}.{tokens._signature(b'first-secret-0123456789abcdef', 'k1.' + payload)}"
    # Then it verifies, with no address hashes (the contact's addresses were not carried then)
    verified = verify(token, KEYS)
    assert (verified.workspace_id, verified.contact_id, verified.sequence_id) == ("ws-a", "c1", "seq-1")
    assert verified.email_digest is None and verified.phone_digest is None


def test_r3_a_contact_token_carries_its_address_hashes_never_the_addresses():
    token = sign(claims(email_digest=DIGEST, phone_digest="cd" * 32), KEYS)
    payload = decoded_payload(token)
    assert payload["he"] == DIGEST and payload["hp"] == "cd" * 32
    assert "@" not in json.dumps(payload) and "+1" not in json.dumps(payload)
    verified = verify(token, KEYS)
    assert (verified.email_digest, verified.phone_digest) == (DIGEST, "cd" * 32)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(w="ws-b"),  # another workspace
        lambda d: d.update(c="someone-else"),  # another contact
        lambda d: d.update(iat=d["iat"] + 10**9),  # another issue time
        lambda d: d.update(he="cd" * 32),  # another address
        lambda d: d.pop("s"),  # widen a sequence link
    ],
)
def test_r5_a_tampered_payload_is_refused(mutate):
    token = reencode(sign(claims(), KEYS), mutate)
    with pytest.raises(InvalidToken):
        verify(token, KEYS)


@pytest.mark.parametrize(
    "bad",
    ["", "x", "a.b", "a.b.c.d", "k1..", "k1.e30.AAAA", "nokid.e30.AAAA", "k1.!!!.AAAA", "k1.e30." + "A" * 5000],
)
def test_r5_malformed_tokens_are_refused(bad):
    with pytest.raises(InvalidToken):
        verify(bad, KEYS)


def test_r5_a_token_signed_by_a_foreign_deployment_is_refused():
    # Given a token from a deployment with another secret under the same kid
    foreign = sign(claims(), ["k1:someone-elses-secret-0123"])
    with pytest.raises(InvalidToken):
        verify(foreign, KEYS)


def test_r5_flipping_one_signature_character_is_refused():
    token = sign(claims(), KEYS)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(InvalidToken):
        verify(flipped, KEYS)


def test_r5_rotating_keys_keeps_issued_links_working():
    # Given a link signed with k1, then a new key k2 put in front
    old_link = sign(claims(), KEYS)
    rotated = ["k2:second-secret-0123456789abcdef", *KEYS]
    # When new links are minted they use k2; the old link still verifies with k1
    new_link = sign(claims(), rotated)
    assert new_link.startswith("k2.")
    assert verify(old_link, rotated).contact_id == "c1"
    assert verify(new_link, rotated).contact_id == "c1"
    # And once k1 is retired, its links stop working
    with pytest.raises(InvalidToken):
        verify(old_link, rotated[:1])


def test_r5_an_address_token_carries_a_hash_never_the_address():
    token = sign(claims(contact_id=None, address_kind="email", address_digest=DIGEST), KEYS)
    payload = token.split(".")[1]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "@" not in decoded and DIGEST in decoded
    assert verify(token, KEYS).address_digest == DIGEST


@pytest.mark.parametrize(
    "overrides",
    [
        {"contact_id": None},  # neither recipient
        {"address_kind": "email", "address_digest": DIGEST},  # both recipients
        {"contact_id": None, "address_kind": "email", "address_digest": "jane@example.com"},  # readable address
        {"channel": "pigeon"},
        {"workspace_id": "ws/../other"},
        {"email_digest": "jane@example.com"},  # a readable address where a hash belongs
        {"contact_id": None, "address_kind": "email", "address_digest": DIGEST, "phone_digest": DIGEST},
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
