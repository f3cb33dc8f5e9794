"""The send-check's reads (R4, R16): contacts, address items and enrollments of one round in one
call -- a consistent GetItem for a lone contact, else BatchGetItem across the three tables
(``store.batch.batch_get``: <= 100 keys a request, the requests of a round issued together)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.config import Config
from chalicelib.models.records import CheckRecords
from chalicelib.store import keys
from chalicelib.store.batch import batch_get
from chalicelib.store.contacts import ContactStore, contact_from_item
from chalicelib.store.enrollments import enrollment_from_item
from chalicelib.store.items import to_item


class CheckRecordStore:
    def __init__(self, config: Config, contacts: ContactStore) -> None:
        self.config = config
        self._contacts = contacts

    def load_check_records(
        self,
        workspace_id: str,
        *,
        contact_ids: Sequence[str] = (),
        address_pks: Sequence[str] = (),
        enrollments: Sequence[tuple[str, str]] = (),
    ) -> CheckRecords:
        """The live contacts, address items and enrollments ((sequence_id, contact_id)) that exist."""
        found = CheckRecords()
        if len(contact_ids) == 1 and not address_pks and not enrollments:
            contact = self._contacts.get(workspace_id, contact_ids[0])  # one contact: one GetItem
            if contact is not None:
                found.contacts[contact_ids[0]] = contact
            return found
        contacts_table, dnd_table = self.config.contacts_table, self.config.dnd_table
        enrollments_table = self.config.enrollments_table
        enrollment_keys = {(keys.enrollment_pk(workspace_id, seq), cid): (seq, cid) for seq, cid in enrollments}
        wanted = {
            contacts_table: [to_item({"pk": keys.contact_pk(workspace_id, cid)}) for cid in contact_ids],
            dnd_table: [to_item({"pk": pk}) for pk in address_pks],
            enrollments_table: [to_item({"pk": pk, "sk": sk}) for pk, sk in enrollment_keys],
        }
        items = batch_get({table: table_keys for table, table_keys in wanted.items() if table_keys})
        for item in items.get(contacts_table, []):
            if not item.get("deleted"):
                found.contacts[item["contact_id"]] = contact_from_item(item)
        for item in items.get(dnd_table, []):
            found.addresses[item["pk"]] = item
        for item in items.get(enrollments_table, []):
            found.enrollments[enrollment_keys[(item["pk"], item["sk"])]] = enrollment_from_item(item)
        return found
