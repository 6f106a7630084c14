"""sqlite3 with JSON text documents in WAL mode.

``synchronous=FULL`` for the durable database, ``NORMAL`` for the relaxed one. Queries
use ``json_extract``; indexes are expression indexes on ``json_extract(doc, '$.field')``;
merge is ``json_patch`` (RFC 7396, equal to a deep merge for the dict-only patches used).
Blobs are 1 MiB chunk rows committed 16 at a time (SQLite caps one value below 1 GiB).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.backends.base import Backend, Doc, Items, QueryResult, bump_age

CHUNKS_PER_TXN = 16
SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (rid TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blob_chunks (name TEXT, seq INTEGER, data BLOB, PRIMARY KEY (name, seq));
CREATE TABLE IF NOT EXISTS blob_meta (name TEXT PRIMARY KEY, length INTEGER, chunks INTEGER);
"""


def dumps(doc: Doc) -> str:
    return json.dumps(doc, separators=(",", ":"))


def connect(path: Path, *, durable: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN/COMMIT), WAL, FULL or NORMAL sync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    con.executescript(SCHEMA)
    return con


class SqliteBackend(Backend):
    """One ``docs(rid, doc)`` table (rowid table: ~1 KB rows stay on their page)."""

    name = "sqlite"
    notes = {
        "index_eq": "sqlite: expression index on json_extract(doc, '$.email')",
        "index_range": "sqlite: expression index on json_extract(doc, '$.age')",
        "es_bool": "sqlite: one SQL query; the planner may use the age expression index",
        "merge": "sqlite: json_patch (RFC 7396) in one UPDATE",
    }

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.cons: dict[bool, sqlite3.Connection] = {}

    def _path(self, durable: bool) -> Path:
        return self.root / ("durable.db" if durable else "relaxed.db")

    def _con(self, *, durable: bool) -> sqlite3.Connection:
        con = self.cons.get(durable)
        if con is None:
            con = self.cons[durable] = connect(self._path(durable), durable=durable)
        return con

    @property
    def con(self) -> sqlite3.Connection:
        return self.cons[True]

    def open(self) -> None:
        self._con(durable=True)

    def close(self) -> None:
        for con in self.cons.values():
            con.close()
        self.cons.clear()

    # -- documents -------------------------------------------------------------------
    def bulk_insert(self, items: Items) -> None:
        con = self.con
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO docs (rid, doc) VALUES (?, ?)", ((r, dumps(d)) for r, d in items)
        )
        con.execute("COMMIT")

    def insert(self, rid: str, doc: Doc, *, durable: bool) -> None:
        self._con(durable=durable).execute(
            "INSERT INTO docs (rid, doc) VALUES (?, ?)", (rid, dumps(doc))
        )

    def get(self, rid: str) -> Doc:
        row = self.con.execute("SELECT doc FROM docs WHERE rid = ?", (rid,)).fetchone()
        if row is None:
            raise KeyError(rid)
        doc: Doc = json.loads(row[0])
        return doc

    def rmw(self, rid: str) -> None:
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            (text,) = con.execute("SELECT doc FROM docs WHERE rid = ?", (rid,)).fetchone()
            con.execute(
                "UPDATE docs SET doc = ? WHERE rid = ?", (dumps(bump_age(json.loads(text))), rid)
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def merge(self, rid: str, patch: Doc) -> None:
        self.con.execute(
            "INSERT INTO docs (rid, doc) VALUES (?, json(?)) "
            "ON CONFLICT (rid) DO UPDATE SET doc = json_patch(doc, excluded.doc)",
            (rid, dumps(patch)),
        )

    # -- queries ---------------------------------------------------------------------
    def _indexed(self, where: str, args: tuple[Any, ...], count: int) -> QueryResult:
        # With an index, COUNT(*) reads only the index; the page then fetches `count` rows.
        # (The one-pass window form of _query materializes every matching document: 60x
        # slower for a 3% range.) Both statements share one read snapshot.
        con = self.con
        con.execute("BEGIN")
        try:
            (total,) = con.execute(f"SELECT COUNT(*) FROM docs WHERE {where}", args).fetchone()
            rows = con.execute(
                f"SELECT rid, doc FROM docs WHERE {where} ORDER BY rowid LIMIT ?", (*args, count)
            ).fetchall()
        finally:
            con.execute("COMMIT")
        for row in rows:
            json.loads(row[1])
        return total, [row[0] for row in rows]

    def _query(self, where: str, args: tuple[Any, ...], count: int) -> QueryResult:
        # COUNT(*) OVER () counts every match while LIMIT returns the first page: one pass.
        rows = self.con.execute(
            f"SELECT rid, doc, COUNT(*) OVER () FROM docs WHERE {where} ORDER BY rowid LIMIT ?",
            (*args, count),
        ).fetchall()
        for row in rows:
            json.loads(row[1])
        return (rows[0][2] if rows else 0), [row[0] for row in rows]

    def scan(self, *, age_min: int, city: str, count: int) -> QueryResult:
        return self._query(
            "json_extract(doc, '$.age') >= ? AND json_extract(doc, '$.city') = ?",
            (age_min, city),
            count,
        )

    def create_index(self, field: str) -> None:
        self.con.execute(
            f"CREATE INDEX IF NOT EXISTS idx_{field} ON docs (json_extract(doc, '$.{field}'))"
        )

    def find_eq(self, field: str, value: Any, *, count: int) -> QueryResult:
        return self._indexed(f"json_extract(doc, '$.{field}') = ?", (value,), count)

    def find_range(self, field: str, lo: int, hi: int, *, count: int) -> QueryResult:
        return self._indexed(
            f"json_extract(doc, '$.{field}') >= ? AND json_extract(doc, '$.{field}') <= ?",
            (lo, hi),
            count,
        )

    def es_bool(
        self, *, city: str, age_gte: int, age_lt: int, not_tag: str, size: int
    ) -> QueryResult:
        return self._query(
            "json_extract(doc, '$.city') = ? AND json_extract(doc, '$.age') >= ? "
            "AND json_extract(doc, '$.age') < ? "
            "AND NOT EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE value = ?)",
            (city, age_gte, age_lt, not_tag),
            size,
        )

    # -- concurrency -----------------------------------------------------------------
    def writer(self) -> tuple[Callable[[str, Doc], None], Callable[[], None]]:
        # sqlite3 connections are not meant to be shared across threads: one per writer.
        con = connect(self._path(True), durable=True)

        def insert(rid: str, doc: Doc) -> None:
            con.execute("INSERT INTO docs (rid, doc) VALUES (?, ?)", (rid, dumps(doc)))

        return insert, con.close

    # -- blobs -----------------------------------------------------------------------
    def blob_put(self, name: str, chunks: Iterable[bytes], *, length: int) -> None:
        con, seq = self.con, 0
        it = iter(chunks)
        while True:
            batch = [c for _, c in zip(range(CHUNKS_PER_TXN), it, strict=False)]
            if not batch:
                break
            con.execute("BEGIN")
            con.executemany(
                "INSERT INTO blob_chunks (name, seq, data) VALUES (?, ?, ?)",
                ((name, seq + i, c) for i, c in enumerate(batch)),
            )
            con.execute("COMMIT")
            seq += len(batch)
        con.execute(
            "INSERT INTO blob_meta (name, length, chunks) VALUES (?, ?, ?)", (name, length, seq)
        )

    def blob_get(self, name: str, *, sink: Callable[[bytes], object] | None = None) -> int:
        con = self.con
        (length,) = con.execute("SELECT length FROM blob_meta WHERE name = ?", (name,)).fetchone()
        total = 0
        con.execute("BEGIN")  # one read snapshot, like the LMDB read transaction
        for (chunk,) in con.execute(
            "SELECT data FROM blob_chunks WHERE name = ? ORDER BY seq", (name,)
        ):
            total += len(chunk)
            if sink is not None:
                sink(chunk)
        con.execute("COMMIT")
        if total != length:
            raise AssertionError(f"blob {name}: read {total} of {length} bytes")
        return total
