"""Store: the JSON documents of one store (CRUD, merge, paths, iteration).

Every write goes through :meth:`Store._write`: one function that, in one
transaction, checks the store's limits, password and revision, updates
secondary indexes, writes the document record, moves its change-feed entry
and adjusts the live counters. Encoding and validation happen before the
write lock is taken, so concurrent writers spend the lock only on LMDB work.

Reads take a short read transaction each (or the thread's write transaction
inside ``engine.transaction()``, so they see its writes).

Password-protected documents (``put(..., password=...)``) need the same
``password=`` for every later get/put/merge/delete; they are left out of
``items()``, ``find()`` and ``search()`` (their ids still show in ``keys()``).

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     s = engine.store("numbers")
    ...     s.add({"one": 1}, rid="one")
    ...     _ = s.merge("one", {"two": 2})
    ...     (s.get("one"), len(s), "one" in s)
    'one'
    ({'one': 1, 'two': 2}, 1, True)
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import access, catalog, changes, codec, paths
from . import engine as _engine
from .catalog import U64
from .codec import DIGEST, FLAG_CONFLICTS, FLAG_DELETED, FLAG_PROTECTED, pack_record, read_header
from .engine import COUNTERS, flush_tail
from .errors import (
    Conflict,
    CorruptData,
    DuplicateKey,
    EngineClosed,
    Forbidden,
    LimitExceeded,
    NotFound,
    ValidationError,
)
from .keys import new_rid, rid_bytes
from .merge import deep_merge

if TYPE_CHECKING:
    from .catalog import StoreInfo, StoreState
    from .engine import Engine, WriteCtx
    from .page import Page

__all__ = ["Store"]

_MISSING: Any = object()
_TOMBSTONE_BODY = b"\xc0"  # msgpack nil
_BATCH = 1000


_CHUNK = 1024  # put_many validates and writes this many documents at a time


#: What the insert lane's last commit wrote for a store: its transaction id, then the counters
#: (count, size, last seq, stale feed entries) and feed tail (see Store._insert_alone).
_LaneCommit = tuple[int, int, int, int, int, bytes]


def _plain(state: StoreState) -> bool:
    """A store whose new documents need no index entries and no structure check."""
    return not state.indexes and state.validator is None


def _new_fast(state: StoreState) -> bool:
    """A store whose new documents take :meth:`Store._add_new`: no structure check and no unique
    index (a unique index is checked before anything is written, on the general path)."""
    fast = state.extra.get("new_fast")
    if fast is None:
        fast = state.extra["new_fast"] = state.validator is None and not any(d.get("unique") for d in state.indexes)
    return bool(fast)


_find_module: Any = None
_index_module: Any = None


def _indexes() -> Any:
    """The index module (:mod:`.index`), imported on first use (it pulls in the query package,
    ~50 ms); held here, as ``from . import index`` in a write path costs ~1 us each time."""
    global _index_module
    if _index_module is None:
        from . import index

        _index_module = index
    return _index_module


def _queries() -> Any:
    """The query module (:mod:`.find`), imported on first use: it pulls in jsonpath-ng."""
    global _find_module
    if _find_module is None:
        from . import find

        _find_module = find
    return _find_module


class Store:
    """The documents of one store. Get one with ``engine.store(name, domain=...)``."""

    def __init__(self, engine: Engine, state: StoreState) -> None:
        self._engine = engine
        self._env = engine._env
        self._dbs = engine._env.dbs
        self._state = state
        self._docs = self._dbs["docs"]

    # -- identity ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._state.name

    @property
    def domain(self) -> str:
        return self._state.domain

    @property
    def engine(self) -> Engine:
        return self._engine

    def __repr__(self) -> str:
        return f"<Store {self.domain}/{self.name}>"

    def _live(self) -> None:
        if self._engine._closed:
            raise EngineClosed(f"the engine of store {self.name!r} is closed")

    def _read_state(self, txn: Any) -> StoreState:
        state = self._state
        # A read snapshot is named by its transaction id: one whose catalog was
        # already checked against this state needs no second look (~4k
        # instructions of a ~75k indexed lookup). Only read-only transactions
        # are remembered; a write transaction's id is always past every
        # committed one, so it never matches.
        snapshot = txn.id()
        if snapshot == state.extra.get("read_txn"):
            return state
        state = catalog.refresh_read(txn, self._dbs, state)
        self._state = state
        if self._env.read_only(txn):
            state.extra["read_txn"] = snapshot
        return state

    def _write_state(self, ctx: WriteCtx) -> StoreState:
        state = catalog.refresh(ctx, self._state)
        self._state = state
        return state

    @property
    def info(self) -> StoreInfo:
        """This store's :class:`StoreInfo` (name, domain, size, count, access lists, ...)."""
        self._live()
        from .engine import unpack_counters

        with self._env.reading() as txn:
            state = self._read_state(txn)
            raw = txn.get(state.prefix, db=self._dbs["counters"])
        if raw is None:
            raise NotFound(f"store {self.name!r} in domain {self.domain!r} was dropped")
        counters = unpack_counters(raw)
        ctx = self._env.tls.ctx
        if ctx is not None and state.prefix in ctx.counters:
            count, size, seq, mtime, _stale = ctx.counters[state.prefix]
            counters = (count, size, seq, mtime)
        return catalog.info_from(state.record, counters, app=self._engine.app, org=self._engine.org)

    # -- reads -----------------------------------------------------------------------
    def _raw(self, rid: str) -> tuple[bytes, bytes | None]:
        self._live()
        key = self._state.prefix + rid_bytes(rid)
        return key, self._env.get_one(key, self._docs)

    def _check_password(
        self, txn: Any, key: bytes, rid: str, password: str | None, *, verified: bytes | None = None
    ) -> None:
        stored = txn.get(key, db=self._dbs["passwords"])
        if stored is None:
            return
        if verified is not None and stored == verified:
            # Checked against this very hash before the write lock was taken (scrypt is slow).
            access.BACKOFF.succeeded((self._env.path, key))
            return
        if password is None or not access.verify_password(password, stored):
            if password is not None:  # a wrong guess slows the next ones (access.Backoff)
                access.BACKOFF.failed((self._env.path, key))
            what = "needs a password" if password is None else "password is wrong"
            raise Forbidden(f"document {rid!r} in store {self.name!r}: {what}", reason="BadPassword")
        access.BACKOFF.succeeded((self._env.path, key))

    def get(self, rid: str, default: Any = _MISSING, *, password: str | None = None, with_rev: bool = False) -> Any:
        """The document ``rid``; ``default`` if given and missing, else :class:`NotFound`.

        ``with_rev=True`` returns ``(document, revision)``.
        """
        # _raw(), inlined: this is the point-read hot path.
        if self._engine._closed:
            raise EngineClosed(f"the engine of store {self.name!r} is closed")
        key = self._state.prefix + rid_bytes(rid)
        raw = self._env.get_one(key, self._docs)
        if raw is None or raw[0] & FLAG_DELETED:
            if default is not _MISSING:
                return default
            raise NotFound(f"document {rid!r} not found in store {self.name!r}")
        if raw[0] & FLAG_PROTECTED:
            if password is not None:
                access.BACKOFF.wait((self._env.path, key))
            with self._env.reading() as txn:
                self._check_password(txn, key, rid, password)
        doc = codec.record_body(raw, key=rid)
        if with_rev:
            return doc, read_header(raw, key=rid).rev
        return doc

    def rev(self, rid: str) -> str:
        """The current revision of ``rid`` (``NotFound`` if missing or deleted)."""
        _key, raw = self._raw(rid)
        if raw is None or raw[0] & FLAG_DELETED:
            raise NotFound(f"document {rid!r} not found in store {self.name!r}")
        return read_header(raw, key=rid).rev

    def get_path(self, rid: str, path: str, default: Any = _MISSING, *, password: str | None = None) -> Any:
        """The value at dotted ``path`` (``"a.b.0"``) of document ``rid``."""
        paths.parse_path(path)
        doc = self.get(rid, password=password)
        try:
            return paths.get_in(doc, path)
        except NotFound:
            if default is not _MISSING:
                return default
            raise NotFound(f"path {path!r} not found in document {rid!r} of store {self.name!r}") from None

    def __contains__(self, rid: object) -> bool:
        if not isinstance(rid, str):
            return False
        try:
            _key, raw = self._raw(rid)
        except ValidationError:
            return False
        return raw is not None and not raw[0] & FLAG_DELETED

    def __len__(self) -> int:
        self._live()
        from .engine import unpack_counters

        ctx = self._env.tls.ctx
        if ctx is not None:
            return int(ctx.counter(self._write_state(ctx).prefix)[0])
        raw = self._env.get_one(self._state.prefix, self._dbs["counters"])
        if raw is None:
            raise NotFound(f"store {self.name!r} in domain {self.domain!r} was dropped")
        return int(unpack_counters(raw)[0])

    def _scan(self, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(rid bytes, raw record) of live documents from ``start``, in key order, in batches."""
        self._live()
        prefix = self._state.prefix
        cursor_from = prefix + start
        first = True
        while True:
            batch: list[tuple[bytes, bytes]] = []
            with self._env.reading() as txn:
                cur = txn.cursor(db=self._docs)
                if not cur.set_range(cursor_from):
                    return
                if not first and cur.key() == cursor_from and not cur.next():
                    return
                for key, raw in cur:
                    if not key.startswith(prefix):
                        break
                    batch.append((key, raw))
                    if len(batch) >= _BATCH:
                        break
            first = False
            for key, raw in batch:
                if not raw[0] & FLAG_DELETED:
                    yield key[8:], raw
            if len(batch) < _BATCH:
                return
            cursor_from = batch[-1][0]

    def keys(self, prefix: str = "", contains: str = "") -> list[str]:
        """Ids of live documents in id order, optionally starting with ``prefix`` / containing ``contains``.

        Both tests are case-sensitive substring tests on the id.
        """
        start = prefix.encode() if prefix else b""
        out = []
        for rid_b, _raw in self._scan(start):
            if prefix and not rid_b.startswith(start):
                break
            rid = rid_b.decode()
            if contains and contains not in rid:
                continue
            out.append(rid)
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """``(rid, document)`` pairs in id order (password-protected documents are left out).

        Reads in batches of short transactions: memory stays bounded, and a
        long iteration does not pin old pages. It is therefore not one snapshot.
        """
        start = prefix.encode() if prefix else b""
        for rid_b, raw in self._scan(start):
            if prefix and not rid_b.startswith(start):
                break
            if raw[0] & FLAG_PROTECTED:
                continue
            rid = rid_b.decode()
            yield rid, codec.record_body(raw, key=rid)

    def values(self) -> Iterator[Any]:
        """Documents in id order (password-protected ones left out)."""
        for _rid, doc in self.items():
            yield doc

    # -- writes ----------------------------------------------------------------------
    def _encode(self, doc: Any, rid: str) -> bytes:
        engine = self._engine
        data = codec.encode_plain(doc, engine.max_depth, engine.max_document_bytes)  # no repr(rid) for it
        if data is not None:
            return data
        return codec.encode(doc, where=repr(rid), max_depth=engine.max_depth, max_bytes=engine.max_document_bytes)

    def add(self, doc: Any, *, rid: str | None = None, password: str | None = None) -> str:
        """Add a new document; returns its id (a new time-ordered id when ``rid`` is None).

        :class:`DuplicateKey` if ``rid`` exists.
        """
        if rid is None:
            rid = new_rid()
        rid_b = rid_bytes(rid)
        body = self._encode(doc, rid)
        state = self._state
        # The fast lane (see _insert_alone); anything it declines takes the general path.
        plain = not state.indexes and state.validator is None  # _new_fast's common case, without a call
        lane = password is None and (plain or _new_fast(state)) and not self._engine._closed
        if lane:
            committed = self._env.solo_write(self._insert_alone, state, rid_b, body, doc)
            if committed is not None:
                state.extra["lane"] = committed  # see _insert_alone
                return rid
        self._write(rid, rid_b, doc, body, mode="add", password=password)
        return rid

    def put(self, rid: str, doc: Any, *, if_rev: str | None = None, password: str | None = None) -> str:
        """Create or replace document ``rid``; returns the new revision.

        ``if_rev`` makes it conditional: :class:`Conflict` unless the current
        revision is ``if_rev``. ``password`` protects a new document, and must
        match for a protected one.
        """
        rid_b = rid_bytes(rid)
        body = self._encode(doc, rid)
        return self._write(rid, rid_b, doc, body, mode="put", if_rev=if_rev, password=password)

    def put_many(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[str]:
        """Create or replace many documents in one transaction; their new revisions, in order.

        ``items`` is a mapping of id to document or an iterable of ``(rid, doc)``
        pairs. All or nothing: a bad id or document raises its usual error
        (naming the id) and nothing of the batch is written; inside
        ``engine.transaction()`` it joins that transaction. One commit instead
        of one per document, and a tight loop for new documents in a plain store:
        the way to load data (see ``bench/``).

        >>> import datastore_engine as dse
        >>> with dse.open_temporary() as engine:
        ...     s = engine.store("people")
        ...     revs = s.put_many({"ada": {"age": 36}, "alan": {"age": 41}})
        ...     (len(revs), s.get("alan"), len(s))
        (2, {'age': 41}, 2)
        """
        self._live()
        pairs = items.items() if isinstance(items, Mapping) else items
        revs: list[str] = []
        with self._engine.transaction():
            self._env.run_write(lambda ctx: self._put_batch(ctx, pairs, revs))
        return revs

    def _put_batch(self, ctx: WriteCtx, pairs: Iterable[tuple[str, Any]], revs: list[str]) -> None:
        engine = self._engine
        encode = codec.encoder(max_depth=engine.max_depth, max_bytes=engine.max_document_bytes)
        state = self._write_state(ctx)  # one transaction: the catalog cannot change under us
        plain = _plain(state)
        chunk: list[tuple[str, bytes, Any, bytes]] = []
        for pair in pairs:
            if (type(pair) is not tuple and not isinstance(pair, tuple | list)) or len(pair) != 2:
                raise ValidationError(f"put_many takes a mapping or (rid, document) pairs, got a {type(pair).__name__}")
            rid, doc = pair
            rid_b = rid_bytes(rid)
            chunk.append((rid, rid_b, doc, encode(doc, rid)))
            if len(chunk) == _CHUNK:
                self._put_chunk(ctx, state, chunk, revs, plain=plain)
                chunk = []
        if chunk:
            self._put_chunk(ctx, state, chunk, revs, plain=plain)

    def _put_chunk(
        self, ctx: WriteCtx, state: StoreState, chunk: list[tuple[str, bytes, Any, bytes]], revs: list[str], *, plain: bool
    ) -> None:
        """Write validated ``(rid, rid_b, doc, body)`` items; all new documents of a plain store in two C loops.

        LMDB's ``putmulti`` (one call for the chunk's records, one for its feed
        entries) saves ~0.8 us per document over a put each. If any record is
        refused (its id exists, or the quota would be passed) the records this
        chunk added are taken out again and every item goes through the
        per-document path, which replaces, checks quota and raises exactly as
        ``put`` does.
        """
        counters = ctx.counter(state.prefix)
        if plain and self._put_new_chunk(ctx, state, counters, chunk, revs):
            return
        add_new, apply, append = self._add_new, self._apply, revs.append
        fast = _new_fast(state)
        for rid, rid_b, doc, body in chunk:
            rev = add_new(ctx, state, counters, rid_b, body, doc) if fast else None
            append(rev or apply(ctx, rid, rid_b, doc, body, "put", None, None, None, None))

    def _put_new_chunk(
        self, ctx: WriteCtx, state: StoreState, counters: list[int], chunk: list[tuple[str, bytes, Any, bytes]],
        revs: list[str],
    ) -> bool:  # fmt: skip
        """All of ``chunk`` as new documents, or nothing and False."""
        prefix, size = state.prefix, counters[1]
        for _rid, rid_b, _doc, body in chunk:
            size += len(rid_b) + len(body)
        if state.max_bytes is not None and size > state.max_bytes:
            return False
        seq = counters[2]
        records, entries, new_revs = changes.first_revisions(prefix, seq + 1, chunk)
        txn = ctx.txn
        docs = txn.cursor(db=self._docs)
        # Append mode skips the tree search for ids past the last key; it refuses
        # the others, which then take a plain insert. A refusal there means the id exists.
        _, added = docs.putmulti(records, overwrite=False, append=True)
        if added != len(records):
            # Which were refused: by position, not key (a chunk may name one id twice).
            rest = [(key, record) for key, record in records if txn.get(key, db=self._docs) != record]
            _, added_rest = docs.putmulti(rest, overwrite=False)
            if added_rest != len(rest):  # some ids exist: undo this chunk's inserts, go one by one
                for key, record in records:
                    if txn.get(key, db=self._docs) == record:  # a seq in the header: never an old record
                        txn.delete(key, db=self._docs)
                return False
        ctx.feed_flush(prefix)  # the tail's entries come before this chunk's
        feed, extra = txn.cursor(db=self._dbs["changes"]), state.extra
        # Sequence keys only grow: LMDB's append mode skips the tree search while this
        # store's feed is the last in the tree. Refused once, it is not tried again
        # for this state of the store (rebuilt when stores are added or dropped).
        if not extra.get("feed_append", True) or feed.putmulti(entries, append=True)[1] != len(entries):
            extra["feed_append"] = False  # another store's feed is last
            feed.putmulti(entries)
        counters[0] += len(chunk)
        counters[1] = size
        counters[2] = seq + len(chunk)
        revs.extend(new_revs)
        return True

    def _insert_alone(
        self, txn: Any, state: StoreState, rid_b: bytes, body: bytes, doc: Any = None
    ) -> _LaneCommit | None:
        """:meth:`_add_new` in a bare write transaction (``_Env.solo_write``); what it wrote, or None.

        The single-writer insert without the general path's layers (~70
        Python calls an insert). It reads and writes the counters record and
        feed tail itself, as ``WriteCtx`` does at commit. None, and nothing
        written, when anything needs the general path: the catalog changed
        (``state`` is stale), the store is gone or its counters unreadable, the
        quota would be passed, the id exists, or ``doc`` (what ``body`` encodes)
        gives an index that has held one value per document a second one, or
        a list or dict to an index whose values have all been scalars (the
        general path marks that in the catalog); that path then reports it or
        writes.

        Returns ``(transaction id, count, size, seq, stale, tail)``: ``add()``
        keeps it in ``state.extra["lane"]`` once the commit succeeded. LMDB
        numbers a write transaction one past the last committed one, so when
        this transaction's id follows that commit's, nothing (another process,
        or this one's general path) committed in between: the catalog version
        that transaction checked still holds, and the counters record is the
        one it wrote (its catalog and counters reads are skipped, ~0.8 us).
        """
        dbs, sid = self._dbs, state.prefix
        tid: int = txn.id()
        last = state.extra.get("lane")
        if last is not None and last[0] + 1 == tid:
            _tid, count, size, seq, stale, tail = last
        else:
            # catalog.read_version, unpack_counters and counters_tail written out.
            ver = txn.get(b"catalog_version", db=dbs["meta"])
            if (U64.unpack(ver)[0] if ver else 0) != state.version:
                return None
            raw = txn.get(sid, db=dbs["counters"])
            if raw is None or len(raw) < COUNTERS.size:
                return None
            count, size, seq, _mtime, stale = COUNTERS.unpack_from(raw)
            tail = raw[COUNTERS.size :]
        total = size + len(rid_b) + len(body)
        if state.max_bytes is not None and total > state.max_bytes:
            return None
        seq += 1
        record, feed_key, entry, _rev = changes.first_revision_fast(sid, seq, rid_b, body)
        if not self._put_new(txn, state, sid + rid_b, record):
            return None
        if state.indexes and _indexes().put_entries(txn.put, dbs["index"], state, rid_b, doc):
            return None  # an index definition must change: solo_write aborts all of it
        tail += feed_key[-8:] + len(entry).to_bytes(2, "big") + entry  # tail_entry()
        if len(tail) > _engine.TAIL_BYTES:  # read here: tests shorten it
            flush_tail(txn, dbs, sid, tail)
            tail = b""
        count += 1
        txn.put(sid, COUNTERS.pack(count, total, seq, time.time_ns() // 1_000_000, stale) + tail,
                db=dbs["counters"])  # fmt: skip
        return tid, count, total, seq, stale, tail

    def _put_new(self, txn: Any, state: StoreState, key: bytes, record: bytes) -> bool:
        """Put a new document's record; False if ``key`` exists.

        Loading in id order (auto ids are time-ordered) appends after the last
        key: LMDB's append mode skips the tree search (~0.9 us of ~4 us a put)
        and refuses at once a key that is not past the last one. After a
        refusal it waits 64 writes before trying again, so random ids cost
        next to nothing.
        """
        extra, docs = state.extra, self._docs
        wait = extra.get("doc_append_wait", 0)
        if wait or not txn.put(key, record, db=docs, append=True):
            extra["doc_append_wait"] = 64 if wait == 0 else wait - 1
            if not txn.put(key, record, db=docs, overwrite=False):
                return False
        return True

    def _add_new(
        self, ctx: WriteCtx, state: StoreState, counters: list[int], rid_b: bytes, body: bytes, doc: Any = None
    ) -> str | None:
        """A brand-new document (see :func:`_new_fast`) in one conditional put, and its index entries.

        The fast path of every write (add, put, put_many). None when the id
        exists or the quota would be passed: :meth:`_apply` then does it all.
        ``doc`` (the document ``body`` encodes) is read for the index entries
        of a store with indexes.
        """
        total = counters[1] + len(rid_b) + len(body)
        if state.max_bytes is not None and total > state.max_bytes:
            return None
        seq = counters[2] + 1
        record, feed_key, entry, rev = changes.first_revision_fast(state.prefix, seq, rid_b, body)
        key = state.prefix + rid_b
        if not self._put_new(ctx.txn, state, key, record):
            return None
        if state.indexes:
            try:
                _indexes().add_entries(ctx, state, rid_b, doc)
            except BaseException:
                ctx.txn.delete(key, db=self._docs)  # nothing of this write stays (inside a transaction too)
                raise
        counters[0] += 1
        counters[1] = total
        counters[2] = seq
        ctx.feed_add(state.prefix, feed_key, entry)
        return rev

    def merge(self, rid: str, patch: Any, *, if_rev: str | None = None, password: str | None = None) -> str:
        """Deep-merge ``patch`` into document ``rid`` (created if missing); returns the new revision.

        See :mod:`datastore_engine.merge` for the exact rule.
        """
        rid_b = rid_bytes(rid)
        codec.check_value(patch, where=repr(rid), max_depth=self._engine.max_depth)
        return self._write(
            rid, rid_b, None, None, mode="put", if_rev=if_rev, password=password,
            transform=lambda old: patch if old is _MISSING else deep_merge(old, patch),
        )  # fmt: skip

    def set_path(self, rid: str, path: str, value: Any, *, if_rev: str | None = None,
                 password: str | None = None) -> str:  # fmt: skip
        """Set the value at dotted ``path`` (document created if missing); returns the new revision."""
        rid_b = rid_bytes(rid)
        paths.parse_path(path)
        codec.check_value(value, where=repr(rid), max_depth=self._engine.max_depth)
        return self._write(
            rid, rid_b, None, None, mode="put", if_rev=if_rev, password=password,
            transform=lambda old: paths.set_in({} if old is _MISSING else old, path, value),
        )  # fmt: skip

    def delete_path(self, rid: str, path: str, *, if_rev: str | None = None,
                    password: str | None = None) -> str:  # fmt: skip
        """Remove the value at dotted ``path``; :class:`NotFound` if the document or path is missing."""
        rid_b = rid_bytes(rid)
        paths.parse_path(path)

        def remove(old: Any) -> Any:
            if old is _MISSING:
                raise NotFound(f"document {rid!r} not found in store {self.name!r}")
            return paths.delete_in(old, path)

        return self._write(rid, rid_b, None, None, mode="update", if_rev=if_rev, password=password, transform=remove)

    def delete(self, rid: str, *, if_rev: str | None = None, password: str | None = None) -> str:
        """Delete document ``rid`` (a tombstone stays for sync); returns the tombstone's revision.

        :class:`NotFound` if it does not exist.
        """
        rid_b = rid_bytes(rid)
        return self._write(rid, rid_b, None, None, mode="delete", if_rev=if_rev, password=password)

    def _write(
        self,
        rid: str,
        rid_b: bytes,
        doc: Any,
        body: bytes | None,
        *,
        mode: str,
        if_rev: str | None = None,
        password: str | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> str:
        self._live()
        if password is not None and (not isinstance(password, str) or not password):
            raise ValidationError("password must be a non-empty str")
        # scrypt is slow on purpose, so it runs before the write lock is taken: a
        # password is checked against the stored hash (the write path then only
        # compares hashes), and a new document's password is hashed here.
        new_hash: bytes | None = None
        verified: bytes | None = None
        if password is not None:  # wait out a wrong-password backoff before taking the write lock
            key = self._state.prefix + rid_b
            access.BACKOFF.wait((self._env.path, key))
            stored = self._env.get_one(key, self._dbs["passwords"])
            if stored is not None:
                verified = stored if access.verify_password(password, stored) else None
            elif mode != "delete":
                new_hash = access.hash_password(password)

        def op(ctx: WriteCtx) -> str:
            return self._apply(ctx, rid, rid_b, doc, body, mode, if_rev, password, new_hash, transform, verified)

        return self._env.run_write(op)

    def _apply(
        self,
        ctx: WriteCtx,
        rid: str,
        rid_b: bytes,
        doc: Any,
        body: bytes | None,
        mode: str,
        if_rev: str | None,
        password: str | None,
        new_hash: bytes | None,
        transform: Callable[[Any], Any] | None,
        verified: bytes | None = None,
    ) -> str:
        state = self._write_state(ctx)
        prefix = state.prefix
        counters = ctx.counter(prefix)
        # Fast path: a brand-new document in a plain store is one conditional put.
        if body is not None and if_rev is None and password is None and _new_fast(state):
            rev = self._add_new(ctx, state, counters, rid_b, body, doc)
            if rev is not None:
                return rev
        txn = ctx.txn
        docs = self._docs
        key = prefix + rid_b
        deleting = mode == "delete"

        old = txn.get(key, db=docs)
        header = read_header(old, key=rid) if old is not None else None
        alive = header is not None and not header.deleted
        if mode == "add" and alive:
            raise DuplicateKey(f"document {rid!r} already exists in store {self.name!r}")
        if (mode in ("update", "delete")) and not alive:
            raise NotFound(f"document {rid!r} not found in store {self.name!r}")
        assert old is not None or not alive
        if alive and header is not None and header.flags & FLAG_PROTECTED:
            self._check_password(txn, key, rid, password, verified=verified)
        if if_rev is not None:
            current = header.rev if alive and header is not None else None
            if if_rev != current:
                raise Conflict(
                    f"document {rid!r} in store {self.name!r} is at revision {current!r}, not {if_rev!r}"
                )
        # The old body is decoded only when something needs it (a merge, index
        # entries to move): a put or delete can then replace a damaged record.
        needs_old = transform is not None or bool(state.indexes)
        old_doc = codec.record_body(old, key=rid) if needs_old and alive and old is not None else _MISSING
        if transform is not None:
            doc = transform(old_doc)
            body = self._encode(doc, rid)
        if deleting:
            body = _TOMBSTONE_BODY
        assert body is not None
        if state.validator is not None and not deleting:
            # The validator returns the document with structure defaults filled in.
            checked = state.validator(doc, store=state.name)
            if checked is not doc:
                doc = checked
                body = self._encode(doc, rid)
        old_size = len(rid_b) + len(old) - header.body_offset if alive and old is not None and header else 0
        new_size = 0 if deleting else len(rid_b) + len(body)
        total = counters[1] - old_size + new_size
        if state.max_bytes is not None and new_size > old_size and total > state.max_bytes:
            self._over_quota(state, total)
        if header is not None and header.flags & FLAG_CONFLICTS and old is not None:
            # Issue 10: the edit may hand the win to a losing leaf; revtree re-picks the winner.
            from . import revtree

            return revtree.local_edit(ctx, self, state, key, rid, rid_b, old, body, deleting, new_hash)
        if state.indexes:
            _indexes().maintain(ctx, state, rid_b, None if old_doc is _MISSING else old_doc,
                                None if deleting else doc)  # fmt: skip

        parent = header.history[:DIGEST] if header is not None else b""
        dig = changes.digest(parent, deleting, body)
        gen = header.gen + 1 if header is not None else 1
        hist = dig + header.history[: (changes.REVS_LIMIT - 1) * DIGEST] if header is not None else dig
        flags = FLAG_DELETED if deleting else 0
        if header is not None and header.flags & FLAG_CONFLICTS:
            flags |= FLAG_CONFLICTS
        pw_db = self._dbs["passwords"]
        if deleting:
            if header is not None and header.flags & FLAG_PROTECTED:
                txn.delete(key, db=pw_db)
        elif header is not None and alive and header.flags & FLAG_PROTECTED:
            flags |= FLAG_PROTECTED
        elif password is not None:
            # Hashed before the lock; here only if the document lost its password meanwhile.
            txn.put(key, new_hash or access.hash_password(password), db=pw_db)
            flags |= FLAG_PROTECTED
        seq = counters[2] + 1
        txn.put(key, pack_record(flags, gen, seq, hist, body), db=docs)
        if header is not None:
            ctx.feed_drop(prefix, changes.seq_key(prefix, header.seq))
        ctx.feed_add(prefix, changes.seq_key(prefix, seq), changes.pack_entry(flags, gen, dig, rid_b, deleted=deleting))
        counters[0] += (0 if deleting else 1) - (1 if alive else 0)
        counters[1] = total
        counters[2] = seq
        return changes.rev_string(gen, dig)

    def _over_quota(self, state: StoreState, total: int) -> None:
        raise LimitExceeded(
            f"store {state.name!r} would hold {total} bytes, over its max_size_mb limit of "
            f"{state.record.get('max_size_mb')} MB ({state.max_bytes} bytes); nothing was written",
            limit="max_size_mb",
            value=total,
        )

    # -- change feed -----------------------------------------------------------------------
    def changes(self, since: int = 0, *, limit: int | None = None, include_docs: bool = False) -> Iterator[Any]:
        """Changes after ``since`` in order, one per document (its latest): ``Change(seq, rid, rev, deleted)``.

        With ``include_docs=True`` yields ``(Change, document or None)``.
        """
        self._live()
        if not isinstance(since, int) or since < 0:
            raise ValidationError(f"since must be a sequence returned by changes(), got {since!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValidationError(f"limit must be a non-negative int, got {limit!r}")
        prefix = self._state.prefix
        sent = 0
        after = since  # the last sequence handed out
        while limit is None or sent < limit:
            want = _BATCH if limit is None else min(_BATCH, limit - sent)
            batch: list[tuple[Any, Any]] = []
            with self._env.reading() as txn:
                for key, raw in self._feed_from(txn, prefix, after + 1):
                    rid, rev, deleted = changes.unpack_entry(raw)
                    change = changes.Change(int.from_bytes(key[8:], "big"), rid, rev, deleted)
                    doc = None
                    if include_docs and not deleted:
                        rec = txn.get(prefix + rid.encode(), db=self._docs)
                        if rec is not None and not rec[0] & (FLAG_DELETED | FLAG_PROTECTED):
                            doc = codec.record_body(rec, key=rid)
                    batch.append((change, doc))
                    if len(batch) >= want:
                        break
            for change, doc in batch:
                yield (change, doc) if include_docs else change
            sent += len(batch)
            if len(batch) < want:
                return
            after = batch[-1][0].seq

    def _feed_from(self, txn: Any, prefix: bytes, seq: int) -> Iterator[tuple[bytes, bytes]]:
        """The store's ``(feed key, entry)`` pairs from sequence ``seq`` on: the feed tree's, then its tail's.

        Every tail entry is newer than every tree entry (``WriteCtx.feed_add``).
        The tree may hold stale entries (``WriteCtx.feed_drop``): while the
        store counts any, each tree entry is checked against its document's
        record. Inside this thread's write transaction the tail and count are
        the ones it holds.
        """
        from .engine import entry_is_live

        tail, stale = self._tail(txn, prefix)
        start = changes.seq_key(prefix, seq)
        cur = txn.cursor(db=self._dbs["changes"])
        if cur.set_range(start):
            docs = self._docs
            for key, raw in cur:
                if not key.startswith(prefix):
                    break
                if stale and not entry_is_live(txn, docs, key, raw):
                    continue
                yield key, raw
        for key, raw in tail:
            if key >= start:
                yield key, raw

    def _tail(self, txn: Any, prefix: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
        """The store's feed tail entries and its count of stale feed-tree entries."""
        from .engine import counters_stale, counters_tail, unpack_tail

        ctx, tail, stale = self._env.tls.ctx, None, 0
        while ctx is not None and tail is None:
            tail = ctx.tails.get(prefix)
            if tail is not None:
                stale = ctx.counters[prefix][4]
            ctx = ctx.parent
        if tail is None:
            raw = txn.get(prefix, db=self._dbs["counters"])
            tail = b"" if raw is None else counters_tail(raw)
            try:
                stale = 0 if raw is None else counters_stale(raw)
            except struct.error as exc:
                raise CorruptData(f"the counters record of store {self.name!r} is damaged: {exc}") from exc
        try:
            return unpack_tail(prefix, tail), stale
        except ValueError as exc:
            raise CorruptData(f"the change feed of store {self.name!r} is damaged: {exc}") from exc

    # -- revisions, conflicts, watching (issue 10; the logic lives in revtree.py and watch.py) --------
    def put_revision(self, rid: str, doc: Any, *, history: list[str], deleted: bool = False,
                     password: str | None = None) -> bool:  # fmt: skip
        """Write a replicated revision as is (CouchDB ``new_edits=false``); False if already known.

        ``history`` is the revision and its ancestors, newest first
        (``["3-c..", "2-b..", "1-a.."]``). Every branch is kept; the winner is
        CouchDB's (see :mod:`datastore_engine.revtree`).
        """
        from . import revtree

        (error,) = revtree.put_revisions(self, [revtree.incoming(rid, doc, history, deleted=deleted)],
                                         password=password)  # fmt: skip
        if error is not None:
            raise error
        return True

    def get_revision(self, rid: str, rev: str, *, password: str | None = None) -> tuple[Any, list[str], bool]:
        """``(document or None if deleted, history newest first, deleted)`` of leaf ``rev`` of ``rid``."""
        from . import revtree

        key, _raw = self._raw(rid)
        with self._env.reading() as txn:
            raw, leaves = revtree.leaves_of(txn, self._dbs, key, rid=rid)
            if raw is not None and raw[0] & FLAG_PROTECTED and not raw[0] & FLAG_DELETED:
                self._check_password(txn, key, rid, password)
        for leaf in leaves:
            if leaf.rev == rev:
                return (None if leaf.deleted else codec.decode(leaf.body, key=rid)), leaf.history(), leaf.deleted
        raise NotFound(f"revision {rev!r} is not a leaf of document {rid!r} in store {self.name!r}")

    def conflicts(self, rid: str) -> list[str]:
        """Revisions of the live losing leaves of ``rid``, best first (``[]`` if none or missing)."""
        from . import revtree

        found = revtree.read_leaves(self, [rid])
        leaves = found[rid][1][1:] if rid in found else []
        return [leaf.rev for leaf in sorted(leaves, key=revtree.winner_key, reverse=True) if not leaf.deleted]

    def delete_conflict(self, rid: str, rev: str, *, password: str | None = None) -> str:
        """Resolve a conflict: delete losing leaf ``rev`` (a tombstone that replicates); returns its rev."""
        from . import revtree

        return revtree.delete_leaf(self, rid, rev, password=password)

    def revs_diff(self, revs: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        """CouchDB ``_revs_diff``: ``{rid: {"missing": [...], "possible_ancestors": [...]}}``."""
        from . import revtree

        return revtree.revs_diff(self, revs)

    def watch(self, since: int = 0, *, timeout: float | None = None, include_docs: bool = False) -> Iterator[Any]:
        """Like :meth:`changes`, then wait for new ones; ends after ``timeout`` s without one."""
        from . import watch

        return watch.follow(self, since, timeout=timeout, include_docs=include_docs)

    # -- queries and indexes (issue 3; the logic lives in find.py and index.py) --------------------
    def find(self, filter: str, *, sort: str | Sequence[str] | None = None, start: int = 0, count: int = 100,
             fields: Sequence[str] | None = None, case_insensitive: bool = False) -> Page[tuple[str, Any]]:  # fmt: skip
        """Documents matching a SCIM filter (RFC 7644), one page: ``items`` are ``(rid, doc)`` pairs.

        ``sort`` is ``"-age,name"`` (``-`` for descending; missing values last),
        ``start``/``count`` the window, ``total`` counts every match. ``fields``
        are JSONPath expressions: each document becomes ``{expression: value}``.
        Uses indexes when it can; the answer is always what a full scan gives.
        """
        queries = _find_module or _queries()  # no call once imported: find() is a hot path
        page: Page[tuple[str, Any]] = queries.find(self, filter, sort=sort, start=start, count=count,
                                                   fields=fields, case_insensitive=case_insensitive)  # fmt: skip
        return page

    def search(self, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """An Elasticsearch-shaped search: ``{"query": {...}, "from", "size", "sort", "_source"}``."""
        response: dict[str, Any] = _queries().search(self, body)
        return response

    def explain(self, filter: str, *, case_insensitive: bool = False) -> dict[str, Any]:
        """Which index ``find(filter)`` would use and how many candidates it would check."""
        plan: dict[str, Any] = _queries().explain(self, filter, case_insensitive=case_insensitive)
        return plan

    def create_index(self, path: str, *, unique: bool = False) -> None:
        """Index dotted ``path``, built now over every document, kept with every write after.

        ``unique=True`` refuses a second document with the same value (:class:`DuplicateKey`).
        """
        from . import index

        index.create_index(self, path, unique=unique)

    def drop_index(self, path: str) -> None:
        """Drop the index on ``path`` (:class:`NotFound` if there is none)."""
        from . import index

        index.drop_index(self, path)

    def indexes(self) -> list[dict[str, Any]]:
        """The store's indexes: ``[{"path": ..., "unique": ...}]``."""
        from . import index

        self._live()
        with self._env.reading() as txn:
            state = self._read_state(txn)
        return index.list_indexes(state)
