"""Bulk jobs (JobsTable, pk=<ws>#<job_id>) and their exactly-once step markers (IdempotencyTable).

A job's counters move once per plan step (``total``) and once per batch of ~100 contacts
(``processed``/``failed``), each in one transaction with the step's marker, so a redelivered
message finds its marker and counts nothing twice.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.models.records import Job
from chalicelib.store import keys
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_item, to_value

JOB_TTL_SECONDS = 30 * 24 * 3600
MARKER_TTL_SECONDS = 15 * 24 * 3600  # longer than the queue's 4-day retention: redeliveries always find them


def _marker_id(workspace_id: str, job_id: str, step: str) -> str:
    return f"{workspace_id}#job#{job_id}#{step}"


def new_job(workspace_id: str, job_id: str, kind: str, spec: dict[str, Any], at: str) -> dict[str, Any]:
    """A job as it is created: its counters at zero, not yet planned."""
    return {
        "job_id": job_id,
        "ws": workspace_id,
        "kind": kind,
        "spec": spec,
        "created_at": at,
        "total": 0,
        "processed": 0,
        "failed": 0,
        "planned": False,
    }


def job_from_item(item: dict[str, Any]) -> Job:
    """The typed job of a stored item (the store's attribute names, ``ws`` for the workspace)."""
    return Job(
        job_id=item["job_id"],
        workspace_id=item["ws"],
        kind=item["kind"],
        spec=item.get("spec") or {},
        created_at=item["created_at"],
        total=int(item.get("total", 0)),
        processed=int(item.get("processed", 0)),
        failed=int(item.get("failed", 0)),
        unenrolled=int(item.get("unenrolled", 0)),
        planned=bool(item.get("planned")),
        started=bool(item.get("started")),
        error=item.get("error") or None,
        rejected=item.get("rejected") or [],
        rejected_count=int(item.get("rejected_count", 0)),
        imported=int(item.get("imported", 0)),
        unchanged=int(item.get("unchanged", 0)),
        s3_key=item.get("s3_key") or None,
        filename=item.get("filename") or None,
    )


class JobStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = config.jobs_table
        self.markers = config.idempotency_table
        self._ddb = client("dynamodb")

    def _key(self, workspace_id: str, job_id: str) -> dict[str, Any]:
        return to_item({"pk": keys.job_pk(workspace_id, job_id)})

    def create(
        self,
        workspace_id: str,
        job_id: str,
        kind: str,
        spec: dict[str, Any],
        at: str,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": keys.job_pk(workspace_id, job_id),
                    **new_job(workspace_id, job_id, kind, spec, at),
                    "expiration": int(time.time()) + JOB_TTL_SECONDS,
                    **(fields or {}),
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, workspace_id: str, job_id: str) -> Job | None:
        found = from_item(
            self._ddb.get_item(TableName=self.table, Key=self._key(workspace_id, job_id), ConsistentRead=True).get(
                "Item"
            )
        )
        return job_from_item(found) if found is not None else None

    def set_error(self, workspace_id: str, job_id: str, error: str) -> None:
        self._ddb.update_item(
            TableName=self.table,
            Key=self._key(workspace_id, job_id),
            UpdateExpression="SET #e = :e",
            ExpressionAttributeNames={"#e": "error"},
            ExpressionAttributeValues={":e": to_value(error)},
        )

    def set_fields(self, workspace_id: str, job_id: str, fields: dict[str, Any]) -> None:
        names = {f"#f{n}": name for n, name in enumerate(fields)}
        values = {f":f{n}": to_value(value) for n, value in enumerate(fields.values())}
        self._ddb.update_item(
            TableName=self.table,
            Key=self._key(workspace_id, job_id),
            UpdateExpression="SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_marker(self, workspace_id: str, job_id: str, step: str) -> dict[str, Any] | None:
        found = self._ddb.get_item(
            TableName=self.markers, Key=to_item({"id": _marker_id(workspace_id, job_id, step)}), ConsistentRead=True
        )
        return from_item(found.get("Item"))

    def commit_step(
        self,
        workspace_id: str,
        job_id: str,
        step: str,
        *,
        record: dict[str, Any] | None = None,
        add: dict[str, int] | None = None,
        set_fields: dict[str, Any] | None = None,
    ) -> bool:
        """Marker ``step`` + job counter changes, in one transaction. False when the marker
        already existed (the step was committed before: nothing changes)."""
        marker = {
            "id": _marker_id(workspace_id, job_id, step),
            "expiration": int(time.time()) + MARKER_TTL_SECONDS,
            **(record or {}),
        }
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses_add: list[str] = []
        clauses_set: list[str] = []
        for n, (name, amount) in enumerate((add or {}).items()):
            names[f"#a{n}"] = name
            values[f":a{n}"] = to_value(amount)
            clauses_add.append(f"#a{n} :a{n}")
        for n, (name, value) in enumerate((set_fields or {}).items()):
            names[f"#s{n}"] = name
            values[f":s{n}"] = to_value(value)
            clauses_set.append(f"#s{n} = :s{n}")
        expression = " ".join(
            part
            for part in (
                ("SET " + ", ".join(clauses_set)) if clauses_set else "",
                ("ADD " + ", ".join(clauses_add)) if clauses_add else "",
            )
            if part
        )
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.markers,
                    "Item": to_item(marker),
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            }
        ]
        if expression:
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": self._key(workspace_id, job_id),
                        "UpdateExpression": expression,
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    return False
            raise
        return True
