def test_health(api):
    assert api.get("/health", key=None) == (200, {"status": "ok"})


def test_contact_roundtrip(api):
    status, body = api.put("/v1/contacts/c1", {"email": " Ann@Example.COM ", "phone": "(415) 555-2671"})
    assert status == 200, body
    assert body["email"] == "ann@example.com"
    assert body["phone"] == "+14155552671"
    assert body["dnd"]["status"] == "off"
    status, body = api.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    assert status == 200, body
    assert body["dnd"]["status"] == "partial"
    status, body = api.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})
    assert status == 200, body
    assert body["allowed"] is False
