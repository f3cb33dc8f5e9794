"""Request bodies that once were checked field by field (issue 12) keep their refusals as models:
the same 422, error code, field names and wording (R14: a bad body names its field)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.models.requests import (
    MAX_BATCH,
    AuditSearchBody,
    RequestBody,
    SendCheckBatchBody,
    UnsubscribeLinkBody,
    parse,
)


def refusal(model: type[RequestBody], body: Any) -> tuple[str, dict[str, str]]:
    with pytest.raises(InvalidInput) as refused:
        parse(model, body)
    assert refused.value.status == 422 and refused.value.code == "validation_error"
    return refused.value.message, refused.value.fields


@pytest.mark.parametrize(
    ("checks", "message", "reason"),
    [
        ("x", "checks must be a list", "required list of send-check bodies"),
        ([], f"1 to {MAX_BATCH} checks per batch", f"1 to {MAX_BATCH} items"),
        ([{}] * (MAX_BATCH + 1), f"1 to {MAX_BATCH} checks per batch", f"1 to {MAX_BATCH} items"),
    ],
)
def test_r4_a_batch_is_1_to_max_checks(checks: Any, message: str, reason: str):
    assert refusal(SendCheckBatchBody, {"checks": checks}) == (message, {"checks": reason})


def test_r4_each_check_of_a_batch_is_left_to_the_service_which_names_it_by_index():
    # Given checks that are not even objects / When the batch is parsed / Then they pass as they came
    # (the service refuses checks[1] as "must be an object", not a pydantic path checks.1)
    assert parse(SendCheckBatchBody, {"checks": [{"channel": "email"}, 5], "other": 1}).checks == [
        {"channel": "email"},
        5,
    ]


def test_r5_a_link_is_for_a_contact_or_an_email_never_a_phone():
    assert refusal(UnsubscribeLinkBody, {"phone": "+14155550123", "channel": "sms"}) == (
        "unsubscribe links are for a contact or an email address",
        {"phone": "use contact_id or email"},
    )
    assert parse(UnsubscribeLinkBody, {"email": "a@example.com", "phone": ""}).channel == "email"


@pytest.mark.parametrize("sequence_id", ["has space", "..", 7, ""])
def test_r5_a_link_names_a_bad_sequence_id(sequence_id: Any):
    message, fields = refusal(UnsubscribeLinkBody, {"contact_id": "c1", "sequence_id": sequence_id})
    assert (message, fields) == ("invalid sequence_id", {"sequence_id": "1-128 of A-Z a-z 0-9 _ . : @ + -"})


def test_r5_a_link_names_a_bad_channel():
    assert set(refusal(UnsubscribeLinkBody, {"contact_id": "c1", "channel": "fax"})[1]) == {"channel"}


def test_audit_search_refuses_other_fields_and_leaves_which_one_to_the_shared_rule():
    assert set(refusal(AuditSearchBody, {"contact_id": "s1", "cursor": "x"})[1]) == {"cursor"}
    # Exactly-one is parse_target's rule, the same for GET /v1/audit: empty values count as absent there
    assert parse(AuditSearchBody, {"contact_id": "", "email": "a@example.com"}).email == "a@example.com"
