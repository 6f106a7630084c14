"""Fuzz the Elasticsearch subset: compile, match, plan, sort, filter _source, respond.

Invariant: every body returns, or raises ``InvalidQuery`` / ``LimitExceeded``;
nothing else, and no body takes longer than ``HANG_SECONDS``.

Run:
    python fuzz/fuzz_es.py --seconds 60          # hypothesis-driven fallback
    python fuzz/fuzz_es.py --atheris --seconds 60   # libFuzzer via atheris (input bytes as JSON)
"""

from __future__ import annotations

import json
from typing import Any

import _harness
from hypothesis import strategies as st

from datastore_engine.errors import InvalidQuery, LimitExceeded
from datastore_engine.query import (
    build_response,
    compile_search,
    describe,
    plan_search,
    sort_items,
)

ALLOWED = (InvalidQuery, LimitExceeded)
HANG_SECONDS = 5.0
stats = _harness.Stats()
INDEXED = {"a", "b", "user", "tags", "x.y"}
DOCS: dict[str, dict[str, Any]] = {
    "1": {},
    "2": {"a": 1, "b": "x", "tags": ["p", "q", None, [1]], "user": {"name": "Ann"}},
    "3": {"a": [1.5, "2020-01-01T00:00:00Z", True], "x": [{"y": 1}, {"y": [2, "z"]}, 3]},
    "4": {"a": {"b": [{"d": None}]}, "b": "", "user": [], "x": False},
}


def _body(body: Any) -> None:
    """Run one body through every entry point; AssertionError on a broken invariant."""
    search = compile_search(body)
    matched = [(rid, doc) for rid, doc in DOCS.items() if search.matches(rid, doc)]
    assert all(isinstance(search.matches(rid, doc), bool) for rid, doc in DOCS.items())
    ordered = sort_items(matched, search.sort, doc_of=lambda p: p[1], rid_of=lambda p: p[0])
    page = ordered[search.from_ : search.from_ + search.size]
    response = build_response(
        [(rid, search.source.apply(doc)) for rid, doc in page], total=len(matched), took_ms=0
    )
    json.dumps(response)
    assert isinstance(describe(plan_search(search, INDEXED)), str)


check = _harness.guarded("fuzz_es", _body, ALLOWED, stats, lambda: HANG_SECONDS)


FIELDS = st.sampled_from(["a", "b", "user.name", "tags", "x.y", "", "a..b", "_id", 1])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["2020-01-01T00:00:00Z", "50%", "-1", "asc", "desc"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
CLAUSE_NAMES = st.sampled_from(
    [
        "match_all",
        "match_none",
        "term",
        "terms",
        "range",
        "prefix",
        "exists",
        "ids",
        "bool",
        "match",
    ]
)


def _leaf(name: str, field: Any, value: Any) -> dict[str, Any]:
    shapes: dict[str, Any] = {
        "term": {field: value},
        "terms": {field: value if isinstance(value, list) else [value]},
        "range": {field: {"gte": value, "lt": value}},
        "prefix": {field: value},
        "exists": {"field": field},
        "ids": {"values": value if isinstance(value, list) else [value]},
    }
    return {name: shapes.get(name, value if isinstance(value, dict) else {})}


LEAVES = st.builds(_leaf, CLAUSE_NAMES, FIELDS, JSON)
QUERIES = st.recursive(
    LEAVES,
    lambda inner: st.builds(
        lambda must, should, must_not, msm: {
            "bool": {"must": must, "should": should, "must_not": must_not}
            | ({} if msm is None else {"minimum_should_match": msm})
        },
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=3),
        st.one_of(inner, st.lists(inner, max_size=2)),
        st.one_of(st.none(), SCALARS),
    ),
    max_leaves=8,
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "query": st.one_of(QUERIES, JSON),
            "from": st.one_of(st.integers(-2, 20000), SCALARS),
            "size": st.one_of(st.integers(-2, 20000), SCALARS),
            "sort": st.one_of(JSON, st.lists(st.one_of(FIELDS, st.dictionaries(FIELDS, JSON)))),
            "_source": st.one_of(JSON, st.lists(st.sampled_from(["a", "x.*", "*", "b"]))),
            "track_total_hits": JSON,
        },
    ),
    st.integers(1, 100).map(lambda n: _nest(n)),
)


def _nest(depth: int) -> dict[str, Any]:
    query: dict[str, Any] = {"match_all": {}}
    for _ in range(depth):
        query = {"bool": {"must": [query]}}
    return {"query": query}


SEEDS: list[Any] = [{}, {"query": {"match_all": {}}}, _nest(40)]
run_fallback = _harness.fallback(check, BODIES, SEEDS, stats)


def from_bytes(raw: bytes) -> Any:
    """The bytes as a JSON body; None (skipped) when they are not JSON."""
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


if __name__ == "__main__":
    _harness.main("fuzz_es", __doc__ or "", check, from_bytes, run_fallback, stats)
