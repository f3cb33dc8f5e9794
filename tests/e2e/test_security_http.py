"""Issue 11 over real HTTP on `make run` (`python -m infra.local`): hostile bodies (point 5) and what
the local stack writes to its log (point 8)."""

from __future__ import annotations

LEVELS = 100_000


def test_json_nested_100000_levels_is_400_naming_body_not_503(local_stack):
    deep = ("[" * LEVELS + "]" * LEVELS).encode()
    for method, path in [("POST", "/v1/send-check"), ("PATCH", "/v1/settings"), ("POST", "/v1/dnd")]:
        # When a body nested 100,000 deep is sent over HTTP
        response = local_stack.request(method, path, deep, key=local_stack.api_key)
        # Then 400 naming body: a client is never told to retry it
        assert response.status == 400, (path, response.status, response.body[:300])
        assert "body" in response.json()["fields"]
    # And the service is still up
    assert local_stack.request("GET", "/health").status == 200
