"""The generated predicate of an ``and`` of plain comparisons answers what the closures answer.

``compile_filter`` writes one function for the common filter shape
(``query.inline``); the closures of ``query.evaluate`` are the model. Every
document and filter below is compared on both, including the cases the
generated code hands back to a term's closure (missing and case-variant
keys, lists, bools, date-times, non-dict documents).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine.errors import InvalidFilter
from datastore_engine.query import compile_filter, parse_filter
from datastore_engine.query.evaluate import _compile

NAMES = ["age", "Age", "city", "tags", "when"]
OPS = ["eq", "ne", "gt", "ge", "lt", "le", "co", "sw", "ew"]

# Documents mostly hold the filters' own literals, so that equal values (and
# equal values of other types: 30 and 30.0, 1 and True) meet often.
POOL = [-1, 0, 1, 30, 30.0, 29.5, 2**53 + 1, 1e300, True, False, None, "", "Oslo", "oslo", "Os", "lo", "x",
        "2016", "2016-10-20T07:17:17Z", "2016-10-20T08:17:17+01:00"]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL).map(
        lambda v: "".join(v) if isinstance(v, str) else v
    ),  # equal, another object
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(NAMES), scalars, max_size=2),
)
documents = st.one_of(
    st.dictionaries(st.sampled_from(NAMES), values, max_size=5),
    st.lists(scalars, max_size=2),
    st.text(max_size=3),
)
strings = st.sampled_from([v for v in POOL if isinstance(v, str)])
literals = st.one_of(st.sampled_from(POOL), st.integers(min_value=-5, max_value=5))


def _literal(value: Any) -> str:
    return json.dumps(value)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from([*NAMES, "age.x", "tags.city"]))
    if draw(st.integers(0, 9)) == 0:
        return f"{name} pr"
    op = draw(st.sampled_from(OPS))
    literal = draw(strings if op in ("co", "sw", "ew") else literals)
    return f"{name} {op} {_literal(literal)}"


@st.composite
def conjunctions(draw: st.DrawFn) -> str:
    parts = draw(st.lists(comparisons(), min_size=1, max_size=4))
    shaped = []
    for part in parts:
        wrap = draw(st.integers(0, 7))
        if wrap == 0:
            part = f"not ({part})"
        elif wrap == 1:
            part = f"({part} or {draw(comparisons())})"
        shaped.append(part)
    return " and ".join(shaped)


@settings(max_examples=600, deadline=None)
@given(text=conjunctions(), docs=st.lists(documents, min_size=1, max_size=6))
def test_generated_predicate_agrees_with_the_closures(text: str, docs: list[Any]) -> None:
    try:
        model = _compile(parse_filter(text), False)
    except InvalidFilter:  # e.g. "age gt null": both entry points refuse it
        with pytest.raises(InvalidFilter):
            compile_filter(text)
        return
    generated = compile_filter(text)
    for doc in docs:
        assert generated(doc) is model(doc), (text, doc)


def test_plain_conjunction_is_generated_and_other_shapes_are_not() -> None:
    assert compile_filter('age ge 30 and city eq "Oslo"').__code__.co_filename == "<inline filter>"
    assert compile_filter("age gt 3").__code__.co_filename == "<inline filter>"
    # An or at the top, case-insensitive matching, or no plain term: the closures alone.
    assert compile_filter('age gt 3 or city eq "x"').__code__.co_filename != "<inline filter>"
    assert (
        compile_filter("age gt 3", case_insensitive=True).__code__.co_filename != "<inline filter>"
    )
    assert (
        compile_filter("name.given pr and a.b.c.d eq 1").__code__.co_filename == "<inline filter>"
    )
    assert (
        compile_filter("a.b.c.d.e pr").__code__.co_filename != "<inline filter>"
    )  # past four names
    urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"
    assert compile_filter(urn).__code__.co_filename != "<inline filter>"


def test_generated_predicate_defers_to_the_closure_for_unusual_values() -> None:
    match = compile_filter('age ge 30 and city eq "Oslo" and nick pr')
    assert match({"age": 31, "city": "Oslo", "nick": "x"}) is True
    assert match({"AGE": 31, "City": "Oslo", "Nick": "x"}) is True  # case-variant keys
    assert match({"age": [3, 40], "city": ["Rome", "Oslo"], "nick": ["", "y"]}) is True  # any value
    assert match({"age": True, "city": "Oslo", "nick": "x"}) is False  # a bool is not a number
    assert match({"age": 31, "city": "Oslo", "nick": ""}) is False  # empty is absent
    assert match({"age": 31.5, "city": "Oslo", "nick": 0}) is True  # a number is present
    not_an_object: Any = ["age", 31]
    assert match(not_an_object) is False


def test_date_time_literal_still_compares_as_an_instant() -> None:
    match = compile_filter('when eq "2016-10-20T07:17:17Z" and age ge 1')
    assert match({"when": "2016-10-20T08:17:17+01:00", "age": 1}) is True
    assert match({"when": "2016-10-20T07:17:18Z", "age": 1}) is False


def test_a_new_literal_of_the_same_shape_reuses_the_compiled_code() -> None:
    first = compile_filter('age ge 1 and city eq "a"')
    second = compile_filter('age ge 2 and city eq "b"')
    assert first.__code__ is second.__code__
    assert first({"age": 1, "city": "a"}) and not second({"age": 1, "city": "a"})


def _agrees(text: str, docs: list[Any]) -> int:
    """Generated predicate against the closures on each document; how many (0: text does not parse)."""
    try:
        model = _compile(parse_filter(text), False)
    except InvalidFilter:
        return 0
    generated = compile_filter(text)
    assert generated.__code__.co_filename == "<inline filter>", text
    for doc in docs:
        assert generated(doc) is model(doc), (text, doc)
    return len(docs)


def test_every_operator_literal_and_value_agree_with_the_closures() -> None:
    """Exhaustive over a small pool: each operator, each literal, each value at the path (as is, in a list)."""
    checked = 0
    for op in [*OPS, "pr"]:
        for literal in POOL:
            text = f"age {op}" if op == "pr" else f"age {op} {_literal(literal)} and tags pr"
            values = [*POOL, "".join("Oslo"), [literal, 0], []]
            docs = [{"age": v, "tags": "t"} for v in values] + [
                {"Age": v, "tags": ["t"]} for v in values
            ]
            checked += _agrees(text, docs + [{"age": v} for v in values])
    assert checked > 2000


def test_dotted_paths_agree_with_the_closures_through_every_shape_on_the_way() -> None:
    """``a.b op literal``: a dict, a list, a case-variant key, a scalar or nothing at ``a``."""
    checked = 0
    for op in [*OPS, "pr"]:
        for literal in ["Oslo", 30, "", 29.5]:
            text = f"home.city {op}" if op == "pr" else f"home.city {op} {_literal(literal)}"
            docs: list[Any] = [{}]
            for value in [*POOL, [literal], []]:
                docs += [
                    {"home": {"city": value}},
                    {"home": {"City": value}},
                    {"Home": {"city": value}},
                    {"home": [{"city": value}, {"city": "x"}]},
                    {"home": value},
                    {"home": {"city": {"x": value}}},
                    {"city": {"city": value}, "x": {"home": value}},  # the names elsewhere
                ]
            checked += _agrees(text, docs)
    assert checked > 1500


def test_a_hand_built_empty_path_answers_as_the_closures_do() -> None:
    from datastore_engine.query.scim import AttrPath, Compare, Present

    for node in (
        Compare(AttrPath(()), "eq", 1),
        Present(AttrPath(())),
        Compare(AttrPath(()), "ne", "x"),
    ):
        assert compile_filter(node)({"a": 1}) is _compile(node, False)({"a": 1})
