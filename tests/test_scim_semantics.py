"""A corpus of SCIM filters with the rids each must match over a fixed set of documents.

Valid cases name the rids expected (``set()`` for none); invalid cases name the
error and the 1-based column. Every case runs twice: compiled once from text,
and compiled from the parsed node, so both entry points agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from datastore_engine.errors import InvalidFilter, LimitExceeded
from datastore_engine.query import compile_filter, parse_filter

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

DOCS: dict[str, dict[str, Any]] = {
    "ann": {
        "userName": "ann",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "age": 34,
        "score": 7.5,
        "active": True,
        "emails": [
            {"type": "work", "value": "ann@x.com", "primary": True},
            {"type": "home", "value": "ann@home.org"},
        ],
        "tags": ["admin", "dev"],
        "created": "2016-10-20T07:17:17.606Z",
        "nick": None,
        "meta": {"version": 3},
    },
    "bob": {
        "userName": "bob",
        "name": {"givenName": "Bob", "familyName": "Stone"},
        "age": 17,
        "score": 9,
        "active": False,
        "emails": [{"type": "home", "value": "bob@y.org"}],
        "tags": ["dev"],
        "created": "2017-01-01T00:00:00+01:00",
        "nick": "bobby",
        "big": 9007199254740993,
    },
    "cy": {
        "userName": "Cy",
        "name": {"givenName": "cy"},
        "age": 34.0,
        "score": "high",
        "active": "true",
        "emails": {"type": "work", "value": "cy@x.com"},
        "tags": [],
        "created": "2016-10-20",
        "nick": "",
        "Title": "Dr",
    },
    "dee": {
        "userName": "dee",
        "age": None,
        "tags": ["ops", ["nested"]],
        "emails": [],
        "created": "not a date",
        ENTERPRISE: {"employeeNumber": "701", "manager": {"value": "ann"}},
        "big": 9007199254740992,
    },
    "eve": {
        "username": "eve2",
        "name": {"givenName": "Eve", "familyName": 'O\'Neil "Q"'},
        "age": 1e3,
        "emails": [{"type": "WORK", "value": "eve@X.com"}],
        "tags": "solo",
        "created": "2016-10-20T09:17:17.606+02:00",
        "meta": {},
        "a": {"b": [{"c": 1}, {"c": [2, 3]}]},
    },
}
ALL = set(DOCS)

# (id, filter, expected rids, case_insensitive)
VALID: list[tuple[str, str, set[str], bool]] = [
    # equality and types
    ("eq-string", 'userName eq "ann"', {"ann"}, False),
    ("eq-string-case-sensitive", 'userName eq "cy"', set(), False),
    ("eq-string-ci-option", 'userName eq "cy"', {"cy"}, True),
    ("eq-int-matches-float", "age eq 34", {"ann", "cy"}, False),
    ("eq-float-matches-int", "age eq 34.0", {"ann", "cy"}, False),
    ("eq-exponent-number", "age eq 1e3", {"eve"}, False),
    ("eq-null", "age eq null", {"dee"}, False),
    ("eq-null-missing-is-not-null", "nick eq null", {"ann"}, False),
    ("eq-true", "active eq true", {"ann"}, False),
    ("eq-false", "active eq false", {"bob"}, False),
    ("eq-true-not-string-true", 'active eq "true"', {"cy"}, False),
    ("eq-true-is-not-1", "active eq 1", set(), False),
    ("eq-number-not-string", 'age eq "34"', set(), False),
    ("eq-number-not-bool", "age eq true", set(), False),
    ("eq-empty-string", 'nick eq ""', {"cy"}, False),
    ("eq-string-escapes", r'name.familyName eq "O\u0027Neil \"Q\""', {"eve"}, False),
    ("eq-keywords-case-insensitive", "active EQ TRUE", {"ann"}, False),
    ("eq-missing-attribute", 'nothing eq "x"', set(), False),
    ("eq-big-int-exact", "big eq 9007199254740993", {"bob"}, False),
    ("eq-big-int-exact-2", "big eq 9007199254740992", {"dee"}, False),
    ("eq-big-float", "big eq 9007199254740992.0", {"dee"}, False),
    ("gt-big-int-exact", "big gt 9007199254740992", {"bob"}, False),
    ("eq-score-float-int", "score eq 9.0", {"bob"}, False),
    ("eq-negative", "age eq -1", set(), False),
    # ne
    ("ne-string", 'userName ne "ann"', ALL - {"ann"}, False),
    ("ne-null", "age ne null", ALL - {"dee"}, False),
    ("ne-missing-is-true", "nothing ne 1", ALL, False),
    ("ne-true", "active ne true", ALL - {"ann"}, False),
    ("ne-multivalued-none-equal", 'tags ne "dev"', {"cy", "dee", "eve"}, False),
    ("ne-type-mismatch", 'age ne "34"', ALL, False),
    ("ne-ci", 'userName ne "CY"', ALL - {"cy"}, True),
    # ordering
    ("gt-number", "age gt 30", {"ann", "cy", "eve"}, False),
    ("ge-number", "age ge 34", {"ann", "cy", "eve"}, False),
    ("lt-number", "age lt 18", {"bob"}, False),
    ("le-number", "age le 17", {"bob"}, False),
    ("lt-number-strict", "age lt 17", set(), False),
    ("gt-negative-exponent", "age gt -1.5e2", {"ann", "bob", "cy", "eve"}, False),
    ("ge-float", "score ge 7.5", {"ann", "bob"}, False),
    ("gt-float-vs-int", "score gt 8", {"bob"}, False),
    ("gt-string", 'score gt "a"', {"cy"}, False),
    ("lt-string-codepoint", 'userName lt "b"', {"ann", "cy"}, False),
    ("lt-string-ci", 'userName lt "b"', {"ann"}, True),
    ("ge-string", 'userName ge "dee"', {"dee", "eve"}, False),
    ("gt-bool-not-number", "active gt 0", set(), False),
    ("gt-null-value-not-number", "nick gt 0", set(), False),
    ("le-number-on-strings", "score le 100", {"ann", "bob"}, False),
    # timestamps
    ("ts-gt-instants", 'created gt "2016-10-20T07:00:00Z"', {"ann", "bob", "dee", "eve"}, False),
    (
        "ts-eq-same-instant-other-offset",
        'created eq "2016-10-20T07:17:17.606Z"',
        {"ann", "eve"},
        False,
    ),
    ("ts-eq-offset-literal", 'created eq "2016-10-20T09:17:17.606+02:00"', {"ann", "eve"}, False),
    ("ts-ge-later-offset", 'created ge "2016-12-31T23:00:00Z"', {"bob", "dee"}, False),
    ("ts-lt", 'created lt "2016-10-20T08:00:00Z"', {"ann", "cy", "eve"}, False),
    ("ts-naive-is-utc", 'created eq "2016-10-20T07:17:17.606"', {"ann", "eve"}, False),
    ("ts-date-only-is-text", 'created eq "2016-10-20"', {"cy"}, False),
    ("ts-sw-is-text", 'created sw "2016-10-20"', {"ann", "cy", "eve"}, False),
    ("ts-ne", 'created ne "2016-10-20T07:17:17.606Z"', {"bob", "cy", "dee"}, False),
    # co sw ew
    ("co", 'userName co "e"', {"dee", "eve"}, False),
    ("co-empty-matches-any-string", 'userName co ""', ALL, False),
    ("co-ci", 'emails.value co "@X"', {"ann", "cy", "eve"}, True),
    ("co-case-sensitive", 'emails.value co "@x"', {"ann", "cy"}, False),
    ("sw", 'name.givenName sw "A"', {"ann"}, False),
    ("sw-ci", 'userName sw "c"', {"cy"}, True),
    ("sw-not-on-numbers", 'age sw "3"', set(), False),
    ("ew", 'emails.value ew ".org"', {"ann", "bob"}, False),
    ("ew-ci", 'emails.value ew ".COM"', {"ann", "cy", "eve"}, True),
    ("co-multivalued", 'tags co "mi"', {"ann"}, False),
    ("co-unicode", 'name.familyName co "\\"Q\\""', {"eve"}, False),
    # pr
    ("pr-number", "age pr", ALL - {"dee"}, False),
    ("pr-null-is-absent", "nick pr", {"bob"}, False),
    ("pr-empty-list-absent", "emails pr", ALL - {"dee"}, False),
    ("pr-empty-list-tags", "tags pr", ALL - {"cy"}, False),
    ("pr-empty-dict-absent", "meta pr", {"ann"}, False),
    ("pr-nested", "name.familyName pr", {"ann", "bob", "eve"}, False),
    ("pr-false-is-present", "active pr", {"ann", "bob", "cy"}, False),
    ("pr-missing", "nothing pr", set(), False),
    ("pr-keyword-case", "age PR", ALL - {"dee"}, False),
    # paths
    ("path-ci-fallback", 'NAME.GIVENNAME eq "Bob"', {"bob"}, False),
    ("path-ci-key-only-in-doc", 'title eq "Dr"', {"cy"}, False),
    ("path-exact-first", 'username eq "eve2"', {"eve"}, False),
    ("path-exact-first-fallback", 'username eq "ann"', {"ann"}, False),
    ("path-through-list", "a.b.c eq 3", {"eve"}, False),
    ("path-through-list-first", "a.b.c eq 1", {"eve"}, False),
    ("path-nested-list-is-a-value", 'tags eq "nested"', set(), False),
    ("path-single-dict-as-element", 'emails.type eq "work"', {"ann", "cy"}, False),
    ("path-digit-segment-is-a-name", 'tags.0 eq "admin"', set(), False),
    ("path-underscore-dollar", "$ref pr or _id pr", set(), False),
    ("path-hyphen", "x-y pr", set(), False),
    ("urn-core", 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ann"', {"ann"}, False),
    ("urn-extension", f'{ENTERPRISE}:employeeNumber eq "701"', {"dee"}, False),
    ("urn-extension-sub", f'{ENTERPRISE}:manager.value eq "ann"', {"dee"}, False),
    ("urn-case-insensitive", f'{ENTERPRISE.upper()}:employeeNumber eq "701"', {"dee"}, False),
    (
        "urn-core-dotted",
        'urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Ann"',
        {"ann"},
        False,
    ),
    ("meta-version", "meta.version ge 3", {"ann"}, False),
    # logic and precedence
    ("and", 'age gt 30 and name.givenName eq "Ann"', {"ann"}, False),
    ("or", "age gt 30 or age lt 18", {"ann", "bob", "cy", "eve"}, False),
    (
        "and-binds-tighter",
        'age gt 30 and name.givenName eq "Ann" or userName eq "dee"',
        {"ann", "dee"},
        False,
    ),
    (
        "and-binds-tighter-left",
        'userName eq "dee" or age gt 30 and name.givenName eq "Ann"',
        {"ann", "dee"},
        False,
    ),
    (
        "parens-override",
        'age gt 30 and (name.givenName eq "Ann" or userName eq "dee")',
        {"ann"},
        False,
    ),
    ("not-parens", "not (age pr)", {"dee"}, False),
    ("not-binds-tighter-than-and", "not age gt 30 and tags pr", {"bob", "dee"}, False),
    ("not-without-parens", "not age gt 30", {"bob", "dee"}, False),
    ("not-not", "not (not (age pr))", ALL - {"dee"}, False),
    ("not-or", 'not (userName eq "ann" or userName eq "bob")', {"cy", "dee", "eve"}, False),
    ("keywords-upper", 'AGE GT 30 AND NOT (USERNAME EQ "Cy")', {"ann", "eve"}, False),
    (
        "or-chain",
        'userName eq "ann" or userName eq "bob" or userName eq "dee"',
        {"ann", "bob", "dee"},
        False,
    ),
    ("and-chain", "age pr and tags pr and emails pr", {"ann", "bob", "eve"}, False),
    ("nested-parens", "((((age lt 18))))", {"bob"}, False),
    ("attr-named-not", "not pr", set(), False),
    ("attr-named-pr", "pr pr or age lt 18", {"bob"}, False),
    ("whitespace", '  age   gt\t30\n  and  userName  eq "ann"  ', {"ann"}, False),
    ("no-space-before-string", 'userName eq"ann"', {"ann"}, False),
    # value paths
    ("vp", 'emails[type eq "work"]', {"ann", "cy"}, False),
    ("vp-ci", 'emails[type eq "work"]', {"ann", "cy", "eve"}, True),
    ("vp-and-same-element", 'emails[type eq "work" and value co "@x"]', {"ann", "cy"}, False),
    ("vp-and-different-elements", 'emails[type eq "home" and value co "@x"]', set(), False),
    ("vp-vs-plain-and", 'emails.type eq "home" and emails.value co "@x"', {"ann"}, False),
    ("vp-sub-attr", 'emails[type eq "home"].value ew ".org"', {"ann", "bob"}, False),
    ("vp-sub-attr-same-element", 'emails[type eq "work"].value ew ".org"', set(), False),
    ("vp-sub-pr", 'emails[type eq "work"].primary pr', {"ann"}, False),
    ("vp-or-inside", 'emails[type eq "x" or value sw "bob"]', {"bob"}, False),
    ("vp-not-inside", 'emails[not (type eq "work")]', {"ann", "bob", "eve"}, False),
    ("vp-pr-inside", "emails[primary pr]", {"ann"}, False),
    ("vp-on-missing", 'nothing[type eq "x"]', set(), False),
    ("vp-on-scalars", 'tags[value eq "dev"]', set(), False),
    ("vp-nested-path", "a.b[c eq 2]", {"eve"}, False),
    ("vp-combined", 'emails[type eq "work"] and not (age lt 30)', {"ann", "cy"}, False),
    ("vp-not-outside", 'not (emails[type eq "work"])', {"bob", "dee", "eve"}, False),
    ("vp-nested-brackets", "a[b[c eq 3]]", {"eve"}, False),
    ("vp-sub-ne", 'emails[type eq "home"].value ne "bob@y.org"', {"ann"}, False),
]

# (id, filter, error type, column or None)
INVALID: list[tuple[str, Any, type[Exception], int | None]] = [
    ("empty", "", InvalidFilter, 1),
    ("blank", "   ", InvalidFilter, 4),
    ("path-only", "age", InvalidFilter, 4),
    ("missing-value", "age eq", InvalidFilter, 7),
    ("unknown-operator", "age foo 1", InvalidFilter, 5),
    ("operator-symbol", "age == 1", InvalidFilter, 5),
    ("gt-true", "age gt true", InvalidFilter, 8),
    ("lt-null", "age lt null", InvalidFilter, 8),
    ("le-false", "age le false", InvalidFilter, 8),
    ("ge-null-upper", "age GE NULL", InvalidFilter, 8),
    ("co-number", "name co 1", InvalidFilter, 9),
    ("sw-null", "name sw null", InvalidFilter, 9),
    ("ew-true", "name ew true", InvalidFilter, 9),
    ("unclosed-paren", "(age pr", InvalidFilter, 8),
    ("extra-close-paren", "age pr)", InvalidFilter, 7),
    ("dangling-and", "age pr and", InvalidFilter, 11),
    ("dangling-or", "age pr or", InvalidFilter, 10),
    ("leading-and", "and age pr", InvalidFilter, 1),
    ("attr-named-or-reserved", "or pr", InvalidFilter, 1),
    ("unterminated-string", 'age eq "x', InvalidFilter, 8),
    ("single-quotes", "age eq 'x'", InvalidFilter, 8),
    ("bare-word-value", "age eq x", InvalidFilter, 8),
    ("bare-timestamp-value", "created ge 2017-10-20T07:17:17.606Z", InvalidFilter, 12),
    ("number-trailing-dot", "age eq 1.", InvalidFilter, 8),
    ("number-leading-zero", "age eq 01", InvalidFilter, 8),
    ("number-plus", "age eq +1", InvalidFilter, 8),
    ("number-overflow", "age eq 1e999", InvalidFilter, 8),
    ("number-hex", "age eq 0x10", InvalidFilter, 8),
    ("number-nan", "age eq NaN", InvalidFilter, 8),
    ("two-values", "age eq 1 2", InvalidFilter, 10),
    ("list-value", "age eq [1]", InvalidFilter, 8),
    ("keyword-typo", "age eq tru", InvalidFilter, 8),
    ("bad-escape", r'age eq "\x"', InvalidFilter, 8),
    ("raw-control-char", 'age eq "a\tb"', InvalidFilter, 8),
    ("unclosed-bracket", 'emails[type eq "work"', InvalidFilter, 22),
    ("empty-bracket", "emails[]", InvalidFilter, 8),
    ("dot-after-bracket-alone", 'emails[type eq "w"].', InvalidFilter, 21),
    ("bracket-sub-without-op", 'emails[type eq "w"].value', InvalidFilter, 26),
    ("double-dot", "a..b pr", InvalidFilter, 1),
    ("leading-dot", ".a pr", InvalidFilter, 1),
    ("trailing-dot", "a. pr", InvalidFilter, 1),
    ("not-alone", "not", InvalidFilter, 4),
    ("not-empty-parens", "not ()", InvalidFilter, 6),
    ("lone-open", "(", InvalidFilter, 2),
    ("lone-close", ")", InvalidFilter, 1),
    ("lone-bracket", "[", InvalidFilter, 1),
    ("missing-and", 'a eq "x" b pr', InvalidFilter, 10),
    ("nand", 'a eq "x" nand b pr', InvalidFilter, 10),
    ("bad-char-in-name", "a@b pr", InvalidFilter, 1),
    ("urn-without-attribute", "urn:x:y: pr", InvalidFilter, 1),
    ("string-as-path", '"a" eq 1', InvalidFilter, 1),
    ("number-after-pr", "age pr 1", InvalidFilter, 8),
    ("not-a-string", 42, InvalidFilter, None),
    ("too-long", "a pr or " * 1100 + "a pr", LimitExceeded, None),
    ("too-deep-parens", "(" * 65 + "a pr" + ")" * 65, LimitExceeded, None),
    ("too-deep-not", "not " * 65 + "a pr", LimitExceeded, None),
    ("too-deep-brackets", "a[" * 65 + "b pr" + "]" * 65, LimitExceeded, None),
]


def _matching(filter_text: str, case_insensitive: bool) -> set[str]:
    match = compile_filter(filter_text, case_insensitive=case_insensitive)
    return {rid for rid, doc in DOCS.items() if match(doc)}


@pytest.mark.parametrize(
    ("filter_text", "expected", "case_insensitive"),
    [pytest.param(f, e, ci, id=name) for name, f, e, ci in VALID],
)
def test_valid_filter_matches_expected_documents(
    filter_text: str, expected: set[str], case_insensitive: bool
) -> None:
    assert _matching(filter_text, case_insensitive) == expected
    node_match = compile_filter(parse_filter(filter_text), case_insensitive=case_insensitive)
    assert {rid for rid, doc in DOCS.items() if node_match(doc)} == expected


@pytest.mark.parametrize(
    ("filter_text", "error", "column"),
    [pytest.param(f, err, col, id=name) for name, f, err, col in INVALID],
)
def test_invalid_filter_raises_with_column(
    filter_text: Any, error: type[Exception], column: int | None
) -> None:
    with pytest.raises(error) as info:
        compile_filter(filter_text)
    if column is not None:
        assert isinstance(info.value, InvalidFilter)
        assert info.value.column == column
        assert f"column {column}" in str(info.value)


def test_corpus_is_large_and_ids_are_unique() -> None:
    names = [case[0] for case in VALID] + [case[0] for case in INVALID]
    assert len(names) >= 150
    assert len(names) == len(set(names))


def test_bare_values_option_accepts_unquoted_words() -> None:
    match = compile_filter("created ge 2016-12-31T23:00:00Z", bare_values=True)
    assert {rid for rid, doc in DOCS.items() if match(doc)} == {"bob", "dee"}
    assert compile_filter("userName eq ann", bare_values=True)(DOCS["ann"])
    # Keywords and numbers keep their meaning.
    assert compile_filter("age eq 34", bare_values=True)(DOCS["ann"])
    assert compile_filter("active eq true", bare_values=True)(DOCS["ann"])


def test_compiled_filters_are_cached_by_text_and_options() -> None:
    assert compile_filter("age pr") is compile_filter("age pr")
    assert compile_filter("age pr") is not compile_filter("age pr", case_insensitive=True)


def test_long_or_chain_within_length_limit_does_not_recurse() -> None:
    text = " or ".join(f"a{i} eq {i}" for i in range(500))
    assert len(text) < 8192
    assert compile_filter(text)({"a499": 499})
    assert not compile_filter(text)({"a499": 1})


def test_max_depth_is_allowed() -> None:
    text = "(" * 64 + "age pr" + ")" * 64
    assert compile_filter(text)(DOCS["ann"])


def test_limit_errors_name_the_limit() -> None:
    with pytest.raises(LimitExceeded) as info:
        compile_filter("a" * 9000 + " pr")
    assert info.value.limit == "max_filter_length"
    with pytest.raises(LimitExceeded) as info:
        compile_filter("(" * 100 + "a pr" + ")" * 100)
    assert info.value.limit == "max_filter_depth"
