"""A range on a single-valued index, sorted by its own path, is paged in index order.

``find("a ge 3", sort="-a", count=10)`` reads the page's documents off the index
(``index.range_sorted``) instead of decoding every match. Each case asks the same
query of an indexed store and a plain one (whose sorted pages ``tests/test_sorting.py``
checks against a reference), and the cases that must take the index prove it by
making the scan fail.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datastore_engine as dse
from datastore_engine import find as find_module
from datastore_engine import index as index_module

LONG = "x" * 300  # past where index keys cut strings: these values share one key

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([1.0, -0.0, 0.5, 2**62, 2**62 + 1, float(2**62)])
    | st.sampled_from(["", "a", "ab", "b", "é", "2024-01-01T00:00:00Z", LONG, LONG + "a", LONG + "b", LONG + "\x00"])
)
values = scalars | st.lists(scalars, min_size=1, max_size=1) | st.just({"k": 1}) | st.just([2, {"k": 1}])
documents = st.fixed_dictionaries({}, optional={"a": values})
bounds = st.sampled_from(['"a"', '"b"', '""', "0", "1", "-1", "0.5", str(2**62), f'"{LONG}"'])
filters = st.one_of(
    st.tuples(st.sampled_from(["eq", "gt", "ge", "lt", "le"]), bounds).map(lambda p: f"a {p[0]} {p[1]}"),
    st.sampled_from(["a eq true", "a eq null", "a eq false"]),
    st.tuples(st.sampled_from(["gt", "ge"]), bounds, st.sampled_from(["lt", "le"]), bounds).map(
        lambda p: f"a {p[0]} {p[1]} and a {p[2]} {p[3]}"
    ),
)
_names = itertools.count()


def _pair(engine: dse.Engine, docs: dict[str, Any], *, index_first: bool = True) -> tuple[Any, Any]:
    n = next(_names)
    plain, indexed = engine.store(f"plain{n}"), engine.store(f"indexed{n}")
    if index_first:
        indexed.create_index("a")
    for i, (rid, doc) in enumerate(docs.items()):
        for store in (plain, indexed):
            if i % 2:  # the single-insert lane and the general path both keep the index marks
                store.add(doc, rid=rid)
            else:
                store.put(rid, doc)
    if not index_first:
        indexed.create_index("a")
    return plain, indexed


def _same(plain: Any, indexed: Any, query: str, sort: str, start: int, count: int, *, via_index: bool = False) -> None:
    """The same page and total from both stores; with ``via_index``, the indexed one must not scan."""
    a = plain.find(query, sort=sort, start=start, count=count)
    with _scans_fail() if via_index else contextlib.nullcontext():
        b = indexed.find(query, sort=sort, start=start, count=count)
    assert b.items == a.items, (query, sort, start, count, indexed.explain(query))
    assert b.total == a.total


@contextlib.contextmanager
def _scans_fail() -> Iterator[None]:
    def scanned(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the query decoded every match instead of reading the index in order")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(find_module, "_matches", scanned)
        yield


@contextlib.contextmanager
def _index_order_reads() -> Iterator[list[bool]]:
    """A list that gets an item for each page read in index order (``index.range_sorted``)."""
    calls: list[bool] = []
    real = index_module.range_sorted

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index_module, "range_sorted", spy)
        yield calls


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(documents, min_size=1, max_size=25),
    query=filters,
    sort=st.sampled_from(["a", "-a"]),
    window=st.sampled_from([(0, 100), (0, 1), (0, 3), (2, 2), (1, 5), (30, 5), (0, 0)]),
    index_first=st.booleans(),
)
def test_sorted_ranges_answer_as_a_full_scan(
    fast: dse.Engine, docs: list[Any], query: str, sort: str, window: tuple[int, int], index_first: bool
) -> None:
    # ids not in value order, so an id-ordered answer would differ from a sorted one
    plain, indexed = _pair(fast, {f"d{(i * 7) % 25:02d}": d for i, d in enumerate(docs)}, index_first=index_first)
    _same(plain, indexed, query, sort, *window)


def test_both_directions_read_the_index_in_order(fast: dse.Engine) -> None:
    docs = {f"d{(i * 37) % 300:03d}": {"a": i % 9, "n": i} for i in range(300)}
    n = next(_names)
    indexed = fast.store(f"i{n}")
    indexed.create_index("a")
    indexed.put_many(docs)
    expected = sorted(docs.items(), key=lambda p: p[0])
    up = [p for p in sorted(expected, key=lambda p: p[1]["a"]) if p[1]["a"] >= 4]
    down = [p for p in sorted(expected, key=lambda p: -p[1]["a"]) if p[1]["a"] >= 4]  # stable: ids ascending
    with _scans_fail():
        for start, count in [(0, 10), (0, 1), (5, 40), (150, 30), (0, 0), (160, 10), (0, 1000)]:
            page = indexed.find("a ge 4", sort="a", start=start, count=count)
            assert page.items == up[start : start + count] and page.total == len(up)
            page = indexed.find("a ge 4", sort="-a", start=start, count=count)
            assert page.items == down[start : start + count] and page.total == len(down)
        page = indexed.find("a ge 2 and a lt 5", sort=["-a"], count=4)
    assert [doc["a"] for _, doc in page.items] == [4, 4, 4, 4]
    assert page.total == sum(1 for d in docs.values() if 2 <= d["a"] < 5)


def test_cut_strings_are_ordered_by_their_whole_values(fast: dse.Engine) -> None:
    tails = ["m", "b", "z", "a", "b", "\x00", "", "y" * 50]
    docs = {f"d{i:02d}": {"a": LONG + tail} for i, tail in enumerate(tails)}
    docs |= {"e1": {"a": "a"}, "e2": {"a": "z"}}
    plain, indexed = _pair(fast, docs)
    for sort in ("a", "-a"):
        for start, count in [(0, 100), (0, 1), (1, 3), (4, 4), (8, 5)]:
            _same(plain, indexed, 'a ge ""', sort, start, count, via_index=True)
    with _scans_fail():
        whole = indexed.find('a ge "x" and a lt "y"', sort="-a").items
    assert [doc["a"] for _, doc in whole] == sorted((LONG + t for t in tails), reverse=True)
    assert [rid for rid, _ in whole][3:5] == ["d01", "d04"]  # equal values keep id order


def test_a_list_or_dict_at_the_path_keeps_descending_sorts_off_the_index(fast: dse.Engine) -> None:
    plain, indexed = _pair(fast, {f"d{i}": {"a": i} for i in range(6)})
    _same(plain, indexed, "a ge 2", "-a", 0, 100, via_index=True)  # no list or dict yet
    for store in (plain, indexed):
        store.add({"a": [3, {"k": 1}]}, rid="c0")  # through the lane: it declines, the general path marks
    page = indexed.find("a ge 2", sort="-a", count=2)
    assert [rid for rid, _ in page.items] == ["c0", "d5"]  # a dict sorts after every scalar
    _same(plain, indexed, "a ge 2", "-a", 0, 100)
    _same(plain, indexed, "a ge 2", "a", 0, 100)


def test_an_index_built_over_a_dict_value_knows_it(fast: dse.Engine) -> None:
    plain, indexed = _pair(fast, {"d0": {"a": 1}, "d1": {"a": [2, {"k": 1}]}, "d2": {"a": 3}}, index_first=False)
    assert [rid for rid, _ in indexed.find("a ge 1", sort="-a").items] == ["d1", "d2", "d0"]
    _same(plain, indexed, "a ge 1", "-a", 0, 2)


def test_an_update_that_adds_a_dict_is_marked_on_the_general_path(fast: dse.Engine) -> None:
    plain, indexed = _pair(fast, {f"d{i}": {"a": i} for i in range(4)})
    for store in (plain, indexed):
        store.put("d1", {"a": [1, {"k": 1}]})
        store.merge("d2", {"b": 1})
    assert [rid for rid, _ in indexed.find("a ge 0", sort="-a").items] == ["d1", "d3", "d2", "d0"]
    assert fast.check() == []


def test_protected_documents_keep_the_scan(fast: dse.Engine) -> None:
    plain, indexed = _pair(fast, {f"d{i}": {"a": i} for i in range(5)})
    for store in (plain, indexed):
        store.put("d3", {"a": 3}, password="pw")
    page = indexed.find("a ge 1", sort="-a")
    assert [rid for rid, _ in page.items] == ["d4", "d2", "d1"] and page.total == 3
    _same(plain, indexed, "a ge 1", "a", 0, 2)


@pytest.mark.parametrize(
    ("query", "sort"),
    [("a ge 1", "a,n"), ("a ge 1", "n"), ("a ge 1 and n ge 0", "a"), ("a pr", "a"), ("a ge 1", "_id")],
)
def test_other_shapes_scan_and_answer_the_same(fast: dse.Engine, query: str, sort: str) -> None:
    plain, indexed = _pair(fast, {f"d{(i * 3) % 10}": {"a": i % 4, "n": -i} for i in range(10)})
    with _index_order_reads() as calls:
        _same(plain, indexed, query, sort, 0, 100)
        _same(plain, indexed, query, sort, 2, 3)
    assert calls == []
    with _index_order_reads() as control:  # the spy does see the index path when taken
        indexed.find("a ge 1", sort="a")
    assert control == [True]


@pytest.mark.parametrize("sort", ["_id", "-_id", "_score", "-_score"])
def test_a_field_named_like_a_special_sort_key_is_not_sorted_by_its_index(fast: dse.Engine, sort: str) -> None:
    # "_id" sorts by document id and "_score" not at all (every hit scores 1.0), even when
    # the documents have an indexed field of that name.
    n = next(_names)
    store = fast.store(f"special{n}")
    store.create_index(sort.lstrip("-"))
    store.put_many({f"d{i}": {sort.lstrip("-"): 9 - i} for i in range(5)})
    page = store.find(f"{sort.lstrip('-')} ge 6", sort=sort)
    expected = ["d0", "d1", "d2", "d3"]
    assert [rid for rid, _ in page.items] == (expected[::-1] if sort == "-_id" else expected)


def test_put_many_keeps_the_marks_earlier_documents_of_the_batch_set(fast: dse.Engine) -> None:
    # put_many holds one catalog state for its batch: a document's marks must be added to
    # those an earlier document of the batch wrote, not rebuilt from that state.
    s = fast.store(f"batch{next(_names)}")
    s.create_index("a")
    s.put_many({"x1": {"a": [1, 2]}, "x2": {"a": [9, {"d": 1}]}})  # multi, then not scalar
    page = s.find("a ge 1")
    assert [rid for rid, _ in page.items] == ["x1", "x2"] and page.total == 2
    assert [rid for rid, _ in s.find("a ge 2 and a le 1").items] == ["x1"]
    assert [rid for rid, _ in s.find("a ge 1", sort="-a").items] == ["x2", "x1"]

    t = fast.store(f"batch{next(_names)}")
    t.create_index("a")
    t.create_index("b")
    t.put_many({"x1": {"a": [5, {"d": 1}]}, "x2": {"b": {"d": 1}}, "x3": {"a": 7}})  # a, then b
    assert [rid for rid, _ in t.find("a gt 0", sort="-a").items] == ["x1", "x3"]  # the dict first

    u = fast.store(f"batch{next(_names)}")
    u.create_index("a")
    u.put("x1", {"a": 0})
    u.put_many([("x1", {"a": [1, 2]}), ("x2", {"a": {"d": 1}})])  # an update, then a new document
    assert u.find("a ge 2 and a le 1").total == 1
    assert fast.check() == []


es_bounds = st.sampled_from([0, 1, -1, 0.5, 2**62, "a", "b", "", LONG, "2024-01-01T00:00:00Z"])
es_ranges = st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), es_bounds, min_size=1, max_size=2).map(
    lambda bounds: {"range": {"a": bounds}}
)
es_queries = st.one_of(
    es_ranges,
    es_ranges.map(lambda r: {"bool": {"filter": [r]}}),
    es_ranges.map(lambda r: {"bool": {"must": r}}),
    es_ranges.map(lambda r: {"bool": {"filter": [r], "must_not": [{"term": {"a": 1}}]}}),
    es_ranges.map(lambda r: {"bool": {"filter": [r, {"exists": {"field": "a"}}]}}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(documents, min_size=1, max_size=25),
    query=es_queries,
    order=st.sampled_from(["asc", "desc"]),
    window=st.sampled_from([(0, 100), (0, 1), (1, 3), (2, 2), (30, 5), (0, 0)]),
)
def test_sorted_range_searches_answer_as_a_full_scan(
    fast: dse.Engine, docs: list[Any], query: Any, order: str, window: tuple[int, int]
) -> None:
    plain, indexed = _pair(fast, {f"d{(i * 7) % 25:02d}": d for i, d in enumerate(docs)})
    body = {"query": query, "sort": [{"a": order}], "from": window[0], "size": window[1]}
    a, b = plain.search(body), indexed.search(body)
    assert [(h["_id"], h["_source"]) for h in b["hits"]["hits"]] == [(h["_id"], h["_source"]) for h in a["hits"]["hits"]]
    assert b["hits"]["total"] == a["hits"]["total"]


def test_a_sorted_range_search_reads_the_index_in_order(fast: dse.Engine) -> None:
    docs = {f"d{(i * 37) % 300:03d}": {"a": i % 9, "n": i} for i in range(300)}
    plain, indexed = _pair(fast, docs)
    for query in ({"range": {"a": {"gte": 3, "lt": 6}}}, {"bool": {"filter": {"range": {"a": {"gt": 2}}}}}):
        for order in ("asc", "desc"):
            for start, size in [(0, 10), (1, 5), (40, 30), (0, 0), (290, 20)]:
                body = {"query": query, "sort": [{"a": {"order": order}}], "from": start, "size": size, "_source": ["n"]}
                expected = plain.search(body)
                with _scans_fail():
                    got = indexed.search(body)
                assert got["hits"]["hits"] == expected["hits"]["hits"]
                assert got["hits"]["total"] == expected["hits"]["total"]


@pytest.mark.parametrize(
    "body",
    [
        {"query": {"range": {"a": {"gte": 1}}}, "sort": [{"n": "asc"}]},
        {"query": {"range": {"a": {"gte": 1}}}, "sort": ["a", "n"]},
        {"query": {"range": {"a": {"gte": 1}}}, "sort": ["_id"]},
        {"query": {"range": {"a": {"gte": 1, "lte": "2024-01-01T00:00:00Z"}}}, "sort": ["a"]},
        {"query": {"bool": {"filter": [{"range": {"a": {"gte": 1}}}], "should": [{"term": {"n": 0}}]}}, "sort": ["a"]},
        {"query": {"bool": {"must": [{"range": {"a": {"gte": 1}}}, {"range": {"n": {"lte": 0}}}]}}, "sort": ["a"]},
        {"query": {"bool": {"filter": [{"range": {"a": {"gte": 1}}}], "minimum_should_match": 1}}, "sort": ["a"]},
        {"query": {"term": {"a": 1}}, "sort": ["a"]},
    ],
)
def test_other_searches_scan_and_answer_the_same(fast: dse.Engine, body: dict[str, Any]) -> None:
    plain, indexed = _pair(fast, {f"d{(i * 3) % 10}": {"a": i % 4, "n": -i} for i in range(10)})
    with _index_order_reads() as calls:
        a, b = plain.search(body), indexed.search(body)
    assert b["hits"] == a["hits"]
    assert calls == []
    with _index_order_reads() as control:  # the spy does see the index path when taken
        indexed.search({"query": {"range": {"a": {"gte": 1}}}, "sort": ["a"]})
    assert control == [True]
