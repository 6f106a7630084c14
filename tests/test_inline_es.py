"""The generated matcher of an Elasticsearch ``bool`` of plain clauses answers what the closures answer.

``compile_search`` compiles a conjunction of ``term`` / ``range`` / ``prefix``
clauses (in ``must``, ``filter`` or ``must_not``) into one generated function
(``query.inline``); ``compile_query``'s closures are the model. A range's one
value must meet every bound, also inside a list, which is where it differs from
two SCIM comparisons.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine.query.es import _parse_query, compile_matches, compile_query, compile_search

PATHS = ["age", "Age", "city", "tags", "home.city"]
POOL: list[Any] = [-1, 0, 1, 30, 30.0, 29.5, 50, 2**53 + 1, True, False, None, "", "Oslo", "Os", "x",
                   "2016-10-20T07:17:17Z", "2016-10-20T08:17:17+01:00"]  # fmt: skip
scalars = st.one_of(st.sampled_from(POOL), st.floats(allow_nan=True), st.text(max_size=3))
values = st.one_of(scalars, st.lists(scalars, max_size=3))
documents = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "age": values,
            "Age": values,
            "city": values,
            "tags": values,
            "home": st.one_of(
                st.fixed_dictionaries({}, optional={"city": values, "City": values}), values
            ),
        },
    ),
    st.lists(scalars, max_size=2),
)
literals = st.sampled_from([v for v in POOL if v is not None])
strings = st.sampled_from([v for v in POOL if isinstance(v, str)])

term = st.tuples(st.sampled_from(PATHS), literals).map(lambda p: {"term": {p[0]: p[1]}})
terms = st.tuples(st.sampled_from(PATHS), st.lists(literals, min_size=1, max_size=3)).map(
    lambda p: {"terms": {p[0]: p[1]}}
)
bounds = st.dictionaries(
    st.sampled_from(["gt", "gte", "lt", "lte"]),
    st.sampled_from([v for v in POOL if v is not None and not isinstance(v, bool)]),
    min_size=1,
    max_size=2,
)
range_ = st.tuples(st.sampled_from(PATHS), bounds).map(lambda p: {"range": {p[0]: p[1]}})
prefix = st.tuples(st.sampled_from(PATHS), strings, st.booleans()).map(
    lambda p: {"prefix": {p[0]: {"value": p[1], "case_insensitive": p[2]}}}
)
other = st.sampled_from(
    [
        {"exists": {"field": "city"}},
        {"match_all": {}},
        {"ids": {"values": ["r1"]}},
        {"term": {"city": {"value": "oslo", "case_insensitive": True}}},
    ]
)
clause = st.one_of(term, term, range_, range_, prefix, terms, other)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 5)) == 0:
        return draw(clause)
    body: dict[str, Any] = {}
    for key in ("must", "filter", "must_not", "should"):
        if draw(st.booleans()):
            body[key] = draw(st.lists(clause, min_size=1, max_size=3))
    if "should" in body and draw(st.booleans()):
        body["minimum_should_match"] = draw(st.integers(0, 2))
    return {"bool": body}


@settings(max_examples=500, deadline=None)
@given(
    query=queries(),
    docs=st.lists(documents, min_size=1, max_size=6),
    rid=st.sampled_from(["r1", "r2"]),
)
def test_generated_matcher_agrees_with_the_closures(
    query: dict[str, Any], docs: list[Any], rid: str
) -> None:
    parsed = _parse_query(query)
    generated, model = compile_matches(parsed), compile_query(parsed)
    for doc in docs:
        assert generated(rid, doc) is model(rid, doc), (query, doc)


def _generated(match: Any) -> bool:
    cells = match.__closure__ or ()
    return any(getattr(cell.cell_contents, "__code__", None) is not None
               and cell.cell_contents.__code__.co_filename == "<inline filter>" for cell in cells)  # fmt: skip


def test_plain_bool_is_generated_and_rid_or_should_queries_are_not() -> None:
    plain = {"bool": {"filter": [{"term": {"city": "Oslo"}}, {"range": {"age": {"gte": 30, "lt": 50}}}],
                      "must_not": [{"term": {"tags": "archived"}}]}}  # fmt: skip
    match = compile_search({"query": plain}).matches
    assert _generated(match)
    assert match("r", {"city": "Oslo", "age": 30, "tags": ["a"]}) is True
    assert match("r", {"city": "Oslo", "age": 50, "tags": ["a"]}) is False
    assert match("r", {"city": "Oslo", "age": 31, "tags": ["archived"]}) is False
    assert (
        match("r", {"city": "Oslo", "age": [20, 60], "tags": []}) is False
    )  # no one value in range
    assert match("r", {"City": "Oslo", "AGE": 40}) is True  # case-variant keys
    ids = compile_search(
        {"query": {"bool": {"filter": [{"ids": {"values": ["r"]}}, {"term": {"a": 1}}]}}}
    ).matches
    assert not _generated(ids)  # the id is read: the closures
    assert ids("r", {"a": 1}) is True and ids("s", {"a": 1}) is False
    should = {
        "bool": {"should": [{"term": {"a": 1}}, {"term": {"b": 2}}], "minimum_should_match": 1}
    }
    assert not _generated(compile_search({"query": should}).matches)
    assert compile_search({"query": should}).matches("r", {"b": 2}) is True


def test_every_clause_literal_and_value_agree_with_the_closures() -> None:
    """Exhaustive over a small pool: each clause kind (in filter, and term in must_not) and value shape."""
    bounds = [{"gte": 30}, {"gt": 29.5, "lt": 50}, {"lte": "Os"}, {"gte": "2016-10-20T07:17:17Z"}]
    clauses: list[dict[str, Any]] = [{"term": {"home.city": v}} for v in POOL if v is not None]
    clauses += [{"range": {"home.city": b}} for b in bounds]
    clauses += [{"prefix": {"home.city": v}} for v in ("", "Os", "x")]
    checked = 0
    for clause in clauses:
        for where in ("filter", "must_not"):
            query = _parse_query({"bool": {where: [clause, {"term": {"n": 1}}]}})
            generated, model = compile_matches(query), compile_query(query)
            for value in [*POOL, [30, "Oslo"], [], {"x": 1}]:
                for doc in ({"home": {"city": value}, "n": 1}, {"Home": {"City": value}, "n": 1},
                            {"home": [{"city": value}], "n": 1}, {"home": value, "n": 1}):  # fmt: skip
                    assert generated("r", doc) is model("r", doc), (clause, where, doc)
                    checked += 1
    assert checked > 2000
