"""infra/moto_patches.py: one contract per patch of moto's internals, each failing if its patch stops
doing its job; the atomicity tests also run once against stock moto (``stock``), where what stock
moto gets wrong is asserted as an expected difference (``EXPECTED``), not skipped.

(The werkzeug keep-alive handler's contract: tests/e2e/test_aws_endpoint_process.py.)
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra import moto_patches, moto_transactions

# What differs between moto as the local stack runs it and moto as shipped. Everything not named
# here (results, cancellation reasons, what is left after a failure) is the same for both.
EXPECTED = {
    # patched: a transaction copies the items it names; stock: every table it touches (O(table))
    "copies_whole_tables": {"patched": False, "stock": True},
    # patched: a request waits while a transaction runs; stock: it runs in the middle of it ...
    "isolated": {"patched": True, "stock": False},
    # ... and the failed transaction's rollback (the table copied at its start) undoes its write
    "keeps_a_concurrent_write": {"patched": True, "stock": False},
    # patched: SendMessage never counts the queue's messages; stock: every send walks them
    "send_counts_the_queue": {"patched": False, "stock": True},
    # patched: one signing certificate per subscription; stock: a new certificate for every message
    "one_cert_per_subscription": {"patched": True, "stock": False},
    # patched: an item's attributes are sized once each; stock: re-summed on every attribute (O(n²))
    "sized_once": {"patched": True, "stock": False},
    # patched: a Query sorts the candidates of its partition; stock: every item of the table
    "query_sorts_the_table": {"patched": False, "stock": True},
}
# How long a transaction waits for a concurrent request to finish, in the isolation test (patched:
# the request cannot run until the transaction ends, so this wait always runs out).
CONCURRENT_WAIT_SECONDS = 2.0


def _serialize_patch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.responses import DynamoHandler

    unpatched = getattr(DynamoHandler.call_action, "unpatched", None)
    if unpatched is not None:
        monkeypatch.setattr(DynamoHandler, "call_action", unpatched)


def _sqs_patch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs import models

    unpatched = getattr(models.SQSBackend.send_message, "unpatched", None)
    if unpatched is not None:
        monkeypatch.setattr(models.SQSBackend, "send_message", unpatched[0])
        monkeypatch.setattr(models.Queue, "attributes", unpatched[1])


def _sns_patch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sns import models

    unpatched = getattr(models.Subscription.get_post_data, "unpatched", None)
    if unpatched is not None:
        monkeypatch.setattr(models.Subscription, "get_post_data", unpatched)


def _size_patch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import dynamo_type

    unpatched = getattr(dynamo_type.Item.__init__, "unpatched", None)
    if unpatched is not None:
        monkeypatch.setattr(dynamo_type.Item, "__init__", unpatched)


def _query_patch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    unpatched = getattr(Table.query, "unpatched", None)
    if unpatched is not None:
        monkeypatch.setattr(Table, "query", unpatched[0])
        monkeypatch.setattr(Table, "all_items", unpatched[1])


@pytest.fixture(params=["patched", "stock"])
def moto_as(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto with every patch (``apply()``), or as shipped; the worker's state is put back afterwards
    (integration's moto runs patched)."""
    was_installed = moto_transactions.installed()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    if request.param == "patched":
        moto_patches.apply()
    else:
        moto_transactions.uninstall()
        _serialize_patch_off(monkeypatch)
        _sqs_patch_off(monkeypatch)
        _sns_patch_off(monkeypatch)
        _size_patch_off(monkeypatch)
        _query_patch_off(monkeypatch)
    try:
        yield request.param
    finally:
        moto_transactions.uninstall()
        if was_installed:
            moto_transactions.install()


@pytest.fixture()
def table_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the whole tables deep-copied (stock moto's transaction snapshot)."""
    from moto.dynamodb.models.table import Table

    copies: list[str] = []

    def counted_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        copies.append(self.name)
        clone = Table.__new__(Table)
        memo[id(self)] = clone
        for name, value in vars(self).items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    monkeypatch.setattr(Table, "__deepcopy__", counted_deepcopy, raising=False)
    return copies


def _create_table(client: Any, table: str, attributes: tuple[tuple[str, str], ...] = (), **options: Any) -> None:
    """A table keyed pk (hash) + sk (range), strings; ``attributes``: more (name, type) for its indexes."""
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind} for name, kind in (("pk", "S"), ("sk", "S"), *attributes)
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        **options,
    )


@pytest.fixture()
def ddb(moto_as: str, table_copies: list[str]) -> Iterator[tuple[Any, str]]:
    # Unique per test: under a session-wide mock_aws of another suite in the same worker (integration's
    # aws_env), this mock_aws shares that backend and resets nothing, so a fixed name would already exist.
    table = "moto-patches-" + uuid.uuid4().hex[:8]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(client, table)
        for n in range(50):
            client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": f"{n:03d}"}, "v": {"N": "1"}})
        table_copies.clear()
        yield client, table
        client.delete_table(TableName=table)


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def put(table: str, sk: str) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {**key(sk), "v": {"N": "9"}}}}


def bump(table: str, sk: str, condition: str = "v = :one") -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key(sk),
            "UpdateExpression": "SET v = v + :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def value(client: Any, table: str, sk: str) -> str | None:
    item = client.get_item(TableName=table, Key=key(sk), ConsistentRead=True).get("Item")
    return item["v"]["N"] if item else None


# --- infra/moto_transactions.py: all-or-nothing, without whole-table copies -------------------------


def test_a_transaction_applies_every_action(ddb, moto_as: str, table_copies: list[str]):
    client, table = ddb
    client.transact_write_items(
        TransactItems=[put(table, "new"), bump(table, "001"), {"Delete": {"TableName": table, "Key": key("002")}}]
    )
    assert (value(client, table, "new"), value(client, table, "001"), value(client, table, "002")) == ("9", "2", None)
    assert bool(table_copies) is EXPECTED["copies_whole_tables"][moto_as]


def test_a_failed_condition_leaves_nothing_of_the_transaction(ddb, moto_as: str, table_copies: list[str]):
    # The put, the in-place update and the delete come before the failing condition, and the put
    # after it is applied by moto before it cancels: all of it must be undone
    client, table = ddb
    with pytest.raises(ClientError) as error:
        client.transact_write_items(
            TransactItems=[
                put(table, "new"),
                bump(table, "001"),
                {"Delete": {"TableName": table, "Key": key("002")}},
                bump(table, "003", condition="v = :one AND attribute_not_exists(v)"),
                put(table, "later"),
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
    assert (value(client, table, "new"), value(client, table, "later")) == (None, None)
    assert (value(client, table, "001"), value(client, table, "002"), value(client, table, "003")) == ("1", "1", "1")
    assert bool(table_copies) is EXPECTED["copies_whole_tables"][moto_as]


def test_two_actions_on_one_item_are_refused_and_leave_nothing(ddb, moto_as: str):
    client, table = ddb
    with pytest.raises(ClientError) as error:
        client.transact_write_items(TransactItems=[put(table, "new"), bump(table, "001"), bump(table, "001")])
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert (value(client, table, "new"), value(client, table, "001")) == (None, "1")


# --- serialize_dynamodb_requests + moto_transactions: a concurrent write survives a rollback ---------


def test_a_write_concurrent_with_a_failing_transaction_is_kept(ddb, moto_as: str, monkeypatch: pytest.MonkeyPatch):
    """tests/e2e/test_concurrency.py found it on the threaded server: stock moto lets a request run in
    the middle of a transaction, whose rollback (the tables copied at its start) then undoes it."""
    from moto.dynamodb.models import DynamoDBBackend

    client, table = ddb
    inside, written = threading.Event(), threading.Event()
    waited: list[bool] = []
    put_item = DynamoDBBackend.put_item

    def put_item_then_let_another_request_in(self: Any, table_name: str, item_attrs: dict[str, Any], *a: Any, **k: Any):
        if item_attrs.get("sk") == {"S": "tx-first"}:  # the transaction's first write, after its snapshot
            inside.set()
            waited.append(not written.wait(CONCURRENT_WAIT_SECONDS))
        return put_item(self, table_name, item_attrs, *a, **k)

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item_then_let_another_request_in)

    def concurrent_write() -> None:
        inside.wait(30)
        boto3.client("dynamodb", region_name="us-east-1").put_item(
            TableName=table, Item={**key("concurrent"), "v": {"N": "7"}}
        )
        written.set()

    writer = threading.Thread(target=concurrent_write)
    writer.start()
    # Given a transaction that fails on its last action, and a write arriving while it runs
    with pytest.raises(ClientError) as error:
        client.transact_write_items(
            TransactItems=[put(table, "tx-first"), bump(table, "001", condition="attribute_not_exists(v)")]
        )
    writer.join(30)
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    # Then nothing of the transaction remains, and the concurrent write waited for it (patched) or
    # ran inside it and was lost to its rollback (stock)
    assert value(client, table, "tx-first") is None
    assert waited == [EXPECTED["isolated"][moto_as]]
    assert (value(client, table, "concurrent") == "7") is EXPECTED["keeps_a_concurrent_write"][moto_as]


# --- cheap_sqs_sends: SendMessage without walking the queue ------------------------------------------


def test_a_send_does_not_count_the_queue_and_fifo_deduplication_still_holds(
    moto_as: str, monkeypatch: pytest.MonkeyPatch
):
    from moto.sqs import models

    counted: list[str] = []
    approximate = models.Queue.approximate_number_of_messages

    def counting(self: Any) -> int:
        counted.append(self.name)
        return approximate.fget(self)  # type: ignore[attr-defined,no-any-return]

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        name = "moto-patches-" + uuid.uuid4().hex[:8]
        standard = sqs.create_queue(QueueName=name)["QueueUrl"]
        fifo = sqs.create_queue(
            QueueName=name + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        monkeypatch.setattr(models.Queue, "approximate_number_of_messages", property(counting))
        # When messages are sent to a standard and a FIFO queue (the same body twice there)
        for _ in range(3):
            sqs.send_message(QueueUrl=standard, MessageBody="m")
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
        # Then the sends did not count the queues (patched), content deduplication still holds, and
        # GetQueueAttributes still counts
        assert bool(counted) is EXPECTED["send_counts_the_queue"][moto_as]
        fifo_messages = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10).get("Messages", [])
        assert [m["Body"] for m in fifo_messages] == ["same"]
        attributes = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["ApproximateNumberOfMessages"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "3"


# --- one_sns_signing_cert: every delivery signed, with one certificate -------------------------------


def _string_to_sign(envelope: dict[str, Any]) -> bytes:
    """What SNS signs for a Notification (AWS: "Verifying the signatures of Amazon SNS messages")."""
    fields = (
        ["Message", "MessageId"] + (["Subject"] if "Subject" in envelope else []) + ["Timestamp", "TopicArn", "Type"]
    )
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields).encode()


def test_sns_deliveries_are_signed_and_verify_against_their_signing_cert(moto_as: str):
    import base64
    import json

    import requests
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        name = "moto-patches-" + uuid.uuid4().hex[:8]
        topic = sns.create_topic(Name=name)["TopicArn"]
        queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        # When three messages are published (one alone, two in a batch, with attributes)
        sns.publish(TopicArn=topic, Message="first")
        sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {
                    "Id": str(n),
                    "Message": f"batched {n}",
                    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "k"}},
                }
                for n in range(2)
            ],
        )
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        envelopes = [json.loads(m["Body"]) for m in received]
        # Then each envelope has SNS's fields, and its signature verifies with the certificate its
        # SigningCertURL serves
        assert sorted(e["Message"] for e in envelopes) == ["batched 0", "batched 1", "first"]
        for envelope in envelopes:
            assert {
                "Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                "SigningCertURL", "UnsubscribeURL",
            } <= set(envelope)  # fmt: skip
            assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
            assert envelope["SignatureVersion"] == "2"
            assert ("MessageAttributes" in envelope) is envelope["Message"].startswith("batched")
            cert = x509.load_pem_x509_certificate(requests.get(envelope["SigningCertURL"], timeout=5).content)
            cert.public_key().verify(  # type: ignore[union-attr,call-arg]
                base64.b64decode(envelope["Signature"]),
                _string_to_sign(envelope),
                padding.PKCS1v15(),  # type: ignore[arg-type]
                hashes.SHA256(),  # type: ignore[arg-type]
            )
            assert cert.subject.rfc4514_string() == "CN=sns.amazonaws.com"
        # And a tampered message does not verify
        tampered = {**envelopes[0], "Message": "something else"}
        cert = x509.load_pem_x509_certificate(requests.get(tampered["SigningCertURL"], timeout=5).content)
        with pytest.raises(InvalidSignature):
            cert.public_key().verify(  # type: ignore[union-attr,call-arg]
                base64.b64decode(tampered["Signature"]),
                _string_to_sign(tampered),
                padding.PKCS1v15(),  # type: ignore[arg-type]
                hashes.SHA256(),  # type: ignore[arg-type]
            )
        # And the certificate is one for the subscription (patched), or one per message (stock)
        certificates = {e["SigningCertURL"] for e in envelopes}
        assert (len(certificates) == 1) is EXPECTED["one_cert_per_subscription"][moto_as]


# --- size_items_once: the 400 KB item limit, checked once --------------------------------------------


def test_an_item_is_sized_once_and_the_size_limit_still_holds(ddb, moto_as: str, monkeypatch: pytest.MonkeyPatch):
    from moto.dynamodb.models import dynamo_type

    client, table = ddb
    sized: list[int] = []
    size = dynamo_type.DynamoType.size

    def counted(self: Any) -> int:
        sized.append(1)
        return size(self)  # type: ignore[no-any-return]

    monkeypatch.setattr(dynamo_type.DynamoType, "size", counted)
    attributes = {f"a{n:02d}": {"S": "x"} for n in range(20)}
    # When an item of 22 attributes is put
    client.put_item(TableName=table, Item={"pk": {"S": "sized"}, "sk": {"S": "1"}, **attributes})
    # Then it is stored whole, each attribute sized once (patched) or re-summed per attribute (stock)
    stored = client.get_item(TableName=table, Key={"pk": {"S": "sized"}, "sk": {"S": "1"}})["Item"]
    assert stored == {"pk": {"S": "sized"}, "sk": {"S": "1"}, **attributes}
    # (a few more sizings besides: moto also checks the key lengths)
    assert (len(sized) < 2 * 22) is EXPECTED["sized_once"][moto_as]
    # And the size limit is moto's: an item just at it is stored, one byte more is refused whole
    # (names "pk", "sk", "v" and values "p", "big": 9 bytes of the 405,000; "bigger": 3 more)
    fits = {"pk": {"S": "p"}, "sk": {"S": "big"}, "v": {"S": "x" * (405000 - 9)}}
    client.put_item(TableName=table, Item=fits)
    too_big = {"pk": {"S": "p"}, "sk": {"S": "bigger"}, "v": {"S": "x" * (405000 - 12 + 1)}}
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        client.put_item(TableName=table, Item=too_big)
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "bigger"}})
    # And BatchWriteItem's items go through the same check
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": too_big}}]})


# --- narrow_queries: a Query sorts its partition, not the table -------------------------------------


def test_queries_answer_as_moto_does_sorting_only_their_partition(moto_as: str, monkeypatch: pytest.MonkeyPatch):
    from moto.dynamodb.models.table import Table

    table = "moto-patches-" + uuid.uuid4().hex[:8]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(
            client,
            table,
            (("shard", "S"), ("due", "N")),
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "pending",  # sparse: only items with a shard and a due
                    "KeySchema": [
                        {"AttributeName": "shard", "KeyType": "HASH"},
                        {"AttributeName": "due", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]},
                }
            ],
        )
        for n in range(60):
            item = {"pk": {"S": f"p{n % 3}"}, "sk": {"S": f"{n:03d}"}, "n": {"N": str(n)}, "x": {"S": "-"}}
            if n % 4 == 0:
                item |= {"shard": {"S": f"s{n % 8}"}, "due": {"N": str(100 - n % 7)}}
            client.put_item(TableName=table, Item=item)
        all_items = Table.all_items
        sorted_sizes: list[int] = []

        def counted(self: Any) -> Any:
            found = all_items(self)
            sorted_sizes.append(len(found))
            return found

        monkeypatch.setattr(Table, "all_items", counted)

        def pages(**kwargs: Any) -> list[list[tuple[str, str, str]]]:
            """Every page of a Query: (pk, sk, n) of each item, and the last page's key."""
            answered, start = [], None
            while True:
                page = client.query(TableName=table, **kwargs, **({"ExclusiveStartKey": start} if start else {}))
                answered.append([(i["pk"]["S"], i["sk"]["S"], i.get("n", {}).get("N", "")) for i in page["Items"]])
                start = page.get("LastEvaluatedKey")
                if not start:
                    return answered

        p1 = {":p": {"S": "p1"}}
        # When the table and the sparse index are queried: a partition in pages, backwards, with a
        # range condition, a filter and a projection; an index shard in pages, forwards and backwards;
        # a partition and a shard that hold nothing
        table_pages = pages(KeyConditionExpression="pk = :p", ExpressionAttributeValues=p1, Limit=7)
        backwards = pages(KeyConditionExpression="pk = :p", ExpressionAttributeValues=p1, ScanIndexForward=False)
        ranged = pages(
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            FilterExpression="n > :n",
            ProjectionExpression="pk, sk",
            ExpressionAttributeValues={**p1, ":a": {"S": "010"}, ":b": {"S": "040"}, ":n": {"N": "20"}},
        )
        shard = {":s": {"S": "s0"}, ":d": {"N": "98"}}
        index_pages = pages(
            IndexName="pending",
            KeyConditionExpression="shard = :s AND due <= :d",
            ExpressionAttributeValues=shard,
            Limit=2,
        )
        index_backwards = pages(
            IndexName="pending",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": "s4"}},
            ScanIndexForward=False,
        )
        nothing = pages(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "none"}})
        no_shard = pages(
            IndexName="pending", KeyConditionExpression="shard = :s", ExpressionAttributeValues={":s": {"S": "s1"}}
        )
    # Then the answers are moto's (the same for patched and stock)
    in_p1 = [("p1", f"{n:03d}", str(n)) for n in range(1, 60, 3)]
    assert [row for page in table_pages for row in page] == in_p1 and [len(p) for p in table_pages] == [7, 7, 6]
    assert backwards == [in_p1[::-1]]
    assert ranged == [[("p1", f"{n:03d}", "") for n in range(22, 41, 3)]]
    s0 = sorted((100 - n % 7, n) for n in range(0, 60, 8) if 100 - n % 7 <= 98)
    assert [row for page in index_pages for row in page] == [(f"p{n % 3}", f"{n:03d}", str(n)) for _, n in s0]
    assert all(len(page) <= 2 for page in index_pages)
    s4 = sorted(((100 - n % 7, n) for n in range(4, 60, 8)), reverse=True)
    assert index_backwards == [[(f"p{n % 3}", f"{n:03d}", str(n)) for _, n in s4]]
    assert nothing == [[]] and no_shard == [[]]
    # And each Query sorted only its candidates (patched), or all 60 items of the table (stock)
    assert (max(sorted_sizes) == 60) is EXPECTED["query_sorts_the_table"][moto_as]


# --- cache_moto_request_lookups: moto still asks, and gets the cached answer -------------------------


def test_the_per_request_lookups_are_asked_once_and_answer_as_moto_does():
    import moto.backends
    import moto.core.responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import Client

    moto_patches.apply()
    modules, names = moto.backends.list_of_moto_modules, moto.core.responses.method_names_from_class
    app = Client(DomainDispatcherApplication(create_backend_app))
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    with mock_aws():
        assert app.post("/", data=b"{}", headers=headers).status_code == 200
        before = modules.cache_info().hits, names.cache_info().hits  # type: ignore[attr-defined]
        # When moto serves another request
        assert app.post("/", data=b"{}", headers=headers).status_code == 200
    # Then it asked both lookups again and was answered from the cache
    after = modules.cache_info().hits, names.cache_info().hits  # type: ignore[attr-defined]
    assert after[0] > before[0] and after[1] > before[1]
    # And the cached answers are moto's own
    assert tuple(modules()) == tuple(modules.__wrapped__())  # type: ignore[attr-defined]
    assert names(DynamoHandler) == list(names.__wrapped__(DynamoHandler))  # type: ignore[attr-defined]


# --- the version guard ---------------------------------------------------------------------------


def test_the_patches_are_written_for_the_installed_moto_and_werkzeug():
    moto_patches.check_versions()  # the pinned releases: no error


@pytest.mark.parametrize("package", ["moto", "werkzeug"])
def test_another_release_fails_loudly_before_anything_is_patched(package: str, monkeypatch: pytest.MonkeyPatch):
    real = moto_patches.installed_version
    monkeypatch.setattr(moto_patches, "installed_version", lambda name: "99.0.0" if name == package else real(name))
    with pytest.raises(moto_patches.PatchedVersionMismatch, match=f"{package} 99.0.0"):
        moto_patches.apply() if package == "moto" else moto_patches.keep_alive_handler()


@pytest.mark.parametrize("installer", ["install", "prepare_moto"])
def test_installing_patches_moto_and_uninstall_restores_it_as_shipped(installer: str):
    """install() itself, and prepare_moto(), what `python -m infra.local.aws_endpoint` (and the bench
    and the suites' moto) runs before serving."""
    from moto.dynamodb import models

    from infra.local import aws_endpoint

    was_installed = moto_transactions.installed()
    moto_transactions.uninstall()
    shipped = models.DynamoDBBackend.transact_write_items
    {"install": moto_transactions.install, "prepare_moto": aws_endpoint.prepare_moto}[installer]()
    try:
        assert models.DynamoDBBackend.transact_write_items is not shipped
    finally:
        moto_transactions.uninstall()
        assert models.DynamoDBBackend.transact_write_items is shipped
        if was_installed:
            moto_transactions.install()
