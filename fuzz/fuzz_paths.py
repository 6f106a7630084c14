"""Fuzz dotted paths: parse_path, get_in, set_in, delete_in on arbitrary documents and paths.

Documents and values that are not storable JSON (as the byte entry point can
produce: NaN, bytes, int keys) are refused by ``check_value`` first, as Store does.
Invariant: every call returns or raises ``ValidationError`` (incl.
``LimitExceeded``) or ``NotFound``; inputs are never changed; after a
successful ``set_in(doc, path, v)``, ``get_in(result, path) == v``; after a
successful ``delete_in`` on a dict key, ``get_in`` of that path raises NotFound.

Run:
    python fuzz/fuzz_paths.py --seconds 60
    python fuzz/fuzz_paths.py --atheris --seconds 60
"""

from __future__ import annotations

import copy
from typing import Any

import _harness
from _values import JSON, values_from_bytes
from hypothesis import strategies as st

from datastore_engine import codec, paths
from datastore_engine.errors import LimitExceeded, NotFound, ValidationError

ALLOWED = (ValidationError, LimitExceeded, NotFound)
HANG_SECONDS = _harness.HANG_SECONDS
stats = _harness.Stats()

SEGMENTS = st.sampled_from(
    ["a", "b", "0", "1", "2", "00", "-1", "10", "", " ", "é", "\u0661"]
)  # U+0661: a digit str.isdigit() accepts | st.text(max_size=4)
PATHS = st.one_of(
    st.lists(SEGMENTS, min_size=1, max_size=6).map(".".join),
    st.text(max_size=30),
    st.integers(1020, 1030).map(lambda n: "a" * n),
    st.integers(1, 600).map(lambda n: ".".join(["a"] * n)),
    st.none() | st.integers() | st.binary(max_size=3),
)
INPUTS = st.tuples(JSON, PATHS, JSON)
SEEDS: list[Any] = [({"a": {"b": [1, {"c": 2}]}}, "a.b.1.c", 5), ([], "0", 1), ({}, "a..b", 1)]


def _body(case: tuple[Any, Any, Any]) -> None:
    doc, path, value = case
    # Stored documents are JSON (NaN would also break the == below): refuse others first.
    codec.check_value(doc)
    codec.check_value(value)
    before = copy.deepcopy(doc)
    try:
        paths.get_in(doc, path)
    except (ValidationError, NotFound):
        pass
    try:
        updated = paths.set_in(doc, path, value)
    except ValidationError:
        pass
    else:
        assert paths.get_in(updated, path) == value, "set_in then get_in lost the value"
    try:
        removed = paths.delete_in(doc, path)
    except (ValidationError, NotFound):
        pass
    else:
        parent = paths.get_in(removed, path.rpartition(".")[0]) if "." in path else removed
        if isinstance(parent, dict):
            try:
                paths.get_in(removed, path)
            except NotFound:
                pass
            else:
                raise AssertionError("delete_in left the key in place")
    assert doc == before, "a path function changed its input"


check = _harness.guarded("fuzz_paths", _body, ALLOWED, stats, lambda: HANG_SECONDS)
run_fallback = _harness.fallback(check, INPUTS, SEEDS, stats)


def from_bytes(raw: bytes) -> tuple[Any, Any, Any] | None:
    values = values_from_bytes(raw, 3)
    return None if values is None else (values[0], values[1], values[2])


if __name__ == "__main__":
    _harness.main("fuzz_paths", __doc__ or "", check, from_bytes, run_fallback, stats)
