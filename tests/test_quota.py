"""Quotas: a store's max_size_mb and the document size limit, exact at the boundary."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import codec

MB = 1024 * 1024


def doc_of_size(rid: str, total: int) -> dict[str, str]:
    """A document whose id plus encoding is exactly ``total`` bytes (what a store's size counts)."""
    overhead = len(rid.encode()) + len(codec.encode({"x": ""}))
    n = total - overhead
    for _ in range(4):  # the str header grows with the length: settle it
        doc = {"x": "a" * n}
        n += total - len(rid.encode()) - len(codec.encode(doc))
    doc = {"x": "a" * n}
    assert len(rid.encode()) + len(codec.encode(doc)) == total
    return doc


def test_a_store_fills_exactly_to_its_quota_and_not_one_byte_more(
    engine: dse.Engine, snapshot: Any
) -> None:
    engine.create_store("q", max_size_mb=1)
    store = engine.store("q")
    store.put("first", doc_of_size("first", 1000))
    store.put("fill", doc_of_size("fill", MB - 1000))
    assert store.info.size == MB
    before = snapshot(engine)
    with pytest.raises(dse.LimitExceeded, match="max_size_mb") as over:
        store.put("one", {})  # 3 + 1 bytes over
    assert over.value.limit == "max_size_mb" and over.value.value == MB + 4
    with pytest.raises(dse.LimitExceeded):
        store.add({}, rid="z")
    assert snapshot(engine) == before
    assert store.info.size == MB and len(store) == 2


@pytest.mark.parametrize("how", ["put", "merge", "set_path"])
def test_growing_a_document_past_the_quota_fails_and_changes_nothing(
    engine: dse.Engine, snapshot: Any, how: str
) -> None:
    engine.create_store("q", max_size_mb=1)
    store = engine.store("q")
    store.put("d", doc_of_size("d", MB - 10))
    grows: dict[str, Callable[[int], object]] = {
        "put": lambda extra: store.put("d", {"x": "a" * (len(store.get("d")["x"]) + extra)}),
        "merge": lambda extra: store.merge("d", {"x": "a" * (len(store.get("d")["x"]) + extra)}),
        "set_path": lambda extra: store.set_path(
            "d", "x", "a" * (len(store.get("d")["x"]) + extra)
        ),
    }
    grow = grows[how]
    grow(10)  # exactly at the limit: allowed
    assert store.info.size == MB
    before = snapshot(engine)
    with pytest.raises(dse.LimitExceeded, match="max_size_mb"):
        grow(1)
    assert snapshot(engine) == before


def test_over_quota_after_lowering_it_only_shrinking_writes_pass(engine: dse.Engine) -> None:
    store = engine.store("q")
    store.put("a", doc_of_size("a", MB))
    store.put("b", doc_of_size("b", MB))
    assert (
        engine.update_store("q", max_size_mb=1).max_size_mb == 1
    )  # lowering below the size is allowed
    with pytest.raises(dse.LimitExceeded):
        store.put("c", {})
    with pytest.raises(dse.LimitExceeded):
        store.merge("a", {"more": 1})
    store.put("a", {"small": True})  # shrinks: allowed although still over
    store.delete("b")
    assert store.info.size == 1 + len(codec.encode({"small": True}))
    store.put("c", doc_of_size("c", MB - store.info.size))
    assert store.info.size == MB


def test_a_quota_raised_or_removed_applies_to_the_next_write(engine: dse.Engine) -> None:
    engine.create_store("q", max_size_mb=1)
    store = engine.store("q")
    with pytest.raises(dse.LimitExceeded):
        store.put("big", doc_of_size("big", MB + 1))
    engine.update_store("q", max_size_mb=2)
    store.put("big", doc_of_size("big", MB + 1))
    engine.update_store("q", max_size_mb=None)
    store.put("bigger", doc_of_size("bigger", 2 * MB))
    assert store.info.size == 3 * MB + 1


def test_quota_in_a_multi_store_transaction_rolls_back_all_of_it(
    engine: dse.Engine, snapshot: Any
) -> None:
    engine.create_store("a", max_size_mb=1)
    engine.create_store("b", max_size_mb=1)
    a, b = engine.store("a"), engine.store("b")
    a.put("x", {"v": 1})
    before = snapshot(engine)
    with pytest.raises(dse.LimitExceeded), engine.transaction():
        a.put("y", doc_of_size("y", 1000))
        b.put("exact", doc_of_size("exact", MB))  # exactly full: allowed
        b.put("over", {})
    assert snapshot(engine) == before
    assert (len(a), len(b), b.info.size) == (1, 0, 0)


def test_a_caught_quota_error_inside_a_transaction_wrote_nothing(engine: dse.Engine) -> None:
    engine.create_store("b", max_size_mb=1)
    a, b = engine.store("a"), engine.store("b")
    with engine.transaction():
        a.put("y", {"v": 1})
        b.put("full", doc_of_size("full", MB))
        with pytest.raises(dse.LimitExceeded):
            b.put("over", {})
        a.put("z", {"v": 2})
    assert a.keys() == ["y", "z"] and b.keys() == ["full"] and b.info.size == MB


def test_a_document_may_encode_to_exactly_16_mb_and_not_one_byte_more(
    engine: dse.Engine, snapshot: Any
) -> None:
    limit = codec.DEFAULT_MAX_BYTES
    assert limit == 16 * MB
    store = engine.store("docs")
    exact = "a" * (limit - 5)  # str32 header: 5 bytes
    assert len(codec.encode(exact)) == limit
    store.put("exact", exact)
    assert store.info.size == len("exact") + limit
    before = snapshot(engine)
    with pytest.raises(dse.LimitExceeded, match=str(limit)) as over:
        store.put("over", exact + "a")
    assert over.value.limit == "max_document_bytes"
    with pytest.raises(dse.LimitExceeded):
        store.merge("small", {"x": exact})
    assert snapshot(engine) == before


def test_size_stays_exact_through_random_writes(engine: dse.Engine) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    engine.create_store("r", max_size_mb=1)
    store = engine.store("r")
    model: dict[str, Any] = {}
    for _ in range(400):
        rid = f"k{rng.randrange(30)}"
        action = rng.choice(["put", "merge", "delete", "big"])
        try:
            if action == "put":
                store.put(rid, {"n": rng.randrange(1000), "s": "x" * rng.randrange(200)})
            elif action == "merge":
                store.merge(rid, {"m": [rng.randrange(9)] * rng.randrange(20)})
            elif action == "delete" and rid in model:
                store.delete(rid)
            elif action == "big":
                store.put(rid, {"s": "y" * rng.randrange(30_000, 90_000)})
        except dse.LimitExceeded:
            pass
        model = dict(store.items())
        expected = sum(len(k.encode()) + len(codec.encode(v)) for k, v in model.items())
        info = store.info
        assert (info.size, info.count) == (expected, len(model)), f"seed {seed}"
        assert info.size <= MB, f"seed {seed}"
