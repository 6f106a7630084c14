"""datastore_engine through its public API only.

Workloads whose API is missing (the engine is written concurrently) raise
:class:`Unsupported` with "not implemented", which the report shows as "n/a".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.backends.base import Backend, Doc, Items, QueryResult, Unsupported, bump_age
from bench.docgen import IterStream

STORE = "bench"


def _need(obj: Any, attr: str) -> Any:
    """``obj.attr``, or :class:`Unsupported` when the engine does not have it yet."""
    value = getattr(obj, attr, None)
    if value is None:
        raise Unsupported(f"not implemented: {type(obj).__name__}.{attr}")
    return value


def _scim_value(value: Any) -> str:
    return (
        '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, str)
        else str(value)
    )


def _page(page: Any) -> QueryResult:
    """``(total, rids)`` of a ``store.find()`` page, whose items are ``(rid, document)`` pairs.

    Read the way a caller reads a page (the raw backend hands back its rids as
    directly); no probing for other result shapes inside the timed loop.
    """
    return page.total, [rid for rid, _doc in page.items]


class DseBackend(Backend):
    """One engine per durability setting, one store named ``bench`` in each."""

    name = "dse"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.dse: Any = importlib.import_module("datastore_engine")
        self.engines: dict[bool, Any] = {}
        self.stores: dict[bool, Any] = {}
        self.buckets: dict[bool, Any] = {}

    def _store(self, *, durable: bool = True) -> Any:
        store = self.stores.get(durable)
        if store is None:
            path = self.root / ("durable" if durable else "relaxed")
            engine = self.engines[durable] = _need(self.dse, "open")(str(path), durable=durable)
            store = self.stores[durable] = engine.store(STORE)
        return store

    @property
    def engine(self) -> Any:
        return self.engines[True]

    @property
    def store(self) -> Any:
        return self.stores[True]

    def open(self) -> None:
        self._store()

    def close(self) -> None:
        for engine in self.engines.values():
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        self.engines.clear()
        self.stores.clear()
        self.buckets.clear()

    # -- documents -------------------------------------------------------------------
    def bulk_insert(self, items: Items) -> None:
        # put_many is the loading API (one transaction), as executemany is sqlite3's.
        _need(self.store, "put_many")(items)

    def insert(self, rid: str, doc: Doc, *, durable: bool) -> None:
        self._store(durable=durable).add(doc, rid=rid)

    def get(self, rid: str) -> Doc:
        doc: Doc = self.store.get(rid)
        return doc

    def rmw(self, rid: str) -> None:
        store = self.store
        with _need(self.engine, "transaction")():
            store.put(rid, bump_age(store.get(rid)))

    def merge(self, rid: str, patch: Doc) -> None:
        _need(self.store, "merge")(rid, patch)

    # -- queries ---------------------------------------------------------------------
    def _find(self, flt: str, count: int) -> QueryResult:
        return _page(self.store.find(flt, count=count))

    def scan(self, *, age_min: int, city: str, count: int) -> QueryResult:
        return self._find(f"age ge {age_min} and city eq {_scim_value(city)}", count)

    def create_index(self, field: str) -> None:
        _need(self.store, "create_index")(field)

    def find_eq(self, field: str, value: Any, *, count: int) -> QueryResult:
        return self._find(f"{field} eq {_scim_value(value)}", count)

    def find_range(self, field: str, lo: int, hi: int, *, count: int) -> QueryResult:
        return self._find(f"{field} ge {lo} and {field} le {hi}", count)

    def es_bool(
        self, *, city: str, age_gte: int, age_lt: int, not_tag: str, size: int
    ) -> QueryResult:
        body = {
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"city": city}},
                        {"range": {"age": {"gte": age_gte, "lt": age_lt}}},
                    ],
                    "must_not": [{"term": {"tags": not_tag}}],
                }
            },
            "from": 0,
            "size": size,
        }
        result = _need(self.store, "search")(body)
        hits = result.get("hits", {}) if isinstance(result, dict) else {}
        total = hits.get("total", 0)
        total = total.get("value", 0) if isinstance(total, dict) else total
        return int(total), [str(h.get("_id", "?")) for h in hits.get("hits", [])][:size]

    # -- concurrency -----------------------------------------------------------------
    def writer(self) -> tuple[Callable[[str, Doc], None], Callable[[], None]]:
        store = self.store  # one engine shared by all threads: the engine is thread-safe
        return (lambda rid, doc: store.add(doc, rid=rid)), (lambda: None)

    # -- blobs -----------------------------------------------------------------------
    def _bucket(self) -> Any:
        # Held once, as a user holds ``bucket = engine.bucket(name)`` (and as ``store`` is held).
        bucket = self.buckets.get(True)
        if bucket is None:
            bucket = self.buckets[True] = _need(self.engine, "bucket")("bench")
        return bucket

    def blob_put(self, name: str, chunks: Iterable[bytes], *, length: int) -> None:
        self._bucket().put(name, IterStream(chunks), length=length)

    def blob_get(self, name: str, *, sink: Callable[[bytes], object] | None = None) -> int:
        stream = self._bucket().get(name)
        total = 0
        try:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if sink is not None:
                    sink(chunk)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return total
