"""Open an engine's file with plain py-lmdb (the engine closed), to read or lay out records as a test needs.

>>> import tempfile, datastore_engine as dse
>>> with tempfile.TemporaryDirectory() as path:
...     with dse.open(path) as engine:
...         _ = engine.store("s").put("a", {"n": 1})
...     with raw_txn(path) as (_env, txn):
...         [len(value) > 40 for _key, value in counters_records(txn)]  # 40 bytes, then the feed tail
[True]
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lmdb

from datastore_engine.engine import MAX_DBS, SUBDATABASE_KEYS


@contextmanager
def raw_txn(path: str | pathlib.Path, *, write: bool = False) -> Iterator[tuple[Any, Any]]:
    """``(env, txn)`` on the file at ``path``: read-only without a lock, or a write committed at the end."""
    env = lmdb.open(str(path), max_dbs=MAX_DBS, subdir=True, readonly=not write, lock=write)
    try:
        with env.begin(write=write) as txn:
            yield env, txn
    finally:
        env.close()


def counters_records(txn: Any) -> list[tuple[bytes, bytes]]:
    """The main database's counters records, as bytes (its other keys name sub-databases)."""
    return [(bytes(key), bytes(value)) for key, value in txn.cursor() if bytes(key) not in SUBDATABASE_KEYS]
