"""``Store.add``'s fast lane: a lone insert in a bare LMDB transaction.

The lane takes stores without a structure or a unique index; a document's index
entries go in with it.

``_Env.solo_write`` runs ``Store._insert_alone`` without the general write path's
layers (no ``WriteCtx``, no queue). These tests prove that what it writes is what
the general path writes (document, revision, counters, feed, ``check()``), that it
is really taken, and that everything it must not do alone (an existing id, a
quota, a unique index, a second value at a single-valued index, a structure, a
password, a transaction, a stale catalog, an LMDB error, an interrupt) reaches
the general path, which raises its usual typed error
and leaves stored data as it was.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import lmdb
import pytest
from threadkit import wait_until

import datastore_engine as dse
from datastore_engine import changes
from datastore_engine import engine as engine_module


@pytest.fixture
def engine(tmp_path: pathlib.Path) -> Iterator[dse.Engine]:
    with dse.open(tmp_path / "db") as opened:
        yield opened


def _no_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any, fn: Any) -> Any:
        raise AssertionError("the general write path was taken")

    monkeypatch.setattr(engine_module._Env, "run_write", refuse)


def _one_shot(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> list[int]:
    """Make the next ``changes.first_revision_fast`` call raise ``exc``; later calls work. Returns the call count."""
    calls: list[int] = []
    real = changes.first_revision_fast

    def first_revision(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise exc
        return real(*args)

    monkeypatch.setattr(changes, "first_revision_fast", first_revision)
    return calls


def test_a_plain_add_commits_through_the_lane_alone(engine: dse.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = engine.store("s")
    _no_general_path(monkeypatch)
    assert store.add({"n": 1}, rid="a") == "a"
    assert store.add({"n": 2}, rid="b") == "b"
    assert store.get("a") == {"n": 1} and store.get("b") == {"n": 2}
    assert store.info.count == 2
    assert [(c.rid, c.seq) for c in store.changes()] == [("a", 1), ("b", 2)]
    assert engine.check() == []


def test_the_lane_writes_what_the_general_path_writes(tmp_path: pathlib.Path) -> None:
    docs = [(f"d{i:03d}", {"i": i, "tags": ["x"] * (i % 3), "nested": {"k": str(i)}}) for i in range(60)]
    seen = []
    for lane in (True, False):
        with dse.open(tmp_path / str(lane)) as engine:
            store = engine.store("s")
            for rid, doc in docs:
                if lane:
                    store.add(doc, rid=rid)
                else:
                    with engine.transaction():  # inside a transaction: the general path
                        store.add(doc, rid=rid)
            info = store.info
            seen.append((
                [(rid, store.get(rid, with_rev=True)) for rid, _ in docs],
                [(c.rid, c.rev, c.seq, c.deleted) for c in store.changes()],
                (info.count, info.size),
            ))  # fmt: skip
            assert engine.check() == []
    assert seen[0] == seen[1]


def test_the_lane_moves_a_full_feed_tail_to_the_feed_tree(engine: dse.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "TAIL_BYTES", 100)  # two or three entries
    store = engine.store("s")
    _no_general_path(monkeypatch)
    for i in range(25):
        store.add({"i": i}, rid=f"d{i:02d}")
    assert [c.rid for c in store.changes()] == [f"d{i:02d}" for i in range(25)]
    assert [c.seq for c in store.changes(since=20)] == [21, 22, 23, 24, 25]
    assert engine.check() == []


def test_writes_of_the_general_path_between_lane_inserts_are_counted(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.add({"n": 1}, rid="a")
    store.add({"n": 2}, rid="b")  # follows the lane's own commit: its counters come from that commit
    store.put("b", {"n": 3})  # the general path: an update, counters and feed change
    store.add({"n": 4}, rid="c")  # must read the counters record again
    engine.store("s").add({"n": 5}, rid="d")  # another handle's lane commit
    store.add({"n": 6}, rid="e")
    assert store.info.count == 5 and [c.rid for c in store.changes()] == ["a", "b", "c", "d", "e"]
    assert [c.seq for c in store.changes()] == [1, 3, 4, 5, 6]
    assert engine.check() == []


def test_an_existing_id_raises_duplicate_key_and_keeps_the_stored_document(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.add({"v": 1}, rid="a")
    rev = store.rev("a")
    with pytest.raises(dse.DuplicateKey, match="'a' already exists"):
        store.add({"v": 2}, rid="a")
    assert store.get("a") == {"v": 1} and store.rev("a") == rev
    assert [c.rid for c in store.changes()] == ["a"] and store.info.count == 1
    assert engine.check() == []


def test_an_id_whose_document_was_deleted_is_added_again_as_its_next_revision(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.add({"v": 1}, rid="a")
    store.delete("a")
    store.add({"v": 2}, rid="a")
    assert store.get("a") == {"v": 2} and store.rev("a").startswith("3-")
    assert [(c.rid, c.deleted) for c in store.changes()] == [("a", False)]
    assert engine.check() == []


def test_an_add_past_the_quota_is_refused_and_writes_nothing(engine: dse.Engine) -> None:
    engine.create_store("q", max_size_mb=1)
    store = engine.store("q")
    store.add({"blob": "x" * 600_000}, rid="a")
    with pytest.raises(dse.LimitExceeded, match="max_size_mb"):
        store.add({"blob": "y" * 600_000}, rid="b")
    assert store.get("b", None) is None and store.info.count == 1
    assert [c.rid for c in store.changes()] == ["a"]


def test_an_add_to_an_indexed_store_makes_its_index_entry(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.create_index("email")
    store.add({"email": "a@x"}, rid="a")
    assert [rid for rid, _ in store.find('email eq "a@x"').items] == ["a"]


def test_an_add_to_an_indexed_store_commits_through_the_lane_with_its_entries(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = engine.store("s")
    store.create_index("email")
    store.create_index("age")
    store.add({"email": "a@x", "age": 30}, rid="a")  # the catalog changed: the general path reloads it
    with monkeypatch.context() as patch:
        _no_general_path(patch)
        store.add({"email": "b@x", "age": [31]}, rid="b")  # a one-element list: one value
        store.add({"name": "no indexed field"}, rid="c")
    assert [rid for rid, _ in store.find('email eq "b@x"').items] == ["b"]
    assert [rid for rid, _ in store.find("age ge 30").items] == ["a", "b"]
    assert store.info.count == 3
    assert engine.check() == []  # exactly the entries the documents call for


def test_a_second_value_at_a_single_valued_index_goes_to_the_general_path(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = engine.store("s")
    store.create_index("age")
    store.add({"age": 50}, rid="one")
    with monkeypatch.context() as patch:
        _no_general_path(patch)
        with pytest.raises(AssertionError, match="general write path was taken"):
            store.add({"age": [50, 10]}, rid="two")  # the lane declines: nothing of it stays
    assert "two" not in store and store.info.count == 1 and engine.check() == []
    store.add({"age": [50, 10]}, rid="two")  # the general path writes it and marks the index multi-valued
    # 50 >= 40 and 10 <= 41 match through different elements: no single bounded range.
    assert [rid for rid, _ in store.find("age ge 40 and age le 41").items] == ["two"]
    with monkeypatch.context() as patch:
        _no_general_path(patch)
        store.add({"age": [1, 2]}, rid="three")  # multi-valued now: the lane takes it
    assert [rid for rid, _ in store.find("age eq 2").items] == ["three"]
    assert engine.check() == []


def test_a_unique_index_keeps_adds_on_the_general_path(engine: dse.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = engine.store("s")
    store.create_index("email", unique=True)
    store.add({"email": "a@x"}, rid="a")
    with pytest.raises(dse.DuplicateKey, match="unique index"):
        store.add({"email": "a@x"}, rid="b")
    _no_general_path(monkeypatch)
    with pytest.raises(AssertionError, match="general write path was taken"):
        store.add({"email": "c@x"}, rid="c")


def test_an_index_made_through_another_handle_is_kept_by_the_next_add(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.add({"email": "a@x"}, rid="a")  # this handle has seen the catalog without indexes
    engine.store("s").create_index("email")
    store.add({"email": "b@x"}, rid="b")  # its state is stale: the lane declines, the general path reloads
    assert [rid for rid, _ in store.find('email eq "b@x"').items] == ["b"]
    assert engine.check() == []


def test_an_index_made_by_another_process_is_kept_by_the_next_add(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "db"
    with dse.open(path) as engine:
        store = engine.store("s")
        store.add({"email": "a@x"}, rid="a")
        store.add({"email": "b@x"}, rid="b")  # follows the lane's own commit: no catalog read
        code = f"import datastore_engine as dse; e = dse.open({str(path)!r}); e.store('s').create_index('email'); e.close()"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
        store.add({"email": "c@x"}, rid="c")  # another process committed in between: the lane reads, declines
        assert [rid for rid, _ in store.find('email eq "c@x"').items] == ["c"]
        assert engine.check() == []


def test_an_add_to_a_store_bound_to_a_structure_is_checked(engine: dse.Engine) -> None:
    structure = engine.create_structure("people", [{"name": "age", "type": "number"}], strict=True)
    engine.create_store("p", structure=structure)
    store = engine.store("p")
    with pytest.raises(dse.StructureViolation):
        store.add({"age": "old"}, rid="a")
    assert store.get("a", None) is None and store.info.count == 0


def test_an_add_with_a_password_protects_the_document(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.add({"secret": 1}, rid="p", password="pw")
    with pytest.raises(dse.Forbidden):
        store.get("p")
    assert store.get("p", password="pw") == {"secret": 1}


def test_an_add_to_a_dropped_store_raises_not_found(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.add({"v": 1}, rid="a")
    engine.drop_store("s", confirmed=True)
    with pytest.raises(dse.NotFound):
        store.add({"v": 2}, rid="b")


def test_an_add_inside_a_transaction_is_rolled_back_with_it(engine: dse.Engine) -> None:
    store = engine.store("s")
    with pytest.raises(RuntimeError), engine.transaction():
        store.add({"v": 1}, rid="a")
        raise RuntimeError("roll back")
    assert store.get("a", None) is None and list(store.changes()) == []


def test_an_add_inside_a_snapshot_is_refused(engine: dse.Engine) -> None:
    store = engine.store("s")
    with engine.snapshot(), pytest.raises(dse.ValidationError, match="read-only"):
        store.add({"v": 1}, rid="a")
    assert store.get("a", None) is None


def test_an_add_to_a_closed_engine_raises_engine_closed(tmp_path: pathlib.Path) -> None:
    engine = dse.open(tmp_path)
    store = engine.store("s")
    engine.close()
    with pytest.raises(dse.EngineClosed):
        store.add({"v": 1}, rid="a")


def test_an_lmdb_error_in_the_lane_hands_the_write_to_the_general_path_once(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = engine.store("s")
    calls = _one_shot(monkeypatch, lmdb.MapFullError("map full"))
    store.add({"v": 1}, rid="a")
    assert len(calls) == 2  # the lane's attempt (aborted), then the general path's
    assert store.get("a") == {"v": 1} and store.info.count == 1
    assert [c.rid for c in store.changes()] == ["a"]
    assert engine.check() == []


def test_an_interrupt_in_the_lane_aborts_it_and_the_engine_writes_on(engine: dse.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = engine.store("s")
    _one_shot(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        store.add({"v": 1}, rid="a")
    assert store.get("a", None) is None and store.info.count == 0
    env = store._env
    assert not env._leader and not env._marks  # the lead and the gate were let go
    store.add({"v": 2}, rid="b")  # another write neither waits for a lead nor for the gate
    assert store.get("b") == {"v": 2} and engine.check() == []


def test_a_map_that_fills_grows_and_every_add_lands(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path, map_size=1 << 20) as engine:
        store = engine.store("s")
        for i in range(400):
            store.add({"i": i, "pad": "z" * 500}, rid=f"d{i:03d}")
        assert store.info.count == 400
        assert [c.rid for c in store.changes()][-1] == "d399"
        assert engine.check() == []


def test_a_lane_add_wakes_a_waiting_watcher_without_its_poll_timer(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datastore_engine import watch

    store = engine.store("s")
    _no_general_path(monkeypatch)
    # With a one-minute poll, only the lane's notify can end the wait within the join below.
    monkeypatch.setattr(watch, "POLL_MIN", 60.0)
    monkeypatch.setattr(watch, "POLL_MAX", 60.0)
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(watch.wait_for_change(store, 0, timeout=120)))
    thread.start()
    wait_until(lambda: store._env.watching > 0 or not thread.is_alive())  # counted before it waits
    store.add({}, rid="a")
    thread.join(20)
    assert not thread.is_alive() and woke == [True]


def test_threads_adding_at_once_lose_nothing(engine: dse.Engine) -> None:
    store = engine.store("s")

    def work(t: int) -> None:
        for i in range(100):
            store.add({"t": t, "i": i}, rid=f"t{t}-{i:03d}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.info.count == 400
    assert [c.seq for c in store.changes()] == list(range(1, 401))
    assert engine.check() == []
