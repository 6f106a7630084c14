"""Ctrl-C in a writer thread while group commit queues or runs writes.

A KeyboardInterrupt strikes the main thread wherever it is: asleep in the
group-commit queue, just handed the lead, or running a batch of other
threads' writes. It must stay that thread's own: its write is dropped if it
had not yet committed, every other writer's write still commits, and nobody
is left waiting for a leader that will not come.

The interrupts are real: ``signal.pthread_kill`` wakes a sleeping main thread
at once; ``_thread.interrupt_main`` (no signal) fires at the next bytecode
boundary the main thread reaches, which pins down where it strikes.
"""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from threadkit import wait_until

import datastore_engine as dse

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="interrupts are delivered to the main thread")  # fmt: skip


class _Writers:
    """Threads that write while the test's main thread is interrupted; each one's result or error."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, call: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                self.results[name] = call()
            except BaseException as exc:
                self.results[name] = exc

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)
        hung = [t for t in self.threads if t.is_alive()]
        assert not hung, "a writer was left waiting for a group commit that never came"


@pytest.fixture
def s(engine: dse.Engine) -> dse.Store:
    return engine.store("s")


@pytest.fixture
def holding(engine: dse.Engine, s: dse.Store) -> Iterator[tuple[_Writers, threading.Event]]:
    """A writer holding the write path (its commit waits on the event), so later writers queue.

    The store ``s`` exists before: creating it is a write, and would queue too.
    """
    env = engine._env
    hold, held = threading.Event(), threading.Event()

    def holder(ctx: Any) -> None:
        ctx.txn.put(b"test:holder", b"1", db=ctx.dbs["meta"])
        held.set()
        hold.wait(30)

    writers = _Writers()
    writers.start("holder", lambda: env.run_write(holder))
    held.wait(30)
    try:
        yield writers, hold
    finally:
        hold.set()
        writers.join()


def test_a_writer_interrupted_while_queued_is_dropped_and_later_writers_commit(
    engine: dse.Engine, s: dse.Store, holding: tuple[_Writers, threading.Event]
) -> None:
    writers, hold = holding
    env = engine._env
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_queued() -> None:
        wait_until(lambda: len(env._queue) == 1)
        signal.pthread_kill(main, signal.SIGINT)

    writers.start("interrupter", interrupt_once_queued)
    with pytest.raises(KeyboardInterrupt):
        s.put("main", {"by": "main"})
    assert not env._queue  # withdrawn: it will not be written behind the caller's back
    writers.start("later", lambda: s.put("later", {"by": "later"}))
    wait_until(lambda: len(env._queue) == 1)
    hold.set()
    writers.join()
    assert isinstance(writers.results["later"], str)
    assert sorted(s.keys()) == ["later"]
    s.put("after", {})  # the write path is free again
    assert "after" in s


def test_a_writer_interrupted_as_it_is_handed_the_lead_passes_the_lead_on(
    engine: dse.Engine, s: dse.Store, holding: tuple[_Writers, threading.Event]
) -> None:
    writers, hold = holding
    env = engine._env

    def queue_then_interrupt() -> None:
        wait_until(lambda: len(env._queue) == 1)  # the main thread sleeps first in the queue
        writers.start("second", lambda: s.put("second", {"by": "second"}))
        wait_until(lambda: len(env._queue) == 2)
        _thread.interrupt_main()  # fires when the main thread next runs: when it is handed the lead
        hold.set()

    writers.start("releaser", queue_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        s.put("main", {"by": "main"})
    writers.join()
    assert isinstance(writers.results["second"], str)
    assert sorted(s.keys()) == ["second"]
    assert not env._leader and not env._queue
    s.put("after", {})
    assert sorted(s.keys()) == ["after", "second"]


def _main_runs_a_batch_with(engine: dse.Engine, writers: _Writers, hold: threading.Event, fn: Any) -> None:
    """Queue the main thread, then a writer running ``fn``; release the holder so the main thread leads both."""
    env = engine._env

    def queue_then_release() -> None:
        wait_until(lambda: len(env._queue) == 1)
        writers.start("other", lambda: env.run_write(fn))
        wait_until(lambda: len(env._queue) == 2)
        hold.set()

    writers.start("releaser", queue_then_release)


def test_an_interrupt_in_the_thread_running_a_batch_drops_only_its_own_write(
    engine: dse.Engine, s: dse.Store, holding: tuple[_Writers, threading.Event]
) -> None:
    writers, hold = holding
    env = engine._env
    runs: list[int] = []

    def other(ctx: Any) -> str:
        runs.append(threading.get_ident())
        if len(runs) == 1:
            _thread.interrupt_main()  # strikes the main thread, which is running this request for us
        ctx.txn.put(b"test:other", b"1", db=ctx.dbs["meta"])
        return "other done"

    _main_runs_a_batch_with(engine, writers, hold, other)
    with pytest.raises(KeyboardInterrupt):
        s.put("main", {"by": "main"})
    writers.join()
    assert runs[0] == threading.main_thread().ident  # the main thread ran the other's request
    assert len(runs) == 2  # the interrupted attempt was aborted and the batch ran again without "main"
    assert writers.results["other"] == "other done"
    assert env.get_one(b"test:other", env.dbs["meta"]) == b"1"
    assert "main" not in s
    assert not env._leader and not env._queue


def test_an_interrupt_after_a_batch_committed_keeps_every_write(
    engine: dse.Engine, s: dse.Store, holding: tuple[_Writers, threading.Event]
) -> None:
    writers, hold = holding
    env = engine._env

    def other(ctx: Any) -> str:
        ctx.txn.put(b"test:other", b"1", db=ctx.dbs["meta"])
        ctx.after_commit.append(_thread.interrupt_main)  # strikes once LMDB has committed the batch
        return "other done"

    _main_runs_a_batch_with(engine, writers, hold, other)
    with pytest.raises(KeyboardInterrupt):
        s.put("main", {"by": "main"})
    writers.join()
    assert writers.results["other"] == "other done"
    assert env.get_one(b"test:other", env.dbs["meta"]) == b"1"
    assert s.get("main") == {"by": "main"}  # committed before the interrupt: kept, as for a single write
    assert not env._leader and not env._queue
    s.put("after", {})
    assert "after" in s
