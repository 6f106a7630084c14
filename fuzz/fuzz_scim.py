"""Fuzz the SCIM filter layer: parse, compile, evaluate, plan.

Invariant: every input returns, or raises ``InvalidFilter`` / ``LimitExceeded``;
nothing else, and no input takes longer than ``HANG_SECONDS``. The indexed
lookup shortcut ``string_eq`` accepts only what the parser reads as that same
``path eq "literal"`` comparison, and the predicate ``compile_filter`` returns
(generated for an ``and`` of plain comparisons, ``query.inline``) answers what
the closures of ``query.evaluate`` answer, document by document.

Run:
    python fuzz/fuzz_scim.py --seconds 60          # hypothesis-driven fallback
    python fuzz/fuzz_scim.py --atheris --seconds 60   # libFuzzer via atheris, when installed

The fallback mixes random text, token soup from the grammar and mutations of
valid filters; it prints the number of executions and the slowest input time.
"""

from __future__ import annotations

from typing import Any

import _harness
from hypothesis import strategies as st

from datastore_engine.errors import InvalidFilter, LimitExceeded
from datastore_engine.query import compile_filter, describe, parse_filter, plan_filter
from datastore_engine.query.evaluate import _compile
from datastore_engine.query.scim import AttrPath, Compare, string_eq

ALLOWED = (InvalidFilter, LimitExceeded)
HANG_SECONDS = 5.0
stats = _harness.Stats()
INDEXED = {"a", "b", "name.given", "emails.type", "tags"}
DOCS: list[dict[str, Any]] = [
    {},
    {"a": 1, "b": "x", "tags": ["p", "q", None, [1]], "name": {"given": "Ann"}},
    {"A": [1.5, "2020-01-01T00:00:00Z", True], "emails": [{"type": "work", "value": "a@x"}, 3]},
    {"a": {"b": {"c": [{"d": None}]}}, "b": "", "name": [], "x": False},
    {"a": 1.0, "b": "x", "c": -0.5e3, "name": {"given": "", "Given": "B"}, "emails": {"type": "work"}},
    {"userName": "bjensen", "title": "t", "userType": "Employee", "meta": {"lastModified": "2012-01-01T00:00:00Z"}},
]
SEEDS = [
    'userName eq "bjensen"',
    ' and.x EQ "a b" ',
    'name.familyName co "O\'Malley"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    'title pr and userType eq "Employee"',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    "not (a eq 1) and (b lt 2.5e3 or c ge -1)",
    'emails[type eq "work"].value ew ".org"',
    "a eq null or b ne true or c eq false",
    'a ge 1 and b le "x" and name.given sw "A"',
    'c le -500 and a lt 1.0 and name.Given ne "B" and b pr',
]
TOKENS = [
    " ",
    "(",
    ")",
    "[",
    "]",
    ".",
    '"',
    "\\",
    "a",
    "b.c",
    "urn:x:y:",
    "eq",
    "ne",
    "co",
    "sw",
    "ew",
    "gt",
    "ge",
    "lt",
    "le",
    "pr",
    "and",
    "or",
    "not",
    "true",
    "false",
    "null",
    "1",
    "-0.5e3",
    '"x"',
    '"\\u00e9"',
    "emails[",
    "].value",
    "1e999",
    "\x00",
    "é",
    "😀",
]


def _body(text: str) -> None:
    """Run one input through every entry point; AssertionError on a broken invariant."""
    lookup = string_eq(text)
    if lookup is not None:
        expected = Compare(AttrPath(tuple(lookup[0].split("."))), "eq", lookup[1])
        assert parse_filter(text) == expected, f"string_eq read {text!r:.200} as {lookup!r:.200}"
    for case_insensitive in (False, True):
        predicate = compile_filter(text, case_insensitive=case_insensitive)
        for doc in DOCS:
            assert isinstance(predicate(doc), bool)
    node = parse_filter(text)
    generated, closures = compile_filter(text), _compile(node, False)
    for doc in DOCS:
        assert generated(doc) is closures(doc), f"{text!r:.200} on {doc!r}"
    assert isinstance(describe(plan_filter(node, INDEXED)), str)
    compile_filter(text, bare_values=True)


check = _harness.guarded("fuzz_scim", _body, ALLOWED, stats, lambda: HANG_SECONDS)


def _mutate(seed: str, edits: list[tuple[int, int, str]]) -> str:
    text = seed
    for position, cut, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + cut :]
    return text


INPUTS = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
    st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join),
    st.builds(
        _mutate,
        st.sampled_from(SEEDS),
        st.lists(
            st.tuples(st.integers(0, 200), st.integers(0, 3), st.sampled_from(TOKENS)), max_size=4
        ),
    ),
    st.integers(1, 200).map(lambda n: "(" * n + "a pr" + ")" * n),
    st.integers(1, 200).map(lambda n: "not " * n + "a pr"),
    st.integers(1, 3000).map(lambda n: " or ".join(["a eq 1"] * n)),
)


run_fallback = _harness.fallback(check, INPUTS, SEEDS, stats)


def from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


if __name__ == "__main__":
    _harness.main("fuzz_scim", __doc__ or "", check, from_bytes, run_fallback, stats)
