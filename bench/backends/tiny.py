"""TinyDB with its default JSONStorage (fsync per write) for the durable store.

TinyDB re-reads and rewrites its whole JSON file on every operation, so it runs at a
small N (see ``config.TINYDB_MAX_DOCS``). The relaxed store is the same storage minus
the fsync. It has no indexes: "indexed" queries are full scans. No query cache (a
repeated query would otherwise be answered from memory). No blobs, not thread-safe.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import JSONStorage
from tinydb.table import Document, Table

from bench.backends.base import Backend, Doc, Items, QueryResult, Unsupported, bump_age, deep_merge
from bench.docgen import rid_of


class RelaxedJSONStorage(JSONStorage):
    """JSONStorage without the fsync (TinyDB's write, otherwise unchanged)."""

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._handle.seek(0)
        serialized = json.dumps(data, **self.kwargs)
        try:
            self._handle.write(serialized)
        except io.UnsupportedOperation as exc:
            raise OSError("read-only database") from exc
        self._handle.flush()
        self._handle.truncate()


def doc_id_of(rid: str) -> int:
    """TinyDB ids are ints: ``d0000042`` -> 42."""
    return int(rid[1:])


class TinyBackend(Backend):
    """One TinyDB table per store."""

    name = "tinydb"
    notes = {
        "index_eq": "tinydb has no indexes: a full scan per lookup",
        "index_range": "tinydb has no indexes: a full scan per query",
        "point_get": "tinydb re-reads its whole JSON file on every operation",
    }

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.dbs: dict[bool, TinyDB] = {}

    def _table(self, *, durable: bool = True) -> Table:
        db = self.dbs.get(durable)
        if db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            storage = JSONStorage if durable else RelaxedJSONStorage
            path = self.root / ("durable.json" if durable else "relaxed.json")
            db = self.dbs[durable] = TinyDB(str(path), storage=storage)
        return db.table("docs", cache_size=0)

    def open(self) -> None:
        self._table()

    def close(self) -> None:
        for db in self.dbs.values():
            db.close()
        self.dbs.clear()

    def bulk_insert(self, items: Items) -> None:
        self._table().insert_multiple(Document(doc, doc_id=doc_id_of(rid)) for rid, doc in items)

    def insert(self, rid: str, doc: Doc, *, durable: bool) -> None:
        self._table(durable=durable).insert(Document(doc, doc_id=doc_id_of(rid)))

    def get(self, rid: str) -> Doc:
        doc = self._table().get(doc_id=doc_id_of(rid))
        if doc is None:
            raise KeyError(rid)
        return dict(doc)

    def _update(self, rid: str, edit: Callable[[Doc], Doc]) -> None:
        def apply(doc: MutableMapping[Any, Any]) -> None:
            new = edit(dict(doc))
            doc.clear()
            doc.update(new)

        self._table().update(apply, doc_ids=[doc_id_of(rid)])

    def rmw(self, rid: str) -> None:
        self._update(rid, bump_age)

    def merge(self, rid: str, patch: Doc) -> None:
        self._update(rid, lambda doc: deep_merge(doc, patch))

    def _search(self, cond: Any, count: int) -> QueryResult:
        found = self._table().search(cond)
        return len(found), [rid_of(d.doc_id) for d in found[:count]]

    def scan(self, *, age_min: int, city: str, count: int) -> QueryResult:
        q = Query()
        return self._search((q.age >= age_min) & (q.city == city), count)

    def create_index(self, field: str) -> None:
        """TinyDB has no indexes; the indexed queries below scan."""

    def find_eq(self, field: str, value: Any, *, count: int) -> QueryResult:
        return self._search(Query()[field] == value, count)

    def find_range(self, field: str, lo: int, hi: int, *, count: int) -> QueryResult:
        q = Query()
        return self._search((q[field] >= lo) & (q[field] <= hi), count)

    def es_bool(
        self, *, city: str, age_gte: int, age_lt: int, not_tag: str, size: int
    ) -> QueryResult:
        q = Query()
        cond = (q.city == city) & (q.age >= age_gte) & (q.age < age_lt) & ~q.tags.any([not_tag])
        return self._search(cond, size)

    def writer(self) -> tuple[Callable[[str, Doc], None], Callable[[], None]]:
        raise Unsupported("not thread-safe")
