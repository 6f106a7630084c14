"""A document's previous feed entry, once in the feed tree, stays there *stale* until a sweep.

An update retires the document's previous change. Deleting that entry from the feed
tree dirtied a leaf anywhere in the tree on every update (see ``WriteCtx.feed_drop``);
now it stays, the store's counters record counts it, readers skip it, and the commit
sweeps the store's tree once its stale entries outnumber ``STALE_SWEEP`` and its
documents. These tests prove that ``changes()`` and ``engine.check()`` see one entry
per document whatever the tree holds, that the sweep keeps the tree bounded, and that
``check()`` notices a stale count that disagrees with the tree.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Iterator

import pytest
from rawfile import counters_records, raw_txn

import datastore_engine as dse
from datastore_engine import engine as engine_module

pytestmark = pytest.mark.usefixtures("short_tail")


@pytest.fixture
def short_tail() -> Iterator[None]:
    saved = engine_module.TAIL_BYTES
    engine_module.TAIL_BYTES = 64  # one or two entries: the rest are in the feed tree
    try:
        yield
    finally:
        engine_module.TAIL_BYTES = saved


def _tree(path: pathlib.Path) -> list[tuple[int, bytes]]:
    """The feed tree's (sequence, document id) pairs (the engine must be closed)."""
    with raw_txn(path) as (env, txn):
        db = env.open_db(b"changes", txn=txn, create=False)
        return [(int.from_bytes(k[8:], "big"), bytes(v[21:])) for k, v in txn.cursor(db=db)]


def _stale_count(path: pathlib.Path) -> list[int]:
    """Each store's stale count from its counters record (bytes 32-40)."""
    with raw_txn(path) as (_env, txn):
        return [int.from_bytes(value[32:40], "big") for _key, value in counters_records(txn)]


def test_an_update_leaves_the_old_tree_entry_stale_and_changes_skips_it(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(10):
            store.put(f"d{i}", {"i": i, "v": 0})
        for i in (2, 5, 7):
            store.merge(f"d{i}", {"v": 1})
        store.delete("d3")
        feed = list(store.changes())
        assert [c.rid for c in feed] == ["d0", "d1", "d4", "d6", "d8", "d9", "d2", "d5", "d7", "d3"]
        assert [c.seq for c in feed] == [1, 2, 5, 7, 9, 10, 11, 12, 13, 14]
        assert feed[-1].deleted and [c.rev for c in feed[6:9]] == [store.rev(r) for r in ("d2", "d5", "d7")]
        assert [c.rid for c in store.changes(since=9)] == ["d9", "d2", "d5", "d7", "d3"]
        assert [c.rid for c in store.changes(since=3, limit=2)] == ["d4", "d6"]
        with_docs = dict((c.rid, doc) for c, doc in store.changes(include_docs=True))
        assert with_docs["d2"] == {"i": 2, "v": 1} and with_docs["d3"] is None
        assert engine.check() == []
    tree = _tree(tmp_path)
    assert (3, b"d2") in tree and (4, b"d3") in tree  # still there, stale
    assert _stale_count(tmp_path) == [sum(1 for seq, rid in tree if seq in (3, 4, 6, 8))]


def test_a_sweep_empties_the_tree_of_stale_entries_once_they_outnumber_the_documents(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "STALE_SWEEP", 8)
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(5):
            store.put(f"d{i}", {"n": 0})
        for n in range(1, 41):
            store.merge(f"d{n % 5}", {"n": n})
            assert engine.check() == []
            assert sorted(c.rid for c in store.changes()) == [f"d{i}" for i in range(5)]
        assert {c.rid: store.get(c.rid)["n"] for c in store.changes()} == {f"d{i}": 35 + i if i else 40 for i in range(5)}
    tree = _tree(tmp_path)
    (stale,) = _stale_count(tmp_path)
    assert stale <= 8 and len(tree) <= 5 + 8  # never more than the sweep's bound
    assert len({rid for _seq, rid in tree}) == 5


def test_a_rolled_back_update_adds_no_stale_entry(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(6):
            store.put(f"d{i}", {"i": i})
        with pytest.raises(RuntimeError), engine.transaction():
            store.merge("d0", {"x": 1})
            raise RuntimeError("roll back")
        with engine.transaction():
            with pytest.raises(RuntimeError), engine.transaction():  # a savepoint rolled back alone
                store.delete("d1")
                raise RuntimeError("roll back")
            store.merge("d2", {"x": 2})
        assert engine.check() == []
        assert [c.rid for c in store.changes()][-1] == "d2"
    assert _stale_count(tmp_path) == [1]


def test_replicated_revisions_retire_entries_the_same_way(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(6):
            store.put(f"d{i}", {"i": i})
        first = store.rev("d0")
        store.put_revision("d0", {"i": "theirs"}, history=["2-" + "a" * 32, first])
        store.put_revision("d0", {"i": "other"}, history=["2-" + "b" * 32, first])  # a conflict
        store.delete("d0")  # the losing leaf wins now
        assert [c.rid for c in store.changes()].count("d0") == 1
        assert engine.check() == []


def test_check_reports_a_stale_count_the_tree_does_not_hold(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        for i in range(6):
            store.put(f"d{i}", {"i": i})
        store.merge("d0", {"x": 1})
    with raw_txn(tmp_path, write=True) as (_env, txn):
        ((key, raw),) = counters_records(txn)
        assert int.from_bytes(raw[32:40], "big") == 1
        txn.put(key, raw[:32] + (5).to_bytes(8, "big") + raw[40:])
    with dse.open(tmp_path) as engine:
        problems = engine.check()
        assert any("counters say 5 stale feed entries, the feed tree holds 1" in p for p in problems), problems
        assert [c.rid for c in engine.store("s").changes()] == ["d1", "d2", "d3", "d4", "d5", "d0"]


def test_a_damaged_counters_record_is_reported_by_changes(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path) as engine:
        engine.store("s").put("a", {"n": 1})
    with raw_txn(tmp_path, write=True) as (_env, txn):
        ((key, _raw),) = counters_records(txn)
        txn.put(key, bytes(20))  # cut inside the counters
    with dse.open(tmp_path) as engine, pytest.raises(dse.CorruptData, match="counters record of store 's'"):
        list(engine.store("s").changes())


class _Steps:
    """Records each sweep step a commit runs: where it started, how many it deleted, where it stopped."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[bytes, bytes | None, int, bytes | None]] = []
        real = engine_module.sweep_feed

        def step(txn: object, dbs: dict[str, object], sid: bytes, **kw: object) -> tuple[int, bytes | None]:
            deleted, after = real(txn, dbs, sid, **kw)  # type: ignore[arg-type]
            assert kw["limit"] == engine_module.SWEEP_STEP
            self.calls.append((sid, kw["start"], deleted, after))  # type: ignore[arg-type]
            return deleted, after

        monkeypatch.setattr(engine_module, "sweep_feed", step)


def _sweeping(monkeypatch: pytest.MonkeyPatch, *, threshold: int, step: int) -> _Steps:
    """Sweep once stale entries pass ``threshold`` (and the documents), ``step`` entries a commit."""
    monkeypatch.setattr(engine_module, "STALE_SWEEP", threshold)
    monkeypatch.setattr(engine_module, "SWEEP_STEP", step)
    return _Steps(monkeypatch)


def _five_documents(engine: dse.Engine) -> dse.Store:
    store = engine.store("s")
    for i in range(5):
        store.put(f"d{i}", {"n": 0})
    return store


def _one_change_each(store: dse.Store) -> bool:
    return sorted(c.rid for c in store.changes()) == [f"d{i}" for i in range(5)]


def test_a_sweep_pass_goes_on_across_commits_a_bounded_step_each(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _sweeping(monkeypatch, threshold=8, step=3)
    with dse.open(tmp_path) as engine:
        store = _five_documents(engine)
        for n in range(1, 61):
            store.merge(f"d{n % 5}", {"n": n})
            assert engine.check() == []
            assert _one_change_each(store)
    calls = steps.calls
    assert len(calls) > 6 and all(deleted <= 3 for _sid, _start, deleted, _after in calls)
    passes = sum(1 for _sid, start, _deleted, _after in calls if start is None)
    assert passes >= 2
    for (_s, _st, _d, after), (_s2, start, _d2, _a2) in itertools.pairwise(calls):
        assert start == after  # each step starts where the one before stopped; None starts a pass
    tree = _tree(tmp_path)
    (stale,) = _stale_count(tmp_path)
    # check() proved the count exact after every commit; bounded by the threshold plus what a pass
    # lets in (one update a step): 60 stale entries without sweeps.
    assert stale <= 8 + 8 and len(tree) <= 5 + 8 + 8


def test_a_pass_cut_by_a_reopen_starts_over_and_counts_stay_exact(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _sweeping(monkeypatch, threshold=8, step=2)
    with dse.open(tmp_path) as engine:
        store = _five_documents(engine)
        for n in range(1, 200):
            store.merge(f"d{n % 5}", {"n": n})
            if steps.calls and steps.calls[-1][3] is not None:
                break  # a pass stopped halfway
        else:
            pytest.fail("no sweep pass stopped halfway")
    cut = len(steps.calls)
    with dse.open(tmp_path) as engine:
        store = engine.store("s")
        assert engine.check() == []
        for m in range(30):
            store.merge(f"d{m % 5}", {"m": m})
            assert engine.check() == []
        assert _one_change_each(store)
    # The reopened engine knew nothing of the cut pass: it began a new one from the first entry
    # once the stale entries passed the threshold again.
    assert len(steps.calls) > cut + 3 and steps.calls[cut][1] is None


def test_stores_sweep_apart_in_one_transaction(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = _sweeping(monkeypatch, threshold=4, step=2)
    with dse.open(tmp_path) as engine:
        a, b = engine.store("a"), engine.store("b")
        for i in range(3):
            a.put(f"d{i}", {"n": 0})
            b.put(f"d{i}", {"n": 0})
        for n in range(1, 40):
            with engine.transaction():
                a.merge(f"d{n % 3}", {"n": n})
                if n % 2:
                    b.merge(f"d{n % 3}", {"n": n})
            assert engine.check() == []
        assert [sorted(c.rid for c in s.changes()) for s in (a, b)] == [["d0", "d1", "d2"]] * 2
        assert {s.get("d1")["n"] for s in (a, b)} == {37}
    sids = {sid for sid, *_rest in steps.calls}
    assert len(sids) == 2
    for sid in sids:
        mine = [(start, after) for s, start, _d, after in steps.calls if s == sid]
        assert all(start == prev_after for (_p, prev_after), (start, _a) in itertools.pairwise(mine))
    assert max(_stale_count(tmp_path)) <= 4 + 4 and len(_tree(tmp_path)) <= 6 + 2 * (4 + 4)
