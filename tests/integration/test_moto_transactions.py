"""infra/moto_transactions.py: the local stack's TransactWriteItems stays all-or-nothing without
copying whole tables (a whole-table copy made every opt-out O(table) on `make run`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra import moto_transactions

# Unique per test: under a session-wide mock_aws of another suite in the same worker (integration's
# aws_env), this mock_aws shares that backend and resets nothing, so a fixed name would already exist.
TABLE = "moto-transactions-" + uuid.uuid4().hex[:8]


@pytest.fixture()
def as_shipped() -> Iterator[None]:
    """moto as shipped for the test, whatever the worker's other suites installed (integration's
    moto runs with the patch); their state is put back afterwards."""
    was_installed = moto_transactions.installed()
    moto_transactions.uninstall()
    try:
        yield
    finally:
        moto_transactions.uninstall()
        if was_installed:
            moto_transactions.install()


@pytest.fixture()
def ddb(monkeypatch: pytest.MonkeyPatch, as_shipped: None) -> Iterator[Any]:
    from moto.dynamodb.models.table import Table

    def refuse(self: Any, memo: Any) -> Any:
        raise AssertionError("a whole table was copied")

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        moto_transactions.install()
        try:
            monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            )
            for n in range(50):
                client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": f"{n:03d}"}, "v": {"N": "1"}})
            yield client
            client.delete_table(TableName=TABLE)
        finally:
            moto_transactions.uninstall()


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def put(sk: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**key(sk), "v": {"N": "9"}}}}


def bump(sk: str, condition: str = "v = :one") -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(sk),
            "UpdateExpression": "SET v = v + :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def value(client: Any, sk: str) -> str | None:
    item = client.get_item(TableName=TABLE, Key=key(sk), ConsistentRead=True).get("Item")
    return item["v"]["N"] if item else None


def test_a_transaction_applies_every_action(ddb):
    ddb.transact_write_items(
        TransactItems=[put("new"), bump("001"), {"Delete": {"TableName": TABLE, "Key": key("002")}}]
    )
    assert (value(ddb, "new"), value(ddb, "001"), value(ddb, "002")) == ("9", "2", None)


def test_a_failed_condition_leaves_nothing_of_the_transaction(ddb):
    # The put, the in-place update and the delete come before the failing condition, and the put
    # after it is applied by moto before it cancels: all of it must be undone
    with pytest.raises(ClientError) as error:
        ddb.transact_write_items(
            TransactItems=[
                put("new"),
                bump("001"),
                {"Delete": {"TableName": TABLE, "Key": key("002")}},
                bump("003", condition="v = :one AND attribute_not_exists(v)"),
                put("later"),
            ]
        )
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error.value.response["CancellationReasons"]] == [
        "None",
        "None",
        "None",
        "ConditionalCheckFailed",
        "None",
    ]
    assert (value(ddb, "new"), value(ddb, "later")) == (None, None)
    assert (value(ddb, "001"), value(ddb, "002"), value(ddb, "003")) == ("1", "1", "1")


def test_two_actions_on_one_item_are_refused_and_leave_nothing(ddb):
    with pytest.raises(ClientError) as error:
        ddb.transact_write_items(TransactItems=[put("new"), bump("001"), bump("001")])
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert (value(ddb, "new"), value(ddb, "001")) == (None, "1")


@pytest.mark.parametrize("installer", ["install", "prepare_moto"])
def test_installing_patches_moto_and_uninstall_restores_it_as_shipped(as_shipped: None, installer: str):
    """install() itself, and prepare_moto(), what `python -m infra.local.aws_endpoint` (and the bench
    and the suites' moto) runs before serving."""
    from moto.dynamodb import models

    from infra.local import aws_endpoint

    shipped = models.DynamoDBBackend.transact_write_items
    {"install": moto_transactions.install, "prepare_moto": aws_endpoint.prepare_moto}[installer]()
    try:
        assert models.DynamoDBBackend.transact_write_items is not shipped
    finally:
        moto_transactions.uninstall()
    assert models.DynamoDBBackend.transact_write_items is shipped
