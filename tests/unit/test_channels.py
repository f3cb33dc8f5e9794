"""#12: one list of channels. Every place that validates or enumerates channels derives from the
``Channel`` Literal (and, for what an address covers, from CHANNEL_ADDRESS), so adding a channel is
one word there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

from chalicelib.logic.suppression_import import parse_import
from chalicelib.logic.tokens import UnsubscribeClaims, sign, verify
from chalicelib.models.domain import CHANNEL_ADDRESS, CHANNELS, Channel, ChannelOrAll, address_channels


def test_channels_are_the_literal_in_its_order() -> None:
    # Given the Channel Literal, When CHANNELS and the request Literal are read, Then they are its words
    assert get_args(Channel) == CHANNELS
    assert get_args(ChannelOrAll) == (*CHANNELS, "all")


def test_address_channels_follow_the_mapping() -> None:
    # Given CHANNEL_ADDRESS, When the channels of an address kind are asked, Then they are the mapped ones
    assert address_channels("email") == ("email",)
    assert address_channels("phone") == ("sms", "call", "whatsapp")
    assert set(address_channels("email") + address_channels("phone")) == set(CHANNEL_ADDRESS)


def test_every_channel_signs_and_verifies_in_a_token() -> None:
    # Given a link for each channel (R5), When it is verified, Then the channel is accepted
    keys = ["k1:" + "s" * 32]
    for channel in CHANNELS:
        claims = UnsubscribeClaims(workspace_id="ws", channel=channel, issued_at=1, contact_id="c1")
        assert verify(sign(claims, keys), keys).channel == channel


def test_an_import_of_all_covers_the_address_channels() -> None:
    # Given an import row of a phone with channel all (R18), When parsed, Then it covers the phone's channels
    parsed = parse_import(b"phone,channel\n+14155550100,all\n", "text/csv", "US", datetime(2026, 1, 1, tzinfo=UTC))
    assert parsed.rows[0].channels == address_channels("phone")
