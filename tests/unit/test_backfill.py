"""The first-release backfill (R18, issue 16; infra/backfill.py): what it plans for a stored subject,
its checkpoint, and the IAM it needs. The runs against DynamoDB are in
tests/integration/test_backfill.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.models.domain import DndEntry, DndState
from chalicelib.store.items import to_item
from chalicelib.store.suppressions import index_actions
from infra.backfill import (
    PUTS_PER_TRANSACTION,
    Backfill,
    BackfillStalled,
    Checkpoint,
    Counts,
    Tables,
    backfill_transactions,
    index_puts,
    operator_policy,
)
from tests.unit.test_iam import ROOT, required_actions, scan_sources

TABLES = Tables("optout-dev-contacts", "optout-dev-dnd", "optout-dev-audit", "optout-dev-suppressions")


def entry(reason: str, at: str = "2024-05-01T10:00:00.000000Z") -> DndEntry:
    return DndEntry(reason=reason, kind="temporary", source="user", at=at)


def contact_item(state: DndState, version: int | None = 3) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": "ws1#c1", "ws": "ws1", "contact_id": "c1", "dnd": state.model_dump(mode="json")}
    if version is not None:
        item["version"] = version
    return item


def test_r18_a_stored_subject_gets_the_index_items_the_live_path_puts():
    # Given a contact stored with two outbound reasons and an inbound one
    state = DndState(
        outbound={"sms": {"manual": entry("manual"), "crm_opt_out": entry("crm_opt_out")}},
        inbound={"manual": entry("manual")},
    )
    subject = contact_item(state)
    # When the backfill plans its index items
    puts = index_puts(TABLES.suppressions, subject)
    # Then they are the live path's Puts for adding these entries (store/suppressions.py)
    assert puts == index_actions(TABLES.suppressions, "ws1", "ws1#c1", "c1", DndState(), state)
    assert len(puts) == 3 and all(set(p) == {"Put"} for p in puts)
    # And one transaction writes them, guarded by the version read and never overwriting an index item
    [request] = backfill_transactions(TABLES.contacts, subject, puts)
    assert request[0] == {
        "ConditionCheck": {
            "TableName": TABLES.contacts,
            "Key": {"pk": {"S": "ws1#c1"}},
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": "3"}},
        }
    }
    assert [a["Put"]["ConditionExpression"] for a in request[1:]] == ["attribute_not_exists(pk)"] * 3
    assert [{**a["Put"], "ConditionExpression": None} for a in request[1:]] == [
        {**p["Put"], "ConditionExpression": None} for p in puts
    ]


def test_r18_topics_alone_need_no_index_item_and_a_subject_without_version_is_guarded_by_its_absence():
    topics_only = DndState(topics={"news": {"email": entry("unsubscribed")}})
    assert index_puts(TABLES.suppressions, contact_item(topics_only)) == []
    subject = contact_item(DndState(outbound={"email": {"manual": entry("manual")}}), version=None)
    [request] = backfill_transactions(TABLES.contacts, subject, index_puts(TABLES.suppressions, subject))
    assert (
        request[0]["ConditionCheck"]["ConditionExpression"] == "attribute_exists(pk) AND attribute_not_exists(version)"
    )


def test_r18_many_entries_are_split_into_transactions_of_at_most_100_each_guarded():
    reasons = {f"r{n}": entry(f"r{n}") for n in range(150)}
    subject = contact_item(DndState(outbound={"sms": reasons}))
    requests = backfill_transactions(TABLES.contacts, subject, index_puts(TABLES.suppressions, subject))
    assert [len(r) for r in requests] == [PUTS_PER_TRANSACTION + 1, 150 - PUTS_PER_TRANSACTION + 1]
    assert all("ConditionCheck" in r[0] and all("Put" in a for a in r[1:]) for r in requests)


def test_r18_checkpoint_resumes_an_unfinished_run_and_starts_a_finished_one_over(tmp_path: Path):
    path = tmp_path / "dev.json"
    # Given a run that saved a cursor of one segment, then stopped
    first = Checkpoint(path, TABLES, 2)
    assert not first.resumed and first.segment("contacts", 0) == {"cursor": None, "done": False}
    first.advance("contacts", 0, {"pk": {"S": "ws1#c9"}})
    first.advance("contacts", 1, None)
    # When it is started again (asking for other segments): it resumes, with the saved segmentation
    again = Checkpoint(path, TABLES, 8)
    assert again.resumed and again.segments == 2
    assert again.segment("contacts", 0) == {"cursor": {"pk": {"S": "ws1#c9"}}, "done": False}
    assert again.segment("contacts", 1)["done"] is True
    # And --restart ignores it; a finished run starts over; other tables are refused
    assert not Checkpoint(path, TABLES, 4, restart=True).resumed
    again.finish()
    fresh = Checkpoint(path, TABLES, 4)
    assert not fresh.resumed and fresh.segments == 4
    with pytest.raises(SystemExit, match="other tables"):
        Checkpoint(path, Tables("a", "b", "c", "d"), 4)


def test_r18_counts_print_numbers_only():
    counts = Counts()
    counts.add(indexed=3, scanned=10)
    assert counts.as_dict()["indexed"] == 3
    assert counts.summary().startswith("scanned 10, subjects 0, indexed 3")
    json.dumps(counts.as_dict())


def test_r18_tables_come_from_the_stack_outputs_and_a_missing_one_is_named():
    outputs = {"ContactsTable": "c", "DndTable": "d", "AuditTable": "a", "SuppressionsTable": "s", "JobsTable": "j"}
    assert Tables.from_outputs("dev", outputs) == Tables("c", "d", "a", "s")
    del outputs["SuppressionsTable"]
    with pytest.raises(SystemExit, match="SuppressionsTable"):
        Tables.from_outputs("dev", outputs)


def granted(policy: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            found.setdefault(action, set()).update(resources)
    return found


def test_r18_the_operator_policy_grants_what_the_backfill_calls_and_scan_stays_out_of_lambda():
    # What infra/backfill.py calls directly (the same static scan as test_iam) ...
    source = (ROOT / "infra" / "backfill.py").read_text(encoding="utf-8")
    needed = set(required_actions(scan_sources({"infra/backfill.py": source})))
    # ... plus what it calls through chalicelib/store/batch.py (read_all: BatchGetItem; transact_write
    # of the ConditionCheck and Put items it builds) and the stack's outputs.
    needed |= {"dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:PutItem"}
    needed |= {"cloudformation:DescribeStacks", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
    grants = granted(operator_policy("dev"))
    assert set(grants) == needed
    table = "arn:aws:dynamodb:*:*:table/optout-dev-"
    assert grants["dynamodb:Scan"] == {table + "contacts", table + "dnd", table + "audit"}
    assert grants["dynamodb:PutItem"] == {table + "suppressions"}
    assert grants["dynamodb:UpdateItem"] == {table + "audit"}
    assert grants["dynamodb:ConditionCheckItem"] == {table + "contacts", table + "dnd"}
    # And the functions' policies never get Scan
    for stage in ("dev", "prod"):
        lambda_policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text(encoding="utf-8"))
        assert "dynamodb:Scan" not in granted(lambda_policy)


def stubbed_backfill(tmp_path: Path) -> tuple[Backfill, Stubber]:
    ddb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    backfill = Backfill(ddb, TABLES, Checkpoint(tmp_path / "c.json", TABLES, 1), report=lambda _: None)
    return backfill, Stubber(ddb)


def cancelled(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": code} for code in codes]},
    )


def test_r18_a_lost_race_reads_the_subject_again_and_a_refused_write_stops_the_run(tmp_path: Path):
    subject = contact_item(DndState(outbound={"sms": {"manual": entry("manual")}}))
    puts = index_puts(TABLES.suppressions, subject)
    # Given the subject's version changed before the write, and its entry is gone when read again
    backfill, stubber = stubbed_backfill(tmp_path)
    cancelled(stubber, "ConditionalCheckFailed", "None")
    stubber.add_response("get_item", {"Item": to_item({**subject, "version": 4, "dnd": DndState().model_dump()})})
    with stubber, patch("infra.backfill.time.sleep"):
        backfill._index_subject(TABLES.contacts, subject, puts, set())
    # Then it was read again, nothing is written, and the race is counted
    stubber.assert_no_pending_responses()
    assert (backfill.counts.raced, backfill.counts.indexed) == (1, 0)
    # Given DynamoDB refuses the write for another reason: the run stops, naming it
    backfill, stubber = stubbed_backfill(tmp_path)
    cancelled(stubber, "None", "ValidationError")
    with stubber, pytest.raises(BackfillStalled, match="ValidationError"):
        backfill._index_subject(TABLES.contacts, subject, puts, set())
