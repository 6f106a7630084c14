"""asyncio access: awaitable store and bucket operations that never block the event loop.

>>> import asyncio, tempfile
>>> from datastore_engine import aio
>>> async def tour(path):
...     async with aio.open(path, app="demo") as engine:
...         people = engine.store("people")
...         await people.put("ada", {"name": "Ada", "age": 36})
...         page = await people.find("age gt 30")
...         media = engine.bucket("media")
...         await media.put("a.txt", b"hello")
...         return [rid for rid, _doc in page], await media.get_bytes("a.txt")
>>> asyncio.run(tour(tempfile.mkdtemp()))
(['ada'], b'hello')

How: every call runs the synchronous API in a small dedicated
``ThreadPoolExecutor`` of the :class:`AsyncEngine` (``max_workers``, default
4). Writes from several threads meet in the engine's group commit, so
concurrent awaits cost one commit per batch, not one each.

Reads go through the executor too, not on the loop. LMDB reads are usually
microseconds, but a read of a page not in memory waits for the disk (the
file is memory-mapped: a page fault blocks the whole thread, i.e. the loop),
and opening a read transaction can wait for a map resize; a "fast path" would
be fast on a warm cache and stall the loop exactly when the disk is slow.
The executor hop costs tens of microseconds; use :meth:`AsyncEngine.call`
to run many small operations in one hop.

Notes:

* Cancelling an await does not undo or stop its operation: it runs to the
  end in its thread (a write either commits whole or not at all).
* ``engine.transaction()`` belongs to one thread; run a whole transaction in
  one hop: ``await engine.call(transfer, a, b)`` with a plain function.
* Iterators (``items``, ``changes``, ``Bucket.stream``) fetch a batch per hop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import functools
import os
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .engine import Engine
from .engine import open as open_engine
from .errors import EngineClosed, ValidationError

if TYPE_CHECKING:
    from .blobs import Bucket, ObjectInfo
    from .catalog import StoreInfo
    from .page import Page
    from .store import Store

__all__ = ["AsyncBucket", "AsyncEngine", "AsyncStore", "open"]

P = ParamSpec("P")
T = TypeVar("T")
_MISSING: Any = object()
#: Items fetched per executor hop by the async iterators.
_ITER_BATCH = 500
DEFAULT_WORKERS = 4


def _check_workers(max_workers: object) -> None:
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValidationError(f"max_workers must be an int >= 1, got {max_workers!r}")


class AsyncEngine:
    """An :class:`Engine` with awaitable methods. Get one with ``await aio.open(path)`` or ``async with``."""

    def __init__(self, engine: Engine, *, max_workers: int = DEFAULT_WORKERS) -> None:
        _check_workers(max_workers)
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="datastore-aio")
        self._closed = False

    def __repr__(self) -> str:
        return f"<AsyncEngine {self.engine.path!r}>"

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` (any blocking code using the engine) in the executor."""
        if self._closed:
            raise EngineClosed(f"the async engine for {self.engine.path} is closed")
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        job = functools.partial(ctx.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, job)

    # -- stores, buckets ------------------------------------------------------------------------
    def store(self, name: str, domain: str = "local") -> AsyncStore:
        """The store ``name`` (created, like ``engine.store``, on first use; no I/O here)."""
        return AsyncStore(self, name, domain)

    def bucket(self, name: str) -> AsyncBucket:
        """The bucket ``name`` (created, like ``engine.bucket``, on first use; no I/O here)."""
        return AsyncBucket(self, name)

    async def create_store(self, name: str, **options: Any) -> StoreInfo:
        """:meth:`Engine.create_store`."""
        return await self.call(self.engine.create_store, name, **options)

    async def store_info(self, name: str, *, domain: str = "local") -> StoreInfo:
        return await self.call(self.engine.store_info, name, domain=domain)

    async def stores(self, domain: str | None = None, **options: Any) -> Page[StoreInfo]:
        """:meth:`Engine.stores`."""
        return await self.call(self.engine.stores, domain, **options)

    async def drop_store(self, name: str, *, domain: str = "local", confirmed: bool = False) -> str:
        return await self.call(self.engine.drop_store, name, domain=domain, confirmed=confirmed)

    async def buckets(self) -> list[Bucket]:
        return await self.call(self.engine.buckets)

    async def remove_bucket(self, name: str, force: bool = False) -> None:
        await self.call(self.engine.remove_bucket, name, force=force)

    # -- maintenance ----------------------------------------------------------------------------
    async def backup(self, dest: str | os.PathLike[str], *, compact: bool = True) -> str:
        return await self.call(self.engine.backup, dest, compact=compact)

    async def check(self) -> list[str]:
        return await self.call(self.engine.check)

    async def map_info(self) -> dict[str, int]:
        return await self.call(self.engine.map_info)

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Wait for running operations, then close the engine (off the loop)."""
        if self._closed:
            return
        self._closed = True

        def shutdown() -> None:
            self._pool.shutdown(wait=True)
            self.engine.close()

        await asyncio.get_running_loop().run_in_executor(None, shutdown)

    async def __aenter__(self) -> AsyncEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Opening:
    """What :func:`open` returns: await it, or use it as ``async with``."""

    def __init__(
        self, path: str | os.PathLike[str], max_workers: int, options: dict[str, Any]
    ) -> None:
        self._path = path
        self._max_workers = max_workers
        self._options = options
        self._engine: AsyncEngine | None = None

    async def _open(self) -> AsyncEngine:
        loop = asyncio.get_running_loop()
        # Opening maps the file and may reclaim orphaned uploads: off the loop too.
        engine = await loop.run_in_executor(
            None, functools.partial(open_engine, self._path, **self._options)
        )
        return AsyncEngine(engine, max_workers=self._max_workers)

    def __await__(self) -> Generator[Any, None, AsyncEngine]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncEngine:
        self._engine = await self._open()
        return self._engine

    async def __aexit__(self, *exc: object) -> None:
        if self._engine is not None:
            await self._engine.aclose()


def open(
    path: str | os.PathLike[str],
    *,
    app: str = "default",
    org: str = "default",
    durable: bool = True,
    map_size: int | None = None,
    verify: bool = False,
    max_workers: int = DEFAULT_WORKERS,
) -> _Opening:
    """Open the datastore in ``path`` (see :func:`datastore_engine.open`): ``await`` it or ``async with`` it."""
    _check_workers(max_workers)
    options = {"app": app, "org": org, "durable": durable, "map_size": map_size, "verify": verify}
    return _Opening(path, max_workers, options)


async def _batches(aengine: AsyncEngine, iterator: Iterator[T]) -> AsyncIterator[T]:
    """Drain a blocking iterator ``_ITER_BATCH`` items per executor hop."""

    def take() -> list[T]:
        out = []
        for item in iterator:
            out.append(item)
            if len(out) >= _ITER_BATCH:
                break
        return out

    while True:
        batch = await aengine.call(take)
        for item in batch:
            yield item
        if len(batch) < _ITER_BATCH:
            return


class AsyncStore:
    """Awaitable :class:`Store` operations (same arguments, same errors)."""

    def __init__(self, aengine: AsyncEngine, name: str, domain: str) -> None:
        self._aengine = aengine
        self.name = name
        self.domain = domain
        self._store: Store | None = None

    def __repr__(self) -> str:
        return f"<AsyncStore {self.domain}/{self.name}>"

    def _sync(self) -> Store:
        # Runs in the executor: engine.store() may create the store (a write).
        if self._store is None:
            self._store = self._aengine.engine.store(self.name, domain=self.domain)
        return self._store

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._aengine.call(lambda: getattr(self._sync(), method)(*args, **kwargs))

    async def sync_store(self) -> Store:
        """The underlying synchronous :class:`Store` (for :meth:`AsyncEngine.call`)."""
        return await self._aengine.call(self._sync)

    async def get(self, rid: str, default: Any = _MISSING, *, password: str | None = None) -> Any:
        if default is _MISSING:
            return await self._run("get", rid, password=password)
        return await self._run("get", rid, default, password=password)

    async def get_path(self, rid: str, path: str, default: Any = _MISSING) -> Any:
        if default is _MISSING:
            return await self._run("get_path", rid, path)
        return await self._run("get_path", rid, path, default)

    async def add(self, doc: Any, *, rid: str | None = None, password: str | None = None) -> str:
        result: str = await self._run("add", doc, rid=rid, password=password)
        return result

    async def put(
        self, rid: str, doc: Any, *, if_rev: str | None = None, password: str | None = None
    ) -> str:
        result: str = await self._run("put", rid, doc, if_rev=if_rev, password=password)
        return result

    async def merge(
        self, rid: str, patch: Any, *, if_rev: str | None = None, password: str | None = None
    ) -> str:
        result: str = await self._run("merge", rid, patch, if_rev=if_rev, password=password)
        return result

    async def set_path(self, rid: str, path: str, value: Any, *, if_rev: str | None = None) -> str:
        result: str = await self._run("set_path", rid, path, value, if_rev=if_rev)
        return result

    async def delete(
        self, rid: str, *, if_rev: str | None = None, password: str | None = None
    ) -> str:
        result: str = await self._run("delete", rid, if_rev=if_rev, password=password)
        return result

    async def contains(self, rid: str) -> bool:
        """``rid in store``."""
        return await self._aengine.call(lambda: rid in self._sync())

    async def len(self) -> int:
        """``len(store)``: the number of live documents."""
        return await self._aengine.call(lambda: len(self._sync()))

    async def keys(self, prefix: str = "", contains: str = "") -> list[str]:
        result: list[str] = await self._run("keys", prefix=prefix, contains=contains)
        return result

    async def items(self, prefix: str = "") -> AsyncIterator[tuple[str, Any]]:
        """``async for rid, doc in store.items()``: batches of ``store.items()``."""
        iterator = await self._aengine.call(lambda: self._sync().items(prefix=prefix))
        async for item in _batches(self._aengine, iterator):
            yield item

    async def changes(self, since: int = 0, *, include_docs: bool = False) -> AsyncIterator[Any]:
        """``async for change in store.changes(since)``."""
        iterator = await self._aengine.call(
            lambda: self._sync().changes(since, include_docs=include_docs)
        )
        async for item in _batches(self._aengine, iterator):
            yield item

    async def find(self, filter: str, *, sort: str | Sequence[str] | None = None, start: int = 0, count: int = 100,
                   fields: Sequence[str] | None = None, case_insensitive: bool = False) -> Page[tuple[str, Any]]:  # fmt: skip
        result: Page[tuple[str, Any]] = await self._run(
            "find", filter, sort=sort, start=start, count=count, fields=fields,
            case_insensitive=case_insensitive,
        )  # fmt: skip
        return result

    async def search(self, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._run("search", body)
        return result

    async def explain(self, filter: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._run("explain", filter)
        return result

    async def create_index(self, path: str, *, unique: bool = False) -> None:
        await self._run("create_index", path, unique=unique)

    async def drop_index(self, path: str) -> None:
        await self._run("drop_index", path)

    async def indexes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._run("indexes")
        return result

    async def info(self) -> StoreInfo:
        return await self._aengine.call(lambda: self._sync().info)


class AsyncBucket:
    """Awaitable :class:`Bucket` operations (same arguments, same errors)."""

    def __init__(self, aengine: AsyncEngine, name: str) -> None:
        self._aengine = aengine
        self.name = name
        self._bucket: Bucket | None = None

    def __repr__(self) -> str:
        return f"<AsyncBucket {self.name}>"

    def _sync(self) -> Bucket:
        if self._bucket is None:
            self._bucket = self._aengine.engine.bucket(self.name)
        return self._bucket

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._aengine.call(lambda: getattr(self._sync(), method)(*args, **kwargs))

    async def put(self, name: str, data: bytes | Iterable[bytes] | Any, length: int | None = None,
                  content_type: str | None = None, metadata: dict[str, str] | None = None) -> ObjectInfo:  # fmt: skip
        """Store ``data`` (bytes, a binary file, or an iterable of bytes, read in the executor)."""
        result: ObjectInfo = await self._run("put", name, data, length=length, content_type=content_type,
                                             metadata=metadata)  # fmt: skip
        return result

    async def fput(
        self, name: str, path: str | os.PathLike[str], content_type: str | None = None
    ) -> ObjectInfo:
        result: ObjectInfo = await self._run("fput", name, path, content_type=content_type)
        return result

    async def get_bytes(self, name: str) -> bytes:
        result: bytes = await self._run("get_bytes", name)
        return result

    async def fget(self, name: str, path: str | os.PathLike[str]) -> ObjectInfo:
        result: ObjectInfo = await self._run("fget", name, path)
        return result

    async def stream(self, name: str, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """``async for chunk in bucket.stream(name)``: one chunk per executor hop, bounded memory."""
        stream = await self._run("get", name)
        try:
            while True:
                chunk: bytes = await self._aengine.call(stream.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            stream.close()

    async def stat(self, name: str) -> ObjectInfo:
        result: ObjectInfo = await self._run("stat", name)
        return result

    async def exists(self, name: str) -> bool:
        result: bool = await self._run("exists", name)
        return result

    async def delete(self, name_or_names: str | Iterable[str]) -> dict[str, bool] | None:
        if not isinstance(name_or_names, str):
            name_or_names = list(name_or_names)
        result: dict[str, bool] | None = await self._run("delete", name_or_names)
        return result

    async def copy_to(self, bucket_name: str, new_name: str, source_name: str) -> ObjectInfo:
        result: ObjectInfo = await self._run("copy_to", bucket_name, new_name, source_name)
        return result

    async def list(self, prefix: str = "", recursive: bool = True) -> builtins.list[ObjectInfo]:
        """Every object under ``prefix`` (collected in the executor)."""
        return await self._aengine.call(
            lambda: [*self._sync().list(prefix=prefix, recursive=recursive)]
        )
