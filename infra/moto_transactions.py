"""moto's TransactWriteItems without copying whole tables (local stack only; never in Lambda).

moto 5.x makes a transaction undoable by ``copy.deepcopy`` of every table it touches, before the
first write. That is O(table): with 10,000 items in the audit or DND table, every opt-out on the
local stack took seconds to minutes (measured: over 30 s for one 100-item transaction on a table
of 10,000 enrollments). DynamoDB's own cost is O(items in the transaction), and so is this:

1. before moto runs the transaction, each item it names is looked up and copied (``None`` when
   absent);
2. moto runs it with ``copy.deepcopy`` of a ``Table`` made a no-op for that call only (so its own
   rollback, which swaps the copied tables back in, restores nothing);
3. if it raises (a condition failed: TransactionCanceledException; two actions on one item; a
   validation error), the copied items are put back, or removed where they did not exist, so
   nothing of the transaction remains: the same all-or-nothing result as before.

Concurrency is unchanged: moto's transactions are not isolated from other requests, so the local
stack still serialises DynamoDB requests (infra/moto_patches.py). ``install()`` is idempotent;
``uninstall()`` undoes it. Installed by ``infra.moto_patches.apply`` (version-checked), through
``prepare_moto``: the local stack's endpoint, the in-process bench, the integration tests' moto.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_state = threading.local()
_originals: dict[str, Any] = {}


class _CopyShim:
    """Stands in for the ``copy`` module inside moto.dynamodb.models: a Table is not copied while
    this thread runs a transaction; everything else is copied as before."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(value, Table) and getattr(_state, "in_transaction", False):
            return value
        return copy.deepcopy(value, memo)


def _key_of(backend: Any, action: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """(table, hash key, range key) of one transaction action, or None when moto will reject it."""
    try:
        _, operation = next(iter(action.items()))
        table = backend.get_table(operation["TableName"])
        if "Item" in operation:
            attrs = operation["Item"]
            keys = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                keys[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            keys = operation["Key"]
        hash_key, range_key = backend.get_keys_value(table, keys)
    except Exception:  # noqa: BLE001 - moto raises the proper error for a malformed action itself
        return None
    return table, hash_key, range_key


def _restore(table: Any, hash_key: Any, range_key: Any, saved: Any) -> None:
    if saved is None:
        table.delete_item(hash_key, range_key)
    elif range_key is not None:
        table.items[hash_key][range_key] = saved
    else:
        table.items[hash_key] = saved


def install() -> None:
    from moto.dynamodb import models

    if _originals:
        return
    original = models.DynamoDBBackend.transact_write_items
    _originals.update(copy=models.copy, transact_write_items=original)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for action in transact_items:
            located = _key_of(self, action)
            if located is not None:
                table, hash_key, range_key = located
                saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        _state.in_transaction = True
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):  # the earliest copy of a key wins
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            _state.in_transaction = False

    models.copy = _CopyShim()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def installed() -> bool:
    return bool(_originals)


def uninstall() -> None:
    """moto as shipped again (tests)."""
    from moto.dynamodb import models

    if _originals:
        models.copy = _originals.pop("copy")
        models.DynamoDBBackend.transact_write_items = _originals.pop("transact_write_items")  # type: ignore[method-assign]
