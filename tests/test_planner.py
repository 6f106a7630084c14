"""Plans: the documented shapes, and candidates that are always a superset of a scan.

The property tests are a pure model of "queries through an index return what a
full scan returns": each index is an in-memory sorted list of
``encode_value(v) + b"\\0" + rid`` keys, a plan is executed over it, and the
candidates must contain every document the full predicate matches.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine.query import (
    Ids,
    IndexRange,
    Intersect,
    Plan,
    Scan,
    Union,
    compile_filter,
    compile_search,
    describe,
    index_values,
    parse_filter,
    plan_filter,
    plan_search,
)


def plan_text(text: str, indexed: set[str], **kw: Any) -> str:
    return describe(plan_filter(parse_filter(text), indexed, **kw))


def test_single_comparison_uses_its_index() -> None:
    plan = plan_filter(parse_filter('email eq "a@x"'), {"email"})
    assert isinstance(plan, IndexRange) and plan.path == "email"
    assert describe(plan) == 'index email [eq "a@x"]'


def test_each_indexable_operator() -> None:
    for op, literal in [
        ("eq", "1"),
        ("sw", '"a"'),
        ("gt", "1"),
        ("ge", '"b"'),
        ("lt", "2.5"),
        ("le", "3"),
    ]:
        assert plan_text(f"n {op} {literal}", {"n"}) == f"index n [{op} {literal}]"


def test_non_indexable_operators_scan() -> None:
    for text in ["n ne 1", 'n co "a"', 'n ew "a"', "n pr", "not (n eq 1)"]:
        assert isinstance(plan_filter(parse_filter(text), {"n"}), Scan), text


def test_unindexed_path_scans_with_reason() -> None:
    assert plan_text("n eq 1", {"m"}) == "scan ('n' is not indexed)"


def test_and_keeps_the_indexable_side() -> None:
    assert plan_text('n eq 1 and m co "x"', {"n"}) == "index n [eq 1]"
    assert plan_text("n eq 1 and m eq 2", {"n", "m"}) == "intersect(index n [eq 1], index m [eq 2])"


def test_or_needs_every_side_indexed() -> None:
    assert plan_text("n eq 1 or m eq 2", {"n", "m"}) == "union(index n [eq 1], index m [eq 2])"
    assert isinstance(plan_filter(parse_filter("n eq 1 or m eq 2"), {"n"}), Scan)


def test_case_insensitive_scans() -> None:
    assert isinstance(plan_filter(parse_filter("n eq 1"), {"n"}, case_insensitive=True), Scan)


def test_timestamp_literals_scan_except_sw() -> None:
    for op in ("eq", "gt", "ge", "lt", "le"):
        assert isinstance(
            plan_filter(parse_filter(f'at {op} "2020-01-01T00:00:00Z"'), {"at"}), Scan
        )
    assert plan_text('at sw "2020-01-01T00:00"', {"at"}).startswith("index at")
    assert plan_text('at gt "2020-01-01"', {"at"}).startswith("index at")  # a date alone is text


def test_urn_paths_scan() -> None:
    text = "urn:ietf:params:scim:schemas:core:2.0:User:n eq 1"
    assert isinstance(plan_filter(parse_filter(text), {"n"}), Scan)


def test_value_path_uses_prefixed_paths() -> None:
    text = 'emails[type eq "work" and value co "@x"].primary eq true'
    assert plan_text(text, {"emails.type", "emails.primary"}) == (
        'intersect(index emails.type [eq "work"], index emails.primary [eq true])'
    )


def test_huge_integer_literal_scans() -> None:
    assert isinstance(plan_filter(parse_filter(f"n gt {10**400}"), {"n"}), Scan)


def test_es_plans() -> None:
    idx = {"user", "age", "tags"}

    def es(query: dict[str, Any]) -> str:
        return describe(plan_search(compile_search({"query": query}), idx))

    assert es({"term": {"user": "bo"}}) == 'index user [eq "bo"]'
    assert es({"terms": {"user": ["a", "b"]}}) == 'union(index user [eq "a"], index user [eq "b"])'
    assert es({"range": {"age": {"gte": 1, "lt": 5}}}) == "index age [ge 1 lt 5]"
    assert es({"range": {"age": {"gt": 5, "lt": 1}}}) == "none"
    assert es({"prefix": {"user": "b"}}) == 'index user [sw "b"]'
    assert es({"ids": {"values": ["x"]}}) == "ids ['x']"
    assert es({"match_none": {}}) == "none"
    assert es({"exists": {"field": "user"}}).startswith("scan")
    assert es({"match_all": {}}).startswith("scan")
    assert es({"bool": {"must": {"term": {"user": "a"}}, "filter": {"term": {"age": 3}}}}) == (
        'intersect(index user [eq "a"], index age [eq 3])'
    )
    assert es({"bool": {"should": [{"term": {"user": "a"}}, {"term": {"age": 3}}]}}) == (
        'union(index user [eq "a"], index age [eq 3])'
    )
    assert es({"bool": {"must_not": {"term": {"user": "a"}}}}).startswith("scan")
    assert es(
        {"bool": {"should": [{"term": {"user": "a"}}], "minimum_should_match": 0}}
    ).startswith("scan")
    assert es(
        {"bool": {"should": [{"term": {"user": "a"}}, {"exists": {"field": "x"}}]}}
    ).startswith("scan")
    assert es({"term": {"user": {"value": "a", "case_insensitive": True}}}).startswith("scan")


def test_plans_are_plain_data() -> None:
    plan = plan_filter(parse_filter("n eq 1 or m eq 2"), {"n", "m"})
    assert isinstance(plan, Union) and all(isinstance(p, IndexRange) for p in plan.parts)
    assert plan == plan_filter(parse_filter("n eq 1 or m eq 2"), {"n", "m"})
    assert (
        describe(Intersect((Ids(frozenset({"b", "a"})), Scan("x"))))
        == "intersect(ids ['a', 'b'], scan (x))"
    )


# -- the model: random documents, random filters, executed plans -------------------------

PATHS = ["a", "b", "c", "a.x", "a.y", "A", "l.k"]
LEAF_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, -1.5, 2**53, 2**53 + 1]),
    st.sampled_from(
        ["", "a", "ab", "b", "B", "a\x00", "2020-01-01T00:00:00Z", "2020-01-01T01:00:00+02:00"]
    ),
)
VALUES = st.one_of(
    LEAF_VALUES,
    st.lists(LEAF_VALUES, max_size=3),
    st.fixed_dictionaries({}, optional={"x": LEAF_VALUES, "y": st.lists(LEAF_VALUES, max_size=2)}),
)
DOCS = st.fixed_dictionaries(
    {},
    optional={
        "a": VALUES,
        "b": VALUES,
        "c": LEAF_VALUES,
        "A": LEAF_VALUES,
        "l": st.lists(st.fixed_dictionaries({}, optional={"k": VALUES}), max_size=3),
    },
)
LITERALS = st.one_of(
    st.sampled_from(["null", "true", "false", "0", "1", "-1", "2.0", "0.5", "9007199254740993"]),
    st.sampled_from(['""', '"a"', '"ab"', '"b"', '"a\\u0000"', '"2020-01-01T00:00:00Z"']),
)
SUBSTRINGS = st.sampled_from(['""', '"a"', '"b"', '"2020"'])
ORDERABLE = st.sampled_from(["0", "1", "2.0", "-1.5", '"a"', '"b"', '""', '"2020-01-01T00:30:00Z"'])


@st.composite
def leaves(draw: st.DrawFn, paths: list[str]) -> str:
    path = draw(st.sampled_from(paths))
    op = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "sw", "co", "ew", "pr"]))
    if op == "pr":
        return f"{path} pr"
    if op in ("sw", "co", "ew"):
        return f"{path} {op} {draw(SUBSTRINGS)}"
    if op in ("gt", "ge", "lt", "le"):
        return f"{path} {op} {draw(ORDERABLE)}"
    return f"{path} {op} {draw(LITERALS)}"


FILTERS = st.recursive(
    leaves(PATHS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda f: f"not ({f})"),
        leaves(["x", "y"]).map(lambda f: f"a[{f}]"),
        st.tuples(leaves(["k"]), leaves(["k"])).map(lambda t: f"l[{t[0]} and {t[1]}]"),
    ),
    max_leaves=6,
)


def build_indexes(docs: list[dict[str, Any]], paths: set[str]) -> dict[str, list[bytes]]:
    indexes: dict[str, list[bytes]] = {}
    for path in paths:
        keys = [
            key + b"\x00" + str(rid).encode()
            for rid, doc in enumerate(docs)
            for key in index_values(doc, path)
        ]
        indexes[path] = sorted(keys)
    return indexes


def execute(plan: Plan, indexes: dict[str, list[bytes]], everything: set[str]) -> set[str]:
    if isinstance(plan, Scan):
        return set(everything)
    if isinstance(plan, Ids):
        return set(plan.ids)
    if isinstance(plan, IndexRange):
        keys = indexes[plan.path]
        start = bisect.bisect_left(keys, plan.lo)
        stop = len(keys) if plan.hi is None else bisect.bisect_left(keys, plan.hi)
        return {key.rsplit(b"\x00", 1)[1].decode() for key in keys[start:stop]}
    results = [execute(part, indexes, everything) for part in plan.parts]
    if isinstance(plan, Union):
        return set().union(*results)
    return set.intersection(*results)


@settings(deadline=None, max_examples=400)
@given(
    st.lists(DOCS, max_size=8),
    FILTERS,
    st.sets(st.sampled_from(["a", "b", "c", "a.x", "a.y", "A", "l.k"])),
)
def test_filter_plan_candidates_are_a_superset_of_scan_matches(
    docs: list[dict[str, Any]], text: str, indexed: set[str]
) -> None:
    match = compile_filter(text)
    expected = {str(rid) for rid, doc in enumerate(docs) if match(doc)}
    plan = plan_filter(parse_filter(text), indexed)
    candidates = execute(plan, build_indexes(docs, indexed), {str(r) for r in range(len(docs))})
    assert expected <= candidates, (text, describe(plan), json.dumps(docs, default=str))


ES_FIELDS = st.sampled_from(["a", "b", "c", "a.x", "l.k"])
ES_VALUES = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, "", "a", "ab", "b", "2020-01-01T00:00:00Z"]),
)
ES_LEAVES = st.one_of(
    st.builds(lambda f, v: {"term": {f: v}}, ES_FIELDS, ES_VALUES),
    st.builds(lambda f, vs: {"terms": {f: vs}}, ES_FIELDS, st.lists(ES_VALUES, max_size=3)),
    st.builds(
        lambda f, b: {"range": {f: b}},
        ES_FIELDS,
        st.dictionaries(
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.sampled_from([0, 1, 2.0, -1.5, "a", "b", "", "2020-01-01T00:30:00Z"]),
            min_size=1,
        ),
    ),
    st.builds(lambda f, v: {"prefix": {f: v}}, ES_FIELDS, st.sampled_from(["", "a", "b"])),
    st.builds(lambda f: {"exists": {"field": f}}, ES_FIELDS),
    st.builds(
        lambda ids: {"ids": {"values": ids}}, st.lists(st.sampled_from(["0", "1", "2", "9"]))
    ),
    st.just({"match_all": {}}),
    st.just({"match_none": {}}),
)
ES_QUERIES = st.recursive(
    ES_LEAVES,
    lambda inner: st.builds(
        lambda must, flt, should, must_not, msm: {
            "bool": {
                "must": must,
                "filter": flt,
                "should": should,
                "must_not": must_not,
                **({} if msm is None else {"minimum_should_match": msm}),
            }
        },
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=1),
        st.one_of(st.none(), st.integers(-2, 3), st.sampled_from(["50%", "-50%"])),
    ),
    max_leaves=6,
)


@settings(deadline=None, max_examples=300)
@given(
    st.lists(DOCS, max_size=8), ES_QUERIES, st.sets(st.sampled_from(["a", "b", "c", "a.x", "l.k"]))
)
def test_search_plan_candidates_are_a_superset_of_scan_matches(
    docs: list[dict[str, Any]], query: dict[str, Any], indexed: set[str]
) -> None:
    search = compile_search({"query": query})
    expected = {str(rid) for rid, doc in enumerate(docs) if search.matches(str(rid), doc)}
    plan = plan_search(search, indexed)
    candidates = execute(plan, build_indexes(docs, indexed), {str(r) for r in range(len(docs))})
    assert expected <= candidates, (query, describe(plan), json.dumps(docs, default=str))
