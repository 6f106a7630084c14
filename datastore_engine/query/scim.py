"""SCIM filter parser (RFC 7644 section 3.4.2.2), pure Python.

``parse_filter(text)`` turns a filter into a tree of frozen dataclasses
(:class:`Compare`, :class:`Present`, :class:`And`, :class:`Or`, :class:`Not`,
:class:`ValuePath`); ``evaluate.compile_filter`` turns the tree into a fast
predicate and ``planner.plan_filter`` into index ranges.

Grammar and choices (lowest precedence first)::

    filter   := or EOF
    or       := and ("or" and)*                    -> Or(items) when 2+ items
    and      := unary ("and" unary)*               -> And(items) when 2+ items
    unary    := "not" unary | "(" or ")" | attrexp
    attrexp  := path "pr"
              | path OP value
              | path "[" or "]" [ ".sub.path" ( "pr" | OP value ) ]
    OP       := eq ne co sw ew gt ge lt le         (case-insensitive)
    value    := JSON string | JSON number | true | false | null  (keywords case-insensitive)

* ``not`` binds tighter than ``and``, which binds tighter than ``or``; RFC
  ``not (x)`` is the usual form, ``not x eq 1`` is accepted too. A word
  ``not`` that is followed by an operator is an attribute named ``not``.
* Attribute paths are dotted names; each name is ``[A-Za-z0-9_$][A-Za-z0-9_$-]*``.
  A name is always an attribute name, never a list index: ``tags.0`` looks up a
  key ``"0"`` (lists are searched element by element, see ``evaluate``).
  ``and`` and ``or`` cannot start an attribute path (they are reserved).
  An optional schema URN prefix (``urn:...:User:name.familyName``) is kept in
  :attr:`AttrPath.urn`; everything up to the last ``:`` is the URN.
* Value filters ``emails[type eq "work"]`` may be followed by ``.sub``
  and a comparison, e.g. ``emails[type eq "work"].value co "@x"``; paths inside
  the brackets are relative to each element. Nested brackets are allowed.
* ``gt ge lt le`` with ``true``/``false``/``null`` and ``co sw ew`` with a
  non-string value are parse errors (:class:`InvalidFilter`).
* Numbers follow JSON: integers stay ``int`` (any size), others are finite
  ``float``. Strings follow JSON, escapes included.
* ``bare_values=True`` (for the Trivore adapter, whose examples write
  ``created ge 2017-10-20T07:17:17.606Z``) also accepts an unquoted word as a
  string value; off by default, as RFC 7644 requires quotes.
* Limits: at most ``MAX_FILTER_LENGTH`` characters (``LimitExceeded`` with
  ``limit="max_filter_length"``) and ``MAX_FILTER_DEPTH`` nested ``( [ not``
  (``limit="max_filter_depth"``), so parsing never hits ``RecursionError``.
  ``and``/``or`` chains are flat, so their length is bounded only by the length.

Errors are :class:`InvalidFilter` with a 1-based ``column`` and a message that
says what was expected and what was found.

Example:
    >>> parse_filter('name.givenName eq "Ann" and not (age lt 18)')
    And(items=(Compare(path=AttrPath(names=('name', 'givenName'), urn=None), op='eq', value='Ann'), Not(item=Compare(path=AttrPath(names=('age',), urn=None), op='lt', value=18))))
    >>> parse_filter('age gt true')
    Traceback (most recent call last):
    ...
    datastore_engine.errors.InvalidFilter: operator 'gt' needs a number or a string at column 8, found 'true': age gt true
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import InvalidFilter, LimitExceeded

__all__ = [
    "COMPARE_OPS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "And",
    "AttrPath",
    "Compare",
    "Node",
    "Not",
    "Or",
    "Present",
    "Scalar",
    "ValuePath",
    "parse_filter",
    "string_eq",
]

MAX_FILTER_LENGTH = 8192
MAX_FILTER_DEPTH = 64

Scalar: TypeAlias = bool | int | float | str | None

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
_ORDER_OPS = frozenset({"gt", "ge", "lt", "le"})
_STRING_OPS = frozenset({"co", "sw", "ew"})
_KEYWORD_VALUES: dict[str, Scalar] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True, slots=True)
class AttrPath:
    """A dotted attribute path; ``urn`` is the optional schema prefix."""

    names: tuple[str, ...]
    urn: str | None = None

    @property
    def dotted(self) -> str:
        """The path without its URN, e.g. ``"name.familyName"``."""
        return ".".join(self.names)


@dataclass(frozen=True, slots=True)
class Compare:
    """``path op value`` with op one of :data:`COMPARE_OPS`."""

    path: AttrPath
    op: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class Present:
    """``path pr``."""

    path: AttrPath


@dataclass(frozen=True, slots=True)
class And:
    """All items hold (2 or more items)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any item holds (2 or more items)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``not (item)``."""

    item: Node


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``path[filter]`` optionally followed by ``.sub op value`` (``then``).

    True when one element at ``path`` matches ``filter`` and, if given, ``then``;
    both are evaluated with the element as the root.
    """

    path: AttrPath
    filter: Node
    then: Compare | Present | None = None


Node: TypeAlias = Compare | Present | And | Or | Not | ValuePath

# Tokens: punctuation, JSON strings, and "words" (runs of anything else).
_TOKEN_RE = re.compile(
    r'\s*(?:(?P<punct>[()\[\]])|(?P<string>"(?:[^"\\]|\\.)*")|(?P<open>")|(?P<word>[^\s()\[\]"]+))',
    re.DOTALL,
)
_NAME = r"[A-Za-z0-9_$][A-Za-z0-9_$\-]*"
_PATH_RE = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_URN_RE = re.compile(r"urn:[A-Za-z0-9_.:\-]*:", re.IGNORECASE)
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "punct" | "string" | "word" | "end"
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:  # only trailing whitespace is left
            break
        kind = m.lastgroup or "word"
        column = m.start(kind) + 1
        if kind == "open":
            raise InvalidFilter(
                f"unterminated string starting at column {column}: {_clip(text)}", column=column
            )
        tokens.append(_Token(kind, m.group(kind), column))
        pos = m.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _clip(text: str) -> str:
    return text if len(text) <= 200 else text[:200] + "..."


class _Parser:
    def __init__(self, text: str, *, bare_values: bool) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0
        self.bare_values = bare_values

    # -- helpers -----------------------------------------------------------
    def peek(self, ahead: int = 0) -> _Token:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else self.tokens[-1]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        if token.kind != "end":  # the end token stays put, so pos never runs past it
            self.pos += 1
        return token

    def fail(self, expected: str, token: _Token) -> InvalidFilter:
        found = "end of filter" if token.kind == "end" else repr(token.text)
        return InvalidFilter(
            f"{expected} at column {token.column}, found {found}: {_clip(self.text)}",
            column=token.column,
        )

    def is_word(self, token: _Token, *words: str) -> bool:
        return token.kind == "word" and token.text.lower() in words

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise LimitExceeded(
                f"filter nests deeper than max_filter_depth={MAX_FILTER_DEPTH} "
                f"at column {token.column}",
                limit="max_filter_depth",
                value=self.depth,
            )

    # -- grammar -----------------------------------------------------------
    def parse(self) -> Node:
        node = self.parse_or()
        end = self.peek()
        if end.kind != "end":
            raise self.fail("expected 'and', 'or' or the end of the filter", end)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.is_word(self.peek(), "or"):
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.is_word(self.peek(), "and"):
            self.take()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            self.take()
            self.enter(token)
            node = self.parse_or()
            self.expect_punct(")")
            self.depth -= 1
            return node
        if self.is_word(token, "not") and self._starts_operand(self.peek(1)):
            self.take()
            self.enter(token)
            item = self.parse_unary()
            self.depth -= 1
            return Not(item)
        return self.parse_attrexp()

    def _starts_operand(self, token: _Token) -> bool:
        if token.kind == "punct":
            return token.text == "("
        return token.kind == "word" and token.text.lower() not in COMPARE_OPS | {"pr"}

    def expect_punct(self, text: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != text:
            raise self.fail(f"expected {text!r}", token)

    def parse_attrexp(self) -> Node:
        path = self.parse_path(self.take())
        token = self.peek()
        if token.kind == "punct" and token.text == "[":
            self.take()
            self.enter(token)
            inner = self.parse_or()
            self.expect_punct("]")
            self.depth -= 1
            sub = self.peek()
            if sub.kind == "word" and sub.text.startswith("."):
                self.take()
                sub_path = self.parse_path(_Token("word", sub.text[1:], sub.column + 1))
                return ValuePath(path, inner, self.parse_operation(sub_path))
            return ValuePath(path, inner)
        return self.parse_operation(path)

    def parse_path(self, token: _Token) -> AttrPath:
        if token.kind != "word" or token.text.lower() in ("and", "or"):
            raise self.fail("expected an attribute name", token)
        text, urn = token.text, None
        m = _URN_RE.match(text)
        if m is not None:
            urn, text = text[: m.end() - 1], text[m.end() :]
        if not _PATH_RE.fullmatch(text):
            raise self.fail("expected an attribute path like 'name' or 'name.givenName'", token)
        return AttrPath(tuple(text.split(".")), urn)

    def parse_operation(self, path: AttrPath) -> Compare | Present:
        token = self.take()
        op = token.text.lower() if token.kind == "word" else ""
        if op == "pr":
            return Present(path)
        if op not in COMPARE_OPS:
            raise self.fail("expected an operator (eq ne co sw ew gt ge lt le pr)", token)
        value_token = self.peek()
        value = self.parse_value()
        if op in _ORDER_OPS and (value is None or isinstance(value, bool)):
            raise self.fail(f"operator {op!r} needs a number or a string", value_token)
        if op in _STRING_OPS and not isinstance(value, str):
            raise self.fail(f"operator {op!r} needs a string", value_token)
        return Compare(path, op, value)

    def parse_value(self) -> Scalar:
        token = self.take()
        if token.kind == "string":
            try:
                value = json.loads(token.text)
            except ValueError:
                raise self.fail("expected a valid JSON string", token) from None
            assert isinstance(value, str)
            return value
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in _KEYWORD_VALUES:
                return _KEYWORD_VALUES[lowered]
            if _NUMBER_RE.fullmatch(token.text):
                return self._number(token)
            if self.bare_values:
                return token.text
        raise self.fail("expected a value (string, number, true, false or null)", token)

    def _number(self, token: _Token) -> int | float:
        text = token.text
        try:
            if "." in text or "e" in text or "E" in text:
                number = float(text)
                if not math.isfinite(number):
                    raise ValueError(text)
                return number
            return int(text)
        except ValueError:
            raise self.fail("expected a number in the float64 range", token) from None


def parse_filter(text: str, *, bare_values: bool = False) -> Node:
    """Parse a SCIM filter into a tree of frozen nodes.

    >>> parse_filter('emails[type eq "work"]')
    ValuePath(path=AttrPath(names=('emails',), urn=None), filter=Compare(path=AttrPath(names=('type',), urn=None), op='eq', value='work'), then=None)
    """
    if not isinstance(text, str):
        raise InvalidFilter(f"a filter must be a str, got {type(text).__name__}", column=None)
    if len(text) > MAX_FILTER_LENGTH:
        raise LimitExceeded(
            f"filter is {len(text)} characters, over max_filter_length={MAX_FILTER_LENGTH}",
            limit="max_filter_length",
            value=len(text),
        )
    simple = _simple(text)
    if simple is not None:
        return simple
    return _Parser(text, bare_values=bare_values).parse()


# The most common filter by far is one comparison with a plain literal
# (``email eq "a@b.c"``): each call with a new literal would miss every cache
# and pay for the full tokenizer. This regex recognises exactly that shape and
# builds the same node; anything else (or anything that would be an error) goes
# to the parser, so errors and edge cases have one source of truth.
_SIMPLE_RE = re.compile(
    rf'\s*({_NAME}(?:\.{_NAME})*)\s+(eq|ne|co|sw|ew|gt|ge|lt|le)\s+'
    r'(?:"((?:[^"\\\x00-\x1f])*)"|(-?(?:0|[1-9][0-9]{0,17}))|(true|false|null))\s*',
    re.IGNORECASE,
)
_RESERVED_FIRST = frozenset({"and", "or", "not"})


def string_eq(text: str, max_length: int = MAX_FILTER_LENGTH) -> tuple[str, str] | None:
    """``(dotted path, literal)`` when ``text`` is exactly ``path eq "plain literal"``, else None.

    The lookup filter of an indexed ``find`` (``email eq "a@b.c"``) in the
    fewest steps: the same regex as the parser's one-comparison fast path, so
    it accepts only what :func:`parse_filter` parses to that same comparison.

    >>> string_eq('email eq "a@b.c"'), string_eq('age eq 3'), string_eq('a eq "x" or b pr')
    (('email', 'a@b.c'), None, None)

    None too for a text longer than ``max_length``. ``_accel.string_eq`` is the
    same function compiled (``find`` uses it when built).
    """
    if len(text) > max_length:
        return None
    match = _STRING_EQ_RE.fullmatch(text)
    if match is None:
        return None
    dotted, string = match.groups()
    if dotted[0] in "aAoOnN" and dotted.split(".", 1)[0].lower() in _RESERVED_FIRST:  # and / or / not
        return None
    return dotted, string


# _SIMPLE_RE narrowed to ``eq`` and a string literal (and case-sensitive
# name classes): a subset of what it accepts, with the same groups, so
# string_eq never accepts what _simple would not parse the same way.
_STRING_EQ_RE = re.compile(rf'\s*({_NAME}(?:\.{_NAME})*)\s+[eE][qQ]\s+"((?:[^"\\\x00-\x1f])*)"\s*')


def _simple(text: str) -> Compare | None:
    match = _SIMPLE_RE.fullmatch(text)
    if match is None:
        return None
    dotted, op, string, integer, keyword = match.groups()
    names = tuple(dotted.split("."))
    if names[0].lower() in _RESERVED_FIRST:
        return None
    op = op.lower()
    value: Scalar
    if string is not None:
        value = string  # no backslash, quote or control character: the JSON text is the value
    elif integer is not None:
        if op in ("co", "sw", "ew"):
            return None
        value = int(integer)
    else:
        if op not in ("eq", "ne"):
            return None
        value = _KEYWORD_VALUES[keyword.lower()]
    return Compare(AttrPath(names), op, value)
