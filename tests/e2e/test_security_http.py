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


def test_the_access_log_holds_no_address_or_token(local_stack):
    """Point 8: request lines of GET /v1/audit?email=… / ?phone=… and /u/<token> are logged masked."""
    from urllib.parse import quote

    email, phone = "Access.Logged@Example.com", "+14155550142"
    key = local_stack.api_key
    assert local_stack.request("PUT", "/v1/contacts/acc-1", {"email": email, "phone": phone}, key=key).status == 200
    link = local_stack.request("POST", "/v1/unsubscribe-links", {"contact_id": "acc-1"}, key=key).json()["url"]
    token = link.rsplit("/u/", 1)[1]
    # When addresses travel in query strings (encoded and not) and the token in the path
    for query in (f"email={quote(email)}", f"phone={quote(phone)}", f"email={email}", f"phone={phone}"):
        assert local_stack.request("GET", f"/v1/audit?{query}", key=key).status == 200, query
    assert local_stack.request("POST", "/v1/audit/search", {"email": email}, key=key).status == 200
    assert local_stack.request("GET", f"/u/{token}").status == 200
    one_click = b"List-Unsubscribe=One-Click"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert local_stack.request("POST", f"/u/{token}", one_click, headers=headers).status == 200
    # Then the access log has those requests, masked
    output = local_stack.output()
    assert '"GET /v1/audit?email=<address> HTTP/1.1" 200' in output
    assert '"GET /v1/audit?phone=<address> HTTP/1.1" 200' in output
    assert '"GET /u/<token> HTTP/1.1" 200' in output and '"POST /u/<token> HTTP/1.1" 200' in output
    # And no form of the address or the token appears anywhere in what the stack wrote
    for secret in (email, email.lower(), quote(email), quote(email).lower(), phone, quote(phone), phone[2:], token):
        assert secret not in output, secret
    assert token.split(".")[1] not in output
