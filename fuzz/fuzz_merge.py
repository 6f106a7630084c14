"""Fuzz deep merge on arbitrary JSON: deep_merge(target, source) as Store.merge uses it.

Invariant: for values the codec accepts (``check_value``; others must be
refused with ``ValidationError``/``LimitExceeded``), ``deep_merge`` returns,
never raises, and: leaves both inputs unchanged; shares no mutable part with
them; keeps every key of two dicts; is idempotent (``merge(m, source) == m``);
returns the source for a type change; and the result is storable.

Run:
    python fuzz/fuzz_merge.py --seconds 60
    python fuzz/fuzz_merge.py --atheris --seconds 60
"""

from __future__ import annotations

import copy
from typing import Any

import _harness
from _values import ANY, JSON, deep, values_from_bytes
from hypothesis import strategies as st

from datastore_engine import codec
from datastore_engine.errors import LimitExceeded, ValidationError
from datastore_engine.merge import deep_merge

ALLOWED = (ValidationError, LimitExceeded)
HANG_SECONDS = _harness.HANG_SECONDS
stats = _harness.Stats()

INPUTS = st.one_of(
    st.tuples(JSON, JSON),
    st.tuples(ANY, ANY),
    st.tuples(st.integers(0, 80).map(deep), st.integers(0, 80).map(deep)),
)
SEEDS: list[Any] = [
    ({"a": 1, "l": [1, {"x": 1}]}, {"b": 2, "l": [9, {"y": 2}, 3]}),
    ({}, None),
    ([1, 2, 3], [None]),
]


def _mutables(value: Any, out: set[int]) -> set[int]:
    if isinstance(value, dict | list):
        out.add(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            _mutables(item, out)
    return out


def _body(pair: tuple[Any, Any]) -> None:
    target, source = pair
    codec.check_value(target)
    codec.check_value(source)
    before = copy.deepcopy((target, source))
    merged = deep_merge(target, source)
    assert (target, source) == before, "deep_merge changed an input"
    assert not (_mutables(merged, set()) & (_mutables(target, set()) | _mutables(source, set()))), (
        "result shares a mutable part"
    )
    if isinstance(target, dict) and isinstance(source, dict):
        assert set(merged) == set(target) | set(source)
    elif not (isinstance(target, list) and isinstance(source, list)):
        assert merged == source
    assert deep_merge(merged, source) == merged, (
        "merging the same patch twice changed the result again"
    )
    codec.check_value(merged)


check = _harness.guarded("fuzz_merge", _body, ALLOWED, stats, lambda: HANG_SECONDS)
run_fallback = _harness.fallback(check, INPUTS, SEEDS, stats)


def from_bytes(raw: bytes) -> tuple[Any, Any] | None:
    values = values_from_bytes(raw, 2)
    return None if values is None else (values[0], values[1])


if __name__ == "__main__":
    _harness.main("fuzz_merge", __doc__ or "", check, from_bytes, run_fallback, stats)
