"""Fuzz the Elasticsearch subset: compile, match, plan, sort, filter _source, respond.

Invariant: every body returns, or raises ``InvalidQuery`` / ``LimitExceeded``;
nothing else, and no body takes longer than ``HANG_SECONDS``.

Run:
    python fuzz/fuzz_es.py --seconds 60          # hypothesis-driven fallback
    python fuzz/fuzz_es.py --atheris [-runs=N]   # libFuzzer via atheris (input bytes as JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if "--atheris" in sys.argv:
    # Coverage feedback for our package only: instrumenting everything loaded
    # (hypothesis included) costs minutes of start-up.
    import atheris

    with atheris.instrument_imports(include=["datastore_engine"]):
        import datastore_engine.query  # noqa: F401 - imported to instrument it

from hypothesis import HealthCheck, Phase, given, settings
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
INDEXED = {"a", "b", "user", "tags", "x.y"}
DOCS: dict[str, dict[str, Any]] = {
    "1": {},
    "2": {"a": 1, "b": "x", "tags": ["p", "q", None, [1]], "user": {"name": "Ann"}},
    "3": {"a": [1.5, "2020-01-01T00:00:00Z", True], "x": [{"y": 1}, {"y": [2, "z"]}, 3]},
    "4": {"a": {"b": [{"d": None}]}, "b": "", "user": [], "x": False},
}


class Stats:
    runs = 0
    slowest = 0.0
    slowest_input = ""


def check(body: Any) -> None:
    """Run one body through every entry point; raise AssertionError on a broken invariant."""
    start = time.perf_counter()
    try:
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
    except ALLOWED:
        pass
    except RecursionError as exc:
        raise AssertionError(f"RecursionError on {body!r:.300}") from exc
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} on {body!r:.300}: {exc}") from exc
    elapsed = time.perf_counter() - start
    Stats.runs += 1
    if elapsed > Stats.slowest:
        Stats.slowest, Stats.slowest_input = elapsed, repr(body)[:80]
    assert elapsed < HANG_SECONDS, f"{elapsed:.2f}s on {body!r:.300}"


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


def _batch(examples: int) -> Any:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(BODIES)
    def run(body: Any) -> None:
        check(body)

    return run


def run_fallback(seconds: float) -> int:
    """Run hypothesis batches until ``seconds`` pass; return how many bodies ran."""
    deadline = time.monotonic() + seconds
    batch = _batch(50)  # small batches: the deadline is checked between them
    while time.monotonic() < deadline:
        batch()
    return Stats.runs


def TestOneInput(data: bytes) -> None:
    """Atheris entry point: the bytes as a JSON body (non-JSON input is skipped)."""
    try:
        body = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return
    check(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--atheris", action="store_true", help="run under atheris/libFuzzer")
    args, rest = parser.parse_known_args()
    if args.atheris:
        import atheris

        atheris.Setup([sys.argv[0], *rest], TestOneInput)
        atheris.Fuzz()
        return
    started = time.monotonic()
    runs = run_fallback(args.seconds)
    print(
        f"fuzz_es: {runs} executions in {time.monotonic() - started:.1f}s, "
        f"slowest {Stats.slowest * 1000:.1f} ms ({Stats.slowest_input}), no invariant broken"
    )


if __name__ == "__main__":
    main()
