"""A pure-Python dict model: the oracle the smoke test compares the real backends to."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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


class MemoryBackend(Backend):
    """Documents in a dict; queries are comprehensions in rid order (no I/O, no durability)."""

    name = "memory"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.docs: dict[bool, dict[str, Doc]] = {True: {}, False: {}}
        self.blobs: dict[str, bytes] = {}

    def bulk_insert(self, items: Items) -> None:
        self.docs[True].update((rid, copy.deepcopy(doc)) for rid, doc in items)

    def insert(self, rid: str, doc: Doc, *, durable: bool) -> None:
        if rid in self.docs[durable]:
            raise KeyError(f"duplicate {rid}")
        self.docs[durable][rid] = copy.deepcopy(doc)

    def get(self, rid: str) -> Doc:
        return copy.deepcopy(self.docs[True][rid])

    def rmw(self, rid: str) -> None:
        self.docs[True][rid] = bump_age(self.get(rid))

    def merge(self, rid: str, patch: Doc) -> None:
        self.docs[True][rid] = deep_merge(self.docs[True].get(rid, {}), patch)

    def _filter(self, match: Callable[[Doc], bool], count: int) -> QueryResult:
        rids = [rid for rid in sorted(self.docs[True]) if match(self.docs[True][rid])]
        return len(rids), rids[:count]

    def scan(self, *, age_min: int, city: str, count: int) -> QueryResult:
        return self._filter(lambda d: scan_match(d, age_min=age_min, city=city), count)

    def create_index(self, field: str) -> None:
        """Nothing to build: every query scans."""

    def find_eq(self, field: str, value: Any, *, count: int) -> QueryResult:
        return self._filter(lambda d: d.get(field) == value, count)

    def find_range(self, field: str, lo: int, hi: int, *, count: int) -> QueryResult:
        return self._filter(lambda d: isinstance(d.get(field), int) and lo <= d[field] <= hi, count)

    def es_bool(
        self, *, city: str, age_gte: int, age_lt: int, not_tag: str, size: int
    ) -> QueryResult:
        return self._filter(
            lambda d: es_match(d, city=city, age_gte=age_gte, age_lt=age_lt, not_tag=not_tag), size
        )

    def writer(self) -> tuple[Callable[[str, Doc], None], Callable[[], None]]:
        # dict assignment is atomic under the GIL; good enough for a model
        return (lambda rid, doc: self.insert(rid, doc, durable=True)), (lambda: None)

    def blob_put(self, name: str, chunks: Iterable[bytes], *, length: int) -> None:
        self.blobs[name] = b"".join(chunks)

    def blob_get(self, name: str, *, sink: Callable[[bytes], object] | None = None) -> int:
        data = self.blobs[name]
        if sink is not None:
            sink(data)
        return len(data)
