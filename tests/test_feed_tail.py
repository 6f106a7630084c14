"""The change feed's newest entries wait in the store's counters record (its *tail*).

A durable write then dirties the documents tree and the counters page, not also the
feed tree (see ``WriteCtx.feed_add``). These tests prove that the feed read through
``changes()`` and checked by ``engine.check()`` is the same wherever its entries sit:
in order, one entry per document, across the tree and the tail, through updates,
bulk loads, savepoints, several stores, long ids and files of the older format.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from rawfile import counters_records, raw_txn

import datastore_engine as dse
from datastore_engine import engine as engine_module
from datastore_engine.engine import TAIL_BYTES


def _tail_holds(rid_bytes: int) -> int:
    """How many new documents' entries with ids of ``rid_bytes`` fit in a tail: the next one moves them.

    In the tail an entry takes 10 bytes (sequence, length) and the entry: flags and
    generation (5), the revision digest (16) and the id.
    """
    return TAIL_BYTES // (10 + 21 + rid_bytes)


def _feed_tree_size(path: pathlib.Path) -> int:
    """How many entries the feed tree holds (the engine must be closed)."""
    with raw_txn(path) as (env, txn):
        return int(txn.stat(env.open_db(b"changes", txn=txn, create=False))["entries"])


def _set_format(path: pathlib.Path, marker: bytes) -> None:
    with raw_txn(path, write=True) as (env, txn):
        txn.put(b"format", marker, db=env.open_db(b"meta", txn=txn))


def _format(path: pathlib.Path) -> bytes:
    with raw_txn(path) as (env, txn):
        marker = txn.get(b"format", db=env.open_db(b"meta", txn=txn, create=False))
        assert marker is not None
        return bytes(marker)


def _feed(store: dse.Store) -> list[tuple[str, str, bool]]:
    return [(c.rid, c.rev, c.deleted) for c in store.changes()]


@pytest.fixture
def short_tail() -> Iterator[None]:
    saved = engine_module.TAIL_BYTES
    engine_module.TAIL_BYTES = 100  # two or three entries
    try:
        yield
    finally:
        engine_module.TAIL_BYTES = saved


def test_single_writes_wait_in_the_tail_and_reach_the_feed_tree_a_tail_at_a_time(tmp_path: pathlib.Path) -> None:
    moved = _tail_holds(len("d000")) + 1  # entries the tail moves to the tree at once
    writes = 2 * moved + 5
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        revs = [store.put(f"d{i:03d}", {"i": i}) for i in range(writes)]
        assert [(c.rid, c.rev) for c in store.changes()] == [(f"d{i:03d}", r) for i, r in enumerate(revs)]
        assert [c.seq for c in store.changes()] == list(range(1, writes + 1))
        assert engine.check() == []
    assert _feed_tree_size(tmp_path) == 2 * moved  # the last 5 are still in the tail


def test_updates_and_deletes_leave_one_live_entry_per_document_wherever_the_old_one_was(tmp_path: pathlib.Path) -> None:
    n = _tail_holds(len("d00")) + 5  # the first ones reach the feed tree, the last 4 stay in the tail
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(n):
            store.put(f"d{i:02d}", {"i": i})
        store.merge("d00", {"edited": True})  # its old entry is in the feed tree
        store.merge(f"d{n - 1:02d}", {"edited": True})  # its old entry is in the tail
        store.delete("d01")
        feed = list(store.changes())
        assert [c.rid for c in feed][-3:] == ["d00", f"d{n - 1:02d}", "d01"]
        assert sorted(c.rid for c in feed) == [f"d{i:02d}" for i in range(n)]
        assert [c.seq for c in feed] == sorted(c.seq for c in feed)
        assert feed[-1].deleted and store.get("d00") == {"i": 0, "edited": True}
        assert engine.check() == []
    # The first n - 4 moved to the tree. d00's and d01's old entries stay there, stale (changes()
    # skipped them above); their new ones are in the tail. d34's old entry left the tail.
    assert _feed_tree_size(tmp_path) == n - 4


def test_a_bulk_load_after_single_writes_keeps_the_feed_in_sequence_order(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(5):
            store.add({"i": i}, rid=f"single{i}")
        store.put_many({f"bulk{i:02d}": {"i": i} for i in range(20)})
        store.add({"i": 99}, rid="after")
        rids = [c.rid for c in store.changes()]
        assert rids == [f"single{i}" for i in range(5)] + [f"bulk{i:02d}" for i in range(20)] + ["after"]
        assert [c.seq for c in store.changes(since=4)] == list(range(5, 27))
        assert engine.check() == []


def test_a_rolled_back_savepoint_leaves_the_feed_as_it_was(tmp_path: pathlib.Path, short_tail: None) -> None:
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        store.put("before", {"n": 0})
        with engine.transaction():
            store.put("outer", {"n": 1})
            with pytest.raises(RuntimeError), engine.transaction():
                for i in range(7):  # past the tail's two or three entries: some reach the tree, then roll back
                    store.put(f"inner{i}", {"n": i})
                assert [c.rid for c in store.changes()][-1] == "inner6"
                raise RuntimeError("undo the inner block")
            assert [c.rid for c in store.changes()] == ["before", "outer"]
            store.put("later", {"n": 2})
        assert [c.rid for c in store.changes()] == ["before", "outer", "later"]
        assert len(store) == 3 and "inner0" not in store
        assert engine.check() == []


def test_interleaved_stores_each_keep_their_own_feed(tmp_path: pathlib.Path, short_tail: None) -> None:
    with dse.open(tmp_path) as engine:
        a, b = engine.store("a"), engine.store("b")
        for i in range(10):
            a.put(f"a{i}", {"i": i})
            b.put(f"b{i}", {"i": i})
            if i % 3 == 0:
                a.merge(f"a{i // 2}", {"touched": i})
        assert sorted(c.rid for c in a.changes()) == [f"a{i}" for i in range(10)]
        assert [c.rid for c in b.changes()] == [f"b{i}" for i in range(10)]
        assert engine.check() == []


def test_long_ids_move_the_tail_by_its_size_in_bytes(tmp_path: pathlib.Path) -> None:
    assert TAIL_BYTES == 1024  # an entry is 21 bytes and its id: three 240-byte ids fit, four do not
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        rids = [f"{i}" + "x" * 239 for i in range(5)]
        for rid in rids:
            store.put(rid, {"n": 1})
        assert [c.rid for c in store.changes()] == rids
        assert engine.check() == []
    assert _feed_tree_size(tmp_path) == 4  # moved when the fourth entry passed the byte limit


def _as_format_1(path: pathlib.Path) -> None:
    """Lay the file out as format 1 did: the counters records in a ``counters`` sub-database."""
    with raw_txn(path, write=True) as (env, txn):
        old = env.open_db(b"counters", txn=txn)
        for key, value in counters_records(txn):
            assert len(value) == 40 and value[32:] == bytes(8)  # no tail, no stale entry
            txn.put(key, value[:32], db=old)  # 32 bytes: as format 1 wrote them
            txn.delete(key)
        txn.put(b"format", b"datastore_engine/1", db=env.open_db(b"meta", txn=txn))


def _main_keys(path: pathlib.Path) -> list[bytes]:
    with raw_txn(path) as (_env, txn):
        return [bytes(k) for k, _v in txn.cursor()]


def test_a_file_of_the_previous_format_opens_and_is_upgraded(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        a, b = engine.store("a"), engine.store("b")
        a.put_many({f"d{i}": {"i": i} for i in range(3)})  # put_many leaves no tail
        b.put_many({"x": {"i": 9}})
        before = engine.stores().total, a.info.count, a.info.size
    _as_format_1(tmp_path)
    assert b"counters" in _main_keys(tmp_path)
    with dse.open(tmp_path) as engine:
        a, b = engine.store("a"), engine.store("b")
        assert (engine.stores().total, a.info.count, a.info.size) == before
        a.put("new", {"i": 3})
        assert [c.rid for c in a.changes()] == ["d0", "d1", "d2", "new"]
        assert [c.rid for c in b.changes()] == ["x"] and len(b) == 1
        assert engine.check() == []
    assert _format(tmp_path) == b"datastore_engine/3"
    assert b"counters" not in _main_keys(tmp_path)  # the format-1 sub-database is gone


def _as_format_2(path: pathlib.Path) -> None:
    """Lay the file out as format 2 did: 32 bytes of counters before the feed tail (no stale count)."""
    with raw_txn(path, write=True) as (env, txn):
        for key, value in counters_records(txn):
            assert value[32:40] == bytes(8)  # no stale entry (a format-2 feed tree held none)
            txn.put(key, value[:32] + value[40:])
        txn.put(b"format", b"datastore_engine/2", db=env.open_db(b"meta", txn=txn))


def test_a_file_of_format_2_opens_and_its_counters_records_are_widened(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        a, b = engine.store("a"), engine.store("b")
        for i in range(5):
            a.put(f"d{i}", {"i": i})  # their entries wait in the tail
        b.put_many({"x": {"i": 9}})
        before = engine.stores().total, a.info.count, a.info.size
    _as_format_2(tmp_path)
    with dse.open(tmp_path) as engine:
        a, b = engine.store("a"), engine.store("b")
        assert (engine.stores().total, a.info.count, a.info.size) == before
        assert [c.rid for c in a.changes()] == [f"d{i}" for i in range(5)]
        a.merge("d0", {"edited": True})
        assert [c.rid for c in a.changes()] == ["d1", "d2", "d3", "d4", "d0"]
        assert [c.rid for c in b.changes()] == ["x"]
        assert engine.check() == []
    assert _format(tmp_path) == b"datastore_engine/3"


def test_a_file_of_an_unknown_format_is_refused_untouched(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        engine.store("s").put("a", {"n": 1})
    _set_format(tmp_path, b"datastore_engine/9")
    with pytest.raises(dse.StorageError, match="holds format b'datastore_engine/9'"):
        dse.open(tmp_path)
    assert _format(tmp_path) == b"datastore_engine/9"


@pytest.mark.parametrize("tail", ["default", "short"])
def test_a_committed_savepoint_hands_its_feed_entries_to_the_outer_transaction(
    tmp_path: pathlib.Path, tail: str, request: pytest.FixtureRequest
) -> None:
    if tail == "short":
        request.getfixturevalue("short_tail")
    with dse.open(tmp_path) as engine:
        store, other = engine.store("s"), engine.store("other")
        store.put("before", {"n": 0})
        with engine.transaction():
            store.put("outer", {"n": 1})
            with engine.transaction():
                for i in range(5):
                    store.put(f"inner{i}", {"n": i})
                other.put("first write of this store: in the savepoint", {"n": 1})
            store.put("later", {"n": 2})
            other.put("then in the outer transaction", {"n": 2})
        inner = [f"inner{i}" for i in range(5)]
        assert [c.rid for c in store.changes()] == ["before", "outer", *inner, "later"]
        assert [c.rid for c in other.changes()] == [
            "first write of this store: in the savepoint", "then in the outer transaction"]  # fmt: skip
        assert engine.check() == []
