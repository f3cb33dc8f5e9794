"""Issue 11 point 8: POST /v1/audit/search answers what GET /v1/audit answers, with the address in the
body (out of URLs and access logs); the GET stays."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.integration.conftest import Api

EMAIL = "Search.Me@Example.com"
PHONE = "+14155550123"


@pytest.fixture()
def history(api: Api) -> Api:
    assert api.put("/v1/contacts/s1", {"email": EMAIL, "phone": PHONE})[0] == 200
    for channel, who in (("email", {"email": EMAIL}), ("sms", {"phone": PHONE})):
        body = {**who, "channel": channel, "action": "enable", "source": "user", "reason": "asked"}
        assert api.post("/v1/dnd", body)[0] == 200
    return api


@pytest.mark.parametrize("query", [{"contact_id": "s1"}, {"email": EMAIL}, {"phone": PHONE}])
def test_audit_search_by_body_equals_the_get(history: Api, query: dict[str, str]):
    # When the audit is asked by query string and by body
    get_status, by_get = history.get("/v1/audit?" + urlencode(query))
    post_status, by_post = history.post("/v1/audit/search", query)
    # Then both answer the same entries
    assert (get_status, post_status) == (200, 200), (by_get, by_post)
    assert by_post == by_get
    assert by_post["entries"], by_post


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "contact_id"),
        ({"contact_id": "s1", "email": EMAIL}, "contact_id"),
        ({"email": "not-an-address"}, "email"),
        ({"phone": 5}, "phone"),
        ({"contact_id": ".."}, "contact_id"),
        ({"contact_id": "s1", "cursor": "x"}, "cursor"),
    ],
)
def test_audit_search_refuses_bad_bodies_naming_the_field(history: Api, body: dict, field: str):
    status, answer = history.post("/v1/audit/search", body)
    assert status == 422, answer
    assert field in answer["fields"], answer


def test_audit_search_is_scoped_to_the_key_and_needs_one(history: Api, other_api: Api):
    assert history.post("/v1/audit/search", {"contact_id": "s1"}, key=None)[0] == 401
    assert other_api.post("/v1/audit/search", {"contact_id": "s1"})[0] == 404
    assert other_api.post("/v1/audit/search", {"email": EMAIL})[1] == {"entries": []}
