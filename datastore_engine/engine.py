"""The Engine: one LMDB environment, its named sub-databases, transactions, map growth.

This is the only module that imports ``lmdb``. Everything above it receives
transaction objects and database handles from here, and every ``lmdb.Error``
is translated to our error tree in :func:`translate`.

Design notes (see ../shared/LMDB.md for the measurements behind them):

* **One environment per path per process.** LMDB refuses to open a path twice
  in one process, so environments live in a process-wide registry with
  reference counts; ``open()`` of a path already open shares it.
* **Map growth.** A large sparse map is reserved up front (4 GiB, or
  ``map_size``). Before a write transaction begins, if the file uses more than
  3/4 of the map, the map doubles. ``set_mapsize`` invalidates every open
  transaction of the process, so every transaction holds the shared side of a
  light read/write gate and growth takes the exclusive side. If the map still
  fills during a single operation, the transaction is aborted, the map grows
  and the operation runs again; inside ``engine.transaction()`` nothing is
  committed and :class:`MapGrown` (retryable) is raised. Replaying writes from
  a log was rejected: it costs more than the writes.
* **Group commit.** Single write operations are queued; one thread (the
  leader) runs every queued operation in one LMDB transaction, each in a
  nested transaction so an invalid write fails alone, and commits once: one
  flush for many durable writers. Each caller returns only after the commit
  that holds its write.
* **Fork.** An environment inherited across ``fork()`` is marked unusable in the
  child (``os.register_at_fork``); using it raises :class:`ForkedEngine`
  (LMDB would otherwise let the child write silently). Inherited handles are
  never closed in the child: closing clears the parent's reader slots (seen
  here). py-lmdb refuses a second open of the same file in one process, so a
  child cannot reopen a path its parent had open at fork time: open engines
  after forking, or use the ``spawn`` start method. Any other path opens fine.
* **Durability.** ``durable=True`` (default): ``sync`` and ``metasync``, a
  write returns after its commit is on disk. ``durable=False``: no flush per
  commit (LMDB ``MDB_NOSYNC``); a process crash loses nothing, an OS crash may
  lose the last commits. Settings are per environment, so opening one path
  twice in a process with different ``durable`` values is refused.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     engine.store("notes").put("n1", {"text": "hi"})[:2]
    '1-'
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import weakref
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable, Iterator
from pathlib import Path
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar

import lmdb

from . import catalog, codec
from .errors import (
    CorruptData,
    DatastoreError,
    EngineClosed,
    ForkedEngine,
    LimitExceeded,
    MapGrown,
    NotFound,
    StorageError,
    StorageFull,
    ValidationError,
)
from .keys import check_domain, check_store_name

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .blobs import Bucket
    from .catalog import StoreInfo
    from .page import Page
    from .session import Session
    from .store import Store
    from .structures import Structure

__all__ = ["DB_NAMES", "Engine", "WriteCtx", "open", "open_temporary", "translate"]

T = TypeVar("T")

#: Every named sub-database, declared once. ``max_dbs`` is not stored in the
#: file, so every process must pass the same value: it is derived from here.
#: Each store's counters record (sid -> live count, size, last seq, mtime; then the
#: feed's newest entries) is in LMDB's main database, as ``dbs["counters"]``: the
#: main database's page is written by every commit anyway (it holds the roots of
#: the named ones), so the record costs no page of its own.
DB_NAMES = (
    "meta",  # format marker, counters of the catalog (next sid, catalog version)
    "catalog",  # scope + name -> store record
    "docs",  # sid + rid -> document record
    "changes",  # sid + seq -> change-feed entry
    "conflicts",  # sid + rid -> losing revision leaves
    "passwords",  # sid + rid -> password hash
    "index",  # secondary index entries
    "structures",  # structure id -> definition
    "buckets",  # bucket name -> bucket record
    "objects",  # bucket id + object name -> object manifest
    "chunks",  # blob content chunks
    "uploads",  # in-flight uploads (for reclaiming orphan chunks)
    "principals",  # access-control principals and rights
    "local",  # _local documents (replication checkpoints)
)
MAX_DBS = 32
DEFAULT_MAP_SIZE = 4 << 30
MAX_READERS = 1022
FORMAT = b"datastore_engine/3"
# Formats this engine upgrades in place when it opens them. /1 kept the counters
# records in a sub-database of their own, with no feed tail: opening moves them to
# the main database. /2 records have 32 bytes of counters before the tail, /3 ones
# 40 (the count of stale feed entries, see WriteCtx.feed_drop): opening widens
# them with a zero count, as a /2 feed tree holds no stale entry. An engine that
# reads only /2 refuses a /3 file rather than list a document's old changes.
_UPGRADES = (b"datastore_engine/1", b"datastore_engine/2")
_V1_COUNTERS = b"counters"
#: The main database's keys that name sub-databases (the rest are counters records).
SUBDATABASE_KEYS = frozenset({*(name.encode() for name in DB_NAMES), _V1_COUNTERS})
GROW_AT = 0.75
_MAX_RETRIES = 8
_GATHER_S = 0.0005  # how long a group-commit leader waits for returning writers (durable only)

_registry_lock = threading.Lock()
_registry: dict[str, _Env] = {}
_inherited: list[Any] = []  # environments inherited across fork: kept, never closed


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for env in _registry.values():
        env.forked = True
        _inherited.append(env)
    _registry.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- error translation ----------------------------------------------------------


@contextlib.contextmanager
def translate(what: str = "", *, path: str | None = None) -> Iterator[None]:
    """Turn ``lmdb.Error`` (and OS errors of the file) into our error tree.

    ``path`` (the environment directory) lets an ambiguous EIO be told apart
    from a full disk: see :func:`_out_of_room`.
    """
    try:
        yield
    except DatastoreError:
        raise
    except lmdb.MapFullError:
        raise
    except lmdb.MapResizedError:
        raise
    except (lmdb.Error, OSError) as exc:
        raise _translated(exc, what, path=path) from exc


def _translated(exc: BaseException, what: str, *, path: str | None = None) -> DatastoreError:
    """Our error for an ``lmdb.Error`` (MapFull/MapResized are handled by their callers)."""
    if isinstance(exc, lmdb.BadValsizeError):
        return LimitExceeded(f"key or value size refused by LMDB{_of(what)}: {exc}", limit="lmdb_key_size")
    if isinstance(exc, lmdb.CorruptedError):
        return CorruptData(f"the database file is corrupted{_of(what)}: {exc}")
    return _storage_error(exc, what, path=path)


def _of(what: str) -> str:
    return f" ({what})" if what else ""


def _storage_error(exc: BaseException, what: str, *, path: str | None = None) -> StorageError:
    text = str(exc)
    # OSError carries .errno, lmdb.Error the same number as .code.
    code = getattr(exc, "errno", None) or getattr(exc, "code", None)
    if (
        code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
        or any(s in text for s in ("No space left", "File too large", "Disk quota"))
        or (path is not None and (code == errno.EIO or "Input/output error" in text) and _out_of_room(path))
    ):
        return StorageFull(f"no room on disk for the write{_of(what)}; nothing was written: {text}")
    return StorageError(f"storage failed{_of(what)}: {text}")


def _out_of_room(path: str) -> bool:
    """True if the data file of ``path`` hit the file-size limit or its disk is (nearly) full.

    LMDB reports a *short* write at commit as EIO, and a full disk or an
    RLIMIT_FSIZE limit usually cuts the last write short (measured: a commit
    under ``setrlimit(RLIMIT_FSIZE)`` fails with "Input/output error", only a
    write wholly past the limit gives EFBIG). So after EIO look at the cause.
    """
    try:
        size = os.path.getsize(os.path.join(path, "data.mdb"))
        st = os.statvfs(path)
    except OSError:
        return False
    if st.f_bavail * st.f_frsize < _FULL_BELOW:
        return True
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return False
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return soft != resource.RLIM_INFINITY and size >= soft


_FULL_BELOW = 4 << 20  # free bytes under which a short write is blamed on a full disk


# --- the shared environment -------------------------------------------------------


class _BatchInterrupted(Exception):
    """``interrupt`` struck the thread running a batch; ``committed`` says if the batch was."""

    def __init__(self, interrupt: BaseException, *, committed: bool) -> None:
        super().__init__("interrupted while running a group commit")
        self.interrupt = interrupt
        self.committed = committed


class _Req:
    """One write waiting for a group commit.

    ``wake`` is created held and released once per hand-over: when the
    request's batch is committed (``done``), or when its thread is handed the
    lead. Each thread sleeps on its own request's lock, so a wake-up is one
    futex wake of exactly the thread that has something to do (a shared
    Condition woke every waiter on every arrival, and each woken thread took
    the GIL only to go back to sleep).
    """

    __slots__ = ("done", "error", "fn", "value", "wake")

    def __init__(self, fn: Callable[[WriteCtx], Any]) -> None:
        self.fn = fn
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.wake = _allocate_lock()
        self.wake.acquire()


class _Env:
    """One open LMDB environment, shared by every Engine on the same path in this process."""

    def __init__(self, path: str, *, durable: bool, map_size: int | None) -> None:
        self.path = path
        self.durable = durable
        self.refs = 0
        self.forked = False
        self.closed = False
        self.pid = os.getpid()
        _refuse_network_fs(path)
        size = max(map_size or DEFAULT_MAP_SIZE, 1 << 20)
        try:
            self.env = lmdb.open(
                path,
                map_size=size,
                max_dbs=MAX_DBS,
                max_readers=MAX_READERS,
                subdir=True,
                sync=durable,
                metasync=durable,
                writemap=False,
                map_async=False,
                readahead=False,
                lock=True,
            )
        except lmdb.Error as exc:
            raise _storage_error(exc, f"opening {path}") from exc
        with translate("opening"):
            self.env.reader_check()
            info = self.env.info()
            # The file may be larger than the map we asked for (made by an
            # opener with a bigger map); adopt the larger size.
            if info["map_size"] < size:
                self.env.set_mapsize(size)
            for attempt in range(_MAX_RETRIES):
                try:
                    self._open_dbs(path)
                    break
                except lmdb.MapResizedError:
                    # Another process grew the map between our open and these
                    # first transactions (seen under the bank-transfer test): adopt it.
                    if attempt == _MAX_RETRIES - 1:
                        raise StorageError(
                            f"the map of {path} kept growing while it was opened"
                        ) from None
                    self.env.set_mapsize(0)
        # The gate: transactions hold the shared side, growth the exclusive one.
        self._mu = threading.Lock()
        self._cv = threading.Condition(self._mu)
        self._marks: dict[int, int] = {}
        self._growing = False
        self._writes = 0
        # Group commit (durable engines). _gc_lock guards the fields below;
        # nobody sleeps holding it. One thread at a time leads: runs a solo
        # write, gathers a batch (_gather is its request while it waits for
        # the queue to hold _want requests) or runs a batch.
        self._gc_lock = threading.Lock()
        self._queue: list[_Req] = []
        self._leader = False
        self._writers = 0
        self._gather: _Req | None = None
        self._want = 0
        self._holder: _Req | None = None  # the queued request whose thread was given (or gathers for) the lead
        self.tls = _ThreadState()
        self.watchers = threading.Condition(threading.Lock())
        self.watching = 0  # threads inside watch.wait_for_change (changed under watchers' lock)
        # Feed sweeps under way in this process: store id -> the feed key the next step starts
        # at. Only a hint: lost (another process, a reopen), a pass starts over.
        self.sweeps: dict[bytes, bytes] = {}
        from . import blobs  # free chunks of uploads whose process died (issue 5)

        blobs.reclaim_orphans(self)

    def _open_dbs(self, path: str) -> None:
        self.dbs = {name: self.env.open_db(name.encode()) for name in DB_NAMES}
        main = self.dbs["counters"] = self.env.open_db(None)
        self.psize = self.env.stat()["psize"]
        with self.env.begin(write=True) as txn:
            marker = txn.get(b"format", db=self.dbs["meta"])
            if marker in _UPGRADES:
                _upgrade_counters(self.env, txn, main)
                _widen_counters(txn, main)
            if marker is None or marker in _UPGRADES:
                txn.put(b"format", FORMAT, db=self.dbs["meta"])
            elif marker != FORMAT:
                raise StorageError(f"{path} holds format {marker!r}, this engine reads {FORMAT!r}")

    # -- the gate --------------------------------------------------------------
    def check(self) -> None:
        if self.forked:
            raise ForkedEngine(
                f"the engine for {self.path} was opened before fork() and cannot be used in the child; "
                "open engines after forking, or use the 'spawn' start method (this path cannot be "
                "reopened in the child)"
            )
        if self.closed:
            raise EngineClosed(f"the engine for {self.path} is closed")

    # The gate. Every transaction of this process holds the shared side;
    # growing the map takes the exclusive side (set_mapsize must not race an
    # open transaction). The shared side is a per-thread count in a dict: only
    # its own thread writes a thread's entry, and under the GIL "mark, then look
    # at _growing" (reader) against "set _growing, then look at the marks"
    # (grower) cannot both miss each other. That costs two dict operations per
    # read instead of two lock round trips (measured ~1.2 us of a ~10 us get).
    def enter(self) -> None:
        tid = get_ident()
        marks = self._marks
        while True:
            marks[tid] = marks.get(tid, 0) + 1
            if not self._growing:
                return
            self._unmark(tid)
            with self._mu:
                while self._growing:
                    self._cv.wait()

    def sweep_went(self, went: dict[bytes, bytes | None]) -> None:
        """After a commit that ran sweep steps: where each store's pass goes on (None: it is done)."""
        for sid, at in went.items():
            if at is None:
                self.sweeps.pop(sid, None)
            else:
                self.sweeps[sid] = at

    def _unmark(self, tid: int) -> None:
        marks = self._marks
        count = marks[tid] - 1
        if count:
            marks[tid] = count
        else:
            del marks[tid]
        if self._growing:
            with self._mu:
                self._cv.notify_all()

    def leave(self) -> None:
        self._unmark(get_ident())

    def grow(self, *, adopt_only: bool = False) -> None:
        """Double the map (or adopt another process's larger size) with no transaction open."""
        with self._mu:
            while self._growing:
                self._cv.wait()
            self._growing = True
            while self._marks:
                self._cv.wait(0.01)
        try:
            with translate("growing the map"):
                if adopt_only:
                    self.env.set_mapsize(0)
                else:
                    info = self.env.info()
                    self.env.set_mapsize(info["map_size"] * 2)
        finally:
            with self._mu:
                self._growing = False
                self._cv.notify_all()

    def grow_ahead(self) -> None:
        info = self.env.info()
        if (info["last_pgno"] + 1) * self.psize > info["map_size"] * GROW_AT:
            self.grow()

    # -- transactions ------------------------------------------------------------
    def reading(self) -> contextlib.AbstractContextManager[Any]:
        """A short read transaction (or the thread's write transaction, to see its own writes)."""
        if self.forked or self.closed:
            self.check()
        tls = self.tls
        ctx: WriteCtx | None = tls.ctx
        if ctx is not None:
            return contextlib.nullcontext(ctx.txn)
        if tls.snap is None and not self._growing:
            return _ReadTxn(self)  # the common case, without a generator frame per read
        return self._reading_slow()

    def begin_read(self, db: Any = None) -> Any:
        """Enter the gate and begin a read transaction; the caller aborts it and leaves the gate.

        Another process growing the map makes ``begin`` fail with MapResizedError:
        adopt its size and try again.
        """
        for _ in range(_MAX_RETRIES):
            self.enter()
            try:
                return self.env.begin(db=db)
            except lmdb.MapResizedError:
                self.leave()
                self.grow(adopt_only=True)
            except BaseException as exc:
                self.leave()
                if isinstance(exc, lmdb.Error):
                    raise _translated(exc, "reading") from exc
                raise
        raise StorageError(f"could not begin a read transaction on {self.path}")  # pragma: no cover

    @contextlib.contextmanager
    def _reading_slow(self) -> Iterator[Any]:
        self.check()
        ctx: WriteCtx | None = self.tls.ctx
        if ctx is not None:
            yield ctx.txn
            return
        snap = self.tls.snap
        if snap is not None:
            with translate("reading"):
                yield snap
            return
        txn = self.begin_read()
        try:
            with translate("reading"):
                yield txn
        finally:
            txn.abort()
            self.leave()

    def get_one(self, key: bytes, db: Any) -> bytes | None:
        """One value in its own short read transaction: the point-read fast path."""
        # Inlined enter()/leave(): this is the hottest path of the engine. A
        # thread holding no mark has no write transaction and no snapshot (both
        # hold one while open), so its thread-local state need not be read.
        tid = get_ident()
        marks = self._marks
        if tid not in marks and not self._growing and not (self.forked or self.closed):
            marks[tid] = 1
            try:
                if not self._growing:
                    txn = self.env.begin(db=db)
                    try:
                        return txn.get(key)
                    finally:
                        txn.abort()
            except lmdb.Error:
                pass  # a resize, or a real error: the general path below sorts it out
            finally:
                if self._growing:
                    self._unmark(tid)
                else:
                    del marks[tid]  # _unmark without a grower to wake
        return self._get_one_slow(key, db)

    def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(txn, *args)`` in one short read transaction: the fast path for a query.

        ``fn`` must only read (it may run twice: after a map resize by another
        process it is retried on the general path). Inside a write transaction
        or a snapshot ``fn`` gets that transaction, so it sees the thread's own writes.
        """
        tid = get_ident()  # the gate inlined, as in get_one
        marks = self._marks
        if tid not in marks and not self._growing and not (self.forked or self.closed):
            marks[tid] = 1
            try:
                if not self._growing:
                    txn = self.env.begin()
                    try:
                        return fn(txn, *args)
                    finally:
                        txn.abort()
            except lmdb.Error:
                pass  # a resize, or a real error: the general path below sorts it out
            finally:
                if self._growing:
                    self._unmark(tid)
                else:
                    del marks[tid]
        with self.reading() as txn:
            return fn(txn, *args)

    def read_only(self, txn: Any) -> bool:
        """Whether ``txn`` is a read transaction (not this thread's write transaction)."""
        ctx: WriteCtx | None = self.tls.ctx
        return ctx is None or txn is not ctx.txn

    def _get_one_slow(self, key: bytes, db: Any) -> bytes | None:
        if self.forked or self.closed:
            self.check()
        ctx: WriteCtx | None = self.tls.ctx
        if ctx is not None:
            return ctx.txn.get(key, db=db)  # type: ignore[no-any-return]
        snap = self.tls.snap
        if snap is not None:
            with translate("reading"):
                return snap.get(key, db=db)  # type: ignore[no-any-return]
        txn = self.begin_read(db)
        try:
            return txn.get(key)  # type: ignore[no-any-return]
        except lmdb.Error as exc:
            raise _translated(exc, "reading") from exc
        finally:
            txn.abort()
            self.leave()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Make every read of this thread use one read transaction until the block ends.

        Inside a write transaction (or an outer snapshot) it changes nothing:
        that transaction already is one consistent view. The snapshot holds
        the shared side of the gate, so map growth in this process waits for
        it; that is why writes inside it are refused rather than deadlocked.
        """
        self.check()
        if self.tls.ctx is not None or self.tls.snap is not None:
            yield
            return
        txn = self.begin_read()
        self.tls.snap = txn
        try:
            yield
        finally:
            self.tls.snap = None
            txn.abort()
            self.leave()

    def begin_write(self, *, look_ahead: bool = False) -> WriteCtx:
        """Begin a top-level write transaction (caller holds nothing).

        ``look_ahead`` always checks the map first (explicit transactions may be big).
        """
        for _ in range(_MAX_RETRIES):
            # Looking at the map costs ~1 us; every 8th write is ahead of need
            # enough (a write that still fills it is retried after growing).
            self._writes += 1
            if look_ahead or not self._writes & 7:
                self.grow_ahead()
            self.enter()
            try:
                txn = self.env.begin(write=True)
            except lmdb.MapResizedError:
                self.leave()
                self.grow(adopt_only=True)
                continue
            except BaseException as exc:
                self.leave()
                if isinstance(exc, lmdb.Error):
                    raise _storage_error(exc, "beginning a write") from exc
                raise
            return WriteCtx(self, txn, None)
        raise StorageError(f"could not begin a write transaction on {self.path}")  # pragma: no cover

    def run_write(self, fn: Callable[[WriteCtx], T]) -> T:
        """Run one write operation: inside the thread's transaction, or group-committed."""
        if self.forked or self.closed:
            self.check()
        ctx: WriteCtx | None = self.tls.ctx
        if ctx is not None:
            if ctx.broken:
                raise MapGrown("the map filled earlier in this transaction; leave it and run it again")
            try:
                return fn(ctx)
            except lmdb.MapFullError:
                ctx.broken = True
                raise MapGrown(
                    "the map filled inside engine.transaction(); nothing will be committed. "
                    "The map has room again once the transaction ends: run it again"
                ) from None
            except lmdb.Error as exc:
                raise _translated(exc, "writing", path=self.path) from exc
        if self.tls.snap is not None:
            _refuse_write_in_snapshot()
        batch = None
        leading = False
        with self._gc_lock:
            if not self._leader:
                self._leader = True
                if not self.durable or self._writers <= 1:
                    # Nobody is committing: run alone, without queueing (the
                    # common, single-writer case). Others arriving meanwhile
                    # queue up and are handed the lead when this commit is done.
                    req = None
                else:
                    # Several durable writers are active: lead a batch they can join.
                    req = _Req(fn)
                    self._queue.append(req)
                    self._holder = req
                    leading = True
            else:
                req = _Req(fn)
                queue = self._queue
                queue.append(req)
                if self._gather is not None and len(queue) >= self._want:
                    # This request fills the batch its leader is gathering: run
                    # the batch here, in the thread that holds the GIL now, rather
                    # than wake the leader to do it. The leader's own request is
                    # in the batch; it sleeps on as a follower.
                    self._gather = None
                    batch, self._queue = queue, []
        if req is None:
            try:
                return self._run_solo(fn)
            finally:
                self._hand_over(None, None)
        try:
            if batch is not None:
                self._commit(batch, req)
            elif leading:
                self._lead(req)
            else:
                req.wake.acquire()  # released when our batch is committed, or when we are handed the lead
                if not req.done:
                    self._lead(req)
        except BaseException:  # Ctrl-C (KeyboardInterrupt) while queued, gathering or about to lead
            self._withdraw(req)
            raise
        if req.error is not None:
            raise req.error
        return req.value  # type: ignore[no-any-return]

    def solo_write(self, fn: Callable[..., T | None], *args: Any) -> T | None:
        """Run ``fn(txn, *args)`` alone in a bare LMDB write transaction and commit it; None if it did not.

        The fast lane of a one-document insert (``Store.add``): no
        :class:`WriteCtx`, no queue, no savepoint. ``fn`` reads and writes the
        store's counters record itself, and returns None to decline (nothing
        is committed then). None also when the write must take the general
        path (:meth:`run_write`): inside a transaction or a snapshot, another
        writer of this process committing or queued, the map growing, or any
        LMDB error (map full, a failed commit). The general path then does the
        write, or raises its usual typed error. An interrupt (Ctrl-C) aborts
        the transaction and propagates. The gate's entry is :meth:`enter`
        written out (without its wait: this is the hottest write path).
        """
        if self.forked or self.closed or self._growing:
            return None
        tls = self.tls
        if tls.ctx is not None or tls.snap is not None:
            return None
        with self._gc_lock:
            if self._leader or (self.durable and self._writers > 1):
                return None
            self._leader = True
        value: T | None = None
        try:
            self._writes += 1
            if not self._writes & 7:
                self.grow_ahead()
            tid, marks = get_ident(), self._marks  # enter(), without its wait: a grower sends this write on
            marks[tid] = marks.get(tid, 0) + 1
            try:
                if not self._growing:
                    txn = self.env.begin(write=True)
                    try:
                        value = fn(txn, *args)
                    except BaseException:
                        txn.abort()
                        raise
                    if value is None:
                        txn.abort()
                    else:
                        txn.commit()  # a failed commit frees the transaction: nothing to abort
            except lmdb.Error:
                value = None
            finally:
                self._unmark(tid)
        finally:
            self._hand_over(None, None)
        if value is not None and self.watching:  # wake watch.py's waiters in this process
            with self.watchers:
                self.watchers.notify_all()
        return value

    def _run_solo(self, fn: Callable[[WriteCtx], T]) -> T:
        for _ in range(_MAX_RETRIES):
            ctx = self.begin_write()
            try:
                value = fn(ctx)
                ctx.commit()
                return value
            except lmdb.MapFullError:
                ctx.abort()
                self.grow()
            except lmdb.Error as exc:
                ctx.abort()
                raise _translated(exc, "writing", path=self.path) from exc
            except BaseException:
                ctx.abort()
                raise
        raise StorageFull(f"the map of {self.path} could not grow enough for the write")  # pragma: no cover

    def _lead(self, req: _Req) -> None:
        """Lead the next batch, ``req`` (this thread's, queued) among it: gather, run, hand over."""
        if self.durable:
            # The writers released by the last commit are likely to come
            # straight back: a durable commit costs a flush, so wait a moment
            # (at most _GATHER_S) for them to join this batch rather than leave
            # them for the next flush. The writer that fills the batch runs it.
            with self._gc_lock:
                want = self._writers
                gathering = len(self._queue) < want
                if gathering:
                    self._gather, self._want = req, want
            if gathering:
                if req.wake.acquire(timeout=_GATHER_S):
                    return  # the batch was filled, run and committed by its last writer
                with self._gc_lock:
                    # Filled as the wait ran out: its last writer is running it
                    # (and may even have handed the lead on to a new gatherer,
                    # whose _gather must stay).
                    taken = self._gather is not req
                    if not taken:
                        self._gather = None
                if taken:
                    req.wake.acquire()
                    return
        with self._gc_lock:
            batch, self._queue = self._queue, []
        self._commit(batch, req)

    def _withdraw(self, req: _Req) -> None:
        """Take an interrupted writer's request out of the group commit.

        Still queued (not yet taken into a batch), it is dropped, so its write
        never happens, and a lead it was given passes to the next queued
        writer: nobody is left waiting for a leader that will not come. Taken
        into a batch, it stays there: that batch's runner commits it and wakes
        nobody who is not waiting.
        """
        nxt = None
        with self._gc_lock:
            if req not in self._queue:
                return
            self._queue.remove(req)
            if self._gather is req:
                self._gather = None
            if self._holder is req:
                if self._queue:
                    nxt = self._holder = self._queue[0]
                else:
                    self._holder = None
                    self._leader = False
        if nxt is not None:
            nxt.wake.release()

    def _commit(self, batch: list[_Req], mine: _Req) -> None:
        """Run ``batch`` (``mine`` is this thread's request), then wake its writers and hand over the lead.

        An interrupt raised in this thread while it runs the batch (Ctrl-C:
        KeyboardInterrupt, or SystemExit) is this thread's alone: the other
        writers' requests still run and commit, this thread's own request is
        dropped unless the batch had already committed, and the interrupt is
        raised to this thread's caller (as ``mine.error``).
        """
        todo = batch
        try:
            while todo:
                try:
                    self._run_batch(todo)
                    break
                except _BatchInterrupted as stop:
                    mine.error = stop.interrupt
                    if stop.committed:
                        break
                    todo = [req for req in todo if req is not mine]
        finally:
            self._hand_over(batch, mine)

    def _hand_over(self, batch: list[_Req] | None, mine: _Req | None) -> None:
        """After a commit: mark the batch done, wake its writers, give the lead to the first queued writer."""
        with self._gc_lock:
            # Writers active now: this batch's (likely to write again) and those queued.
            self._writers = (len(batch) if batch else 1) + len(self._queue)
            if self._queue:
                nxt: _Req | None = self._queue[0]
            else:
                nxt = None
                self._leader = False
            self._holder = nxt
        if batch:
            for req in batch:
                req.done = True
                if req is not mine:
                    req.wake.release()
        if nxt is not None:
            nxt.wake.release()

    def _run_batch(self, batch: list[_Req]) -> None:
        """Run the requests of one group commit in one transaction; each gets its value or error.

        First optimistically, every request straight in the batch's
        transaction. If one raises, that attempt is aborted and the batch runs
        again with a savepoint (nested transaction) per request, so the bad
        write fails alone. Savepoints on every batch cost a nested begin and
        commit per request, and the common batch has no failure.
        """
        savepoints = False
        grown = 0
        while True:
            for req in batch:
                req.value, req.error = None, None
            try:
                ctx = self.begin_write()
            except Exception as exc:
                for req in batch:
                    req.error = exc
                return
            except BaseException as exc:
                raise _BatchInterrupted(exc, committed=False) from exc
            try:
                with translate("writing", path=self.path):
                    if not savepoints:
                        for req in batch:
                            try:
                                req.value = req.fn(ctx)
                            except lmdb.MapFullError:
                                raise
                            except Exception as exc:
                                req.error = self._request_error(exc)
                                break
                        if any(req.error is not None for req in batch):
                            ctx.abort()
                            if len(batch) == 1:
                                return
                            savepoints = True
                            continue
                    else:
                        for req in batch:
                            child = ctx.child()
                            try:
                                req.value = req.fn(child)
                            except lmdb.MapFullError:
                                child.abort()
                                raise
                            except BaseException as exc:
                                child.abort()
                                if not isinstance(exc, Exception):
                                    raise
                                req.error = self._request_error(exc)
                            else:
                                child.commit()
                    ctx.commit()
                return
            except lmdb.MapFullError:
                ctx.abort()
                grown += 1
                if grown == _MAX_RETRIES:  # pragma: no cover - only if the disk cannot hold a doubled map
                    break
                self.grow()
            except Exception as exc:
                ctx.abort()
                for req in batch:
                    if req.error is None:
                        req.error = exc
                return
            except BaseException as exc:  # an interrupt in this thread, not a request's failure
                raise _BatchInterrupted(exc, committed=ctx.settle()) from exc
        for req in batch:  # pragma: no cover - only if the disk cannot hold a doubled map
            req.error = StorageFull(f"the map of {self.path} could not grow enough for the write")

    def _request_error(self, exc: BaseException) -> BaseException:
        """A request's own error, typed as a solo write would raise it (``_run_solo``)."""
        if isinstance(exc, lmdb.Error):
            err = _translated(exc, "writing", path=self.path)
            err.__cause__ = exc
            return err
        return exc

    def release(self) -> None:
        self.refs -= 1
        if self.refs > 0:
            return
        self.closed = True
        if self.forked or os.getpid() != self.pid:
            return
        with contextlib.suppress(lmdb.Error):
            if not self.durable:
                self.env.sync(True)
        self.env.close()


def _upgrade_counters(env: Any, txn: Any, main: Any) -> None:
    """Move a format-1 file's counters records into the main database (in the opening transaction)."""
    if txn.get(_V1_COUNTERS, db=main) is None:
        return
    old = env.open_db(_V1_COUNTERS, txn=txn, create=False)
    for key, value in txn.cursor(db=old):
        txn.put(key, value, db=main)
    txn.drop(old, delete=True)


def _widen_counters(txn: Any, main: Any) -> None:
    """Give a format-1/2 file's counters records the stale-entry count (zero), in the opening transaction."""
    old = [(key, value) for key, value in txn.cursor(db=main) if key not in SUBDATABASE_KEYS]
    for key, value in old:
        value = bytes(value)
        txn.put(key, value[:32] + bytes(8) + value[32:], db=main)


def _refuse_write_in_snapshot() -> None:
    raise ValidationError(
        "engine.snapshot() is read-only: write after the snapshot block ends "
        "(or use engine.transaction() to read and write one consistent view)"
    )


class _ThreadState(threading.local):
    """Per-thread state of one environment: its write context and snapshot, None by default.

    Class-level defaults make a missing value a plain lookup: ``getattr(local,
    name, None)`` on a bare ``threading.local`` raises and catches an
    AttributeError inside, measured at ~0.9 us, on every read and write.
    """

    ctx: WriteCtx | None = None
    snap: Any = None


class _ReadTxn:
    """``with env.reading() as txn`` for the common case: gate, begin, abort, leave."""

    __slots__ = ("env", "tid", "txn")

    def __init__(self, env: _Env) -> None:
        self.env = env
        self.txn: Any = None
        self.tid = 0

    def __enter__(self) -> Any:
        self.txn = self.env.begin_read()
        self.tid = get_ident()
        return self.txn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            self.txn.abort()
        finally:
            self.env._unmark(self.tid)
        if isinstance(exc, lmdb.Error) and not isinstance(exc, lmdb.MapFullError | lmdb.MapResizedError):
            raise _translated(exc, "reading") from exc


class WriteCtx:
    """A write transaction with the per-store counters it has touched.

    Counters (live count, size, last sequence) are kept here and written once
    at commit, not on every write: a bulk insert updates them in memory.
    Nested contexts (``child()``) are LMDB nested transactions; their counters
    and callbacks fold into the parent only when they commit.
    """

    __slots__ = (
        "_done", "aborted", "after_commit", "broken", "counters", "dbs", "env", "parent", "tails", "txn", "versions",
    )  # fmt: skip

    def __init__(self, env: _Env, txn: Any, parent: WriteCtx | None) -> None:
        self.env = env
        self.txn = txn
        self.dbs = env.dbs
        self.parent = parent
        self.counters: dict[bytes, list[int]] = {}
        # Each store's feed tail (see feed_add) as stored, loaded and written with its counters.
        self.tails: dict[bytes, bytes] = {}
        self.after_commit: list[Callable[[], None]] = []
        self.versions: dict[str, int] = {}
        self.broken = False
        self._done = False
        self.aborted = False

    def child(self) -> WriteCtx:
        """A nested transaction: a savepoint that can abort alone."""
        try:
            txn = self.env.env.begin(write=True, parent=self.txn)
        except lmdb.Error as exc:
            raise _storage_error(exc, "beginning a nested transaction") from exc
        return WriteCtx(self.env, txn, self)

    def counter(self, sid: bytes) -> list[int]:
        """``[count, size, seq, mtime_ms, stale]`` of store ``sid`` in this transaction (mutable).

        Writers change count/size/seq and the count of stale feed entries
        (:meth:`feed_drop`); the commit stamps mtime on the stores it touched.
        """
        found = self.counters.get(sid)
        if found is not None:
            return found
        ctx = self.parent
        while ctx is not None:
            if sid in ctx.counters:
                found = list(ctx.counters[sid])
                tail = ctx.tails[sid]  # bytes: what this context changes never reaches its parent's
                break
            ctx = ctx.parent
        if found is None:
            raw = self.txn.get(sid, db=self.dbs["counters"])
            if raw is None:
                raise NotFound("the store was dropped (its counters are gone)")
            try:
                found = list(COUNTERS.unpack_from(raw))
            except struct.error as exc:
                raise CorruptData(f"the counters record of store number {int.from_bytes(sid, 'big')} "
                                  f"is damaged: {exc}") from exc  # fmt: skip
            tail = counters_tail(raw)  # parsed only when an entry is taken out or moved
        self.counters[sid] = found
        self.tails[sid] = tail
        return found

    # -- the change feed's tail ---------------------------------------------------
    # A store's newest feed entries wait in its counters record, which every write
    # rewrites anyway, and go to the feed tree when they pass TAIL_BYTES. A durable
    # insert then dirties the documents tree and the counters page, not also the
    # feed tree's root and last leaf: with the counters in the main database, 6.8
    # write calls (25.6 KiB) a commit instead of 9.9 (41 KiB); raw LMDB 3.7 (21.5 KiB).
    # Every entry in a tail has a higher sequence than every entry of the store in
    # the feed tree; readers (Store.changes, check) read the tree, then the tail.
    def _tail(self, sid: bytes) -> bytes:
        """Store ``sid``'s feed tail in this transaction, loaded with its counters if it is not yet."""
        tail = self.tails.get(sid)
        if tail is None:
            self.counter(sid)
            tail = self.tails[sid]
        return tail

    def feed_add(self, sid: bytes, key: bytes, entry: bytes) -> None:
        """Add a feed entry (``key`` = ``sid`` + sequence) to store ``sid``'s feed, in sequence order."""
        tail = self._tail(sid) + tail_entry(key, entry)
        self.tails[sid] = tail
        if len(tail) > TAIL_BYTES:
            self.feed_flush(sid)

    def feed_drop(self, sid: bytes, key: bytes) -> None:
        """Retire the feed entry ``key`` of store ``sid`` (a document's previous change).

        In the tail it is taken out. In the feed tree it stays, *stale*, and the
        store's stale count grows: deleting it there would dirty a leaf
        anywhere in the tree (and its branch pages) on every update, which on
        this disk costs a durable update ~25% of its time. Readers skip a stale
        entry (its document's record has a newer sequence, or is gone). Once a
        store's stale entries outnumber its documents, its commits sweep its
        tree, ``SWEEP_STEP`` entries each, until one pass has looked at every
        entry (:func:`sweep_feed`).
        """
        tail = self._tail(sid)
        if tail and key[-8:] >= tail[:8]:  # at or past the tail's first sequence: in the tail
            entries = _parsed_tail(sid, tail)
            kept = [item for item in entries if item[0] != key]
            if len(kept) != len(entries):
                self.tails[sid] = pack_tail(kept)
                return
        self.counters[sid][4] += 1

    def feed_flush(self, sid: bytes) -> None:
        """Move store ``sid``'s feed tail into the feed tree (before entries go there directly)."""
        tail = self._tail(sid)
        if tail:
            flush_tail(self.txn, self.dbs, sid, tail)
            self.tails[sid] = b""

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        if self.parent is not None:
            self.txn.commit()
            self.parent.counters.update(self.counters)
            self.parent.tails.update(self.tails)
            self.parent.after_commit.extend(self.after_commit)
            return
        went: dict[bytes, bytes | None] | None = None  # where sweep passes go on, when steps ran
        try:
            put = self.txn.put
            db = self.dbs["counters"]
            if self.counters:
                stamp = time.time_ns() // 1_000_000
                tails = self.tails
                sweeps = self.env.sweeps
                for sid, values in self.counters.items():
                    values[3] = stamp
                    at = sweeps.get(sid)
                    if at is not None or values[4] > max(STALE_SWEEP, values[0]):
                        # One step of a sweep pass, which goes on in this store's next commits.
                        deleted, at = sweep_feed(self.txn, self.dbs, sid, start=at, limit=SWEEP_STEP)
                        values[4] = max(0, values[4] - deleted)  # never below 0, even on a damaged count
                        if went is None:
                            went = {}
                        went[sid] = at
                    put(sid, COUNTERS.pack(*values) + tails[sid], db=db)
            self.txn.commit()
            if went:
                self.env.sweep_went(went)
        finally:
            self.env.leave()
        for callback in self.after_commit:
            callback()
        if self.counters and self.env.watching:  # a store changed: wake watch.py's waiters in this process
            with self.env.watchers:
                self.env.watchers.notify_all()

    def settle(self) -> bool:
        """After an interrupt (Ctrl-C) somewhere in a write: whether it committed; if not, abort it.

        The interrupt may have struck anywhere, even just after LMDB's commit
        returned, so the transaction itself is asked: one this context neither
        aborted nor left open was committed.
        """
        if self.aborted:
            return False
        try:
            self.txn.id()
        except lmdb.Error:  # closed: committed (aborts go through abort(), which marks them)
            return True
        if self._done:  # commit() was interrupted before LMDB's commit; its finally left the gate
            self.txn.abort()
        else:
            self.abort()
        return False

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self.aborted = True
        try:
            self.txn.abort()
        finally:
            if self.parent is None:
                self.env.leave()


#: A store's counters record: count, size, last seq, mtime (ms), stale feed entries; the feed tail follows.
COUNTERS = struct.Struct(">QQQQQ")
#: A store's feed tree is swept of stale entries when they pass this and its live documents.
STALE_SWEEP = 1024
#: How many feed-tree entries one commit's sweep step looks at: 2.2 ms (5 ms at most) with
#: nearly all of them stale, measured; the pass goes on in the store's next commits.
SWEEP_STEP = 1024
TAIL_BYTES = 1024  # a longer feed tail moves to the feed tree (the counters record stays small)


def tail_entry(key: bytes, entry: bytes) -> bytes:
    """One feed entry as a feed tail holds it: the sequence (``key``'s last 8 bytes), length, bytes."""
    return key[-8:] + len(entry).to_bytes(2, "big") + entry


def flush_tail(txn: Any, dbs: dict[str, Any], sid: bytes, tail: bytes) -> None:
    """Put the entries of store ``sid``'s feed tail into the feed tree (the caller empties the tail)."""
    entries = _parsed_tail(sid, tail)
    cur = txn.cursor(db=dbs["changes"])
    # Append mode (no tree search) holds while this store's feed is the last in the
    # tree; otherwise it refuses at once, and a plain insert of the same entries follows.
    if cur.putmulti(entries, append=True)[1] != len(entries):
        cur.putmulti(entries)


def _parsed_tail(sid: bytes, tail: bytes) -> list[tuple[bytes, bytes]]:
    try:
        return unpack_tail(sid, tail)
    except ValueError as exc:
        raise CorruptData(f"the change feed of store number {int.from_bytes(sid, 'big')} is damaged: {exc}") from exc


def pack_counters(count: int, size: int, seq: int, mtime_ms: int, stale: int = 0) -> bytes:
    """Encode a store's counters record (without a feed tail)."""
    return COUNTERS.pack(count, size, seq, mtime_ms, stale)


def pack_tail(tail: list[tuple[bytes, bytes]]) -> bytes:
    """A feed tail as stored after the counters: per entry its sequence, length and bytes.

    >>> sid = (7).to_bytes(8, "big")
    >>> tail = [(sid + (5).to_bytes(8, "big"), b"entry")]
    >>> unpack_tail(sid, pack_tail(tail)) == tail
    True
    """
    return b"".join(tail_entry(key, entry) for key, entry in tail)


def _unpack_tail_py(sid: bytes, tail: bytes) -> list[tuple[bytes, bytes]]:
    """:func:`unpack_tail` in Python, where the compiled module is not built."""
    out: list[tuple[bytes, bytes]] = []
    at, end = 0, len(tail)
    while at < end:
        if at + 10 > end:
            raise ValueError(f"feed tail cut short at byte {at} of {end}")
        size = int.from_bytes(tail[at + 8 : at + 10], "big")
        if at + 10 + size > end:
            raise ValueError(f"feed tail entry of {size} bytes cut short at byte {at} of {end}")
        out.append((sid + bytes(tail[at : at + 8]), bytes(tail[at + 10 : at + 10 + size])))
        at += 10 + size
    return out


#: ``unpack_tail(sid, tail)``: the ``(feed key, entry)`` pairs of store ``sid``'s feed
#: tail (a counters record past its first 40 bytes, :func:`counters_tail`); ValueError
#: if it is cut short. Compiled when the module is built (``_accel.c``; 36 -> ~3 us for
#: a full 1 KiB tail, read every ~27th single insert), the same pairs and errors
#: either way (``tests/test_accel.py``); :func:`pack_tail` has an example.
unpack_tail: Callable[[bytes, bytes], list[tuple[bytes, bytes]]] = (
    codec.accel_function("unpack_tail") or _unpack_tail_py
)


def counters_tail(raw: bytes) -> bytes:
    """The feed tail of a counters record: what follows its 40 bytes of counters (see :func:`unpack_tail`)."""
    return raw[COUNTERS.size :]


def unpack_counters(raw: bytes) -> tuple[int, int, int, int]:
    """Decode a store's count, size, last sequence and mtime (the first 32 of its record's 40 bytes)."""
    count, size, seq, mtime, _stale = COUNTERS.unpack_from(raw)
    return count, size, seq, mtime


def counters_stale(raw: bytes) -> int:
    """How many stale entries a store's feed tree holds, from its counters record (see ``WriteCtx.feed_drop``)."""
    return int(COUNTERS.unpack_from(raw)[4])


def entry_is_live(txn: Any, docs: Any, key: bytes, entry: bytes | memoryview) -> bool:
    """Whether feed entry ``key`` (sid + seq) is its document's latest change.

    A stale entry's document has a record with a later sequence, or none. A
    record keeps its sequence at bytes 5-13 (after flags and generation), an
    entry its document id after 21 bytes (flags, generation, digest).
    """
    record = txn.get(key[:8] + bytes(entry[21:]), db=docs)
    return record is not None and record[5:13] == key[8:]


def sweep_feed(txn: Any, dbs: dict[str, Any], sid: bytes, *, start: bytes | None, limit: int) -> tuple[int, bytes | None]:
    """Delete the stale entries among ``limit`` of store ``sid``'s feed-tree entries.

    The look starts at feed key ``start`` (the store's first entry if None),
    a document lookup an entry; the deleted entries sit in sequence order, so
    their pages are neighbours. Returns how many were deleted (the caller takes
    them off the stale count) and the feed key to go on from, None once the
    store's feed is passed. A commit runs one step of ``SWEEP_STEP`` entries, so
    no commit pays for a whole pass over a large store (0.35 s for 199k entries).
    """
    cur = txn.cursor(db=dbs["changes"])
    docs = dbs["docs"]
    stale = []
    after: bytes | None = None
    left = limit
    if cur.set_range(start or sid):  # start is one of this store's feed keys (_Env.sweeps)
        for key, entry in cur:
            if not key.startswith(sid):
                break
            if not left:
                after = bytes(key)
                break
            left -= 1
            if not entry_is_live(txn, docs, key, entry):
                stale.append(bytes(key))
    for key in stale:
        txn.delete(key, db=dbs["changes"])
    return len(stale), after


def _refuse_network_fs(path: str) -> None:
    """LMDB's locking does not work on NFS/SMB: refuse to open there (Linux only)."""
    try:
        with Path("/proc/self/mounts").open() as fh:
            mounts = [line.split()[1:3] for line in fh if len(line.split()) > 2]
    except OSError:
        return
    real = os.path.realpath(path)
    best, kind = "", ""
    for mount_point, fstype in mounts:
        mount_point = mount_point.replace("\\040", " ")
        if (real == mount_point or real.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
            best, kind = mount_point, fstype
    if kind in {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs", "ceph"}:
        raise StorageError(
            f"{path} is on a network file system ({kind}); LMDB's locking is unsafe there, use a local disk"
        )


# --- the public Engine ----------------------------------------------------------------


class Engine:
    """An open datastore: stores of JSON documents, buckets of blobs, in one LMDB environment.

    Open it with :func:`datastore_engine.open`; close it (or use ``with``) when done.

    >>> import datastore_engine as dse
    >>> with dse.open_temporary(app="demo") as engine:
    ...     store = engine.store("people")
    ...     _ = store.put("ada", {"name": "Ada"})
    ...     store.get("ada")
    {'name': 'Ada'}
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        app: str = "default",
        org: str = "default",
        durable: bool = True,
        map_size: int | None = None,
        verify: bool = False,
        max_depth: int = codec.DEFAULT_MAX_DEPTH,
        max_document_bytes: int = codec.DEFAULT_MAX_BYTES,
        _temporary: bool = False,
    ) -> None:
        for limit_name, limit in (("max_depth", max_depth), ("max_document_bytes", max_document_bytes)):
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ValidationError(f"{limit_name} must be a positive int, got {limit!r}")
        self.max_depth = max_depth
        self.max_document_bytes = max_document_bytes
        for label, value in (("app", app), ("org", org)):
            if not isinstance(value, str) or not value or "\x00" in value or len(value) > 128:
                raise ValidationError(f"{label} must be a str of 1-128 characters without NUL, got {value!r}")
        if map_size is not None and (not isinstance(map_size, int) or map_size <= 0):
            raise ValidationError(f"map_size must be a positive int of bytes, got {map_size!r}")
        self.app = app
        self.org = org
        self.path = os.fspath(path)
        self._temporary = _temporary
        os.makedirs(self.path, exist_ok=True)
        key = os.path.realpath(self.path)
        if verify and key not in _registry:
            _verify_file(key)  # before liblmdb ever maps the file
        with _registry_lock:
            env = _registry.get(key)
            if env is not None and env.durable != durable:
                raise ValidationError(
                    f"{self.path} is already open in this process with durable={env.durable}; "
                    f"open it with the same setting (asked for durable={durable})"
                )
            if env is None:
                if any(old.path == key for old in _inherited):
                    raise ForkedEngine(
                        f"{self.path} was open in the parent when this process forked; py-lmdb cannot "
                        "open the same file twice in one process, and closing the inherited handle "
                        "would clear the parent's reader slots. Open engines after forking (e.g. in a "
                        "pool initializer) or use the 'spawn' start method"
                    )
                env = _Env(key, durable=durable, map_size=map_size)
                _registry[key] = env
            env.refs += 1
        self._env = env
        self.durable = env.durable
        self._closed = False
        self._stores: dict[tuple[str, str], Store] = {}
        self._finalizer = weakref.finalize(self, _finalize, env, self.path if _temporary else None)
        if verify:
            self._verify_records()

    def _verify_records(self) -> None:
        from .check import check

        problems = check(self, untrusted=True)
        if problems:
            self.close()
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CorruptData(f"{self.path} failed verification: {problems[0]}{more}")

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the engine (the environment closes when its last engine in the process does)."""
        if self._closed:
            return
        self._closed = True
        if self._env.forked:
            self._finalizer.detach()
            return
        self._finalizer()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Engine {self.path!r} app={self.app!r} org={self.org!r} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed

    def _check(self) -> _Env:
        if self._closed:
            raise EngineClosed(f"the engine for {self.path} is closed")
        env = self._env
        if env.forked:
            env.check()
        return env

    # -- stores ---------------------------------------------------------------------------
    def store(self, name: str, domain: str = "local") -> Store:
        """The store ``name`` in ``domain`` (local, organization, system), created if missing.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     engine.store("crm", domain="organization").info.domain
        'organization'
        """
        from .store import Store

        env = self._check()
        found = self._stores.get((domain, name))
        if found is not None:
            return found
        check_store_name(name)
        check_domain(domain)
        state = catalog.load_state(self, domain, name)
        if state is None:
            env.run_write(lambda ctx: catalog.ensure_store(ctx, self, domain, name))
            state = catalog.load_state(self, domain, name)
            if state is None:  # pragma: no cover - dropped by another process in between
                raise NotFound(f"store {name!r} in domain {domain!r} vanished while being created")
        store = Store(self, state)
        ctx: WriteCtx | None = env.tls.ctx
        if ctx is None:
            self._stores[(domain, name)] = store
        else:
            # Inside engine.transaction() the store may exist only in this
            # transaction; cached now, a rollback would leave a Store that says
            # "dropped" forever. Cache it when the transaction commits.
            def remember() -> None:
                self._stores.setdefault((domain, name), store)

            ctx.after_commit.append(remember)
        return store

    def _forget_store(self, domain: str, name: str) -> None:
        self._stores.pop((domain, name), None)

    # -- transactions -------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Engine]:
        """Group writes to any stores into one atomic commit.

        Reads inside see the transaction's own writes. An exception leaving the
        block rolls everything back. Nesting makes a savepoint: an exception
        leaving an inner block undoes only the inner block (if the outer block
        catches it). The transaction belongs to the thread that began it.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     a, b = engine.store("a"), engine.store("b")
        ...     with engine.transaction():
        ...         _ = a.put("x", {"n": 1}); _ = b.put("y", {"n": 2})
        ...     (len(a), len(b))
        (1, 1)
        """
        env = self._check()
        env.check()
        outer: WriteCtx | None = env.tls.ctx
        if outer is None and env.tls.snap is not None:
            _refuse_write_in_snapshot()
        if outer is not None:
            if outer.broken:
                raise MapGrown("the map filled earlier in this transaction; leave it and run it again")
            child = outer.child()
            env.tls.ctx = child
            try:
                yield self
            except BaseException:
                child.abort()
                raise
            else:
                if child.broken:
                    outer.broken = True
                    child.abort()
                    raise MapGrown("the map filled inside engine.transaction(); run it again")
                try:
                    child.commit()
                except lmdb.MapFullError:
                    outer.broken = True
                    raise MapGrown("the map filled inside engine.transaction(); run it again") from None
            finally:
                env.tls.ctx = outer
            return
        ctx = env.begin_write(look_ahead=True)
        env.tls.ctx = ctx
        try:
            yield self
        except BaseException:
            env.tls.ctx = None
            ctx.abort()
            if ctx.broken:
                env.grow()
            raise
        env.tls.ctx = None
        if ctx.broken:
            ctx.abort()
            env.grow()
            raise MapGrown(
                "the map filled inside engine.transaction(); nothing was committed and the map "
                "has grown: run the transaction again"
            )
        try:
            with translate("committing", path=env.path):
                ctx.commit()
        except lmdb.MapFullError:
            ctx.abort()
            env.grow()
            raise MapGrown(
                "the map filled while committing engine.transaction(); nothing was committed and "
                "the map has grown: run the transaction again"
            ) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Engine]:
        """Read any stores and buckets as of one moment: one read transaction for the block.

        Every read on this thread inside the block (``get``, ``len``, ``items``,
        ``info``, ``find``, blob reads) sees the same committed state, whatever
        other threads and processes commit meanwhile. Writes inside are refused
        (:class:`ValidationError`); use :meth:`transaction` to read and write
        one view. Keep it short: it holds back map growth in this process and
        keeps old pages from reuse.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     a, b = engine.store("a"), engine.store("b")
        ...     _ = a.put("x", {"n": 1}); _ = b.put("y", {"n": 2})
        ...     with engine.snapshot():
        ...         a.get("x")["n"] + b.get("y")["n"]
        3
        """
        env = self._check()
        with env.snapshot():
            yield self

    @property
    def in_transaction(self) -> bool:
        """True inside ``engine.transaction()`` on this thread."""
        return self._env.tls.ctx is not None

    # -- catalog API (issue 4) -------------------------------------------------------------
    # Thin methods: the logic is in manage.py (stores), structures.py and session.py.
    def create_store(
        self,
        name: str,
        *,
        domain: str = "local",
        description: str = "",
        owner: str | None = None,
        max_size_mb: int | None = None,
        structure: str | Structure | None = None,
        admin_access: Iterable[str] = (),
        read_access: Iterable[str] = (),
        write_access: Iterable[str] = (),
        id: str | None = None,
    ) -> StoreInfo:
        """Create store ``name``; returns its StoreInfo. Conflict if the name or ``id`` is taken in the domain.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     engine.create_store("crm", id="crm-1", max_size_mb=10).id
        'crm-1'
        """
        from . import manage

        self._check()
        return manage.create_store(
            self, name, domain=domain, store_id=id, description=description, owner=owner,
            max_size_mb=max_size_mb, structure=structure, admin_access=admin_access,
            read_access=read_access, write_access=write_access,
        )  # fmt: skip

    def store_info(self, name: str | None = None, *, domain: str = "local", id: str | None = None) -> StoreInfo:
        """The StoreInfo of store ``name`` (or of the store with ``id``) in ``domain``; NotFound if missing."""
        from . import manage

        self._check()
        if (name is None) == (id is None):
            raise ValidationError("store_info() takes a store name or id=, not both")
        return manage.store_info(self, name, domain=domain, store_id=id)

    def stores(
        self,
        domain: str | None = None,
        *,
        filter: str | None = None,
        data_filter: str | None = None,
        sort_by: str = "name",
        sort_dir: str = "asc",
        start: int = 0,
        count: int = 100,
    ) -> Page[StoreInfo]:
        """A page of StoreInfo; ``domain=None`` lists local, organization and system stores.

        ``filter`` is a SCIM filter over StoreInfo fields, ``data_filter`` keeps
        stores with a matching document; ``count`` is at most 500.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     _ = engine.create_store("b"); _ = engine.create_store("a", domain="system")
        ...     [s.name for s in engine.stores(sort_dir="desc")]
        ['b', 'a']
        """
        from . import manage

        self._check()
        return manage.list_stores(
            self, domain, filter=filter, data_filter=data_filter, sort_by=sort_by,
            sort_dir=sort_dir, start=start, count=count,
        )  # fmt: skip

    def update_store(self, name: str, /, *, domain: str = "local", **fields: Any) -> StoreInfo:
        """Change only the given fields of a store (``name=`` renames it); returns the new StoreInfo.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     _ = engine.create_store("crm", description="old")
        ...     engine.update_store("crm", name="customers").description
        'old'
        """
        from . import manage

        self._check()
        return manage.update_store(self, name, domain=domain, fields=fields)

    def drop_store(self, name: str, *, domain: str = "local", confirmed: bool = False) -> str:
        """Drop a store and everything in it; returns its id. Conflict if it holds documents, unless ``confirmed``."""
        return self.drop_stores([name], domain=domain, confirmed=confirmed)[0]

    def drop_stores(self, names: Iterable[str], *, domain: str = "local", confirmed: bool = False) -> list[str]:
        """Drop several stores in one transaction; returns their ids (see :meth:`drop_store`)."""
        from . import manage

        self._check()
        return manage.drop_stores(self, names, domain=domain, confirmed=confirmed)

    def create_structure(self, name: str, fields: Any = (), *, strict: bool = False,
                         id: str | None = None) -> Structure:  # fmt: skip
        """Define a data structure (see :mod:`datastore_engine.structures`); returns it (``.id``)."""
        from . import structures

        self._check()
        return structures.create_structure(self, name, fields, strict=strict, structure_id=id)

    def structure(self, id: str) -> Structure:
        """The data structure ``id``; NotFound if missing."""
        from . import structures

        self._check()
        return structures.get_structure(self, id)

    def structures(self) -> list[Structure]:
        """Every data structure, by name."""
        from . import structures

        self._check()
        return structures.list_structures(self)

    def update_structure(self, id: str, **changes: Any) -> Structure:
        """Change a structure's ``name``, ``fields`` or ``strict``; bound stores use it from their next write."""
        from . import structures

        self._check()
        return structures.update_structure(self, id, **changes)

    def drop_structure(self, id: str) -> None:
        """Delete a data structure; Conflict while a store uses it."""
        from . import structures

        self._check()
        structures.drop_structure(self, id)

    def session(
        self,
        *,
        principal: str,
        groups: Iterable[str] = (),
        can_create_stores: bool = False,
        can_use_buckets: bool = False,
    ) -> Session:
        """An access-checked view of this engine acting for ``principal`` (see :mod:`datastore_engine.session`)."""
        from .session import Session

        self._check()
        return Session(
            self, principal=principal, groups=groups, can_create_stores=can_create_stores,
            can_use_buckets=can_use_buckets,
        )  # fmt: skip


    # -- blob API (issue 5) --------------------------------------------------------------------
    # Thin delegations to blobs.py (buckets are engine-wide, not scoped by app/org).
    def bucket(self, name: str) -> Bucket:
        """The bucket ``name``, created if missing (S3 naming rules, underscores allowed).

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     engine.bucket("media").put("a.txt", b"hi").etag
        '49f68a5c8493ec2c0bf489821c21fc3b'
        """
        from . import blobs

        return blobs.bucket(self, name)

    def create_bucket(self, name: str) -> Bucket:
        """Create bucket ``name``; :class:`Conflict` if it exists."""
        from . import blobs

        return blobs.create_bucket(self, name)

    def remove_bucket(self, name: str, force: bool = False) -> None:
        """Remove bucket ``name``; :class:`Conflict` if it holds objects unless ``force``."""
        from . import blobs

        blobs.remove_bucket(self, name, force=force)

    def bucket_exists(self, name: str) -> bool:
        """True if bucket ``name`` exists."""
        from . import blobs

        return blobs.bucket_exists(self, name)

    def buckets(self) -> list[Bucket]:
        """Every bucket, by name."""
        from . import blobs

        return blobs.buckets(self)

    # -- maintenance -----------------------------------------------------------------------
    def backup(self, dest: str | os.PathLike[str], *, compact: bool = True) -> str:
        """Write a consistent copy of the whole environment into directory ``dest``.

        Other threads and processes may keep writing meanwhile; the copy is one
        snapshot. ``compact=True`` leaves out free pages. Restoring is opening
        the copy with :func:`datastore_engine.open`. Returns ``dest``.
        """
        env = self._check()
        target = os.fspath(dest)
        os.makedirs(target, exist_ok=True)
        if os.path.exists(os.path.join(target, "data.mdb")):
            raise ValidationError(f"backup destination {target!r} already holds a database")
        with translate(f"backing up to {target}"):
            env.env.copy(target, compact=compact)
        return target

    def check(self) -> list[str]:
        """Problems found by a full consistency check (an empty list: none). See :mod:`.check`.

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     _ = engine.store("s").put("a", {"n": 1})
        ...     engine.check()
        []
        """
        from .check import check

        return check(self)

    def map_info(self) -> dict[str, int]:
        """Map and file use: ``map_size``, ``used_bytes``, ``page_size``, ``readers``."""
        env = self._check()
        with translate("reading map info"):
            info = env.env.info()
        return {
            "map_size": int(info["map_size"]),
            "used_bytes": int((info["last_pgno"] + 1) * env.psize),
            "page_size": int(env.psize),
            "readers": int(info["num_readers"]),
        }


def _verify_file(path: str) -> None:
    """Run py-lmdb's offline verifier (a pure-Python walk of every page) on ``path``'s data file."""
    data = os.path.join(path, "data.mdb")
    if not os.path.exists(data):
        return
    try:
        from lmdb import verify as lmdb_verify
    except ImportError as exc:  # pragma: no cover - py-lmdb < 3.0
        raise StorageError("open(..., verify=True) needs py-lmdb >= 3.0 (lmdb.verify)") from exc
    try:
        problems = verify_problems(path)
    except lmdb_verify.VerifyError as exc:
        raise CorruptData(f"{data} is not a usable LMDB data file: {exc}") from exc
    except (OSError, ValueError, struct.error, IndexError) as exc:
        raise CorruptData(f"{data} could not be verified: {exc}") from exc
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CorruptData(f"{data} failed LMDB verification: {problems[0]}{more}")


def verify_problems(path: str) -> list[str]:
    """py-lmdb's offline verifier on the closed environment ``path``, minus one false positive.

    LMDB overwrites a value in place when its new size fits the overflow pages
    the key already holds *in the same transaction* (``mdb_cursor_put``: "we
    don't bother to try shrinking the page"), so a page header may claim more
    pages than the value needs; LMDB frees the whole extent later. py-lmdb
    3.0's verifier reports that as three problems (header count, the DB's
    overflow total, "a leak"). They are dropped only when they reconcile
    exactly: the extra pages of every such extent add up to the DB totals'
    difference and to the leak count. Anything else stays a problem.
    """
    from lmdb import verify as lmdb_verify

    problems: list[str] = lmdb_verify.verify(path, subdir=True)  # type: ignore[no-untyped-call]
    extra: dict[str, int] = {}
    starts: list[int] = []
    rest: list[str] = []
    for problem in problems:
        m = _OVERSIZED.match(problem)
        if m and int(m["have"]) > int(m["need"]):
            extra[m["db"]] = extra.get(m["db"], 0) + int(m["have"]) - int(m["need"])
            starts.append(int(m["page"]) + int(m["need"]))
        else:
            rest.append(problem)
    if not extra:
        return problems
    matched: set[str] = set()
    leak_ok = False
    remaining = []
    for problem in rest:
        w = _WALKED.match(problem)
        if w and int(w["says"]) - int(w["walked"]) == extra.get(w["db"]):
            matched.add(w["db"])
            continue
        leak = _LEAK.match(problem)
        if leak and int(leak["count"]) == sum(extra.values()) and int(leak["first"]) == min(starts):
            leak_ok = True
            continue
        remaining.append(problem)
    return remaining if matched == set(extra) and leak_ok else problems


_OVERSIZED = re.compile(
    r"(?P<db>.+) DB: overflow page (?P<page>\d+) header mp_pages (?P<have>\d+) != OVPAGES\(\d+\)=(?P<need>\d+)"
)
_WALKED = re.compile(
    r"(?P<db>.+) DB: walked (?P<walked>\d+) overflow pages, record says (?P<says>\d+)"
)
_LEAK = re.compile(
    r"(?P<count>\d+) page\(s\) are neither reachable nor in the freeDB -- a leak \(first: page (?P<first>\d+)\)"
)


def _finalize(env: _Env, temp_path: str | None) -> None:
    with _registry_lock:
        env.release()
        if env.refs <= 0 and _registry.get(env.path) is env:
            del _registry[env.path]
    if temp_path is not None and env.refs <= 0:
        shutil.rmtree(temp_path, ignore_errors=True)


def open(
    path: str | os.PathLike[str],
    *,
    app: str = "default",
    org: str = "default",
    durable: bool = True,
    map_size: int | None = None,
    verify: bool = False,
    max_depth: int = 64,
    max_document_bytes: int = 16 * 1024 * 1024,
) -> Engine:
    """Open (creating if missing) the datastore in directory ``path``.

    ``app`` scopes the ``local`` domain, ``org`` the ``organization`` domain.
    ``durable=False`` skips the flush per commit (see the module notes).
    ``map_size`` is the initial map reservation in bytes; the map grows by itself.
    ``max_depth`` (nesting) and ``max_document_bytes`` (encoded size) are the
    per-document limits this engine enforces on writes (:class:`LimitExceeded`).
    ``verify=True`` is for a file written elsewhere (a copy, a sync, a user):
    before use, py-lmdb's verifier walks every page, then every record must
    decode as strict JSON (no duplicate keys, no extension types) and the
    counters, feed and indexes must agree (:meth:`Engine.check`); any problem
    raises :class:`CorruptData` and leaves the engine closed. It reads the
    whole file: slow for big ones, and meant for a file no other process has open.

    >>> import datastore_engine as dse, tempfile
    >>> with dse.open(tempfile.mkdtemp(), app="dns-app") as engine:
    ...     engine.app
    'dns-app'
    """
    return Engine(
        path, app=app, org=org, durable=durable, map_size=map_size, verify=verify,
        max_depth=max_depth, max_document_bytes=max_document_bytes,
    )  # fmt: skip


def open_temporary(
    *,
    app: str = "default",
    org: str = "default",
    durable: bool = False,
    map_size: int | None = None,
    max_depth: int = 64,
    max_document_bytes: int = 16 * 1024 * 1024,
) -> Engine:
    """An engine in a new temporary directory, deleted when the engine closes.

    Temporary engines default to ``durable=False``: their data dies with them anyway.
    """
    path = tempfile.mkdtemp(prefix="datastore_engine-")
    return Engine(
        path, app=app, org=org, durable=durable, map_size=map_size, _temporary=True,
        max_depth=max_depth, max_document_bytes=max_document_bytes,
    )  # fmt: skip
