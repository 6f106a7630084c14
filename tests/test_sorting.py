"""Sorting: ``sort_items`` follows the documented order, ``top_items`` is its head, and
``find`` / ``search`` with a sort page through that order while holding only the page.

The reference below is written from ``query.sorting``'s docstring with a comparison
function, not from its key functions.
"""

from __future__ import annotations

import functools
import itertools
import json
import weakref
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datastore_engine as dse
from datastore_engine.query import top_items
from datastore_engine.query.evaluate import make_getter
from datastore_engine.query.sorting import sort_items

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers(2**53, 2**53 + 2)
    | st.floats(-3, 3, allow_nan=False)
    | st.sampled_from(["", "a", "ab", "B", "é", "2024-01-01T00:00:00Z", "x" * 300, "x" * 300 + "y"])
)
values = scalars | st.lists(scalars, max_size=3) | st.fixed_dictionaries({}, optional={"k": scalars})
documents = st.fixed_dictionaries({}, optional={"a": values, "b": values, "c": st.fixed_dictionaries({}, optional={"d": values})})
specs = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c.d", "_id", "_score"]), st.booleans()).map(
        lambda p: ("-" if p[1] else "") + p[0]
    ),
    min_size=1,
    max_size=3,
)


def _rank(value: Any) -> tuple[int, Any]:
    """The documented total order: null < false < true < numbers < strings < lists < dicts."""
    if value is None:
        return (0, None)
    if value is False:
        return (1, None)
    if value is True:
        return (2, None)
    if isinstance(value, int | float):
        return (3, value)
    if isinstance(value, str):
        return (4, value)
    return (5 if isinstance(value, list) else 6, json.dumps(value, sort_keys=True))


def _cmp(x: Any, y: Any) -> int:
    (rx, vx), (ry, vy) = _rank(x), _rank(y)
    if rx != ry:
        return -1 if rx < ry else 1
    return 0 if vx == vy else (-1 if vx < vy else 1)


def reference_sort(pairs: list[tuple[str, Any]], spec: list[str]) -> list[tuple[str, Any]]:
    """Stable: a full comparison over every key, then the input position."""

    def compare(left: tuple[int, tuple[str, Any]], right: tuple[int, tuple[str, Any]]) -> int:
        for part in spec:
            descending, path = part.startswith("-"), part.lstrip("-")
            if path == "_score":
                continue
            if path == "_id":
                a, b = left[1][0], right[1][0]
                c = 0 if a == b else (-1 if a < b else 1)
                if c:
                    return -c if descending else c
                continue
            va, vb = make_getter(path)(left[1][1]), make_getter(path)(right[1][1])
            if not va or not vb:  # missing values last, both ways
                if va or vb:
                    return -1 if va else 1
                continue
            pick = max if descending else min
            a = pick(va, key=functools.cmp_to_key(_cmp))
            b = pick(vb, key=functools.cmp_to_key(_cmp))
            c = _cmp(a, b)
            if c:
                return -c if descending else c
        return -1 if left[0] < right[0] else (1 if left[0] > right[0] else 0)

    return [pair for _, pair in sorted(enumerate(pairs), key=functools.cmp_to_key(compare))]


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(documents, max_size=25), spec=specs)
def test_sort_items_follows_the_documented_order(docs: list[dict[str, Any]], spec: list[str]) -> None:
    pairs = [(f"r{i:02d}", doc) for i, doc in enumerate(docs)]
    got = sort_items(pairs, spec, doc_of=lambda p: p[1], rid_of=lambda p: p[0])
    assert got == reference_sort(pairs, spec)


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(documents, max_size=25), spec=specs, n=st.integers(0, 30))
def test_top_items_is_the_head_of_sort_items(docs: list[dict[str, Any]], spec: list[str], n: int) -> None:
    pairs = [(f"r{i:02d}", doc) for i, doc in enumerate(docs)]
    top, total = top_items(iter(pairs), spec, n, doc_of=lambda p: p[1], rid_of=lambda p: p[0])
    assert total == len(pairs)
    assert top == sort_items(pairs, spec, doc_of=lambda p: p[1], rid_of=lambda p: p[0])[:n]


def test_top_items_keeps_input_order_among_equal_keys() -> None:
    docs = [{"k": 1, "i": i} for i in range(6)] + [{"k": 0, "i": 6}]
    assert [d["i"] for d in top_items(docs, "k", 4)[0]] == [6, 0, 1, 2]
    assert [d["i"] for d in top_items(docs, "-k", 4)[0]] == [0, 1, 2, 3]


def test_top_items_counts_every_item_when_n_is_zero() -> None:
    assert top_items(iter([{"a": 1}, {"a": 2}, {}]), "a", 0) == ([], 3)


def test_top_items_refuses_a_negative_or_non_int_n() -> None:
    with pytest.raises(ValueError, match="-1"):
        top_items([], "a", -1)
    with pytest.raises(ValueError, match=r"2\.0"):
        top_items([], "a", 2.0)  # type: ignore[arg-type]


class _Tracked(dict[str, Any]):
    """A document that counts how many of its kind are alive."""

    alive = 0
    peak = 0

    def __init__(self, value: int) -> None:
        super().__init__(a=value)
        type(self).alive += 1
        type(self).peak = max(type(self).peak, type(self).alive)
        weakref.finalize(self, _Tracked._gone)

    @staticmethod
    def _gone() -> None:
        _Tracked.alive -= 1


def test_top_items_holds_about_n_items_not_all_of_them() -> None:
    _Tracked.alive = _Tracked.peak = 0
    top, total = top_items((_Tracked((i * 7919) % 10_000) for i in range(10_000)), "-a", 5)
    assert total == 10_000
    assert [d["a"] for d in top] == [9999, 9998, 9997, 9996, 9995]
    assert _Tracked.peak <= 5 + 2  # the heap, the item being looked at, and one more


_names = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(documents, min_size=1, max_size=20),
    spec=specs,
    window=st.sampled_from([(0, 100), (0, 1), (0, 0), (2, 3), (5, 100), (30, 5)]),
    filter=st.sampled_from(["a pr", "b pr or c.d pr", 'a ge 0 or a eq "a"', "not (b pr)"]),
    indexed=st.booleans(),
)
def test_find_and_search_page_through_one_full_sort(
    fast: dse.Engine,
    docs: list[dict[str, Any]],
    spec: list[str],
    window: tuple[int, int],
    filter: str,
    indexed: bool,
) -> None:
    store = fast.store(f"s{next(_names)}")
    if indexed:
        store.create_index("a")
    for i, doc in enumerate(docs):
        store.put(f"r{i:02d}", doc)
    matches = store.find(filter, count=1000).items  # unsorted: id order
    expected = reference_sort(matches, spec)
    start, count = window
    page = store.find(filter, sort=spec, start=start, count=count)
    assert page.items == expected[start : start + count]
    assert page.total == len(matches)

    es_sort = [{p.lstrip("-"): "desc" if p.startswith("-") else "asc"} for p in spec]
    result = store.search({"query": {"match_all": {}}, "sort": es_sort, "from": start, "size": count})
    every = reference_sort(_all(store), spec)
    assert [h["_id"] for h in result["hits"]["hits"]] == [rid for rid, _ in every[start : start + count]]
    assert result["hits"]["total"]["value"] == len(docs)


def _all(store: dse.Store) -> list[tuple[str, Any]]:
    return [(rid, store.get(rid)) for rid in sorted(store.keys())]


def test_search_without_sort_pages_in_id_order_and_counts_every_hit(fast: dse.Engine) -> None:
    store = fast.store("plain")
    for i in range(12):
        store.put(f"r{i:02d}", {"n": i})
    result = store.search({"query": {"range": {"n": {"gte": 3}}}, "from": 2, "size": 4})
    assert [h["_id"] for h in result["hits"]["hits"]] == ["r05", "r06", "r07", "r08"]
    assert result["hits"]["total"]["value"] == 9
    empty = store.search({"query": {"match_all": {}}, "from": 20, "size": 4})
    assert empty["hits"]["hits"] == [] and empty["hits"]["total"]["value"] == 12
