"""Upgrading a stage from the first release (R18, issue 16): ``python -m infra.backfill`` puts the DND
and audit entries stored before the suppression index existed into it, so listing and exports see
them; exactly once, without racing live DND changes, resumable.

"The first release's data" is made the way that release stored it: DND changes through the API, then
the suppression index items and the audit entries' ``audit_shard`` that R18 adds are taken away (the
first release wrote the same subject and audit items, without those)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.store.items import from_item, to_item
from infra.backfill import Backfill, Checkpoint, Counts, Tables, main
from tests.integration.conftest import Api, scan_table
from tests.integration.test_suppressions import JobsQueue, download, job, page_all, parse_export
from tests.integration.test_suppressions import jobs as jobs  # noqa: F401  (fixture)

PHONE = "+14155550123"


def ddb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def index_items(env: dict[str, str], workspace_id: str) -> dict[str, dict[str, Any]]:
    """The workspace's suppression index items, raw, by pk."""
    return {
        item["pk"]["S"]: item
        for item in scan_table(env["OPTOUT_SUPPRESSIONS_TABLE"])
        if item["ws"]["S"] == workspace_id
    }


def audit_items(env: dict[str, str], workspace_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (item["pk"]["S"], item["sk"]["S"]): item
        for item in scan_table(env["OPTOUT_AUDIT_TABLE"])
        if item["pk"]["S"].startswith(workspace_id + "#")
    }


def as_first_release(env: dict[str, str], workspace_id: str) -> None:
    """Take away what R18 added to the workspace's data: its index items, its audit entries' shard."""
    client = ddb()
    for pk in index_items(env, workspace_id):
        client.delete_item(TableName=env["OPTOUT_SUPPRESSIONS_TABLE"], Key=to_item({"pk": pk}))
    for pk, sk in audit_items(env, workspace_id):
        client.update_item(
            TableName=env["OPTOUT_AUDIT_TABLE"],
            Key=to_item({"pk": pk, "sk": sk}),
            UpdateExpression="REMOVE audit_shard",
        )


def run_backfill(env: dict[str, str], checkpoint: Path, backfill: type[Backfill] = Backfill) -> Counts:
    tables = Tables.from_env(env)
    return backfill(ddb(), tables, Checkpoint(checkpoint, tables, 3), page_size=10_000, report=lambda _: None).run()


def dnd(api: Api, action: str = "enable", **body: str) -> None:
    body.setdefault("source", "user")
    status, answer = api.post("/v1/dnd", {"action": action, **body})
    assert status == 200, answer


def old_release_data(api: Api) -> None:
    """Address-level entries (a contact's DND is stored on its address for the channel), inbound, two
    reasons on one channel, a cleared one, and a contact-level entry (c3 has no phone)."""
    assert api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": PHONE})[0] == 200
    assert api.put("/v1/contacts/c2", {"email": "bob@example.com"})[0] == 200
    assert api.put("/v1/contacts/c3", {"email": "cy@example.com"})[0] == 200
    dnd(api, contact_id="c1", channel="sms")
    dnd(api, contact_id="c1", channel="sms", source="workflow", reason="sequence rule")
    dnd(api, contact_id="c1", channel="sms", direction="inbound")
    dnd(api, email="ann@example.com", channel="email", reason="asked at the desk")
    dnd(api, phone=PHONE, channel="call")
    dnd(api, contact_id="c2", channel="email")
    dnd(api, "disable", contact_id="c2", channel="email")
    dnd(api, contact_id="c3", channel="sms", source="crm")


def export(api: Api, jobs: JobsQueue, kind: str) -> list[dict[str, Any]]:
    status, accepted = api.post("/v1/exports", {"kind": kind, "format": "ndjson"})
    assert status == 202, accepted
    jobs.drain()
    done = job(api, accepted["job_id"])
    assert done["status"] == "done", done
    return parse_export(download(done["download_url"]), "ndjson")


def test_r18_backfill_indexes_first_release_entries_exactly_as_the_live_path(
    api: Api, aws_env: dict[str, str], jobs: JobsQueue, tmp_path: Path
):
    # Given DND and audit entries as the live path (R18) writes them ...
    old_release_data(api)
    live_index, live_audit = index_items(aws_env, api.workspace_id), audit_items(aws_env, api.workspace_id)  # type: ignore[attr-defined]
    live_listing = page_all(api, "", 100)
    assert len(live_index) == len(live_listing) == 6
    assert len(live_audit) == 8 and all("audit_shard" in item for item in live_audit.values())
    # ... stored instead as the first release stored them: listing and exports miss them all
    as_first_release(aws_env, api.workspace_id)  # type: ignore[attr-defined]
    assert page_all(api, "", 100) == []
    assert export(api, jobs, "audit") == []

    # When the backfill runs
    first = run_backfill(aws_env, tmp_path / "first.json")

    # Then it wrote exactly the items the live path writes, and the audit shards it gives
    assert index_items(aws_env, api.workspace_id) == live_index  # type: ignore[attr-defined]
    assert audit_items(aws_env, api.workspace_id) == live_audit  # type: ignore[attr-defined]
    assert first.indexed >= 6 and first.audit_updated >= 8 and first.subjects >= 4
    # And every entry is listed exactly once, and exported
    listed = page_all(api, "", 2)
    assert listed == live_listing
    assert len({s["suppression_id"] for s in listed}) == 6
    assert Counter(s["channel"] for s in listed) == {"sms": 3, "all": 1, "call": 1, "email": 1}
    assert [s["channel"] for s in listed if s["direction"] == "inbound"] == ["all"]
    assert sorted(s["reason"] for s in listed if s["channel"] == "sms") == ["crm_opt_out", "manual", "sequence rule"]
    assert next(s for s in listed if s["source"] == "crm")["contact_ids"] == ["c3"]
    exported = export(api, jobs, "suppressions")
    assert len(exported) == 6
    assert sorted(row["reason"] for row in exported) == sorted(s["reason"] for s in listed)
    assert next(r for r in exported if r["reason"] == "asked at the desk")["email"] == "ann@example.com"
    audit_rows = export(api, jobs, "audit")
    assert len(audit_rows) == 8
    assert sorted(r["action"] for r in audit_rows) == ["disabled"] + ["enabled"] * 7

    # When it runs a second time (a fresh scan)
    second = run_backfill(aws_env, tmp_path / "second.json")
    # Then it changes nothing
    assert (second.indexed, second.audit_updated, second.raced) == (0, 0, 0)
    assert second.already_indexed >= 6 and second.subjects == first.subjects
    assert index_items(aws_env, api.workspace_id) == live_index  # type: ignore[attr-defined]
    assert page_all(api, "", 100) == live_listing


class LiveChangeBetweenReadAndWrite(Backfill):
    """Makes one live DND change through the API right after the backfill read a subject of the
    workspace (``prefix``: the tests' workspaces hold one subject each), before it writes."""

    changes: list[Callable[[], None]] = []  # the change to make (one)
    prefix = ""

    def _indexed(self, pks: list[str]) -> set[str]:
        present = super()._indexed(pks)
        if self.changes and any(pk.startswith(self.prefix) for pk in pks):
            self.changes.pop()()
        return present


def test_r18_an_entry_removed_between_read_and_write_is_not_indexed(api: Api, aws_env: dict[str, str], tmp_path: Path):
    # Given a first-release contact-level sms entry (the contact has no phone: it is the subject)
    workspace_id = api.workspace_id  # type: ignore[attr-defined]
    assert api.put("/v1/contacts/c1", {"email": "ann@example.com"})[0] == 200
    dnd(api, contact_id="c1", channel="sms")
    as_first_release(aws_env, workspace_id)
    # When the entry is cleared live after the backfill read the contact, before its write
    LiveChangeBetweenReadAndWrite.prefix = workspace_id + "#"
    LiveChangeBetweenReadAndWrite.changes[:] = [lambda: dnd(api, "disable", contact_id="c1", channel="sms")]
    counts = run_backfill(aws_env, tmp_path / "race.json", LiveChangeBetweenReadAndWrite)
    # Then the live change won, the backfill read the contact again, and nothing is indexed for it
    assert LiveChangeBetweenReadAndWrite.changes == []
    assert counts.raced == 1
    assert index_items(aws_env, workspace_id) == {}
    assert page_all(api, "", 100) == []
    contact = from_item(
        ddb().get_item(TableName=aws_env["OPTOUT_CONTACTS_TABLE"], Key=to_item({"pk": f"{workspace_id}#c1"}))["Item"]
    )
    assert contact is not None and not contact["dnd"]["outbound"].get("sms")


def test_r18_an_entry_added_between_read_and_write_is_listed_with_the_old_one_once_each(
    api: Api, aws_env: dict[str, str], tmp_path: Path
):
    # Given a first-release sms entry on a phone address
    workspace_id = api.workspace_id  # type: ignore[attr-defined]
    dnd(api, phone=PHONE, channel="sms")
    as_first_release(aws_env, workspace_id)
    # When a second entry is added live (and indexed by the live path) between the read and the write
    LiveChangeBetweenReadAndWrite.prefix = workspace_id + "#"
    LiveChangeBetweenReadAndWrite.changes[:] = [
        lambda: dnd(api, phone=PHONE, channel="sms", source="workflow", reason="sequence rule")
    ]
    counts = run_backfill(aws_env, tmp_path / "race.json", LiveChangeBetweenReadAndWrite)
    # Then the backfill lost the race, planned again and indexed the old entry; each is listed once
    assert LiveChangeBetweenReadAndWrite.changes == []
    assert counts.raced == 1
    listed = page_all(api, "", 100)
    assert sorted(s["reason"] for s in listed) == ["manual", "sequence rule"]
    assert len(index_items(aws_env, workspace_id)) == 2


class StopsAtTheAuditTable(Backfill):
    def _shard_audit_entries(self, entries: list[dict[str, Any]]) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C


def test_r18_an_interrupted_backfill_resumes_from_its_checkpoint(
    api: Api, aws_env: dict[str, str], jobs: JobsQueue, tmp_path: Path
):
    # Given first-release data, and a backfill stopped once it reached the audit table
    old_release_data(api)
    live_index, live_audit = index_items(aws_env, api.workspace_id), audit_items(aws_env, api.workspace_id)  # type: ignore[attr-defined]
    as_first_release(aws_env, api.workspace_id)  # type: ignore[attr-defined]
    checkpoint = tmp_path / "backfill.json"
    with pytest.raises(KeyboardInterrupt):
        run_backfill(aws_env, checkpoint, StopsAtTheAuditTable)
    saved = json.loads(checkpoint.read_text())
    assert all(s["done"] for phase in ("contacts", "dnd") for s in saved["phases"][phase])
    assert not any(s["done"] for s in saved["phases"]["audit"]) and not saved["complete"]
    assert index_items(aws_env, api.workspace_id) == live_index  # type: ignore[attr-defined]
    # When it runs again with the same checkpoint
    resumed = run_backfill(aws_env, checkpoint)
    # Then it goes on from the audit table (the subjects are not read again) and finishes
    assert resumed.subjects == 0 and resumed.indexed == 0
    assert resumed.audit_updated >= 8
    assert audit_items(aws_env, api.workspace_id) == live_audit  # type: ignore[attr-defined]
    assert json.loads(checkpoint.read_text())["complete"] is True
    assert len(export(api, jobs, "audit")) == 8


def test_r18_backfill_command_reads_the_stack_and_prints_counts_only(
    api: Api, aws_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # Given first-release data in the stage deployed as stack optout-test
    old_release_data(api)
    as_first_release(aws_env, api.workspace_id)  # type: ignore[attr-defined]
    # When the operator runs the command for that stage
    argv = ["--stage", "test", "--region", "us-east-1", "--segments", "2", "--page-size", "10000"]
    argv += ["--checkpoint", str(tmp_path / "c.json")]
    assert main(argv) == 0
    # Then the entries are listed, and the output is counts and table names: no address, no contact id
    assert len(page_all(api, "", 100)) == 6
    out = capsys.readouterr().out
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["indexed"] >= 6 and counts["audit_updated"] >= 8
    for personal in ("ann@example.com", "bob@example.com", PHONE, PHONE[1:], api.workspace_id + "#c1"):  # type: ignore[attr-defined]
        assert personal not in out
    # And a second run finds nothing left to do
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["indexed"], again["audit_updated"]) == (0, 0)
