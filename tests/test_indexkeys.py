"""Index keys: byte order equals the documented value order; ranges are supersets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from datastore_engine.query.evaluate import make_test, parse_timestamp
from datastore_engine.query.indexkeys import (
    MAX_ENCODED_VALUE_BYTES,
    STRING_BODY_BYTES,
    encode_value,
    encoded_length,
    eq_range,
    index_values,
    prefix_end,
    range_for,
)

INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
NEAR_DOUBLE_TIES = st.builds(
    lambda base, delta: base + delta,
    st.sampled_from([2**53, 2**60, 2**62, 2**63 - 2048, -(2**63), -(2**53), 2**64 - 4096]),
    st.integers(min_value=-3000, max_value=3000),
)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
NUMBERS = st.one_of(
    INT64, NEAR_DOUBLE_TIES, FLOATS, st.integers(-5, 5), st.sampled_from([0.5, 1.5, -0.0])
)
SHORT_TEXT = st.text(alphabet=st.sampled_from("ab\x00\x01\xffé€😀"), max_size=6)
LONG_TEXT = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["x" * 190, "x" * 195, "x" * 194 + "\x00", "é" * 97, "😀" * 49]),
    st.text(alphabet=st.sampled_from("\x00xy😀"), max_size=12),
)
TEXT = st.one_of(SHORT_TEXT, st.text(max_size=20), LONG_TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)


def model_key(value: Any) -> tuple[int, Any]:
    """The documented total order: null < false < true < numbers < strings."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (2, 0) if value else (1, 0)
    if isinstance(value, int | float):
        return (3, value)
    return (4, value)


def sign(x: Any, y: Any) -> int:
    return int(x > y) - int(x < y)


def truncated(value: Any) -> bool:
    return isinstance(value, str) and encode_value(value).endswith(b"\x00\x02")


@settings(deadline=None, max_examples=600)
@given(SCALARS, SCALARS)
def test_byte_order_equals_value_order(a: Any, b: Any) -> None:
    ka, kb = encode_value(a), encode_value(b)
    expected = sign(model_key(a), model_key(b))
    if truncated(a) or truncated(b):
        # Truncation keeps order but may tie: a < b implies enc(a) <= enc(b).
        assert sign(ka, kb) in (expected, 0)
    else:
        assert sign(ka, kb) == expected


@settings(deadline=None, max_examples=300)
@given(SCALARS, SCALARS)
def test_encodings_are_self_delimiting(a: Any, b: Any) -> None:
    ka, kb = encode_value(a), encode_value(b)
    assert len(ka) <= MAX_ENCODED_VALUE_BYTES
    assert encoded_length(ka + b"\x00rid-1") == len(ka)
    if ka != kb:
        assert not kb.startswith(ka)


@settings(deadline=None, max_examples=800)
@given(
    st.sampled_from(["eq", "gt", "ge", "lt", "le", "sw"]),
    st.one_of(NUMBERS, TEXT, st.none(), st.booleans()),
    SCALARS,
    st.text(max_size=4),
)
def test_ranges_are_supersets_of_matches(op: str, literal: Any, value: Any, rid: str) -> None:
    if op != "eq":
        assume(literal is not None and not isinstance(literal, bool))
    if op == "sw":
        assume(isinstance(literal, str))
    if isinstance(literal, str) and op != "sw":
        assume(parse_timestamp(literal) is None)  # the planner scans for these
    lo, hi = range_for(op, literal)
    key = encode_value(value) + b"\x00" + rid.encode("utf-8", "surrogatepass")
    in_range = lo <= key and (hi is None or key < hi)
    if make_test(op, literal)(value):
        assert in_range
    elif op == "eq" and not truncated(literal):
        # Without truncation an eq range is exact.
        assert not in_range


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        (None, False),
        (False, True),
        (True, -1e308),
        (1, 1.5),
        (1.5, 2),
        (2**63 - 2, 2**63 - 1),
        (float(2**62), 2**62 + 1),
        (2**53, 2**53 + 1),
        (-(2**53) - 1, -(2**53)),
        (-(2**63), -(2**63) + 1),
        (0.1, 0.1 + 2**-55 * 2),
        (-1.5, -1),
        (1e308, ""),
        ("", "\x00"),
        ("a", "a\x00"),
        ("a\x00", "a\x01"),
        ("a\x01", "ab"),
        ("z", "é"),
        ("\uffff", "😀"),
    ],
)
def test_known_pairs_are_ordered(smaller: Any, larger: Any) -> None:
    assert encode_value(smaller) < encode_value(larger)


def test_equal_numbers_encode_the_same() -> None:
    assert encode_value(1) == encode_value(1.0)
    assert encode_value(0) == encode_value(-0.0) == encode_value(0.0)
    assert encode_value(2**53) == encode_value(float(2**53))


def test_long_strings_sharing_a_cut_encode_the_same_and_eq_range_covers_them() -> None:
    head = "x" * STRING_BODY_BYTES
    a, b = head + "a", head + "b"
    assert encode_value(a) == encode_value(b)
    lo, hi = eq_range(a)
    assert hi is not None and lo <= encode_value(b) + b"rid" < hi
    assert not (lo <= encode_value(head) + b"rid" < hi)


def test_cut_never_splits_an_escaped_nul() -> None:
    text = "x" * (STRING_BODY_BYTES - 1) + "\x00" + "tail"
    key = encode_value(text)
    assert key.endswith(b"\x00\x02")
    assert encoded_length(key + b"\x00rid") == len(key)


def test_non_scalars_and_huge_numbers_are_refused() -> None:
    for bad in ([1], {"a": 1}, float("nan"), float("inf"), 10**400, object()):
        with pytest.raises(ValueError):
            encode_value(bad)


def test_ordering_ranges_refuse_bool_and_null() -> None:
    for op in ("gt", "ge", "lt", "le"):
        for literal in (None, True, False):
            with pytest.raises(ValueError):
                range_for(op, literal)
    with pytest.raises(ValueError):
        range_for("co", "x")


def test_ranges_stay_within_one_type() -> None:
    lo, hi = range_for("gt", 5)
    assert hi is not None
    assert not (lo <= encode_value("6") < hi)
    assert lo <= encode_value(6) < hi
    lo, hi = range_for("lt", "b")
    assert hi is not None
    assert not (lo <= encode_value(1) < hi) and lo <= encode_value("a") < hi


def test_prefix_end() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff") is None


def test_index_values_are_multi_valued_and_skip_containers() -> None:
    doc = {"tags": ["b", "a", "b", {"x": 1}, [1]], "Name": {"first": "Ann"}, "n": None}
    assert index_values(doc, "tags") == {encode_value("a"), encode_value("b")}
    assert index_values(doc, "name.first") == {encode_value("Ann")}
    assert index_values(doc, "n") == {encode_value(None)}
    assert index_values(doc, "missing") == set()
    assert index_values(doc, "Name") == set()
    assert index_values({"a": [{"b": 1}, {"b": [2, 2.0]}]}, ["a", "b"]) == {
        encode_value(1),
        encode_value(2),
    }
