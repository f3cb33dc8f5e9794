"""``make backfill STAGE=<stage>``: put what the first release stored into the R18 indexes.

The suppression index (chalicelib/store/suppressions.py) and the audit table's ``audit_shard`` are
written with every DND change since R18; DND entries and audit entries stored before that are in
neither, so ``GET /v1/suppressions`` and exports miss them. This one-off migration, run from an
operator's machine once the stage runs the R18 code (``make deploy`` first):

1. Scans the contacts table and the DND table (parallel Scan segments) for subject items (those
   with a ``dnd`` attribute) and writes the index items of their active entries: the Puts the live
   write path makes when an entry is added (``index_actions`` from nothing to the stored state). Each
   subject's missing items go in one TransactWriteItems with a ConditionCheck on the subject's
   ``version`` as read, each Put conditional on ``attribute_not_exists(pk)``. A DND change landing
   between the read and the write bumps the version, so the write is refused; the subject is read
   again and planned again (counted ``raced``). Items already in the index are left as they are.
2. Scans the audit table for entries without ``audit_shard`` and sets it (the value the live path
   gives, ``audit_shard``), with an UpdateItem conditional on the entry existing and still lacking it.

Idempotent: a second run writes nothing. Resumable: after each page, every segment's Scan cursor is
saved to a checkpoint file (``build/backfill/<stage>.json`` by default); an interrupted run started
again resumes from it; a finished one starts over (and finds nothing to do). It prints counts only
(no keys, no addresses). Tables come from stack ``optout-<stage>``'s outputs, as ``make deploy``
finds them, or with ``--from-env`` from the ``OPTOUT_*_TABLE`` variables (e.g. the local stack).

It needs its own IAM permissions (``--print-policy``): Scan is granted to the operator, never to
the functions.

Usage: python -m infra.backfill --stage dev [--region eu-west-1] [--segments 4] [--page-size 500]
       [--checkpoint FILE] [--restart]
       python -m infra.backfill --stage dev --print-policy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from pydantic import ValidationError

from chalicelib.errors import StoreUnavailable
from chalicelib.models.domain import DndState
from chalicelib.store.batch import MAX_KEYS_PER_REQUEST, read_all, transact_write
from chalicelib.store.items import from_item, to_item, to_value
from chalicelib.store.suppressions import audit_shard, index_actions
from infra.deploy import ROOT, stack_name, stack_outputs

# A transaction holds at most 100 actions: the ConditionCheck plus 99 Puts.
PUTS_PER_TRANSACTION = 99
# Reads and plans of one subject before the run stops (live changes kept winning the race).
MAX_ATTEMPTS = 8
# Cancellation reasons of a lost race (a live change, or an index item written meanwhile); "None" is
# the code of the transaction's items that were not the cause. Any other reason stops the run.
RACE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict", "None", None})
PHASES = ("contacts", "dnd", "audit")
# Stack output of each table (infra/template.yaml Outputs).
TABLE_OUTPUTS = {
    "contacts": "ContactsTable",
    "dnd": "DndTable",
    "audit": "AuditTable",
    "suppressions": "SuppressionsTable",
}


@dataclass(frozen=True)
class Tables:
    contacts: str
    dnd: str
    audit: str
    suppressions: str

    @classmethod
    def from_outputs(cls, stage: str, outputs: dict[str, str]) -> Tables:
        missing = sorted(key for key in TABLE_OUTPUTS.values() if key not in outputs)
        if missing:
            raise SystemExit(
                f"stack {stack_name(stage)} lacks outputs {missing}: deploy this release first (make deploy)"
            )
        return cls(**{name: outputs[key] for name, key in TABLE_OUTPUTS.items()})

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Tables:
        from chalicelib.config import Config

        config = Config.from_env(env)
        return cls(config.contacts_table, config.dnd_table, config.audit_table, config.suppressions_table)


@dataclass
class Counts:
    """What a run did. Entries are DND entries (one index item each); subjects are contacts/addresses."""

    scanned: int = 0  # items read by the Scans (every table)
    subjects: int = 0  # contact and address items holding DND state
    indexed: int = 0  # index items written
    already_indexed: int = 0  # index items that were there already
    raced: int = 0  # subjects read and planned again after a live change won the race
    unreadable: int = 0  # subjects whose stored DND state does not validate (the live path refuses them too)
    audit_updated: int = 0  # audit entries given their audit_shard
    audit_already: int = 0  # audit entries that had it by the time of the update
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **changes: int) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def summary(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in self.as_dict().items())


class BackfillStalled(Exception):
    """A subject kept changing under the backfill, or DynamoDB refused a write: the run stops before
    its page is checkpointed, so that the page is read again on the next run."""


def index_puts(suppressions_table: str, subject: dict[str, Any]) -> list[dict[str, Any]]:
    """The index Puts a stored subject's active entries have: what the live write path put when each
    entry was added (chalicelib/store/suppressions.py ``index_actions``, from no entries to now)."""
    state = DndState.model_validate(subject.get("dnd") or {})
    return index_actions(suppressions_table, subject["ws"], subject["pk"], subject.get("contact_id"), DndState(), state)


def put_pk(put: dict[str, Any]) -> str:
    return str(put["Put"]["Item"]["pk"]["S"])


def subject_unchanged(subject_table: str, subject: dict[str, Any]) -> dict[str, Any]:
    """The ConditionCheck that refuses the backfill's write once the subject changed since it was read."""
    check: dict[str, Any] = {"TableName": subject_table, "Key": to_item({"pk": subject["pk"]})}
    if "version" in subject:
        check["ConditionExpression"] = "version = :v"
        check["ExpressionAttributeValues"] = {":v": to_value(subject["version"])}
    else:
        check["ConditionExpression"] = "attribute_exists(pk) AND attribute_not_exists(version)"
    return {"ConditionCheck": check}


def backfill_transactions(
    subject_table: str, subject: dict[str, Any], missing: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """TransactWriteItems requests writing the ``missing`` index Puts of ``subject``: each guarded by
    the subject's version and never overwriting an index item."""
    guarded = [{"Put": {**put["Put"], "ConditionExpression": "attribute_not_exists(pk)"}} for put in missing]
    return [
        [subject_unchanged(subject_table, subject), *guarded[start : start + PUTS_PER_TRANSACTION]]
        for start in range(0, len(guarded), PUTS_PER_TRANSACTION)
    ]


class Checkpoint:
    """Each phase's Scan cursors (one per segment), in a JSON file rewritten after every page."""

    def __init__(self, path: Path, tables: Tables, segments: int, *, restart: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        saved = None if restart or not path.exists() else json.loads(path.read_text(encoding="utf-8"))
        if saved is not None and saved.get("tables") != asdict(tables):
            raise SystemExit(f"checkpoint {path} is of other tables: pass --restart or another --checkpoint")
        self.resumed = saved is not None and not saved.get("complete")
        if not self.resumed:
            saved = {
                "tables": asdict(tables),
                "segments": segments,
                "phases": {phase: [{"cursor": None, "done": False} for _ in range(segments)] for phase in PHASES},
                "complete": False,
            }
        assert saved is not None
        self.state: dict[str, Any] = saved
        self.segments: int = saved["segments"]

    def segment(self, phase: str, segment: int) -> dict[str, Any]:
        return dict(self.state["phases"][phase][segment])

    def advance(self, phase: str, segment: int, cursor: dict[str, Any] | None) -> None:
        with self._lock:
            self.state["phases"][phase][segment] = {"cursor": cursor, "done": cursor is None}
            self._save()

    def finish(self) -> None:
        with self._lock:
            self.state["complete"] = True
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state, indent=1) + "\n", encoding="utf-8")
        temporary.replace(self.path)  # a run stopped mid-write leaves the previous checkpoint


class Backfill:
    def __init__(
        self,
        ddb: Any,
        tables: Tables,
        checkpoint: Checkpoint,
        *,
        page_size: int = 500,
        report: Callable[[str], None] = print,
    ) -> None:
        self.ddb = ddb
        self.tables = tables
        self.checkpoint = checkpoint
        self.page_size = page_size
        self.report = report
        self.counts = Counts()
        self._stopping = threading.Event()

    def run(self) -> Counts:
        if self.checkpoint.resumed:
            self.report(f"resuming from {self.checkpoint.path}")
        for phase in PHASES:
            pool = ThreadPoolExecutor(max_workers=self.checkpoint.segments, thread_name_prefix="backfill")
            try:
                futures = [pool.submit(self._scan_segment, phase, n) for n in range(self.checkpoint.segments)]
                for future in futures:
                    future.result()  # re-raises a segment's error
            except BaseException:
                self._stopping.set()  # Ctrl-C or a failed segment: the others stop after their page
                raise
            finally:
                pool.shutdown(wait=True)  # every finished page is in the checkpoint
            self.report(f"{phase}: done ({self.counts.summary()})")
        self.checkpoint.finish()
        return self.counts

    def _scan_segment(self, phase: str, segment: int) -> None:
        saved = self.checkpoint.segment(phase, segment)
        if saved["done"]:
            return
        table = getattr(self.tables, phase)
        kwargs: dict[str, Any] = {
            "TableName": table,
            "Segment": segment,
            "TotalSegments": self.checkpoint.segments,
            "Limit": self.page_size,
        }
        if phase == "audit":
            kwargs["ProjectionExpression"] = "pk, sk"
            kwargs["FilterExpression"] = "attribute_not_exists(audit_shard)"
        else:
            kwargs["ProjectionExpression"] = "pk, ws, version, dnd, contact_id"
            kwargs["FilterExpression"] = "attribute_exists(dnd) AND attribute_exists(ws)"
        cursor = saved["cursor"]
        while not self._stopping.is_set():
            if cursor:
                kwargs["ExclusiveStartKey"] = cursor
            page = self.ddb.scan(**kwargs)
            items = [from_item(raw) or {} for raw in page.get("Items", [])]
            self.counts.add(scanned=page.get("ScannedCount", 0))
            if phase == "audit":
                self._shard_audit_entries(items)
            else:
                self._index_subjects(table, items)
            cursor = page.get("LastEvaluatedKey")
            self.checkpoint.advance(phase, segment, cursor)
            if not cursor:
                return

    # --- subjects -> suppression index ---------------------------------------------------------

    def _index_subjects(self, subject_table: str, subjects: list[dict[str, Any]]) -> None:
        self.counts.add(subjects=len(subjects))
        planned = {subject["pk"]: self._plan(subject) for subject in subjects}
        present = self._indexed([put_pk(put) for puts in planned.values() for put in puts])
        for subject in subjects:
            if planned[subject["pk"]]:
                self._index_subject(subject_table, subject, planned[subject["pk"]], present)

    def _index_subject(
        self, subject_table: str, subject: dict[str, Any], puts: list[dict[str, Any]], present: set[str]
    ) -> None:
        for attempt in range(MAX_ATTEMPTS):
            missing = [put for put in puts if put_pk(put) not in present]
            written, lost = 0, False
            for request in backfill_transactions(subject_table, subject, missing):
                reasons = transact_write(self.ddb, request)
                if reasons is not None:
                    refused = {r for r in reasons if r not in RACE_REASONS}
                    if refused:
                        raise BackfillStalled(
                            f"DynamoDB refused an index write of {subject_table}: {sorted(map(str, refused))}"
                        )
                    lost = True  # the subject changed (or an index item appeared): plan again
                    break
                written += len(request) - 1
            self.counts.add(indexed=written)
            if not lost:
                self.counts.add(already_indexed=len(puts) - len(missing))
                return
            self.counts.add(raced=1)
            time.sleep(min(0.05 * 2**attempt, 2.0))
            fresh = self._read_subject(subject_table, subject["pk"])
            if fresh is None:
                return
            subject, puts = fresh, self._plan(fresh)
            present = self._indexed([put_pk(put) for put in puts])
        raise BackfillStalled(f"a subject of {subject_table} kept changing; run again to resume")

    def _plan(self, subject: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return index_puts(self.tables.suppressions, subject)
        except ValidationError:
            self.counts.add(unreadable=1)
            return []

    def _read_subject(self, subject_table: str, pk: str) -> dict[str, Any] | None:
        found = from_item(
            self.ddb.get_item(TableName=subject_table, Key=to_item({"pk": pk}), ConsistentRead=True).get("Item")
        )
        return found if found and found.get("dnd") and found.get("ws") else None

    def _indexed(self, pks: list[str]) -> set[str]:
        """Which index items exist (consistent reads)."""
        unique = list(dict.fromkeys(pks))
        found: set[str] = set()
        for start in range(0, len(unique), MAX_KEYS_PER_REQUEST):
            keys = [to_item({"pk": pk}) for pk in unique[start : start + MAX_KEYS_PER_REQUEST]]
            request = {self.tables.suppressions: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}}
            found.update(item["pk"] for item in read_all(self.ddb, request).get(self.tables.suppressions, []))
        return found

    # --- audit entries -> audit_shard ------------------------------------------------------------

    def _shard_audit_entries(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            try:
                self.ddb.update_item(
                    TableName=self.tables.audit,
                    Key=to_item({"pk": entry["pk"], "sk": entry["sk"]}),
                    UpdateExpression="SET audit_shard = :s",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(audit_shard)",
                    ExpressionAttributeValues={":s": to_value(audit_shard(entry["pk"], entry["sk"]))},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self.counts.add(audit_already=1)
            else:
                self.counts.add(audit_updated=1)


def operator_policy(stage: str) -> dict[str, Any]:
    """What the operator running the backfill needs on stage ``stage``, and no more. Not the app's:
    the functions' policies (.chalice/policy-<stage>.json) never get Scan."""

    def tables(*names: str) -> list[str]:
        return [f"arn:aws:dynamodb:*:*:table/optout-{stage}-{name}" for name in names]

    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StackOutputs",
                "Effect": "Allow",
                "Action": ["cloudformation:DescribeStacks"],
                "Resource": f"arn:aws:cloudformation:*:*:stack/{stack_name(stage)}/*",
            },
            {
                "Sid": "ScanOnce",
                "Effect": "Allow",
                "Action": ["dynamodb:Scan"],
                "Resource": tables("contacts", "dnd", "audit"),
            },
            {
                "Sid": "SubjectsUnchanged",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:ConditionCheckItem"],
                "Resource": tables("contacts", "dnd"),
            },
            {
                "Sid": "SuppressionIndex",
                "Effect": "Allow",
                "Action": ["dynamodb:BatchGetItem", "dynamodb:PutItem"],
                "Resource": tables("suppressions"),
            },
            {"Sid": "AuditShard", "Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": tables("audit")},
            {
                # dev and prod tables are encrypted with the stage's own key (infra/template.yaml TableKey).
                "Sid": "TableKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": "arn:aws:kms:*:*:key/*",
                "Condition": {
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/optout-{stage}-tables"},
                    "StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"},
                },
            },
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.backfill", description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stage", help="dev, prod: the tables of stack optout-<stage>")
    target.add_argument(
        "--from-env", action="store_true", help="the tables named by OPTOUT_*_TABLE (e.g. the local stack)"
    )
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS CLI/boto3 default)")
    parser.add_argument("--segments", type=int, default=4, help="parallel Scan segments (default 4)")
    parser.add_argument("--page-size", type=int, default=500, help="items a Scan request reads (default 500)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default build/backfill/<stage>.json")
    parser.add_argument(
        "--restart", action="store_true", help="ignore an unfinished checkpoint and scan from the start"
    )
    parser.add_argument("--print-policy", action="store_true", help="print the IAM policy the run needs; run nothing")
    args = parser.parse_args(argv)
    if args.print_policy:
        if not args.stage:
            parser.error("--print-policy needs --stage")
        print(json.dumps(operator_policy(args.stage), indent=2))
        return 0
    if not 1 <= args.segments <= 64:
        parser.error("--segments must be 1..64")
    if not 1 <= args.page_size <= 10_000:
        parser.error("--page-size must be 1..10000")

    session = boto3.session.Session(region_name=args.region)
    if args.stage:
        tables = Tables.from_outputs(args.stage, stack_outputs(session.client("cloudformation"), args.stage))
    else:
        tables = Tables.from_env(dict(os.environ))
    label = args.stage or "env"
    checkpoint = Checkpoint(
        args.checkpoint or ROOT / "build" / "backfill" / f"{label}.json", tables, args.segments, restart=args.restart
    )
    ddb = session.client("dynamodb", config=BotoConfig(retries={"mode": "adaptive", "max_attempts": 10}))
    print(f"backfill of {tables.contacts}, {tables.dnd}, {tables.audit} -> {tables.suppressions}", flush=True)
    backfill = Backfill(ddb, tables, checkpoint, page_size=args.page_size, report=lambda line: print(line, flush=True))
    try:
        counts = backfill.run()
    except (BackfillStalled, StoreUnavailable, ClientError, KeyboardInterrupt) as exc:
        message = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else str(exc) or "interrupted"
        print(f"stopped ({message}); counts so far: {backfill.counts.summary()}; run again to resume", file=sys.stderr)
        return 1
    print(json.dumps(counts.as_dict()))
    if counts.unreadable:
        print(f"{counts.unreadable} subjects hold DND state that does not validate: not indexed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
