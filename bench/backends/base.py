"""The interface every benchmark backend implements, and shared pure helpers.

A backend owns one directory. ``open()`` creates the durable handle; the relaxed handle
(no fsync per commit) lives in a sibling directory and is opened on first use. Query
methods return ``(total, rids)``: the number of matches and the first ``count`` ids
in key order, so results can be compared across backends.

Unsupported workloads raise :class:`Unsupported`; the runner prints "n/a (reason)".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
Items = list[tuple[str, Doc]]
QueryResult = tuple[int, list[str]]


class Unsupported(Exception):
    """A workload this backend cannot run; the message becomes the table cell."""


def deep_merge(target: Doc, patch: Doc) -> Doc:
    """Recursive merge of ``patch`` into a copy of ``target`` (dicts merge, others replace).

    >>> deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4})
    {'a': {'b': 1, 'c': 3}, 'd': 4}
    """
    out = copy.copy(target)
    for key, value in patch.items():
        old = out.get(key)
        out[key] = (
            deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out


def bump_age(doc: Doc) -> Doc:
    """The read-modify-write edit: one year older (same edit on every backend)."""
    doc["age"] = doc["age"] + 1
    return doc


def scan_match(doc: Doc, *, age_min: int, city: str) -> bool:
    """``age ge {age_min} and city eq "{city}"`` as a plain predicate."""
    age = doc.get("age")
    return doc.get("city") == city and isinstance(age, int) and age >= age_min


def es_match(doc: Doc, *, city: str, age_gte: int, age_lt: int, not_tag: str) -> bool:
    """The ES bool query (filter term city, range age, must_not term tags) as a predicate."""
    age = doc.get("age")
    return (
        doc.get("city") == city
        and isinstance(age, int)
        and age_gte <= age < age_lt
        and not_tag not in doc.get("tags", ())
    )


class Backend:
    """Base class: every method raises :class:`Unsupported` unless a backend overrides it."""

    name = "base"
    # Per-workload remarks printed under the table, e.g. how an "indexed" query really runs.
    notes: dict[str, str] = {}

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self) -> None:
        """Open the durable store (and create it)."""

    def close(self) -> None:
        """Close every handle."""

    # -- documents -------------------------------------------------------------------
    def bulk_insert(self, items: Items) -> None:
        """Insert all ``items`` in one transaction."""
        raise Unsupported(f"not supported by {self.name}")

    def insert(self, rid: str, doc: Doc, *, durable: bool) -> None:
        """Insert one document in its own commit (durable or relaxed store)."""
        raise Unsupported(f"not supported by {self.name}")

    def get(self, rid: str) -> Doc:
        """One document, in its own read transaction."""
        raise Unsupported(f"not supported by {self.name}")

    def rmw(self, rid: str) -> None:
        """Read, :func:`bump_age`, write back: one write transaction."""
        raise Unsupported(f"not supported by {self.name}")

    def merge(self, rid: str, patch: Doc) -> None:
        """Deep-merge ``patch`` into document ``rid``: one write transaction."""
        raise Unsupported(f"not supported by {self.name}")

    # -- queries ---------------------------------------------------------------------
    def scan(self, *, age_min: int, city: str, count: int) -> QueryResult:
        """Full-scan filter ``age ge age_min and city eq city``."""
        raise Unsupported(f"not supported by {self.name}")

    def create_index(self, field: str) -> None:
        """Secondary index on a top-level field."""
        raise Unsupported(f"not supported by {self.name}")

    def find_eq(self, field: str, value: Any, *, count: int) -> QueryResult:
        """Indexed ``field eq value``."""
        raise Unsupported(f"not supported by {self.name}")

    def find_range(self, field: str, lo: int, hi: int, *, count: int) -> QueryResult:
        """Indexed ``field ge lo and field le hi``."""
        raise Unsupported(f"not supported by {self.name}")

    def es_bool(
        self, *, city: str, age_gte: int, age_lt: int, not_tag: str, size: int
    ) -> QueryResult:
        """ES bool: filter [term city, range age gte/lt], must_not [term tags]."""
        raise Unsupported(f"not supported by {self.name}")

    # -- concurrency -----------------------------------------------------------------
    def writer(self) -> tuple[Callable[[str, Doc], None], Callable[[], None]]:
        """A per-thread durable ``insert(rid, doc)`` and its ``close()``."""
        raise Unsupported(f"not supported by {self.name}")

    # -- blobs -----------------------------------------------------------------------
    def blob_put(self, name: str, chunks: Iterable[bytes], *, length: int) -> None:
        """Store ``length`` bytes arriving as ``chunks`` under ``name`` (durable)."""
        raise Unsupported(f"not supported by {self.name}")

    def blob_get(self, name: str, *, sink: Callable[[bytes], object] | None = None) -> int:
        """Read object ``name`` in chunks; feed each to ``sink``; return the byte count."""
        raise Unsupported(f"not supported by {self.name}")
