"""Contacts table: personal data, contact-level DND, GSI keys for address/company lookups."""

from __future__ import annotations

from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import NotFound
from chalicelib.models.records import Contact
from chalicelib.store import keys
from chalicelib.store.aws import client
from chalicelib.store.batch import batch_get, query_index
from chalicelib.store.items import from_item, to_item, to_value

PERSONAL_FIELDS = (
    "email",
    "phone",
    "company_domain",
    "attributes",
    "email_key",
    "phone_key",
    "company_key",
    "crm_key",
)
MAX_CONTACTS_PER_CRM_ID = 10
# A workspace with at most this many contacts: a batch's contact lookup reads them all in one Query.
WORKSPACE_CONTACTS_AT_ONCE = 1000
# What Contact names, and the keys the store derives (the item key, the workspace and the company
# and CRM index keys): the rest of an item goes to Contact.extra.
_CONTACT_ATTRIBUTES = frozenset(
    (
        "pk",
        "ws",
        "contact_id",
        "email",
        "phone",
        "company_domain",
        "attributes",
        "dnd",
        "version",
        "email_key",
        "phone_key",
        "company_key",
        "crm_key",
        "created_at",
        "updated_at",
        "deleted",
    )
)


def contact_from_item(item: dict[str, Any]) -> Contact:
    """The typed contact of a stored item (or a tombstone); the workspace is ``ws``, else the key's prefix."""
    get = item.get
    return Contact(
        contact_id=item["contact_id"],
        workspace_id=get("ws") or item["pk"].partition("#")[0],
        email=get("email"),
        phone=get("phone"),
        company_domain=get("company_domain"),
        attributes=get("attributes") or {},
        dnd=get("dnd") or {},
        version=int(get("version") or 0),
        email_key=get("email_key"),
        phone_key=get("phone_key"),
        created_at=get("created_at"),
        updated_at=get("updated_at"),
        deleted=bool(get("deleted")),
        extra={k: v for k, v in item.items() if k not in _CONTACT_ATTRIBUTES},
    )


class ContactStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = config.contacts_table
        self._ddb = client("dynamodb")

    def key(self, workspace_id: str, contact_id: str) -> dict[str, Any]:
        return to_item({"pk": keys.contact_pk(workspace_id, contact_id)})

    def get(self, workspace_id: str, contact_id: str) -> Contact | None:
        """The live contact, or None when unknown or deleted (consistent read)."""
        contact = self.get_raw(workspace_id, contact_id)
        return None if contact is None or contact.deleted else contact

    def get_raw(self, workspace_id: str, contact_id: str) -> Contact | None:
        """The contact, or its tombstone once erased (``deleted``), or None when unknown."""
        found = self._ddb.get_item(TableName=self.table, Key=self.key(workspace_id, contact_id), ConsistentRead=True)
        item = from_item(found.get("Item"))
        return None if item is None else contact_from_item(item)

    def get_many(self, workspace_id: str, contact_ids: list[str]) -> dict[str, Contact]:
        """The live ones of these contacts, by id (BatchGetItem, consistent)."""
        if not contact_ids:
            return {}
        found = batch_get({self.table: [self.key(workspace_id, cid) for cid in contact_ids]})
        return {
            item["contact_id"]: contact_from_item(item) for item in found.get(self.table, []) if not item.get("deleted")
        }

    def put(self, workspace_id: str, contact_id: str, fields: dict[str, Any], now: str) -> Contact:
        """Replace the contact's personal fields; DND and version survive (a PUT is not a reset)."""
        sets = {"ws": workspace_id, "contact_id": contact_id, "updated_at": now}
        sets.update({k: v for k, v in fields.items() if v not in (None, {}, "")})
        removes = [k for k in PERSONAL_FIELDS if k not in sets] + ["deleted"]
        names = {f"#{k}": k for k in sets}
        names.update({f"#{k}": k for k in removes})
        values = {f":{k}": to_value(v) for k, v in sets.items()}
        values[":one"] = to_value(1)
        values[":zero"] = to_value(0)
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
        expression += ", created_at = if_not_exists(created_at, :updated_at)"
        expression += ", version = if_not_exists(version, :zero) + :one"
        expression += " REMOVE " + ", ".join(f"#{k}" for k in removes)
        result = self._ddb.update_item(
            TableName=self.table,
            Key=self.key(workspace_id, contact_id),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return contact_from_item(from_item(result["Attributes"]) or {})

    def erase(self, workspace_id: str, contact_id: str, now: str) -> None:
        """Erase personal data; keep a tombstone with contact-level DND (R3)."""
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=self.key(workspace_id, contact_id),
                UpdateExpression="SET deleted = :t, updated_at = :now, version = version + :one REMOVE "
                + ", ".join(f"#{k}" for k in PERSONAL_FIELDS),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deleted)",
                ExpressionAttributeNames={f"#{k}": k for k in PERSONAL_FIELDS},
                ExpressionAttributeValues={":t": to_value(True), ":now": to_value(now), ":one": to_value(1)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"contact {contact_id} not found", fields={"contact_id": "not found"}) from None
            raise

    def contact_ids_with_address(self, address_pk: str, kind: str) -> list[str]:
        """Contacts currently holding an address (GSI, eventually consistent)."""
        index, attribute = ("by_email", "email_key") if kind == "email" else ("by_phone", "phone_key")
        items = query_index(self._ddb, self.table, index, attribute, address_pk)
        return [item["contact_id"] for item in islice(items, 1000)]

    def contact_ids_with_addresses(self, workspace_id: str, addresses: dict[str, str]) -> dict[str, list[str]]:
        """Contacts holding each address (address pk -> ``email``/``phone``), for a batch of changes.
        A workspace with at most WORKSPACE_CONTACTS_AT_ONCE contacts (or as many as the batch has
        addresses) is answered by one Query of its contacts (by_workspace, ids and address keys only:
        ~200 bytes each, so 1,000 cost about what 25 one-address Queries do, in one request).
        Otherwise one Query per address (by_email / by_phone), a few at a time."""
        if not addresses:
            return {}
        page = self._ddb.query(
            TableName=self.table,
            IndexName="by_workspace",
            KeyConditionExpression="#w = :w",
            ProjectionExpression="contact_id, email_key, phone_key",
            ExpressionAttributeNames={"#w": "ws"},
            ExpressionAttributeValues={":w": to_value(workspace_id)},
            Limit=max(len(addresses), WORKSPACE_CONTACTS_AT_ONCE),
        )
        if "LastEvaluatedKey" not in page:  # every contact of the workspace is in hand
            found: dict[str, list[str]] = {pk: [] for pk in addresses}
            for item in page.get("Items", []):
                for attribute in ("email_key", "phone_key"):
                    holders = found.get((item.get(attribute) or {}).get("S", ""))
                    if holders is not None:
                        holders.append(item["contact_id"]["S"])
            return found
        from concurrent.futures import ThreadPoolExecutor

        pks = list(addresses)
        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(lambda pk: self.contact_ids_with_address(pk, addresses[pk]), pks))
        return dict(zip(pks, ids, strict=True))

    def contact_ids_with_crm_id(self, workspace_id: str, crm_id: str) -> list[str]:
        """Contacts linked to a CRM record (attributes.crm_id; GSI by_crm_id, one Query)."""
        found = self._ddb.query(
            TableName=self.table,
            IndexName="by_crm_id",
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": "crm_key"},
            ExpressionAttributeValues={":k": to_value(keys.crm_key(workspace_id, crm_id))},
            Limit=MAX_CONTACTS_PER_CRM_ID,
        )
        return [item["contact_id"]["S"] for item in found.get("Items", [])]
