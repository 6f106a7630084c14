"""Engine lifecycle, domains, transactions, map growth, threads, processes and fork."""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from threadkit import run_threads, wait_until

import datastore_engine as dse
from datastore_engine.keys import rid_bytes


def test_everything_written_is_there_after_close_and_reopen(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path / "db") as eng:
        s = eng.store("s")
        for i in range(100):
            s.put(f"k{i}", {"i": i, "nested": {"l": [i, str(i)]}})
        s.merge("k1", {"extra": True})
        s.delete("k2")
        eng.store("org", domain="organization").put("o", {"x": 1})
    with dse.open(tmp_path / "db") as eng:
        s = eng.store("s")
        assert len(s) == 99
        assert s.get("k1") == {"i": 1, "nested": {"l": [1, "1"]}, "extra": True}
        assert "k2" not in s
        assert eng.store("org", domain="organization").get("o") == {"x": 1}


def test_paths_may_be_str_or_pathlike(tmp_path: pathlib.Path) -> None:
    with dse.open(str(tmp_path / "a")) as eng:
        eng.store("s").put("x", {})
    with dse.open(tmp_path / "a") as eng:
        assert "x" in eng.store("s")


def test_open_temporary_deletes_its_directory_on_close() -> None:
    eng = dse.open_temporary()
    path = eng.path
    eng.store("s").put("x", {"y": 1})
    assert os.path.isdir(path)
    eng.close()
    assert not os.path.exists(path)


def test_domains_scope_stores_by_app_and_org(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared"
    with dse.open(path, app="a1", org="o1") as e1, dse.open(path, app="a2", org="o1") as e2, \
            dse.open(path, app="a3", org="o2") as e3:  # fmt: skip
        e1.store("cfg").put("k", {"owner": "a1"})
        e2.store("cfg").put("k", {"owner": "a2"})
        e1.store("team", domain="organization").put("k", {"org": "o1"})
        e3.store("team", domain="organization").put("k", {"org": "o2"})
        e1.store("all", domain="system").put("k", {"v": 1})
        assert e1.store("cfg").get("k") == {"owner": "a1"}
        assert e2.store("cfg").get("k") == {"owner": "a2"}
        assert e2.store("team", domain="organization").get("k") == {"org": "o1"}
        assert e3.store("team", domain="organization").get("k") == {"org": "o2"}
        assert e3.store("all", domain="system").get("k") == {"v": 1}


def _child_writes(path: str, app: str, queue: Any) -> None:
    with dse.open(path, app=app) as eng:
        eng.store("private").put("secret", {"app": app})
        eng.store("common", domain="system").put(app, {"hello": app})
        queue.put("written")


def _child_reads(path: str, app: str, other: str, queue: Any) -> None:
    with dse.open(path, app=app) as eng:
        queue.put(
            {
                "own": eng.store("private").get("secret", None),
                "system": sorted(eng.store("common", domain="system").keys()),
                "other_private_visible": eng.store("private").get("secret", None) == {"app": other},
            }
        )


def test_two_processes_with_different_apps_see_only_their_own_local_stores(tmp_path: pathlib.Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    path = str(tmp_path / "db")
    queue = ctx.Queue()
    writers = [ctx.Process(target=_child_writes, args=(path, app, queue)) for app in ("app-a", "app-b")]
    for p in writers:
        p.start()
    for p in writers:
        p.join(60)
        assert p.exitcode == 0
    results = []
    for app, other in (("app-a", "app-b"), ("app-b", "app-a")):
        q = ctx.Queue()
        p = ctx.Process(target=_child_reads, args=(path, app, other, q))
        p.start()
        results.append(q.get(timeout=60))
        p.join(60)
    assert results[0]["own"] == {"app": "app-a"}
    assert results[1]["own"] == {"app": "app-b"}
    assert not results[0]["other_private_visible"] and not results[1]["other_private_visible"]
    assert results[0]["system"] == results[1]["system"] == ["app-a", "app-b"]


def test_the_same_path_opened_twice_in_one_process_shares_one_environment(tmp_path: pathlib.Path) -> None:
    e1 = dse.open(tmp_path / "db", app="x")
    e2 = dse.open(tmp_path / "db", app="x")
    assert e1._env is e2._env
    e1.store("s").put("a", {"v": 1})
    assert e2.store("s").get("a") == {"v": 1}
    e1.close()
    assert e2.store("s").get("a") == {"v": 1}  # still open for the second opener
    e2.close()
    e3 = dse.open(tmp_path / "db", app="x")
    assert e3.store("s").get("a") == {"v": 1}
    e3.close()


def test_opening_one_path_with_different_durability_is_refused(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path / "db", durable=True), pytest.raises(dse.ValidationError, match="durable"):
        dse.open(tmp_path / "db", durable=False)


def test_bad_engine_arguments_are_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(dse.ValidationError):
        dse.open(tmp_path / "x", app="")
    with pytest.raises(dse.ValidationError):
        dse.open(tmp_path / "x", map_size=-1)


def test_transaction_commits_writes_to_several_stores_at_once(engine: dse.Engine) -> None:
    a, b = engine.store("a"), engine.store("b")
    with engine.transaction():
        a.put("x", {"n": 1})
        b.merge("y", {"n": 2})
        assert a.get("x") == {"n": 1}  # reads see the transaction's own writes
        assert len(a) == 1
    assert a.get("x") == {"n": 1} and b.get("y") == {"n": 2}


def test_an_exception_inside_a_transaction_rolls_back_every_store(engine: dse.Engine, snapshot: Any) -> None:
    a, b = engine.store("a"), engine.store("b")
    a.put("keep", {"v": 0})
    before = snapshot(engine)
    with pytest.raises(RuntimeError), engine.transaction():
        a.put("x", {"n": 1})
        b.put("y", {"n": 2})
        a.delete("keep")
        raise RuntimeError("boom")
    assert snapshot(engine) == before
    assert len(a) == 1 and len(b) == 0


def test_a_nested_transaction_is_a_savepoint(engine: dse.Engine) -> None:
    s = engine.store("s")
    with engine.transaction():
        s.put("outer", {})
        try:
            with engine.transaction():
                s.put("inner", {})
                raise ValueError("undo inner only")
        except ValueError:
            pass
        with engine.transaction():
            s.put("inner2", {})
    assert s.keys() == ["inner2", "outer"]
    assert len(s) == 2


def test_a_refused_write_inside_a_transaction_leaves_the_rest_of_it_intact(engine: dse.Engine) -> None:
    s = engine.store("s")
    with engine.transaction():
        s.put("a", {})
        with pytest.raises(dse.ValidationError):
            s.put("b", {"x": float("nan")})
        s.put("c", {})
    assert s.keys() == ["a", "c"]


def test_the_map_grows_by_itself_for_200_mb(tmp_path: pathlib.Path) -> None:
    blob = "x" * 100_000
    with dse.open(tmp_path / "db", map_size=1 << 20, durable=False) as eng:
        s = eng.store("big")
        for i in range(1000):  # single operations: grown ahead and retried
            s.put(f"d{i}", {"blob": blob, "i": i})
        for batch in range(10):  # 20 MB transactions
            with eng.transaction():
                for i in range(200):
                    s.put(f"t{batch}-{i}", {"blob": blob})
        assert len(s) == 3000
        assert eng.map_info()["map_size"] > 200 * 1024 * 1024
        assert s.get("d999")["i"] == 999


def test_a_transaction_that_fills_the_map_commits_nothing_and_is_retryable(tmp_path: pathlib.Path) -> None:
    blob = "y" * 200_000
    with dse.open(tmp_path / "db", map_size=1 << 20, durable=False) as eng:
        s = eng.store("big")
        s.put("before", {"v": 1})
        attempts = 0
        while True:
            attempts += 1
            try:
                with eng.transaction():
                    for i in range(100):  # 20 MB in one transaction, map of 1 MB
                        s.put(f"d{i}", {"blob": blob})
                break
            except dse.MapGrown:
                assert len(s) == 1  # nothing of the failed attempt landed
                assert attempts < 20
        assert attempts > 1
        assert len(s) == 101


def test_concurrent_writers_from_threads_all_land(engine: dse.Engine) -> None:
    s = engine.store("s")

    def work(t: int) -> None:
        for i in range(50):
            s.put(f"t{t}-{i}", {"t": t, "i": i})
            s.merge(f"t{t}-{i}", {"merged": True})

    run_threads(work, 8)
    assert len(s) == 400
    assert all(doc["merged"] for _, doc in s.items())


def test_an_invalid_write_in_a_group_commit_batch_fails_alone(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("dup", {})
    barrier = threading.Barrier(6)
    outcomes: dict[int, str] = {}

    def work(t: int) -> None:
        barrier.wait()
        try:
            if t == 0:
                s.add({}, rid="dup")
            else:
                s.put(f"ok{t}", {"t": t})
            outcomes[t] = "ok"
        except dse.DuplicateKey:
            outcomes[t] = "dup"

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {0: "dup", 1: "ok", 2: "ok", 3: "ok", 4: "ok", 5: "ok"}
    assert len(s) == 6


def _one_batch(eng: dse.Engine, calls: list[Callable[[], Any]]) -> tuple[list[Any], list[int], int]:
    """Run ``calls``, one thread each, so that they form one group-commit batch in this order.

    A first write holds the write transaction open until every call is queued
    behind it (started one at a time, so the queue's order is the list's).
    Returns each call's result or exception, the size of every batch run, and
    how many LMDB transactions were committed (the holder's and the batch's).
    """
    env = eng._env
    sizes: list[int] = []
    real = env._run_batch

    def spy(batch: list[Any]) -> None:
        sizes.append(len(batch))
        real(batch)

    hold, holding = threading.Event(), threading.Event()

    def holder(ctx: Any) -> None:
        ctx.txn.put(b"test:holder", b"1", db=ctx.dbs["meta"])
        holding.set()
        hold.wait(30)

    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:
            results[i] = exc

    txnid = env.env.info()["last_txnid"]
    env._run_batch = spy  # type: ignore[method-assign]
    try:
        first = threading.Thread(target=env.run_write, args=(holder,))
        first.start()
        holding.wait(30)
        threads = []
        for i in range(len(calls)):
            threads.append(threading.Thread(target=run, args=(i,)))
            threads[-1].start()
            wait_until(lambda: len(env._queue) == i + 1)  # noqa: B023 - read before i changes
        hold.set()
        for t in [first, *threads]:
            t.join()
    finally:
        del env._run_batch
    return results, sizes, env.env.info()["last_txnid"] - txnid


@pytest.mark.parametrize("bad", [0, 2, 4])
def test_a_failing_write_anywhere_in_a_batch_fails_alone_and_the_batch_commits_once(
    engine: dse.Engine, bad: int
) -> None:
    s = engine.store("s")
    s.put("dup", {})
    calls: list[Callable[[], Any]] = [
        (lambda: s.add({}, rid="dup")) if i == bad else (lambda i=i: s.put(f"ok{i}", {"i": i}))  # type: ignore[misc]
        for i in range(5)
    ]
    results, sizes, commits = _one_batch(engine, calls)
    assert sizes == [5]
    assert commits == 2  # the holder's commit and one for the whole batch
    assert isinstance(results[bad], dse.DuplicateKey)
    assert all(isinstance(r, str) for i, r in enumerate(results) if i != bad)
    assert sorted(s.keys()) == sorted(["dup", *(f"ok{i}" for i in range(5) if i != bad)])
    assert s.get("dup") == {}


def test_a_failing_request_leaves_none_of_its_writes_and_later_ones_see_earlier_ones(engine: dse.Engine) -> None:
    s = engine.store("s")
    env = engine._env

    def partial(ctx: Any) -> None:
        ctx.txn.put(b"test:partial", b"1", db=ctx.dbs["meta"])
        raise RuntimeError("half done")

    results, sizes, commits = _one_batch(
        engine,
        [
            lambda: s.put("a", {"n": 1}),
            lambda: env.run_write(partial),
            lambda: s.merge("a", {"m": 2}),  # sees "a", written earlier in the same batch
        ],
    )
    assert sizes == [3] and commits == 2
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "half done"
    assert s.get("a") == {"n": 1, "m": 2}
    assert env.get_one(b"test:partial", env.dbs["meta"]) is None


def test_an_lmdb_error_in_a_batch_is_typed_as_for_a_single_write(engine: dse.Engine) -> None:
    s = engine.store("s")
    env = engine._env

    def oversized_key(ctx: Any) -> None:
        ctx.txn.put(b"k" * 4096, b"v", db=ctx.dbs["meta"])

    with pytest.raises(dse.LimitExceeded):
        env.run_write(oversized_key)  # alone
    results, sizes, _ = _one_batch(engine, [lambda: s.put("a", {}), lambda: env.run_write(oversized_key)])
    assert sizes == [2]
    assert isinstance(results[1], dse.LimitExceeded)
    assert "a" in s


def test_a_batch_that_fills_the_map_grows_it_and_commits_every_write(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path / "db", durable=True, map_size=1 << 20) as eng:
        s = eng.store("s")
        before = eng._env.env.info()["map_size"]
        blob = "x" * 300_000
        results, sizes, _ = _one_batch(eng, [lambda i=i: s.put(f"d{i}", {"b": blob}) for i in range(4)])  # type: ignore[misc]
        assert sizes == [4]
        assert all(isinstance(r, str) for r in results), results
        assert eng._env.env.info()["map_size"] > before
        assert sorted(s.keys()) == ["d0", "d1", "d2", "d3"]


def test_the_writer_that_fills_a_gathering_batch_runs_it(engine: dse.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from datastore_engine import engine as engine_module

    monkeypatch.setattr(engine_module, "_GATHER_S", 60.0)  # the leader waits for a full batch
    s = engine.store("s")
    env = engine._env
    runs: list[tuple[int, int]] = []
    real = env._run_batch

    def spy(batch: list[Any]) -> None:
        runs.append((threading.get_ident(), len(batch)))
        real(batch)

    idents: dict[str, int] = {}

    def put(rid: str) -> None:
        idents[rid] = threading.get_ident()
        s.put(rid, {})

    env._run_batch = spy  # type: ignore[method-assign]
    env._writers = 3  # as after a batch of three: the next writer leads and gathers three
    try:
        threads = [threading.Thread(target=put, args=(rid,)) for rid in ("a", "b", "c")]
        threads[0].start()
        wait_until(lambda: env._gather is not None)
        threads[1].start()
        wait_until(lambda: len(env._queue) == 2)
        assert env._gather is not None and not runs  # still gathering
        threads[2].start()
        for t in threads:
            t.join()
    finally:
        del env._run_batch
    assert runs == [(idents["c"], 3)]  # one batch, run by the writer that filled it
    assert sorted(s.keys()) == ["a", "b", "c"]
    assert not env._leader and env._gather is None and not env._queue


def test_a_leader_whose_wait_runs_out_late_leaves_the_next_leaders_gathering_alone(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: G gathers; F fills the batch and runs it; Z, queued meanwhile, is handed
    the lead and gathers; only then does G see its wait run out. G must not clear Z's
    gathering (nobody would then run Z's batch: every writer slept forever)."""
    from _thread import allocate_lock as real_lock  # engine.py's _allocate_lock, unpatched

    from datastore_engine import engine as engine_module

    monkeypatch.setattr(engine_module, "_GATHER_S", 60.0)
    late = threading.Event()

    class RunsOutLate:  # G's wake: its gathering wait "times out" only when the test says so
        def __init__(self) -> None:
            self.lock = real_lock()

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            if timeout > 0:
                late.wait(30)
                return False
            return bool(self.lock.acquire(blocking, timeout))

        def release(self) -> None:
            self.lock.release()

    made: list[object] = []

    def allocate() -> object:
        lock = RunsOutLate() if not made else real_lock()
        made.append(lock)
        return lock

    s = engine.store("s")
    env = engine._env
    real_batch = env._run_batch
    in_batch = threading.Event()

    def spy(batch: list[Any]) -> None:
        if not in_batch.is_set():
            in_batch.set()
            wait_until(lambda: len(env._queue) == 1)  # Z queues while F's batch runs
        real_batch(batch)

    def start(rid: str) -> threading.Thread:
        t = threading.Thread(target=s.put, args=(rid, {}), daemon=True)
        t.start()
        return t

    monkeypatch.setattr(engine_module, "_allocate_lock", allocate)
    env._run_batch = spy  # type: ignore[method-assign]
    env._writers = 3  # the next writer leads and gathers three
    try:
        g = start("g")
        wait_until(lambda: env._gather is not None)
        threads = [g, start("a")]
        wait_until(lambda: len(env._queue) == 2)
        threads.append(start("f"))  # fills the batch and runs it
        in_batch.wait(30)
        threads.append(start("z"))
        wait_until(lambda: env._gather is not None)  # z was handed the lead and gathers
        late.set()
        g.join(30)
        assert not g.is_alive()
        assert env._gather is not None, "z's gathering was cleared by g"
        threads += [start(f"b{i}") for i in range(3)]  # fill z's batch
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
    finally:
        late.set()
        del env._run_batch
    assert sorted(s.keys()) == ["a", "b0", "b1", "b2", "f", "g", "z"]


def test_every_durable_writer_sees_its_own_write_committed_when_it_returns(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path / "db", durable=True) as eng:
        s = eng.store("s")
        env = eng._env
        missing: list[str] = []

        def work(t: int) -> None:
            for i in range(40):
                rid = f"t{t}-{i}"
                s.add({"i": i}, rid=rid)
                with env.reading() as txn:  # a fresh read transaction sees only committed data
                    if txn.get(s._state.prefix + rid_bytes(rid), db=env.dbs["docs"]) is None:
                        missing.append(rid)

        run_threads(work, 4, together=True)
        assert not missing
        assert len(s) == 160


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
def test_an_engine_used_after_fork_raises_in_the_child(tmp_path: pathlib.Path) -> None:
    eng = dse.open(tmp_path / "db")
    s = eng.store("s")
    s.put("a", {"v": 1})
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        results = []
        for action in (lambda: s.get("a"), lambda: s.put("b", {}), lambda: eng.store("t")):
            try:
                action()
                results.append("no error")
            except dse.ForkedEngine:
                results.append("ForkedEngine")
            except BaseException as exc:
                results.append(type(exc).__name__)
        try:  # reopening the inherited path is refused clearly (py-lmdb: one open per file)
            dse.open(tmp_path / "db")
            results.append("opened")
        except dse.ForkedEngine as exc:
            results.append("ForkedEngine:spawn" if "spawn" in str(exc) else "ForkedEngine")
        except BaseException as exc:
            results.append(type(exc).__name__)
        try:  # another path opens fine in the child
            with dse.open(tmp_path / "child-own") as own:
                own.store("s").put("c", {"v": 2})
                results.append(str(own.store("s").get("c")))
        except BaseException as exc:
            results.append(type(exc).__name__)
        os.write(write_fd, ",".join(results).encode())
        os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    out = os.read(read_fd, 4096).decode()
    os.close(read_fd)
    assert out == "ForkedEngine,ForkedEngine,ForkedEngine,ForkedEngine:spawn,{'v': 2}"
    assert "b" not in s
    s.put("c", {})  # the parent is unaffected
    eng.close()


def test_concurrent_durable_writers_share_commits(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path / "db", durable=True) as eng:
        s = eng.store("s")
        commits = []
        real_commit = type(eng._env).begin_write

        def counting(self: Any, **kw: Any) -> Any:  # "self" as in begin_write, or mypy refuses it
            commits.append(1)
            return real_commit(self, **kw)

        barrier = threading.Barrier(8)

        def work(t: int) -> None:
            barrier.wait()
            for i in range(50):
                s.put(f"t{t}-{i}", {"i": i})

        type(eng._env).begin_write = counting  # type: ignore[method-assign]
        try:
            threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            type(eng._env).begin_write = real_commit  # type: ignore[method-assign]
        assert len(s) == 400
        assert len(commits) < 400 * 0.75, f"{len(commits)} commits for 400 writes: no batching"


def test_document_limits_are_configurable_per_engine(tmp_path: pathlib.Path) -> None:
    with dse.open(tmp_path / "db", max_depth=3, max_document_bytes=100) as eng:
        s = eng.store("s")
        s.put("ok", {"a": {"b": 1}})
        with pytest.raises(dse.LimitExceeded) as deep:
            s.put("deep", {"a": {"b": {"c": {"d": 1}}}})
        assert deep.value.limit == "max_depth"
        with pytest.raises(dse.LimitExceeded) as big:
            s.put("big", {"x": "y" * 200})
        assert big.value.limit == "max_document_bytes"
        with pytest.raises(dse.LimitExceeded):
            s.merge("ok", {"a": {"b": {"c": {"d": 1}}}})
        assert s.keys() == ["ok"]
    with pytest.raises(dse.ValidationError):
        dse.open(tmp_path / "other", max_depth=0)
