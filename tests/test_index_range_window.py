"""A range on a single-valued index is counted off the index and paged in id order, as a scan pages it.

``find`` answers such a range without a set of every candidate: it counts the
range's keys and cuts only the first rids of each value (``index.range_window``).
Each case asks the same filter, window by window, of an indexed and a plain store.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import find as find_module
from datastore_engine.query.indexkeys import is_cut


def _pair(engine: dse.Engine, docs: dict[str, dict[str, Any]], path: str) -> tuple[Any, Any]:
    plain, indexed = engine.store("plain"), engine.store("indexed")
    indexed.create_index(path)
    for store in (plain, indexed):
        store.put_many(docs)
    return plain, indexed


def _same_pages(plain: Any, indexed: Any, query: str, windows: list[tuple[int, int]]) -> None:
    for start, count in windows:
        a = plain.find(query, start=start, count=count)
        b = indexed.find(query, start=start, count=count)
        assert [rid for rid, _ in b.items] == [rid for rid, _ in a.items], (query, start, count)
        assert [doc for _, doc in b.items] == [doc for _, doc in a.items]
        assert b.total == a.total, (query, start, count)


WINDOWS = [(0, 1), (0, 7), (3, 5), (0, 100), (95, 10), (0, 1000), (500, 10), (0, 0)]


def test_few_values_many_documents_each() -> None:
    # ids not in value order: each value's documents interleave in id order
    docs = {f"d{(i * 37) % 300:03d}": {"age": i % 4, "n": i} for i in range(300)}
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "age")
        assert "index" in indexed.explain("age ge 1 and age le 2")["plan"]
        for query in ("age ge 1 and age le 2", "age ge 0", "age lt 3", "age eq 2", "age gt 9"):
            _same_pages(plain, indexed, query, WINDOWS)


def test_many_distinct_values_past_the_jumped_runs() -> None:
    docs = {
        f"d{(i * 53) % 200:03d}": {"score": i * 0.5, "name": f"n{i % 150:03d}"} for i in range(200)
    }
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "score")
        _same_pages(plain, indexed, "score ge 10 and score lt 90.5", WINDOWS)
        _same_pages(plain, indexed, "score gt -1", WINDOWS)
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "name")
        _same_pages(plain, indexed, 'name ge "n010" and name le "n120"', WINDOWS)


def test_values_of_mixed_types_in_one_range() -> None:
    values: list[Any] = [None, False, True, -3, 2.5, 7, "", "a", "ab", "b" * 200, 2**63 - 1]
    docs = {f"d{i:03d}": {"v": values[i % len(values)]} for i in range(120)}
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "v")
        for query in ('v ge "a"', "v le 7", 'v gt ""', "v ge -3 and v le 2.5"):
            _same_pages(plain, indexed, query, WINDOWS)


def test_protected_and_deleted_documents_are_not_counted() -> None:
    docs = {f"d{i:03d}": {"age": i % 3} for i in range(60)}
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "age")
        for store in (plain, indexed):
            store.put("p1", {"age": 1}, password="pw-long-enough")
            store.delete("d004")
            store.delete("d007")
        _same_pages(plain, indexed, "age ge 1 and age le 1", WINDOWS)
        assert (
            indexed.find("age eq 1", count=0).total == plain.find("age eq 1", count=0).total == 18
        )


@pytest.mark.parametrize("query", ['tags ge "b"', 'tags ge "a" and tags le "c"'])
def test_multi_valued_index_counts_each_document_once(query: str) -> None:
    docs = {f"d{i:03d}": {"tags": ["a", "b", "c"][: 1 + i % 3]} for i in range(90)}
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "tags")
        _same_pages(plain, indexed, query, WINDOWS)


@pytest.mark.parametrize(
    "query",
    [
        'score ge 0 and score le "2024-01-01T00:00:00Z"',
        'when ge "a" and when le "2024-01-01T00:00:00Z"',
        'when ge "2016-01-01T00:00:00Z" and when le "2024-01-01T00:00:00Z"',
        'when eq "2016-10-20T07:17:17Z"',
    ],
)
def test_a_date_time_bound_is_checked_not_taken_from_the_index(query: str) -> None:
    # The index cannot order date-times as instants: the planner drops such a bound
    # from the range, so the range is a superset and every candidate must be checked.
    docs = {
        "d0": {"score": 0, "when": "b"},
        "d1": {"score": 5, "when": "2016-10-20T08:17:17+01:00"},
        "d2": {"score": "2020-01-01T00:00:00Z", "when": "2023-06-01T00:00:00Z"},
    }
    with dse.open_temporary() as engine:
        plain = engine.store("plain")
        plain.put_many(docs)
        for path in ("score", "when"):
            indexed = engine.store(f"by-{path}")
            indexed.create_index(path)
            indexed.put_many(docs)
            _same_pages(plain, indexed, query, WINDOWS)


def test_a_literal_of_many_nuls_is_cut_in_the_index_and_checked() -> None:
    # 100 NULs are 200 bytes in an index key (each escaped to two): cut there, so the
    # index range holds every long NUL string and each candidate must be checked.
    docs = {"d1": {"v": "\x00" * 99}, "d2": {"v": "\x00" * 100}, "d3": {"v": "\x00" * 150}}
    literal = "\\u0000" * 100
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "v")
        for op in ("eq", "ge", "gt", "lt", "le"):
            _same_pages(plain, indexed, f'v {op} "{literal}"', WINDOWS)


def test_a_bound_past_float64_is_checked_not_dropped() -> None:
    big = "1" + "0" * 320  # an int with no index key: the planner leaves that bound out
    docs = {f"d{i:02d}": {"v": i} for i in range(10)}
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "v")
        for query in (f"v ge 3 and v ge {big}", f"v le 3 and v le -{big}", f"v gt {big}"):
            _same_pages(plain, indexed, query, WINDOWS)


_REAL_MATCHES = find_module._matches
_AT_THE_CUT = [
    "a" * 120,
    "a" * 121,
    "a" * 195,
    "a" * 196,  # the longest string an index key holds whole
    "a" * 197,
    "é" * 98,  # 196 bytes of UTF-8
    "é" * 99,
    "\x00" * 98,  # 196 bytes once each NUL is escaped to two
    "\x00" * 99,
    "a" * 195 + "\x00",
]


@pytest.mark.parametrize("literal", _AT_THE_CUT, ids=lambda s: f"{len(s)}x{s[:1]!r}")
def test_a_literal_is_exact_while_the_index_holds_it_whole(literal: str) -> None:
    # Around where index keys cut strings: neighbours of the literal that share its cut,
    # and longer strings; the answer is exact off the index exactly while the literal
    # is not cut (its range then holds only values meeting the comparison).
    near = [literal, literal + "b", literal[:-1], literal + "\x00", literal[:-1] + "b", "a" * 400, "b", "é" * 200]
    docs = {f"d{(i * 5) % len(near)}": {"v": value} for i, value in enumerate(near)}
    exact = not is_cut(literal)
    with dse.open_temporary() as engine:
        plain, indexed = _pair(engine, docs, "v")
        for op in ("eq", "ge", "gt", "lt", "le"):
            query = f"v {op} {json.dumps(literal)}"
            _same_pages(plain, indexed, query, WINDOWS)
            scans: list[bool] = []

            def spy(*args: Any, scans: list[bool] = scans, **kwargs: Any) -> Any:
                scans.append(True)
                return _REAL_MATCHES(*args, **kwargs)

            for sort in (None, "v", "-v"):
                a = plain.find(query, sort=sort)
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(find_module, "_matches", spy)
                    b = indexed.find(query, sort=sort)
                assert b.items == a.items and b.total == a.total, (query, sort)
            assert scans == ([] if exact else [True, True, True]), (query, exact)
