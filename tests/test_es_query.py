"""The Elasticsearch subset: clauses, body options, errors and the response shape."""

from __future__ import annotations

from typing import Any

import pytest

from datastore_engine.errors import InvalidQuery, LimitExceeded
from datastore_engine.query import build_response, compile_search, sort_items
from datastore_engine.query.es import SourceFilter

DOCS: dict[str, dict[str, Any]] = {
    "a": {"user": "kimchy", "age": 30, "tags": ["x", "y"], "addr": {"city": "Oslo", "zip": "0150"}},
    "b": {"user": "Kimchy", "age": 25.5, "tags": ["y"], "addr": {"city": "Bergen"}, "nick": None},
    "c": {"user": "anna", "age": "30", "tags": [], "when": "2020-01-01T10:00:00+02:00", "nick": ""},
    "d": {"user": "bo", "age": 41, "flag": True, "when": "2020-01-01T09:00:00Z"},
    "e": {"age": 1, "flag": 1, "items": [{"k": 1, "v": "p"}, {"k": 2, "v": "q"}]},
}


def hits(query: dict[str, Any]) -> set[str]:
    search = compile_search({"query": query})
    return {rid for rid, doc in DOCS.items() if search.matches(rid, doc)}


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("match_all", {"match_all": {}}, set(DOCS)),
    ("match_all-boost", {"match_all": {"boost": 1.2}}, set(DOCS)),
    ("match_none", {"match_none": {}}, set()),
    ("term", {"term": {"user": "kimchy"}}, {"a"}),
    ("term-value-form", {"term": {"user": {"value": "kimchy", "boost": 2}}}, {"a"}),
    (
        "term-case-insensitive",
        {"term": {"user": {"value": "KIMCHY", "case_insensitive": True}}},
        {"a", "b"},
    ),
    ("term-number-int-float", {"term": {"age": 30.0}}, {"a"}),
    ("term-number-not-string", {"term": {"age": "30"}}, {"c"}),
    ("term-bool-not-number", {"term": {"flag": True}}, {"d"}),
    ("term-number-not-bool", {"term": {"flag": 1}}, {"e"}),
    ("term-multivalued", {"term": {"tags": "y"}}, {"a", "b"}),
    ("term-dotted", {"term": {"addr.city": "Oslo"}}, {"a"}),
    ("term-through-list", {"term": {"items.v": "q"}}, {"e"}),
    ("term-timestamp-instant", {"term": {"when": "2020-01-01T08:00:00Z"}}, {"c"}),
    ("terms", {"terms": {"user": ["anna", "bo", "zed"]}}, {"c", "d"}),
    ("terms-empty", {"terms": {"user": []}}, set()),
    ("terms-mixed-types", {"terms": {"age": [41, "30"]}}, {"c", "d"}),
    ("range-gte-lt", {"range": {"age": {"gte": 25.5, "lt": 41}}}, {"a", "b"}),
    ("range-gt", {"range": {"age": {"gt": 30}}}, {"d"}),
    ("range-lte", {"range": {"age": {"lte": 1}}}, {"e"}),
    ("range-strings", {"range": {"user": {"gte": "b", "lt": "c"}}}, {"d"}),
    ("range-timestamps", {"range": {"when": {"gt": "2020-01-01T08:30:00Z"}}}, {"d"}),
    ("range-one-value-meets-all", {"range": {"items.k": {"gt": 1, "lt": 2}}}, set()),
    ("range-cross-type-is-false", {"range": {"age": {"gt": 1, "lt": "z"}}}, set()),
    ("prefix", {"prefix": {"user": "ki"}}, {"a"}),
    (
        "prefix-value-form-ci",
        {"prefix": {"user": {"value": "KI", "case_insensitive": True}}},
        {"a", "b"},
    ),
    ("prefix-empty", {"prefix": {"user": ""}}, {"a", "b", "c", "d"}),
    ("exists", {"exists": {"field": "nick"}}, {"c"}),
    ("exists-empty-list-is-absent", {"exists": {"field": "tags"}}, {"a", "b"}),
    ("exists-object", {"exists": {"field": "addr"}}, {"a", "b"}),
    ("exists-subfield", {"exists": {"field": "addr.zip"}}, {"a"}),
    ("ids", {"ids": {"values": ["a", "e", "zz"]}}, {"a", "e"}),
    ("ids-empty", {"ids": {"values": []}}, set()),
    ("bool-empty", {"bool": {}}, set(DOCS)),
    (
        "bool-must",
        {"bool": {"must": [{"term": {"tags": "y"}}, {"range": {"age": {"gt": 26}}}]}},
        {"a"},
    ),
    ("bool-must-single-clause", {"bool": {"must": {"term": {"tags": "y"}}}}, {"a", "b"}),
    ("bool-filter", {"bool": {"filter": [{"exists": {"field": "addr"}}]}}, {"a", "b"}),
    ("bool-must-not", {"bool": {"must_not": [{"exists": {"field": "user"}}]}}, {"e"}),
    (
        "bool-should-default-one",
        {"bool": {"should": [{"term": {"user": "bo"}}, {"term": {"age": 1}}]}},
        {"d", "e"},
    ),
    (
        "bool-should-optional-with-must",
        {"bool": {"must": {"exists": {"field": "user"}}, "should": {"term": {"user": "bo"}}}},
        {"a", "b", "c", "d"},
    ),
    (
        "bool-msm-2",
        {
            "bool": {
                "should": [
                    {"term": {"tags": "x"}},
                    {"term": {"tags": "y"}},
                    {"term": {"age": 25.5}},
                ],
                "minimum_should_match": 2,
            }
        },
        {"a", "b"},
    ),
    (
        "bool-msm-percent",
        {
            "bool": {
                "should": [{"term": {"tags": "x"}}, {"term": {"tags": "y"}}, {"term": {"age": 30}}],
                "minimum_should_match": "100%",
            }
        },
        {"a"},
    ),
    (
        "bool-msm-negative",
        {
            "bool": {
                "should": [{"term": {"tags": "x"}}, {"term": {"tags": "y"}}, {"term": {"age": 30}}],
                "minimum_should_match": "-1",
            }
        },
        {"a"},
    ),
    (
        "bool-msm-too-many",
        {"bool": {"should": [{"term": {"tags": "x"}}], "minimum_should_match": 2}},
        set(),
    ),
    (
        "bool-nested",
        {
            "bool": {
                "must_not": {
                    "bool": {"should": [{"term": {"user": "anna"}}, {"term": {"user": "bo"}}]}
                },
                "filter": {"exists": {"field": "user"}},
            }
        },
        {"a", "b"},
    ),
]


@pytest.mark.parametrize(("query", "expected"), [pytest.param(q, e, id=n) for n, q, e in CASES])
def test_clause_matches_expected_documents(query: dict[str, Any], expected: set[str]) -> None:
    assert hits(query) == expected


BAD: list[tuple[str, Any, str]] = [
    ("not-a-dict", [], "search body"),
    ("unknown-body-key", {"aggs": {}}, "aggs"),
    ("unknown-clause", {"query": {"match": {"user": "x"}}}, "match"),
    ("two-clauses", {"query": {"term": {"a": 1}, "range": {"a": {"gt": 1}}}}, "exactly one key"),
    ("term-two-fields", {"query": {"term": {"a": 1, "b": 2}}}, "term"),
    ("term-null", {"query": {"term": {"a": None}}}, "term"),
    ("term-object", {"query": {"term": {"a": {"v": 1}}}}, "v"),
    ("term-missing-value", {"query": {"term": {"a": {"boost": 1}}}}, "value"),
    ("terms-not-list", {"query": {"terms": {"a": "x"}}}, "terms"),
    ("terms-lookup", {"query": {"terms": {"a": {"index": "i", "id": "1"}}}}, "terms"),
    ("range-no-bounds", {"query": {"range": {"a": {}}}}, "range"),
    ("range-bool", {"query": {"range": {"a": {"gt": True}}}}, "range"),
    ("range-format", {"query": {"range": {"a": {"gt": "x", "format": "yyyy"}}}}, "format"),
    ("range-not-object", {"query": {"range": {"a": 5}}}, "range"),
    ("prefix-number", {"query": {"prefix": {"a": 5}}}, "prefix"),
    ("exists-no-field", {"query": {"exists": {}}}, "exists"),
    ("exists-empty-field", {"query": {"exists": {"field": ""}}}, "exists"),
    ("field-empty-segment", {"query": {"term": {"a..b": 1}}}, "a..b"),
    ("ids-not-list", {"query": {"ids": {"values": "a"}}}, "ids"),
    ("bool-unknown", {"query": {"bool": {"should_not": []}}}, "should_not"),
    ("bool-must-string", {"query": {"bool": {"must": "x"}}}, "bool.must"),
    (
        "bool-msm-bad",
        {"query": {"bool": {"should": [], "minimum_should_match": "x"}}},
        "minimum_should_match",
    ),
    ("match_all-args", {"query": {"match_all": {"x": 1}}}, "match_all"),
    ("size-negative", {"size": -1}, "size"),
    ("size-bool", {"size": True}, "size"),
    ("from-string", {"from": "1"}, "from"),
    ("sort-bad-order", {"sort": [{"a": "up"}]}, "order"),
    ("sort-two-fields", {"sort": [{"a": "asc", "b": "desc"}]}, "sort"),
    ("sort-mode", {"sort": [{"a": {"order": "asc", "mode": "avg"}}]}, "mode"),
    ("source-bad", {"_source": 5}, "_source"),
    ("source-bad-key", {"_source": {"fields": ["a"]}}, "fields"),
]


@pytest.mark.parametrize(("body", "needle"), [pytest.param(b, n, id=i) for i, b, n in BAD])
def test_malformed_body_raises_invalid_query_naming_it(body: Any, needle: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        compile_search(body)
    assert needle in str(info.value)


def test_defaults() -> None:
    search = compile_search({})
    assert (search.from_, search.size, search.sort) == (0, 10, ())
    assert compile_search(None).matches("x", {})


def test_result_window_is_capped() -> None:
    assert compile_search({"from": 9990, "size": 10}).size == 10
    with pytest.raises(LimitExceeded) as info:
        compile_search({"from": 9991, "size": 10})
    assert info.value.limit == "max_result_window"


def test_deep_bool_nesting_is_capped() -> None:
    query: dict[str, Any] = {"match_all": {}}
    for _ in range(40):
        query = {"bool": {"must": [query]}}
    with pytest.raises(LimitExceeded) as info:
        compile_search({"query": query})
    assert info.value.limit == "max_query_depth"


def test_sort_forms_and_missing_last() -> None:
    search = compile_search({"sort": ["user", {"age": "desc"}, {"addr.city": {"order": "asc"}}]})
    assert [(k.path, k.descending) for k in search.sort] == [
        ("user", False),
        ("age", True),
        ("addr.city", False),
    ]
    by_age = compile_search({"sort": {"age": {"order": "desc"}}}).sort
    ordered = sort_items(list(DOCS.items()), by_age, doc_of=lambda p: p[1])
    # Descending reverses the total order: strings sort after numbers, so come first.
    assert [rid for rid, _ in ordered] == ["c", "d", "a", "b", "e"]


def test_sort_by_id() -> None:
    search = compile_search({"sort": [{"_id": "desc"}, "_score"]})
    ordered = sort_items(
        list(DOCS.items()), search.sort, doc_of=lambda p: p[1], rid_of=lambda p: p[0]
    )
    assert [rid for rid, _ in ordered] == ["e", "d", "c", "b", "a"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, DOCS["a"]),
        (True, DOCS["a"]),
        ("user", {"user": "kimchy"}),
        (["user", "addr.city"], {"user": "kimchy", "addr": {"city": "Oslo"}}),
        ({"includes": ["addr"]}, {"addr": {"city": "Oslo", "zip": "0150"}}),
        ({"includes": ["addr.*"], "excludes": ["addr.zip"]}, {"addr": {"city": "Oslo"}}),
        (
            {"excludes": ["tags", "addr.city"]},
            {"user": "kimchy", "age": 30, "addr": {"zip": "0150"}},
        ),
        ({"include": "u*"}, {"user": "kimchy"}),
        (["nothing"], {}),
    ],
)
def test_source_filtering(spec: Any, expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {} if spec is None else {"_source": spec}
    assert compile_search(body).source.apply(DOCS["a"]) == expected


def test_source_filtering_inside_lists_of_objects() -> None:
    source = SourceFilter(includes=("items.v",))
    assert source.apply(DOCS["e"]) == {"items": [{"v": "p"}, {"v": "q"}]}


def test_source_false_drops_source() -> None:
    search = compile_search({"_source": False})
    assert search.source.apply(DOCS["a"]) is None
    response = build_response([("a", None)], total=1, took_ms=0)
    assert response["hits"]["hits"] == [{"_id": "a", "_score": 1.0}]


def test_response_shape() -> None:
    response = build_response([("a", {"x": 1}), ("b", {"x": 2})], total=7, took_ms=5)
    assert response == {
        "took": 5,
        "timed_out": False,
        "hits": {
            "total": {"value": 7, "relation": "eq"},
            "max_score": 1.0,
            "hits": [
                {"_id": "a", "_score": 1.0, "_source": {"x": 1}},
                {"_id": "b", "_score": 1.0, "_source": {"x": 2}},
            ],
        },
    }
    assert build_response([], total=0, took_ms=0)["hits"]["max_score"] is None
