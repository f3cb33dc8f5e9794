"""API keys (R18, issue 16): several keys per workspace, stored hashed, listed without the key,
revoked keys refused within one second, the last key never revoked."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from tests.integration.conftest import Api


def test_r18_create_list_and_use_several_keys(api: Api):
    # Given a workspace with its first key
    # When it issues a second key
    status, created = api.post("/v1/keys")
    # Then the new key is shown once, with its id, and works at once
    assert status == 201, created
    assert created["api_key"].startswith("oo_") and created["key_id"].startswith("key_")
    second = Api(api.client, created["api_key"])
    assert second.get("/v1/settings")[0] == 200
    # And the listing shows both keys by id and prefix, never the key itself
    status, listed = second.get("/v1/keys")
    assert status == 200
    assert len(listed["keys"]) == 2
    mine = next(k for k in listed["keys"] if k["key_id"] == created["key_id"])
    assert mine["prefix"] == created["api_key"][:8]
    assert mine["created_at"] and mine["last_used_at"]  # used just above
    assert created["api_key"] not in str(listed)


def test_r18_keys_are_stored_hashed(api: Api):
    from chalicelib.store.aws import client

    _, created = api.post("/v1/keys")
    ddb = client("dynamodb")
    table = os.environ["OPTOUT_WORKSPACES_TABLE"]
    items = ddb.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": api.workspace_id}}
    )["Items"]
    assert created["api_key"] not in str(items)
    digest = "key#" + hashlib.sha256(created["api_key"].encode()).hexdigest()
    assert "Item" in ddb.get_item(TableName=table, Key={"pk": {"S": digest}, "sk": {"S": "key"}})


def test_r18_revoked_key_is_refused_and_the_last_key_cannot_be_revoked(api: Api):
    _, created = api.post("/v1/keys")
    second = Api(api.client, created["api_key"])
    first_id = next(k["key_id"] for k in api.get("/v1/keys")[1]["keys"] if k["key_id"] != created["key_id"])
    # When the second key revokes the first
    status, _ = second.delete(f"/v1/keys/{first_id}")
    assert status == 204
    # Then the first key is refused at once on this instance
    status, body = api.get("/v1/settings")
    assert status == 401, body
    # And the remaining key cannot revoke itself: it is the last one
    status, body = second.delete(f"/v1/keys/{created['key_id']}")
    assert status == 409 and body["error"] == "last_key"
    assert second.get("/v1/settings")[0] == 200
    # And revoking an unknown key is 404
    assert second.delete("/v1/keys/key_nope")[0] == 404


def test_r18_another_instance_refuses_a_revoked_key_within_one_second(api: Api):
    from chalicelib.config import get_config
    from chalicelib.services.context import get_services
    from chalicelib.store.workspaces import ApiKeyCache, WorkspaceStore

    # Given a second instance that has just authenticated the key (its cache holds it)
    other_instance = ApiKeyCache(WorkspaceStore(get_config()), ttl=get_services().api_keys._ttl)
    _, created = api.post("/v1/keys")
    assert other_instance.workspace_for(created["api_key"]) == api.workspace_id
    # When the key is revoked through this instance
    assert api.delete(f"/v1/keys/{created['key_id']}")[0] == 204
    # Then the other instance refuses it once its at-most-one-second copy has expired
    time.sleep(1.05)
    assert other_instance.workspace_for(created["api_key"]) is None


def test_r18_last_used_is_written_at_most_once_a_minute_per_key_per_instance(api: Api, monkeypatch):
    from chalicelib.services.context import get_services

    cache = get_services().api_keys
    touches: list[str] = []
    real = cache._store.touch_api_key
    monkeypatch.setattr(cache._store, "touch_api_key", lambda *a: (touches.append(a[1]), real(*a)))
    _, created = api.post("/v1/keys")
    other = Api(api.client, created["api_key"])
    # When the new key is used many times, its cache entry expiring in between
    for _ in range(5):
        cache._entries.pop(created["api_key"], None)
        assert other.get("/v1/settings")[0] == 200
    # Then its last use was written once
    assert touches.count(created["key_id"]) == 1


@pytest.mark.parametrize("method,path", [("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/key_x")])
def test_r14_key_routes_need_a_workspace_key(api: Api, method: str, path: str):
    assert api.call(method, path, key=None)[0] == 401


def test_r14_a_workspace_cannot_revoke_or_see_another_workspaces_keys(api: Api, other_api: Api):
    _, created = other_api.post("/v1/keys")
    assert api.delete(f"/v1/keys/{created['key_id']}")[0] == 404
    assert created["key_id"] not in str(api.get("/v1/keys")[1])
    assert Api(api.client, created["api_key"]).get("/v1/settings")[0] == 200
