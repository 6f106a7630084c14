"""The SCIM parser builds the documented tree and explains what it expected."""

from __future__ import annotations

import pytest

from datastore_engine.errors import InvalidFilter, LimitExceeded, ValidationError
from datastore_engine.query.scim import (
    MAX_FILTER_DEPTH,
    And,
    AttrPath,
    Compare,
    Not,
    Or,
    Present,
    ValuePath,
    parse_filter,
)


def cmp(path: str, op: str, value: object) -> Compare:
    return Compare(AttrPath(tuple(path.split("."))), op, value)  # type: ignore[arg-type]


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("a eq 1 or b eq 2 and c eq 3") == Or(
        (cmp("a", "eq", 1), And((cmp("b", "eq", 2), cmp("c", "eq", 3))))
    )


def test_not_binds_tighter_than_and() -> None:
    assert parse_filter("not a pr and b pr") == And(
        (Not(Present(AttrPath(("a",)))), Present(AttrPath(("b",))))
    )


def test_chains_are_flat() -> None:
    node = parse_filter("a pr or b pr or c pr or d pr")
    assert isinstance(node, Or) and len(node.items) == 4


def test_parentheses_group() -> None:
    assert parse_filter("(a eq 1 or b eq 2) and c eq 3") == And(
        (Or((cmp("a", "eq", 1), cmp("b", "eq", 2))), cmp("c", "eq", 3))
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a eq 1", 1),
        ("a eq -0", 0),
        ("a eq 1.5", 1.5),
        ("a eq 1E2", 100.0),
        ("a eq 123456789012345678901234567890", 123456789012345678901234567890),
        ('a eq "x\\ny\\u00e9\\"\\\\"', 'x\nyé"\\'),
        ("a eq TRUE", True),
        ("a eq False", False),
        ("a eq nUlL", None),
    ],
)
def test_literals_follow_json(text: str, value: object) -> None:
    node = parse_filter(text)
    assert isinstance(node, Compare)
    assert node.value == value and type(node.value) is type(value)


def test_integer_literals_stay_int_and_decimals_are_float() -> None:
    assert type(parse_filter("a eq 10").value) is int  # type: ignore[union-attr]
    assert type(parse_filter("a eq 10.0").value) is float  # type: ignore[union-attr]


def test_operators_are_case_insensitive_and_normalized() -> None:
    assert parse_filter('a Sw "x"') == cmp("a", "sw", "x")
    assert parse_filter("a PR") == Present(AttrPath(("a",)))


def test_attribute_case_is_kept_for_lookup() -> None:
    assert parse_filter("Name.GivenName pr") == Present(AttrPath(("Name", "GivenName")))


def test_urn_prefix_is_split_at_last_colon() -> None:
    node = parse_filter('urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "x"')
    assert node == Compare(
        AttrPath(("name", "familyName"), "urn:ietf:params:scim:schemas:core:2.0:User"), "eq", "x"
    )


def test_value_path_with_sub_attribute() -> None:
    node = parse_filter('emails[type eq "work" and value co "@x"].display sw "A"')
    assert node == ValuePath(
        AttrPath(("emails",)),
        And((cmp("type", "eq", "work"), cmp("value", "co", "@x"))),
        cmp("display", "sw", "A"),
    )


def test_value_path_without_sub_attribute() -> None:
    node = parse_filter("emails[primary eq true] or x pr")
    assert node == Or(
        (ValuePath(AttrPath(("emails",)), cmp("primary", "eq", True)), Present(AttrPath(("x",))))
    )


def test_error_message_shows_column_expectation_and_filter() -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter('name xx "x"')
    message = str(info.value)
    assert message.startswith("expected an operator")
    assert "at column 6" in message
    assert "found 'xx'" in message
    assert message.endswith('name xx "x"')
    assert info.value.column == 6


def test_error_at_end_says_end_of_filter() -> None:
    with pytest.raises(InvalidFilter, match="end of filter"):
        parse_filter("a eq")


def test_error_message_clips_long_filters() -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter("a pr and " + "b pr and " * 100 + "??")
    assert len(str(info.value)) < 400


def test_invalid_filter_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_filter("(")
    assert issubclass(InvalidFilter, ValidationError)


def test_depth_limit_counts_parens_not_and_brackets() -> None:
    ok = "not " * (MAX_FILTER_DEPTH - 1) + "(a pr)"
    assert parse_filter(ok)
    with pytest.raises(LimitExceeded) as info:
        parse_filter("not " * MAX_FILTER_DEPTH + "(a pr)")
    assert info.value.limit == "max_filter_depth"


def test_nodes_are_frozen_and_hashable() -> None:
    node = parse_filter('a eq "x" and b[c pr]')
    assert hash(node) == hash(parse_filter('a eq "x" and b[c pr]'))
    with pytest.raises(AttributeError):
        node.items = ()  # type: ignore[misc,union-attr]


def test_dotted_property_joins_names() -> None:
    assert AttrPath(("a", "b")).dotted == "a.b"
