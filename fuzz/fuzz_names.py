"""Fuzz name validation: document ids, store names, bucket names, object names.

Invariant: each validator returns or raises ``ValidationError`` (incl.
``LimitExceeded``). What is accepted fits LMDB: a document key (8-byte store
prefix + id) and an object key are at most 511 bytes (LMDB's key limit), and
two different accepted object names never share a key.

Run:
    python fuzz/fuzz_names.py --seconds 60
    python fuzz/fuzz_names.py --atheris --seconds 60
"""

from __future__ import annotations

from typing import Any

import _harness
from hypothesis import strategies as st

from datastore_engine import blobkeys, keys
from datastore_engine.errors import LimitExceeded, ValidationError

ALLOWED = (ValidationError, LimitExceeded)
HANG_SECONDS = _harness.HANG_SECONDS
LMDB_MAX_KEY = 511
stats = _harness.Stats()

NAMES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="abc./-_é\x00\x7f\t ", max_size=80),
    st.integers(0, 1100).map(lambda n: "é" * n),
    st.integers(0, 1100).map(lambda n: "a" * n),
    st.integers(400, 1100).map(lambda n: "x/" * (n // 2)),
    st.none() | st.integers() | st.binary(max_size=4) | st.lists(st.text(max_size=2), max_size=2),
)
INPUTS = st.tuples(NAMES, NAMES)
SEEDS: list[Any] = [("my-bucket", "img/a.jpg"), ("a" * 449, "a" * 450), ("", "\x00")]
BUCKET_ID = b"\x00" * 7 + b"\x01"


def _accepted(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except (ValidationError, LimitExceeded):
        return None


def _body(pair: tuple[Any, Any]) -> None:
    first, second = pair
    for name in (first, second):
        rid = _accepted(keys.rid_bytes, name)
        if rid is not None:
            assert len(keys.sid_bytes(1) + rid) <= LMDB_MAX_KEY
        _accepted(keys.check_store_name, name)
        _accepted(blobkeys.check_bucket_name, name)
        if _accepted(blobkeys.object_name_bytes, name) is not None:
            assert len(blobkeys.object_key(BUCKET_ID, name)) <= LMDB_MAX_KEY, (
                f"object key over {LMDB_MAX_KEY} bytes"
            )
    if first != second and all(
        _accepted(blobkeys.object_name_bytes, n) is not None for n in (first, second)
    ):
        assert blobkeys.object_key(BUCKET_ID, first) != blobkeys.object_key(BUCKET_ID, second), (
            "two names, one key"
        )


check = _harness.guarded("fuzz_names", _body, ALLOWED, stats, lambda: HANG_SECONDS)
run_fallback = _harness.fallback(check, INPUTS, SEEDS, stats)


def from_bytes(raw: bytes) -> tuple[str, str]:
    text = raw.decode("utf-8", "replace")
    half = len(text) // 2
    return text[:half], text[half:]


if __name__ == "__main__":
    _harness.main("fuzz_names", __doc__ or "", check, from_bytes, run_fallback, stats)
