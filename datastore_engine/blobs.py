"""Buckets of objects (blobs): chunked, streamed, atomic.

An object's content is stored in 1 MiB chunks (``chunks``) under a *blob id*, and
published by one manifest (``objects``) that names the blob; see :mod:`.blobkeys`
for the key layout. Writing an object:

1. Chunks are read from the caller's data one at a time and written
   ``CHUNKS_PER_TXN`` (16, i.e. 16 MiB) per write transaction, each batch one
   ``env.run_write`` closure, so other writers interleave between batches and
   memory stays bounded (64 chunks per batch would hold 64 MiB). The MD5 etag of
   a batch is computed in a worker thread while the batch is written and committed.
2. The first batch allocates the blob id and registers the upload in
   ``uploads`` with the owning process (pid, start time, boot id).
3. A last, small transaction writes the blob header and the manifest, drops the
   upload record and releases the blob the name held before. Until then readers
   see the old object (or none): never a mix.

An object smaller than ``SMALL_OBJECT_BYTES`` is hashed first and written in one
transaction, manifest included: for it a second commit costs more than the hash.
Inside ``engine.transaction()`` every batch runs in the caller's transaction, so
the put is atomic with it. An upload that fails (bad data, LimitExceeded, a removed
bucket) deletes its chunks before the error is raised; chunks of an upload
whose process died are reclaimed when the environment is next opened
(:func:`reclaim_orphans`), but never those of a process still running.

``get`` reads the manifest and the first chunk in one read transaction, so an
object of one chunk is read whole from one snapshot. Later chunks are read one per
short read transaction, so a long download never pins old pages or blocks map
growth. Blob ids are never reused: a reader whose blob disappears (the object was
replaced or deleted meanwhile) gets :class:`Conflict` rather than a mix of two versions.

Buckets are engine-wide (not scoped by ``app``/``org`` like stores).

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     media = engine.bucket("media")
    ...     info = media.put("notes/a.txt", b"hello")
    ...     (info.size, info.etag, info.content_type, media.get_bytes("notes/a.txt"))
    (5, '5d41402abc4b2a76b9719d911017c592', 'text/plain', b'hello')
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from . import blobkeys as bk
from .blobkeys import CHUNK_SIZE, ObjectInfo
from .blobsource import chunked
from .errors import Conflict, CorruptData, EngineClosed, NotFound, ValidationError

if TYPE_CHECKING:
    from .engine import Engine, WriteCtx, _Env

__all__ = [
    "Bucket",
    "ObjectInfo",
    "ObjectStream",
    "bucket",
    "buckets",
    "check",
    "create_bucket",
    "reclaim_orphans",
    "remove_bucket",
]

#: Chunks per write transaction of a large upload (16 MiB): bounds memory and lock hold time.
CHUNKS_PER_TXN = 16
#: Objects smaller than this are hashed first and written in one transaction; larger
#: ones are hashed beside their chunk writes and published by a second, small one.
#: Measured (durable puts, best of 60): one transaction wins up to 128 KiB, the two
#: tie at 256 KiB, hashing beside the write wins from 512 KiB (1 MiB: ~2.3 vs ~2.9 ms).
SMALL_OBJECT_BYTES = 256 << 10
#: Objects (manifests) read per short read transaction when listing.
_LIST_BATCH = 256
#: Objects deleted per transaction when a bucket is removed with ``force=True``.
_REMOVE_BATCH = 256
_END: Any = object()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _next_id(ctx: WriteCtx, counter: bytes) -> int:
    meta = ctx.dbs["meta"]
    raw = ctx.txn.get(counter, db=meta)
    value = 1 if raw is None else int.from_bytes(raw, "big")
    ctx.txn.put(counter, bk.u64(value + 1), db=meta)
    return value


# -- buckets ----------------------------------------------------------------------------------


def _bucket_record(txn: Any, dbs: dict[str, Any], name: str) -> dict[str, Any] | None:
    raw = txn.get(name.encode(), db=dbs["buckets"])
    return None if raw is None else bk.unpack_record(raw, what="bucket", name=name)


def _bucket_id(txn: Any, dbs: dict[str, Any], name: str) -> bytes:
    raw = txn.get(name.encode(), db=dbs["buckets"])
    if raw is None:
        raise NotFound(f"bucket {name!r} does not exist")
    return _decoded_bucket_id(raw, name)


@functools.lru_cache(maxsize=256)
def _decoded_bucket_id(raw: bytes, name: str) -> bytes:
    """The 8-byte id in a bucket record. Cached by the record's bytes, which fix the id:
    a bucket removed and created again gets a new id, hence other bytes (~1 us a get saved)."""
    return bk.u64(int(bk.unpack_record(raw, what="bucket", name=name)["id"]))


def _create(ctx: WriteCtx, name: str, *, exist_ok: bool) -> None:
    if _bucket_record(ctx.txn, ctx.dbs, name) is not None:
        if exist_ok:
            return
        raise Conflict(f"bucket {name!r} already exists")
    bucket_id = _next_id(ctx, b"next_bucket_id")
    ctx.txn.put(
        name.encode(),
        bk.pack_record({"id": bucket_id, "created": _now_ms()}),
        db=ctx.dbs["buckets"],
    )


def bucket(engine: Engine, name: str) -> Bucket:
    """The bucket ``name``, created if missing (``engine.bucket``)."""
    bk.check_bucket_name(name)
    env = engine._check()
    if env.get_one(name.encode(), env.dbs["buckets"]) is None:  # no decoding: it exists or not
        env.run_write(lambda ctx: _create(ctx, name, exist_ok=True))
    return Bucket(engine, name)


def create_bucket(engine: Engine, name: str) -> Bucket:
    """Create bucket ``name``; :class:`Conflict` if it exists."""
    bk.check_bucket_name(name)
    engine._check().run_write(lambda ctx: _create(ctx, name, exist_ok=False))
    return Bucket(engine, name)


def bucket_exists(engine: Engine, name: str) -> bool:
    bk.check_bucket_name(name)
    env = engine._check()
    with env.reading() as txn:
        return _bucket_record(txn, env.dbs, name) is not None


def buckets(engine: Engine) -> list[Bucket]:
    """Every bucket, by name."""
    env = engine._check()
    with env.reading() as txn:
        names = [
            bytes(key).decode() for key in txn.cursor(db=env.dbs["buckets"]).iternext(values=False)
        ]
    return [Bucket(engine, name) for name in names]


def remove_bucket(engine: Engine, name: str, *, force: bool = False) -> None:
    """Remove bucket ``name``: :class:`Conflict` if it holds objects, unless ``force``.

    With ``force`` the objects are deleted ``_REMOVE_BATCH`` per transaction, then
    the bucket: a crash part-way leaves the bucket with fewer objects, each whole.
    """
    bk.check_bucket_name(name)
    env = engine._check()

    def drop_some(ctx: WriteCtx) -> bool:
        bucket_id = _bucket_id(ctx.txn, ctx.dbs, name)
        db = ctx.dbs["objects"]
        cur = ctx.txn.cursor(db=db)
        keys: list[bytes] = []
        if cur.set_range(bucket_id):
            for key in cur.iternext(values=False):
                if not bytes(key).startswith(bucket_id) or len(keys) > _REMOVE_BATCH:
                    break
                keys.append(bytes(key))
        if keys and not force:
            raise Conflict(f"bucket {name!r} is not empty; empty it or pass force=True")
        for key in keys[:_REMOVE_BATCH]:
            _drop_object(ctx, key)
        if len(keys) <= _REMOVE_BATCH:
            ctx.txn.delete(name.encode(), db=ctx.dbs["buckets"])
            return True
        return False

    while not env.run_write(drop_some):
        pass


# -- the write path ------------------------------------------------------------------------------


def _release_blob(ctx: WriteCtx, blob_id: int) -> None:
    """One manifest less points at ``blob_id``: decrement, and free it at zero."""
    db = ctx.dbs["chunks"]
    key = bk.blob_key(blob_id)
    raw = ctx.txn.get(key, db=db)
    if raw is None:
        return  # already gone: check() reports the dangling manifest, deleting it must still work
    refs, size, chunks, chunk_size = bk.unpack_blob_header(raw, blob_id=blob_id)
    if refs > 1:
        ctx.txn.put(
            key,
            bk.pack_blob_header(refs=refs - 1, size=size, chunks=chunks, chunk_size=chunk_size),
            db=db,
        )
        return
    ctx.txn.delete(key, db=db)
    _delete_chunks(ctx, blob_id, limit=None)


def _delete_chunks(ctx: WriteCtx, blob_id: int, *, limit: int | None) -> int:
    """Delete up to ``limit`` chunks of ``blob_id``; return how many were deleted."""
    db = ctx.dbs["chunks"]
    prefix = bk.blob_key(blob_id)
    cur = ctx.txn.cursor(db=db)
    done = 0
    if not cur.set_range(bk.chunk_key(blob_id, 0)):
        return 0
    while (limit is None or done < limit) and bytes(cur.key()).startswith(prefix):
        if not cur.delete():
            break
        done += 1
    return done


def _drop_object(ctx: WriteCtx, key: bytes) -> bool:
    raw = ctx.txn.get(key, db=ctx.dbs["objects"])
    if raw is None:
        return False
    record = bk.unpack_manifest(raw, what="object manifest")
    ctx.txn.delete(key, db=ctx.dbs["objects"])
    _release_blob(ctx, int(record["blob"]))
    return True


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _hash_pool() -> ThreadPoolExecutor:
    """The process's MD5 threads, started on first use (starting one per put costs ~0.1 ms).

    Its threads start as uploads need them, one per concurrent upload, up to the CPU count.
    """
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="blob-md5")
            pool = _pool
    return pool


def _forget_pool_in_child() -> None:
    # The parent's threads do not exist in a forked child: a new pool starts its own.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


@functools.lru_cache(maxsize=1)
def _identity(pid: int) -> tuple[int, str]:
    """This process's start time and boot id, read from /proc once per pid (~20 us a read)."""
    return _start_time(pid), _boot_id()


def _upload_record(bucket_name: str, name: str) -> bytes:
    pid = os.getpid()
    start, boot = _identity(pid)
    return bk.pack_record(
        {
            "pid": pid,
            "start": start,
            "boot": boot,
            "t": _now_ms(),
            "bucket": bucket_name,
            "name": name,
        }
    )


class _Upload:
    """One object being written: its chunks, hash and size so far."""

    def __init__(
        self, bucket: Bucket, name: str, *, content_type: str, metadata: dict[str, str]
    ) -> None:
        self.bucket = bucket
        self.name = name
        self.content_type = content_type
        self.metadata = metadata
        self.blob_id: int | None = None
        self.seq = 0
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)

    def counted(self, chunks: Iterator[bytes | memoryview]) -> Iterator[bytes | memoryview]:
        for chunk in chunks:
            self.size += len(chunk)
            yield chunk

    def _hash(self, batch: list[bytes | memoryview]) -> None:
        for chunk in batch:
            self.md5.update(chunk)

    def run(self, chunks: Iterator[bytes | memoryview]) -> ObjectInfo:
        env = self.bucket._env()
        source = self.counted(chunks)
        try:
            batch = list(islice(source, CHUNKS_PER_TXN))
            following = next(source, _END)
            if following is _END and self.size < SMALL_OBJECT_BYTES:
                # Hashing costs less than a second commit: hash, then one transaction.
                self._hash(batch)
                return env.run_write(partial(self._publish, batch=batch))
            # MD5 (about 550 MB/s here) runs beside each batch's write and commit: both
            # release the GIL. Even a one-batch object is written this way, then published
            # by a small transaction: a 1 MiB put then costs about max(hash, write) instead
            # of their sum. Rejected: one transaction that waits for the hash before its
            # commit (the commit, most of the write's cost, cannot start any earlier;
            # measured 4.7-5.0 ms a 1 MiB put against 2.9-3.2 ms, docs/performance.md).
            pool = _hash_pool()
            while True:
                hashing = pool.submit(self._hash, batch)
                self.blob_id = env.run_write(partial(self._write_batch, batch=batch))
                self.seq += len(batch)
                if following is _END:
                    break
                hashing.result()  # MD5 is sequential: the next batch hashes after this one
                batch = []  # drop the written batch before reading the next: one in memory
                batch = [following, *islice(source, CHUNKS_PER_TXN - 1)]
                following = next(source, _END)
            batch = []  # the worker holds the last batch until it is hashed
            # The publishing transaction waits for the last hash only before its manifest.
            return env.run_write(partial(self._publish, batch=batch, hashing=hashing))
        except BaseException:
            if self.blob_id is not None:
                self._abandon(env)
            raise

    def _put_chunks(self, ctx: WriteCtx, blob_id: int, batch: list[bytes | memoryview]) -> None:
        put, db = ctx.txn.put, ctx.dbs["chunks"]
        for i, chunk in enumerate(batch):
            put(bk.chunk_key(blob_id, self.seq + i), chunk, db=db)

    def _write_batch(self, ctx: WriteCtx, *, batch: list[bytes | memoryview]) -> int:
        blob_id = self.blob_id
        if blob_id is None:
            # Register before the first chunk lands, in the same transaction, so
            # reclaim always knows whose chunks these are.
            blob_id = _next_id(ctx, b"next_blob_id")
            ctx.txn.put(
                bk.blob_key(blob_id),
                _upload_record(self.bucket.name, self.name),
                db=ctx.dbs["uploads"],
            )
        self._put_chunks(ctx, blob_id, batch)
        return blob_id

    def _publish(
        self,
        ctx: WriteCtx,
        batch: list[bytes | memoryview],
        hashing: Future[None] | None = None,
    ) -> ObjectInfo:
        bucket_id = _bucket_id(ctx.txn, ctx.dbs, self.bucket.name)  # check before writing
        blob_id = self.blob_id if self.blob_id is not None else _next_id(ctx, b"next_blob_id")
        self._put_chunks(ctx, blob_id, batch)
        nchunks = self.seq + len(batch)
        ctx.txn.put(
            bk.blob_key(blob_id),
            bk.pack_blob_header(refs=1, size=self.size, chunks=nchunks),
            db=ctx.dbs["chunks"],
        )
        ctx.txn.delete(bk.blob_key(blob_id), db=ctx.dbs["uploads"])
        key = bk.object_key(bucket_id, self.name)
        _drop_object(ctx, key)
        if hashing is not None:
            hashing.result()
        mtime = _now_ms()
        manifest = {
            "name": self.name,
            "blob": blob_id,
            "size": self.size,
            "etag": self.md5.hexdigest(),
            "ct": self.content_type,
            "mt": mtime,
            "md": self.metadata,
        }
        ctx.txn.put(key, bk.pack_record(manifest), db=ctx.dbs["objects"])
        return bk.info_from_manifest(manifest, bucket_name=self.bucket.name)

    def _abandon(self, env: _Env) -> None:
        blob_id = self.blob_id
        assert blob_id is not None
        # The original error matters more; reclaim at the next open catches what is left.
        with contextlib.suppress(Exception):
            _free_upload(env, blob_id)


def _free_upload(env: _Env, blob_id: int) -> None:
    """Delete the chunks and the upload record of an unpublished blob, in batches."""

    def some(ctx: WriteCtx) -> bool:
        if ctx.txn.get(bk.blob_key(blob_id), db=ctx.dbs["chunks"]) is not None:
            # Published after all (the header exists): its chunks belong to an object.
            ctx.txn.delete(bk.blob_key(blob_id), db=ctx.dbs["uploads"])
            return True
        if _delete_chunks(ctx, blob_id, limit=CHUNKS_PER_TXN * 4) < CHUNKS_PER_TXN * 4:
            ctx.txn.delete(bk.blob_key(blob_id), db=ctx.dbs["uploads"])
            return True
        return False

    while not env.run_write(some):
        pass


# -- reading ---------------------------------------------------------------------------------------


class ObjectStream(io.RawIOBase):
    """The content of one object, read chunk by chunk (a binary file object).

    ``read(n)``, ``readinto``, iteration (chunks of up to 1 MiB), ``stream(size)``
    and ``with``. ``info`` is the object's :class:`ObjectInfo` when it was opened.
    If the object is replaced or deleted while being read, the next read raises
    :class:`Conflict`: a reader never gets a mix of two versions.
    """

    # Slots: an io subclass keeps its attributes in a plain dict (no shared keys), where
    # setting the dozen below cost about as much as decoding the manifest (~10k of ~80k
    # instructions in a get). Its __dict__ stays, for attributes set from outside.
    __slots__ = (
        "_blob",
        "_bucket_name",
        "_chunks",
        "_closed",
        "_db",
        "_env",
        "_info",
        "_off",
        "_raw",
        "_record",
        "_seen",
        "_seq",
        "_size",
    )

    def __init__(
        self,
        env: _Env,
        record: dict[str, Any],
        bucket_name: str,
        chunks: int,
        *,
        first: bytes = b"",
    ) -> None:
        # No super().__init__(): io's is object's (~2k instructions of a get for nothing).
        self._closed = False
        self._record = record  # the manifest: ``info`` is built from it when asked for
        self._bucket_name = bucket_name
        self._info: ObjectInfo | None = None
        self._size = int(record["size"])
        self._env = env
        self._db = env.dbs["chunks"]
        self._blob = int(record["blob"])
        self._chunks = chunks
        self._seq = 1 if chunks else 0  # ``first`` is chunk 0, read with the manifest
        self._seen = len(first)
        self._raw = first  # the current chunk, read from ``_off`` on
        self._off = 0

    @property
    def info(self) -> ObjectInfo:
        """The object's :class:`ObjectInfo`, as it was when the stream was opened."""
        info = self._info
        if info is None:
            info = self._info = bk.info_from_manifest(self._record, bucket_name=self._bucket_name)
        return info

    def readable(self) -> bool:
        return True

    @property
    def _name(self) -> str:
        return str(self._record["name"])  # for error messages only

    def _next_chunk(self) -> bytes:
        if self._seq >= self._chunks:
            if self._seen != self._size:
                raise CorruptData(
                    f"object {self._name!r}: read {self._seen} bytes, expected {self._size}",
                    key=self._name,
                )
            return b""
        raw = self._env.get_one(bk.chunk_key(self._blob, self._seq), self._db)
        if raw is None:
            if self._env.get_one(bk.blob_key(self._blob), self._db) is None:
                raise Conflict(f"object {self._name!r} was replaced or deleted while being read")
            raise CorruptData(
                f"object {self._name!r}: chunk {self._seq} is missing", key=self._name
            )
        self._seq += 1
        self._seen += len(raw)
        return raw

    def _fill(self) -> bool:
        if self._closed:
            raise ValueError("I/O operation on a closed object stream")
        if self._off >= len(self._raw):
            self._raw, self._off = self._next_chunk(), 0
        return self._off < len(self._raw)

    def _take(self, size: int) -> bytes:
        raw, off = self._raw, self._off
        if off == 0 and size >= len(raw):
            self._raw = b""  # hand the whole chunk over: no copy
            return raw
        end = min(off + size, len(raw))
        self._off = end
        return raw[off:end]

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (the rest of the object if ``size`` is None or negative)."""
        if size is None or size < 0:
            return self.readall()
        raw, off = self._raw, self._off
        if off >= len(raw):  # the current chunk is used up (or the stream is closed)
            if size == 0:
                return b""
            if self._closed:
                raise ValueError("I/O operation on a closed object stream")
            raw = self._raw = self._next_chunk()
            off = self._off = 0
        if not off and size >= len(raw):
            self._raw = b""  # hand the whole chunk over: no copy (reads of a chunk or more)
            return raw
        end = min(off + size, len(raw))
        self._off = end
        return raw[off:end]

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self) -> None:
        if self._closed:  # as IOBase.flush, which reads IOBase's own flag
            raise ValueError("I/O operation on a closed object stream")

    def close(self) -> None:
        # Its own flag rather than IOBase's, which close() would store in a fresh instance
        # dict and every check would look up there. io (BufferedReader, the finalizer,
        # ``with``) asks ``closed``, so it sees this one. The chunk held is dropped.
        self._raw, self._off, self._closed = b"", 0, True

    def readall(self) -> bytes:
        """The rest of the object, in memory: prefer iteration for large objects."""
        parts = []
        while self._fill():
            parts.append(self._take(len(self._raw)))
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view) or not self._fill():
            return 0
        n = min(len(view), len(self._raw) - self._off)
        view[:n] = memoryview(self._raw)[self._off : self._off + n]
        self._off += n
        return n

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if not self._fill():
            raise StopIteration
        return self._take(len(self._raw))

    def stream(self, chunk_size: int = 32 * 1024) -> Iterator[bytes]:
        """Pieces of ``chunk_size`` bytes (the last one shorter), as urllib3's ``stream``."""
        if type(chunk_size) is not int or chunk_size <= 0:
            raise ValidationError(f"chunk_size must be a positive int, got {chunk_size!r}")
        while piece := self.read(chunk_size):
            yield piece

    def __enter__(self) -> ObjectStream:
        return self

    def release_conn(self) -> None:
        """urllib3's name for ``close``."""
        self.close()


def _open_object(
    txn: Any, dbs: dict[str, Any], bucket_name: str, name: str, name_bytes: bytes
) -> tuple[dict[str, Any], int, bytes]:
    """Object ``name``'s manifest, chunk count and first chunk, read in one transaction."""
    key = bk.name_key(_bucket_id(txn, dbs, bucket_name), name_bytes)
    raw = txn.get(key, db=dbs["objects"])
    if raw is None:
        raise NotFound(f"object {name!r} not found in bucket {bucket_name!r}")
    # The error labels are built only on error: formatting them costs as much as a lookup.
    record = bk.unpack_manifest(raw, what="object", name=name)
    blob_id, size = int(record["blob"]), int(record["size"])
    db = dbs["chunks"]
    header = txn.get(bk.blob_key(blob_id), db=db)
    if header is None:  # one transaction: not a concurrent replace, a dangling manifest
        raise CorruptData(f"object {name!r}: its content (blob {blob_id}) is missing", key=name)
    _refs, blob_size, nchunks, _cs = bk.unpack_blob_header(header, blob_id=blob_id)
    if blob_size != size:
        raise CorruptData(
            f"object {name!r}: manifest says {size} bytes, its content has {blob_size}", key=name
        )
    if not nchunks:
        return record, 0, b""
    first = txn.get(bk.chunk_key(blob_id, 0), db=db)
    if first is None:
        raise CorruptData(f"object {name!r}: chunk 0 is missing", key=name)
    return record, nchunks, first


# -- the Bucket ----------------------------------------------------------------------------------------


def _check_prefix(prefix: object, what: str) -> bytes:
    if not isinstance(prefix, str):
        raise ValidationError(f"{what} must be a str, got {prefix!r}")
    return bk.object_name_bytes(prefix) if prefix else b""


class Bucket:
    """A bucket of objects. Get one with ``engine.bucket(name)``.

    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     b = engine.bucket("photos")
    ...     _ = b.put("2024/a.jpg", b"..."); _ = b.put("2024/b.jpg", b"..."); _ = b.put("c.png", b".")
    ...     [(o.name, o.is_dir) for o in b.list(recursive=False)]
    [('2024/', True), ('c.png', False)]
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self.name = name

    def __repr__(self) -> str:
        return f"<Bucket {self.name}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Bucket) and other._engine is self._engine and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((id(self._engine), self.name))

    def _env(self) -> _Env:
        if self._engine.closed:
            raise EngineClosed(f"the engine of bucket {self.name!r} is closed")
        return self._engine._check()

    @property
    def creation_date(self) -> datetime:
        """When the bucket was created (UTC)."""
        env = self._env()
        with env.reading() as txn:
            record = _bucket_record(txn, env.dbs, self.name)
        if record is None:
            raise NotFound(f"bucket {self.name!r} does not exist")
        return datetime.fromtimestamp(record["created"] / 1000, tz=UTC)

    # -- writing -----------------------------------------------------------------------------
    def put(
        self,
        name: str,
        data: bytes | Iterable[bytes] | Any,
        length: int | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store ``data`` as object ``name`` (replacing it) and return its :class:`ObjectInfo`.

        ``data``: bytes, a readable binary file object or an iterable of bytes,
        read one chunk at a time. ``length`` (optional) is the exact byte count
        (see :mod:`.blobsource`). ``content_type`` is guessed from the name when
        not given. The object appears only when complete.
        """
        bk.object_name_bytes(name)
        ctype = bk.check_content_type(content_type) or bk.guess_content_type(name)
        upload = _Upload(self, name, content_type=ctype, metadata=bk.check_metadata(metadata))
        self._env()
        return upload.run(chunked(data, length=length, chunk_size=CHUNK_SIZE))

    def fput(
        self,
        name: str,
        path: str | os.PathLike[str],
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store the file at ``path`` as object ``name``."""
        bk.object_name_bytes(name)
        with open(path, "rb") as fh:
            return self.put(name, fh, content_type=content_type, metadata=metadata)

    def put_from_url(
        self,
        url: str,
        name: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        data: bytes | str | dict[str, Any] | None = None,
        max_bytes: int | None = None,
        timeout: float = 30.0,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store the body of an http(s) response as object ``name`` (see :mod:`.blobfetch`)."""
        from . import blobfetch

        return blobfetch.put_from_url(
            self,
            url,
            name,
            method=method,
            headers=headers,
            data=data,
            max_bytes=blobfetch.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
            timeout=timeout,
            content_type=content_type,
            metadata=metadata,
        )

    def copy_to(self, bucket_name: str, new_name: str, source_name: str) -> ObjectInfo:
        """Copy object ``source_name`` of this bucket to ``new_name`` in bucket ``bucket_name``.

        The content is shared (its blob counts one more reference), not copied.
        """
        bk.check_bucket_name(bucket_name)
        bk.object_name_bytes(source_name)
        bk.object_name_bytes(new_name)

        def copy(ctx: WriteCtx) -> ObjectInfo:
            source_key = bk.object_key(_bucket_id(ctx.txn, ctx.dbs, self.name), source_name)
            target_key = bk.object_key(_bucket_id(ctx.txn, ctx.dbs, bucket_name), new_name)
            raw = ctx.txn.get(source_key, db=ctx.dbs["objects"])
            if raw is None:
                raise NotFound(f"object {source_name!r} not found in bucket {self.name!r}")
            record = bk.unpack_manifest(raw, what="object", name=source_name)
            blob_id = int(record["blob"])
            chunks_db = ctx.dbs["chunks"]
            header = ctx.txn.get(bk.blob_key(blob_id), db=chunks_db)
            if header is None:
                raise CorruptData(
                    f"object {source_name!r}: its content (blob {blob_id}) is missing",
                    key=source_name,
                )
            refs, size, nchunks, chunk_size = bk.unpack_blob_header(header, blob_id=blob_id)
            # Count the new reference before dropping the target's old one: copying onto itself works.
            ctx.txn.put(
                bk.blob_key(blob_id),
                bk.pack_blob_header(
                    refs=refs + 1, size=size, chunks=nchunks, chunk_size=chunk_size
                ),
                db=chunks_db,
            )
            _drop_object(ctx, target_key)
            record = {**record, "name": new_name, "mt": _now_ms()}
            ctx.txn.put(target_key, bk.pack_record(record), db=ctx.dbs["objects"])
            return bk.info_from_manifest(record, bucket_name=bucket_name)

        return self._env().run_write(copy)

    def delete(self, name_or_names: str | Iterable[str]) -> dict[str, bool] | None:
        """Delete one object (:class:`NotFound` if missing) or many, in one transaction.

        For many names, returns ``{name: True if deleted, False if it did not exist}``.
        """
        if isinstance(name_or_names, str):
            bk.object_name_bytes(name_or_names)

            def one(ctx: WriteCtx) -> None:
                key = bk.object_key(_bucket_id(ctx.txn, ctx.dbs, self.name), name_or_names)
                if not _drop_object(ctx, key):
                    raise NotFound(f"object {name_or_names!r} not found in bucket {self.name!r}")

            self._env().run_write(one)
            return None
        names = list(dict.fromkeys(name_or_names))
        for item in names:
            bk.object_name_bytes(item)

        def many(ctx: WriteCtx) -> dict[str, bool]:
            bucket_id = _bucket_id(ctx.txn, ctx.dbs, self.name)
            return {item: _drop_object(ctx, bk.object_key(bucket_id, item)) for item in names}

        return self._env().run_write(many)

    # -- reading -----------------------------------------------------------------------------
    def _manifest(self, name: str) -> dict[str, Any]:
        bk.object_name_bytes(name)
        env = self._env()
        with env.reading() as txn:
            raw = txn.get(
                bk.object_key(_bucket_id(txn, env.dbs, self.name), name), db=env.dbs["objects"]
            )
        if raw is None:
            raise NotFound(f"object {name!r} not found in bucket {self.name!r}")
        return bk.unpack_manifest(raw, what="object", name=name)

    def stat(self, name: str) -> ObjectInfo:
        """The :class:`ObjectInfo` of object ``name`` (:class:`NotFound` if missing)."""
        return bk.info_from_manifest(self._manifest(name), bucket_name=self.name)

    def exists(self, name: str) -> bool:
        """True if object ``name`` exists."""
        try:
            self._manifest(name)
        except NotFound:
            return False
        return True

    def get(self, name: str) -> ObjectStream:
        """A readable stream of object ``name``'s content (:class:`NotFound` if missing).

        The manifest and the first chunk are read in one transaction: an object of
        one chunk (up to 1 MiB) is then read whole, with no further transaction.
        """
        key = bk.object_name_bytes(name)
        env = self._env()
        record, nchunks, first = env.run_read(_open_object, env.dbs, self.name, name, key)
        return ObjectStream(env, record, self.name, nchunks, first=first)

    def get_bytes(self, name: str) -> bytes:
        """The whole content of object ``name``, in memory."""
        with self.get(name) as stream:
            return stream.readall()

    def fget(self, name: str, path: str | os.PathLike[str]) -> ObjectInfo:
        """Write object ``name`` to the file ``path`` (and only there); return its info.

        Missing parent directories are created; the content goes to a temporary
        file beside ``path``, renamed over it when complete.
        """
        target = os.fspath(path)
        stream = self.get(name)
        parent = os.path.dirname(os.path.abspath(target))
        os.makedirs(parent, exist_ok=True)
        fd, temp = tempfile.mkstemp(
            dir=parent, prefix="." + os.path.basename(target) + ".", suffix=".part"
        )
        try:
            with stream, os.fdopen(fd, "wb") as out:
                for chunk in stream:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return stream.info

    # -- listing -----------------------------------------------------------------------------
    def list(
        self, prefix: str = "", recursive: bool = True, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Objects whose name starts with ``prefix``, by name (UTF-8 byte order), after ``start_after``.

        ``recursive=False`` groups names at the next ``/`` after the prefix into one
        folder entry (``ObjectInfo(name="dir/", is_dir=True)``), like S3's delimiter.
        Read in batches of short read transactions: a long listing sees objects
        changed while it runs or not, each one whole.
        """
        pb = _check_prefix(prefix, "prefix")
        sa = None if start_after is None else _check_prefix(start_after, "start_after")
        env = self._env()
        with env.reading() as txn:
            bucket_id = _bucket_id(txn, env.dbs, self.name)
        return self._list(env, bucket_id, pb, sa, recursive)

    def _list(
        self, env: _Env, bucket_id: bytes, pb: bytes, sa: bytes | None, recursive: bool
    ) -> Iterator[ObjectInfo]:
        pos = bk.seek_key(bucket_id, max(pb, sa or b""))
        after = False  # whether ``pos`` itself was already seen
        skip: bytes | None = None  # a folder already yielded: skip names under it
        while True:
            records, last = _read_batch(env, bucket_id, pos, after)
            if not records:
                return
            pos, after = last, True  # the greatest key read (sorting a long-name group moves rows)
            for _key, record in records:
                nb = record["name"].encode()
                if skip is not None and nb.startswith(skip):
                    continue
                if not nb.startswith(pb):
                    if nb > pb:
                        return
                    continue
                if sa is not None and nb <= sa:
                    continue
                if not recursive:
                    cut = nb.find(b"/", len(pb))
                    if cut >= 0:
                        folder = nb[: cut + 1]
                        skip = folder
                        yield bk.dir_info(folder.decode(), bucket_name=self.name)
                        if len(folder) < bk.SHORT_NAME_BYTES:
                            # Jump past the folder: 0xFF never occurs in UTF-8.
                            pos, after = bk.seek_key(bucket_id, folder + b"\xff"), False
                            break
                        continue
                yield bk.info_from_manifest(record, bucket_name=self.name)

    def list_filename(self, contains: str = "", prefix: str = "") -> builtins.list[str]:
        """Names of the objects (recursive) that contain ``contains``, by name."""
        if not isinstance(contains, str):
            raise ValidationError(f"contains must be a str, got {contains!r}")
        return [o.name for o in self.list(prefix=prefix) if contains in o.name]


def _read_batch(
    env: _Env, bucket_id: bytes, pos: bytes, after: bool
) -> tuple[list[tuple[bytes, dict[str, Any]]], bytes]:
    """Up to ``_LIST_BATCH`` (key, manifest) from ``pos`` in name order, and the last key read.

    A group of long names sharing their first 448 bytes is never split between batches.
    """
    out: list[tuple[bytes, dict[str, Any]]] = []
    with env.reading() as txn:
        cur = txn.cursor(db=env.dbs["objects"])
        if not cur.set_range(pos):
            return out, pos
        for key, raw in cur:
            key = bytes(key)
            if after and key == pos:
                continue
            if not key.startswith(bucket_id):
                break
            if len(out) >= _LIST_BATCH and not (
                bk.is_long_key(key) and key[:-32] == out[-1][0][:-32]
            ):
                break
            out.append((key, bk.unpack_manifest(bytes(raw), what="object manifest")))
    return _sort_long_groups(list(out)), (out[-1][0] if out else pos)


def _sort_long_groups(
    rows: list[tuple[bytes, dict[str, Any]]],
) -> list[tuple[bytes, dict[str, Any]]]:
    """Long names sharing their first 448 bytes are keyed by hash: put each such run in name order."""
    i = 0
    while i < len(rows):
        if not bk.is_long_key(rows[i][0]):
            i += 1
            continue
        j = i + 1
        while j < len(rows) and bk.is_long_key(rows[j][0]) and rows[j][0][:-32] == rows[i][0][:-32]:
            j += 1
        rows[i:j] = sorted(rows[i:j], key=lambda row: row[1]["name"].encode())
        i = j
    return rows


# -- orphans and checks -------------------------------------------------------------------------------


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def _start_time(pid: int) -> int:
    """The process start time in clock ticks since boot (0 where /proc is missing)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else 0


def _process_alive(record: dict[str, Any]) -> bool:
    """Whether the process that registered an upload may still write its chunks."""
    pid = int(record.get("pid", 0))
    if pid <= 0:
        return False
    boot = _boot_id()
    if boot and record.get("boot") and record["boot"] != boot:
        return False  # registered before a reboot
    if os.path.isdir("/proc/self"):
        fields = _proc_stat(pid)
        # Gone, or a zombie that will never write again.
        if fields is None or fields[0] in ("Z", "X"):
            return False
        start = int(record.get("start", 0))
        return not start or int(fields[19]) == start  # a different start time: the pid was reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_orphans(env: _Env) -> int:
    """Free the chunks of uploads whose process is gone; return how many uploads were reclaimed.

    Called when an environment is opened. Uploads of live processes (and of this
    one) are left alone: they may still publish.
    """
    with env.reading() as txn:
        uploads = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=env.dbs["uploads"])]
    dead = 0
    for key, raw in uploads:
        try:
            record = bk.unpack_record(raw, what="upload record")
        except CorruptData:
            record = {}
        if _process_alive(record):
            continue
        _free_upload(env, bk.blob_id_of(key))
        dead += 1
    return dead


def _scan(
    env: _Env, db_name: str, *, values: bool = True, batch: int = 512
) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of a sub-database, in short read transactions of ``batch`` rows."""
    pos, after = b"", False
    while True:
        rows: list[tuple[bytes, bytes]] = []
        with env.reading() as txn:
            cur = txn.cursor(db=env.dbs[db_name])
            found = cur.set_range(pos) if pos else cur.first()
            while found and len(rows) < batch:
                key = bytes(cur.key())
                if not (after and key == pos):
                    rows.append((key, bytes(cur.value()) if values else b""))
                found = cur.next()
        if not rows:
            return
        yield from rows
        pos, after = rows[-1][0], True


def check(engine: Engine) -> list[str]:
    """Problems in the blob store: orphan chunks, manifests without content, size mismatches.

    An empty list means the buckets, manifests, blobs and chunks agree. Reads
    everything (every chunk's length): as slow as reading all content once.
    Uploads in progress (of live processes) are not problems.

    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     _ = engine.bucket("bkt").put("x", b"data")
    ...     check(engine)
    []
    """
    env = engine._check()
    problems: list[str] = []
    bucket_ids = {}
    for key, raw in _scan(env, "buckets"):
        bucket_ids[bk.u64(int(bk.unpack_record(raw, what="bucket", name=key)["id"]))] = key.decode()
    refs: dict[int, int] = {}
    sizes: dict[int, tuple[str, int]] = {}
    for key, raw in _scan(env, "objects"):
        owner = bucket_ids.get(key[:8])
        try:
            record = bk.unpack_manifest(raw, what="object key", name=key)
        except CorruptData as exc:
            problems.append(str(exc))
            continue
        label = f"object {record['name']!r} in bucket {owner!r}"
        if owner is None:
            problems.append(
                f"{label}: its bucket (id {int.from_bytes(key[:8], 'big')}) does not exist"
            )
        elif bk.object_key(key[:8], record["name"]) != key:
            problems.append(f"{label}: stored under the wrong key")
        blob_id = int(record["blob"])
        refs[blob_id] = refs.get(blob_id, 0) + 1
        sizes[blob_id] = (label, int(record["size"]))
    uploads: dict[int, bool] = {}
    for key, raw in _scan(env, "uploads"):
        try:
            alive = _process_alive(bk.unpack_record(raw, what="upload record"))
        except CorruptData:
            alive = False
        uploads[bk.blob_id_of(key)] = alive
        if not alive:
            problems.append(
                f"upload of blob {bk.blob_id_of(key)}: its process is gone (reclaimed at next open)"
            )
    headers: dict[int, tuple[int, int, int, int]] = {}
    found: dict[int, list[int]] = {}  # blob id -> [chunk count, bytes, next expected seq ok]
    for key, raw in _scan(env, "chunks"):
        blob_id = bk.blob_id_of(key)
        if len(key) == 8:
            headers[blob_id] = bk.unpack_blob_header(raw, blob_id=blob_id)
            continue
        stats = found.setdefault(blob_id, [0, 0, 1])
        if bk.seq_of(key) != stats[0]:
            stats[2] = 0
        stats[0] += 1
        stats[1] += len(raw)
    for blob_id, count in sorted(refs.items()):
        header = headers.get(blob_id)
        label, size = sizes[blob_id]
        if header is None:
            problems.append(f"{label}: its content (blob {blob_id}) is missing")
            continue
        if header[0] != count:
            problems.append(
                f"blob {blob_id}: counts {header[0]} references, {count} manifests point at it"
            )
        if header[1] != size:
            problems.append(f"{label}: manifest says {size} bytes, blob {blob_id} says {header[1]}")
    for blob_id, (hrefs, hsize, hchunks, _cs) in sorted(headers.items()):
        if blob_id not in refs:
            problems.append(f"blob {blob_id}: no object points at it ({hrefs} references counted)")
        count, total, ordered = found.get(blob_id, [0, 0, 1])
        if count != hchunks or total != hsize or not ordered:
            problems.append(
                f"blob {blob_id}: header says {hchunks} chunks / {hsize} bytes, "
                f"found {count} chunks / {total} bytes{'' if ordered else ' with gaps'}"
            )
    for blob_id, (count, total, _ordered) in sorted(found.items()):
        if blob_id not in headers and blob_id not in uploads:
            problems.append(
                f"blob {blob_id}: {count} orphan chunks ({total} bytes) with no header and no upload"
            )
    return problems
