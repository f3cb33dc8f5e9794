"""Listing and exporting suppressions (R18): the merge of the 16 index shards into pages
(``chalicelib.store.suppressions.merge_shards``), on in-memory shards that answer Query pages as
DynamoDB does (sort-key order, Limit counted before the filter, LastEvaluatedKey while more may
follow). The same pages over DynamoDB: tests/integration/test_suppressions.py."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.store.suppressions import SHARDS, merge_shards

SHARD_NAMES = [f"ws#{n:02d}" for n in range(SHARDS)]


class Shards:
    """Each shard's items in order; a Query reads ``limit`` of them from the start key, drops those
    the filter refuses (still counted), and says where the next page starts."""

    def __init__(self, items: dict[str, list[dict[str, Any]]], keep=lambda item: True) -> None:
        self.items = {shard: sorted(found, key=lambda i: i["k"]) for shard, found in items.items()}
        self.keep = keep
        self.read = 0  # items the Queries evaluated (what DynamoDB bills)
        self.queries = 0
        self.rounds = 0

    def fetch_many(self, wanted: list[tuple[str, dict[str, Any] | None, int]]) -> list[Any]:
        self.rounds += 1
        return [self.query(*w) for w in wanted]

    def query(self, shard: str, start: dict[str, Any] | None, limit: int) -> Any:
        self.queries += 1
        assert limit >= 1
        rows = [i for i in self.items.get(shard, []) if start is None or i["k"] > start["k"]]
        read = rows[:limit]
        self.read += len(read)
        more = len(rows) > limit
        return [i for i in read if self.keep(i)], ({"k": read[-1]["k"]} if more else None)

    def everything(self, until: str | None = None) -> list[str]:
        return sorted(
            i["k"]
            for found in self.items.values()
            for i in found
            if self.keep(i) and (until is None or i["k"][: len(until)] <= until)
        )


def page_all(shards: Shards, limit: int, until: str | None = None) -> list[str]:
    """Every page from the start, as the API pages (the cursor is the last key: ``k > cursor``)."""
    seen: list[str] = []
    cursor = ""
    for _ in range(10_000):
        view = Shards({s: [i for i in found if i["k"] > cursor] for s, found in shards.items.items()}, keep=shards.keep)
        page, cursor_next = merge_shards(SHARD_NAMES, view.fetch_many, "k", until, limit)
        shards.read += view.read
        shards.queries += view.queries
        assert len(page) <= limit
        seen.extend(i["k"] for i in page)
        if cursor_next is None:
            return seen
        assert cursor_next == page[-1]["k"]
        cursor = cursor_next
    raise AssertionError("paging did not end")


def spread(count: int, rng: random.Random, shards: list[str] = SHARD_NAMES) -> dict[str, list[dict[str, Any]]]:
    items: dict[str, list[dict[str, Any]]] = {s: [] for s in SHARD_NAMES}
    for n in range(count):
        items[rng.choice(shards)].append({"k": f"2024-01-01T00:00:{n:06d}#{n}", "n": n})
    return items


@pytest.mark.parametrize("limit", [1, 7, 100, 500])
@pytest.mark.parametrize("layout", ["even", "one shard", "three shards", "empty"])
def test_r18_pages_hold_every_item_exactly_once_in_order(limit: int, layout: str):
    rng = random.Random(f"{limit}{layout}")
    count = 0 if layout == "empty" else 1_337
    chosen = {"one shard": SHARD_NAMES[5:6], "three shards": SHARD_NAMES[::7]}.get(layout, SHARD_NAMES)
    shards = Shards(spread(count, rng, chosen))
    assert page_all(shards, limit) == shards.everything()


def test_r18_a_filter_that_drops_most_items_still_pages_through_every_match():
    # Given Query pages that come back empty (the filter applies after Limit) with more to read
    shards = Shards(spread(2_000, random.Random(3)), keep=lambda item: item["n"] % 97 == 0)
    # Then every match is listed once, in order
    assert page_all(shards, 5) == shards.everything()
    assert len(shards.everything()) == 21


def test_r18_until_ends_each_shard_at_the_bound():
    shards = Shards(spread(600, random.Random(4)))
    until = "2024-01-01T00:00:000300"
    assert page_all(shards, 50, until) == shards.everything(until)
    assert len(shards.everything(until)) == 301


def test_r18_a_page_reads_about_its_own_size_not_a_page_per_shard():
    # Given 16,000 entries spread over the 16 shards (crc32 of the subject spreads them evenly)
    shards = Shards(spread(16_000, random.Random(5)))
    # When one page of 500 is read
    page, cursor = merge_shards(SHARD_NAMES, shards.fetch_many, "k", None, 500)
    # Then it holds the 500 oldest, and its Queries read well under a page per shard (16 x 500)
    assert [i["k"] for i in page] == shards.everything()[:500]
    assert cursor == page[-1]["k"]
    assert shards.read <= 2 * 500, shards.read
    assert shards.rounds <= 3


def test_r18_a_workspace_in_one_shard_needs_one_more_round_not_one_per_item():
    shards = Shards(spread(5_000, random.Random(6), SHARD_NAMES[:1]))
    page, _cursor = merge_shards(SHARD_NAMES, shards.fetch_many, "k", None, 500)
    assert [i["k"] for i in page] == shards.everything()[:500]
    assert shards.rounds == 2
    assert shards.read <= 500 + 16 * 50


def test_r18_the_last_page_has_no_cursor():
    shards = Shards(spread(30, random.Random(7)))
    page, cursor = merge_shards(SHARD_NAMES, shards.fetch_many, "k", None, 30)
    assert len(page) == 30 and cursor is None
    page, cursor = merge_shards(SHARD_NAMES, Shards(shards.items).fetch_many, "k", None, 29)
    assert len(page) == 29 and cursor == page[-1]["k"]
