"""Indexed queries return exactly what full scans return, in the same order, through the public API."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datastore_engine as dse

FIELDS = ["age", "name", "tags", "address.city", "score"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.integers(2**62, 2**63 - 1)
    | st.floats(-5, 5, allow_nan=False)
    | st.sampled_from(["", "a", "ab", "abc", "b", "B", "x" * 300, "x" * 300 + "y", "2024-01-01T00:00:00Z"])
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "age": scalars,
        "name": scalars,
        "tags": st.lists(scalars, max_size=3),
        "address": st.fixed_dictionaries({}, optional={"city": scalars | st.lists(scalars, max_size=2)}),
        "score": scalars,
    },
)

literal = st.sampled_from(['"a"', '"ab"', '"b"', '""', "0", "1", "-1.5", "true", "false", "null", '"x' + "x" * 299 + '"',
                           str(2**63 - 1), '"2024-01-01T00:00:00Z"'])  # fmt: skip
orderable = st.sampled_from(['"a"', '"ab"', '"b"', '""', "0", "1", "-1.5", str(2**62), '"2024-01-01T00:00:00Z"'])


@st.composite
def comparisons(draw: Any) -> str:
    path = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]))
    if op == "pr":
        return f"{path} pr"
    value = draw(orderable if op in ("gt", "ge", "lt", "le") else literal)
    if op in ("co", "sw", "ew") and not value.startswith('"'):
        value = json.dumps(value)
    return f"{path} {op} {value}"


# Two bounds on one path: merged into one key range only while no document has several values there.
two_bounds = st.tuples(st.sampled_from(FIELDS), orderable, orderable).map(
    lambda p: f"{p[0]} ge {p[1]} and {p[0]} le {p[2]}"
)

filters = st.recursive(
    comparisons() | two_bounds,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) and ({p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) or ({p[1]})"),
        inner.map(lambda f: f"not ({f})"),
    ),
    max_leaves=4,
)


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(documents, min_size=1, max_size=25),
    queries=st.lists(filters, min_size=1, max_size=6),
    edits=st.lists(st.tuples(st.integers(0, 30), documents | st.none()), max_size=8),
    sort=st.sampled_from([None, "age", "-name,age", "address.city"]),
    window=st.sampled_from([(0, 1000), (0, 1000), (0, 2), (1, 3), (4, 1000), (0, 0)]),
)
def test_indexed_and_unindexed_stores_answer_every_filter_the_same(
    docs: list[dict[str, Any]],
    queries: list[str],
    edits: list[tuple[int, Any]],
    sort: str | None,
    window: tuple[int, int],
) -> None:
    start, count = window
    with dse.open_temporary() as engine:
        plain, indexed = engine.store("plain"), engine.store("indexed")
        for path in FIELDS:
            indexed.create_index(path)
        for i, doc in enumerate(docs):
            for store in (plain, indexed):
                if i % 2:  # the single-insert lane (with index entries) and the general path's fast path
                    store.add(doc, rid=f"d{i:02d}")
                else:
                    store.put(f"d{i:02d}", doc)
        assert engine.check() == []
        for step in range(2):
            for query in queries:
                a = plain.find(query, sort=sort, start=start, count=count)
                b = indexed.find(query, sort=sort, start=start, count=count)
                assert [r for r, _ in b.items] == [r for r, _ in a.items], (query, indexed.explain(query))
                assert a.total == b.total
            if step == 0:  # then random updates and deletes, and ask again
                for n, doc in edits:
                    rid = f"d{n:02d}"
                    for store in (plain, indexed):
                        if doc is None:
                            if rid in store:
                                store.delete(rid)
                        else:
                            store.put(rid, doc)


es_clauses = st.recursive(
    st.one_of(
        st.tuples(st.sampled_from(FIELDS), st.sampled_from(["a", "ab", 1, 0, True])).map(
            lambda p: {"term": {p[0]: p[1]}}
        ),
        st.tuples(st.sampled_from(FIELDS), st.lists(st.sampled_from(["a", "b", 1, -1.5]), min_size=1, max_size=3)).map(
            lambda p: {"terms": {p[0]: p[1]}}
        ),
        st.tuples(st.sampled_from(FIELDS), st.sampled_from(["gt", "gte", "lt", "lte"]), st.sampled_from([0, 1, "a", "b"])).map(
            lambda p: {"range": {p[0]: {p[1]: p[2]}}}
        ),
        st.tuples(st.sampled_from(FIELDS), st.sampled_from(["a", "x", ""])).map(lambda p: {"prefix": {p[0]: p[1]}}),
        st.sampled_from(FIELDS).map(lambda f: {"exists": {"field": f}}),
        st.lists(st.sampled_from(["d00", "d01", "d05", "zz"]), max_size=3).map(lambda ids: {"ids": {"values": ids}}),
        st.just({"match_all": {}}),
    ),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "must": st.lists(inner, max_size=2),
            "filter": st.lists(inner, max_size=2),
            "should": st.lists(inner, max_size=2),
            "must_not": st.lists(inner, max_size=2),
        },
    ).map(lambda b: {"bool": b}),
    max_leaves=4,
)  # fmt: skip


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(documents, min_size=1, max_size=20), query=es_clauses)
def test_indexed_and_unindexed_stores_answer_every_search_the_same(docs: list[dict[str, Any]], query: Any) -> None:
    with dse.open_temporary() as engine:
        plain, indexed = engine.store("plain"), engine.store("indexed")
        for path in FIELDS:
            indexed.create_index(path)
        for i, doc in enumerate(docs):
            plain.put(f"d{i:02d}", doc)
            indexed.put(f"d{i:02d}", doc)
        body = {"query": query, "size": 100}
        a, b = plain.search(body), indexed.search(body)
        assert [h["_id"] for h in a["hits"]["hits"]] == [h["_id"] for h in b["hits"]["hits"]]
        assert a["hits"]["total"] == b["hits"]["total"]
