"""py-lmdb + msgpack by hand: the floor the engine is measured against.

Same environment flags the engine uses (sync, metasync, no writemap, a large sparse map,
named databases). Indexes are hand-kept sub-databases: ``email`` maps value -> rid
(unique), other fields map ``encoded value + rid`` -> ``b""`` so a cursor range serves
range queries. Blobs are 1 MiB chunk records committed 16 at a time, then a manifest.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import lmdb
import msgpack

from bench.backends.base import (
    Backend,
    Doc,
    Items,
    QueryResult,
    bump_age,
    deep_merge,
    es_match,
    scan_match,
)

MAP_SIZE = 1 << 36  # 64 GiB, sparse: room for the 1M-document scale run plus 1 GiB blobs
MAX_DBS = 16
CHUNKS_PER_TXN = 16
_INT = struct.Struct(">Q")

pack = msgpack.Packer(use_bin_type=True).pack


def unpack(data: bytes | memoryview | None) -> Any:
    if data is None:
        raise KeyError("missing value")
    return msgpack.unpackb(data, raw=False)


def index_key(value: Any) -> bytes:
    """Order-preserving bytes for an int or str index value.

    >>> index_key(3) < index_key(20) < index_key("a")
    True
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"raw index supports int and str, got {value!r}")
    if isinstance(value, int):
        return b"i" + _INT.pack(value + (1 << 63))
    return b"s" + value.encode() + b"\x00"


def open_env(path: Path, *, durable: bool) -> lmdb.Environment:
    """The environment with the engine's flags (``durable=False`` drops both syncs)."""
    path.mkdir(parents=True, exist_ok=True)
    return lmdb.open(
        str(path),
        map_size=MAP_SIZE,
        max_dbs=MAX_DBS,
        sync=durable,
        metasync=durable,
        writemap=False,
        max_readers=256,
    )


class RawBackend(Backend):
    """Documents as msgpack values keyed by rid in one named database."""

    name = "raw"
    notes = {
        "scan": "raw: msgpack decode and compare every value over one cursor",
        "es_bool": "raw: decode-and-compare loop (does not use the age index)",
        "index_eq": "raw: hand-kept index sub-db email -> rid",
        "index_range": "raw: hand-kept index sub-db (age, rid) -> '', cursor range",
    }

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.envs: dict[bool, lmdb.Environment] = {}
        self.dbs: dict[tuple[bool, str], Any] = {}
        self.indexes: dict[str, Any] = {}

    def open(self) -> None:
        self._env(durable=True)

    def _env(self, *, durable: bool) -> lmdb.Environment:
        env = self.envs.get(durable)
        if env is None:
            env = open_env(self.root / ("durable" if durable else "relaxed"), durable=durable)
            self.envs[durable] = env
            # Open every named database up front: open_db() begins its own write
            # transaction, which must not happen per operation (or inside another one).
            for name in ("docs", "blob_chunks", "blob_meta"):
                self.dbs[durable, name] = env.open_db(name.encode())
        return env

    @property
    def env(self) -> lmdb.Environment:
        return self.envs[True]

    def _db(self, name: str, *, durable: bool = True) -> Any:
        return self.dbs[durable, name]

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()
        self.dbs.clear()

    # -- documents -------------------------------------------------------------------
    def _put(self, txn: lmdb.Transaction, rid: str, doc: Doc, old: Doc | None) -> None:
        key = rid.encode()
        txn.put(key, pack(doc), db=self._db("docs"))
        for field, db in self.indexes.items():
            if old is not None and field in old:
                txn.delete(self._ikey(field, old[field], key), db=db)
            if field in doc:
                ikey = self._ikey(field, doc[field], key)
                txn.put(ikey, key if field == "email" else b"", db=db)

    @staticmethod
    def _ikey(field: str, value: Any, key: bytes) -> bytes:
        return value.encode() if field == "email" else index_key(value) + key

    def bulk_insert(self, items: Items) -> None:
        with self.env.begin(write=True) as txn:
            for rid, doc in items:
                self._put(txn, rid, doc, None)

    def insert(self, rid: str, doc: Doc, *, durable: bool) -> None:
        with self._env(durable=durable).begin(write=True) as txn:
            if durable:
                self._put(txn, rid, doc, None)
            else:
                txn.put(rid.encode(), pack(doc), db=self._db("docs", durable=False))

    def get(self, rid: str) -> Doc:
        with self.env.begin() as txn:
            data = txn.get(rid.encode(), db=self._db("docs"))
        if data is None:
            raise KeyError(rid)
        doc: Doc = unpack(data)
        return doc

    def _update(self, rid: str, edit: Callable[[Doc], Doc]) -> None:
        key = rid.encode()
        with self.env.begin(write=True) as txn:
            data = txn.get(key, db=self._db("docs"))
            old = None if data is None else unpack(data)
            self._put(txn, rid, edit({} if old is None else dict(old)), old)

    def rmw(self, rid: str) -> None:
        self._update(rid, bump_age)

    def merge(self, rid: str, patch: Doc) -> None:
        self._update(rid, lambda doc: deep_merge(doc, patch))

    # -- queries ---------------------------------------------------------------------
    def _filter(self, match: Callable[[Doc], bool], count: int) -> QueryResult:
        total, rids = 0, list[str]()
        with self.env.begin() as txn:
            for key, value in txn.cursor(db=self._db("docs")):
                if match(unpack(value)):
                    total += 1
                    if len(rids) < count:
                        rids.append(key.decode())
        return total, rids

    def scan(self, *, age_min: int, city: str, count: int) -> QueryResult:
        return self._filter(lambda d: scan_match(d, age_min=age_min, city=city), count)

    def create_index(self, field: str) -> None:
        db = self.env.open_db(f"idx_{field}".encode())
        self.indexes[field] = db
        with self.env.begin(write=True) as txn:
            for key, value in txn.cursor(db=self._db("docs")):
                doc = unpack(value)
                if field in doc:
                    txn.put(
                        self._ikey(field, doc[field], key), key if field == "email" else b"", db=db
                    )

    def _fetch(self, txn: lmdb.Transaction, keys: Iterable[bytes]) -> list[str]:
        docs = self._db("docs")
        out = []
        for key in keys:
            unpack(txn.get(key, db=docs))  # decode the item like the other backends do
            out.append(key.decode())
        return out

    def find_eq(self, field: str, value: Any, *, count: int) -> QueryResult:
        db = self.indexes[field]
        with self.env.begin() as txn:
            if field == "email":
                key = txn.get(value.encode(), db=db)
                keys = [] if key is None else [key]
            else:
                prefix = index_key(value)
                keys = list(_prefixed(txn.cursor(db=db), prefix, len(prefix)))
            return len(keys), self._fetch(txn, keys[:count])

    def find_range(self, field: str, lo: int, hi: int, *, count: int) -> QueryResult:
        db = self.indexes[field]
        start, stop = index_key(lo), index_key(hi + 1)
        keys: list[bytes] = []
        with self.env.begin() as txn:
            cur = txn.cursor(db=db)
            if cur.set_range(start):
                for ikey in cur.iternext(values=False):
                    if ikey >= stop:
                        break
                    keys.append(ikey[len(start) :])
            # Index order is (value, rid); report the first ids in rid order like a scan.
            keys.sort()
            return len(keys), self._fetch(txn, keys[:count])

    def es_bool(
        self, *, city: str, age_gte: int, age_lt: int, not_tag: str, size: int
    ) -> QueryResult:
        return self._filter(
            lambda d: es_match(d, city=city, age_gte=age_gte, age_lt=age_lt, not_tag=not_tag), size
        )

    # -- concurrency -----------------------------------------------------------------
    def writer(self) -> tuple[Callable[[str, Doc], None], Callable[[], None]]:
        return (lambda rid, doc: self.insert(rid, doc, durable=True)), (lambda: None)

    # -- blobs -----------------------------------------------------------------------
    def blob_put(self, name: str, chunks: Iterable[bytes], *, length: int) -> None:
        db, prefix = self._db("blob_chunks"), name.encode() + b"\x00"
        it = iter(chunks)
        seq = 0
        while True:
            batch = [c for _, c in zip(range(CHUNKS_PER_TXN), it, strict=False)]
            if not batch:
                break
            with self.env.begin(write=True) as txn:
                for chunk in batch:
                    txn.put(prefix + _INT.pack(seq), chunk, db=db)
                    seq += 1
        with self.env.begin(write=True) as txn:
            txn.put(
                name.encode(), pack({"length": length, "chunks": seq}), db=self._db("blob_meta")
            )

    def blob_get(self, name: str, *, sink: Callable[[bytes], object] | None = None) -> int:
        total = 0
        with self.env.begin() as txn:
            meta = unpack(txn.get(name.encode(), db=self._db("blob_meta")))
            prefix = name.encode() + b"\x00"
            cur = txn.cursor(db=self._db("blob_chunks"))
            for _key, chunk in _prefixed_items(cur, prefix):
                total += len(chunk)
                if sink is not None:
                    sink(chunk)
        if total != meta["length"]:
            raise AssertionError(f"blob {name}: read {total} of {meta['length']} bytes")
        return total


def _prefixed(cur: lmdb.Cursor, prefix: bytes, cut: int) -> Iterator[bytes]:
    """Keys under ``prefix`` with the first ``cut`` bytes removed."""
    if cur.set_range(prefix):
        for key in cur.iternext(values=False):
            if not bytes(key).startswith(prefix):
                break
            yield bytes(key[cut:])


def _prefixed_items(cur: lmdb.Cursor, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` under ``prefix``, each value read only once its key matched.

    Iterating the cursor for items would copy the value of the first record past the
    prefix too, before its key is seen: a whole 1 MiB chunk of the next object, which
    cost raw ~2x on 1 MiB gets while dse read no more than the object.
    """
    for key in _prefixed(cur, prefix, 0):  # the cursor stays on ``key`` while it is yielded
        yield key, bytes(cur.value())  # a no-op copy: the environment has buffers=False
