"""Evaluate SCIM filters over JSON documents: compile once to closures.

``compile_filter(text_or_node)`` returns ``predicate(doc) -> bool``. Compiled
filters are cached by ``(text, case_insensitive, bare_values)`` (LRU, 512), so
a store can call it on every query without re-parsing.

Semantics (shared with the Elasticsearch subset in ``es``):

* **Paths.** Each dotted name is looked up in a dict by its exact key first,
  then by the first key (in document order) equal to it case-insensitively
  (``str.casefold``), as SCIM attribute names are case-insensitive; the exact
  key wins so a document with both ``name`` and ``Name`` stays predictable.
  A list met on the way is searched element by element (one level: a list
  inside a list is a value, not more elements); names never index lists.
  A path with a schema URN looks inside the document's attribute named by the
  URN (how SCIM stores extension attributes) and, when there is none, at the
  top level (core-schema attributes live there).
* **Multi-valued.** A comparison holds when *any* value at the path matches.
  ``ne`` is ``not eq``: true when no value equals (so a missing attribute is
  ``ne`` anything). A value filter ``a[f]`` holds when one element (a dict)
  matches ``f``; with ``.sub op v`` the same element must also match that.
* **Types.** ``eq``/``ne`` compare like JSON: ``null`` only equals null, a bool
  only a bool (``true`` is not ``1``), numbers numerically (``1 eq 1.0``; ints
  exactly, even beyond 2**53), strings as strings. Values of different types
  are simply unequal; ordering across types is false, never an error. ``co sw
  ew`` apply to strings only. Dicts and lists (inside lists) never compare.
* **Strings** compare case-sensitively by code point unless
  ``case_insensitive=True``, which casefolds both sides of every string
  operator (ordering too).
* **Timestamps.** When *both* the document string and the literal are ISO-8601
  date-times with a time part (``2016-10-20T07:17:17.606Z``, see
  :func:`parse_timestamp`), ``eq ne gt ge lt le`` compare them as instants;
  a time without an offset is taken as UTC. Otherwise they compare as strings.
* **pr** holds when a value is present, not null and not empty (``""``,
  ``[]`` and ``{}`` count as absent).

Example:
    >>> match = compile_filter('emails[type eq "work"] and age ge 18')
    >>> match({"age": 30, "emails": [{"type": "work", "value": "a@x"}]})
    True
    >>> match({"age": 30, "emails": {"type": "home"}})
    False
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeAlias

from ..errors import InvalidFilter
from .inline import FAILS, Term, inline_all
from .scim import And, AttrPath, Compare, Node, Not, Or, Present, Scalar, ValuePath, parse_filter

__all__ = [
    "Getter",
    "Predicate",
    "compile_filter",
    "get_values",
    "make_getter",
    "make_test",
    "parse_timestamp",
    "to_path",
]

Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool]
Getter: TypeAlias = Callable[[Any], list[Any]]
_Test: TypeAlias = Callable[[Any], bool]

_MISSING: Any = object()
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def parse_timestamp(text: str) -> datetime | None:
    """The instant an ISO-8601 date-time with a time part names, or None.

    >>> parse_timestamp("2016-10-20T07:17:17.606Z").isoformat()
    '2016-10-20T07:17:17.606000+00:00'
    >>> parse_timestamp("2016-10-20") is None   # a date alone is not an instant
    True
    """
    # The cheap test stays outside the cache, so only timestamp-like strings are cached.
    if len(text) > 64 or not _TIMESTAMP_RE.match(text):
        return None
    return _parse_timestamp(text)


@lru_cache(maxsize=8192)
def _parse_timestamp(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def to_path(path: AttrPath | str | Sequence[str]) -> AttrPath:
    """An :class:`AttrPath` from a dotted string or a sequence of names."""
    if isinstance(path, AttrPath):
        return path
    if isinstance(path, str):
        return AttrPath(tuple(path.split(".")))
    return AttrPath(tuple(path))


def _fallback(obj: Mapping[str, Any], folded: str) -> Any:
    for key, item in obj.items():
        if isinstance(key, str) and key.casefold() == folded:
            return item
    return _MISSING


def _lookup(obj: Mapping[str, Any], name: str, folded: str) -> Any:
    value = obj.get(name, _MISSING)
    return _fallback(obj, folded) if value is _MISSING else value


def _is_mapping(obj: Any) -> bool:
    # ``type(obj) is dict`` first: the ABC check costs several times more.
    return type(obj) is dict or isinstance(obj, Mapping)


def make_getter(path: AttrPath | str | Sequence[str]) -> Getter:
    """A function returning every value at ``path`` (lists searched one level).

    The returned list may be the document's own list: read it, do not change it.

    >>> make_getter("a.b")({"a": [{"b": 1}, {"B": [2, 3]}, 4]})
    [1, 2, 3]
    """
    attr = to_path(path)
    steps = tuple((name, name.casefold()) for name in attr.names)
    urn = attr.urn
    if urn is None and len(steps) == 1:
        return _single_step_getter(*steps[0])

    def get(doc: Any) -> list[Any]:
        current = [doc]
        if urn is not None and _is_mapping(doc):
            scoped = _lookup(doc, urn, urn.casefold())
            if _is_mapping(scoped):
                current = [scoped]
        for name, folded in steps:
            found: list[Any] = []
            for obj in current:
                if _is_mapping(obj):
                    value = obj.get(name, _MISSING)
                    if value is _MISSING:
                        value = _fallback(obj, folded)
                        if value is _MISSING:
                            continue
                    if type(value) is list or isinstance(value, list):
                        found.extend(value)
                    else:
                        found.append(value)
            if not found:
                return found
            current = found
        return current

    return get


def _single_step_getter(name: str, folded: str) -> Getter:
    def get(doc: Any) -> list[Any]:
        if not _is_mapping(doc):
            return []
        value = doc.get(name, _MISSING)
        if value is _MISSING:
            value = _fallback(doc, folded)
            if value is _MISSING:
                return []
        return value if type(value) is list or isinstance(value, list) else [value]

    return get


def get_values(doc: Any, path: AttrPath | str | Sequence[str]) -> list[Any]:
    """Every value at ``path`` in ``doc``; see the module notes on paths.

    >>> get_values({"Name": {"given": "Ann"}}, "name.given")
    ['Ann']
    """
    return list(make_getter(path)(doc))


# -- scalar tests: one factory per operator (a table, not a chain of ifs) --------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _eq_test(literal: Scalar, fold: bool) -> _Test:
    if literal is None:
        return lambda v: v is None
    if isinstance(literal, bool):
        return lambda v: v is literal
    if not isinstance(literal, str):
        number = literal
        return lambda v: _is_number(v) and v == number
    return _string_test(operator.eq, literal, fold)


def _string_test(compare: Callable[[Any, Any], bool], literal: str, fold: bool) -> _Test:
    stamp = parse_timestamp(literal)
    text = literal.casefold() if fold else literal
    if stamp is None and not fold:
        if compare is operator.eq:
            return lambda v: v == text  # no other JSON type equals a str
        return lambda v: isinstance(v, str) and compare(v, text)

    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        if stamp is not None:
            other = parse_timestamp(v)
            if other is not None:
                return compare(other, stamp)
        return compare(v.casefold() if fold else v, text)

    return test


def _order_test(compare: Callable[[Any, Any], bool]) -> Callable[[Scalar, bool], _Test]:
    def factory(literal: Scalar, fold: bool) -> _Test:
        if isinstance(literal, str):
            return _string_test(compare, literal, fold)
        if not _is_number(literal):
            return lambda v: False
        return lambda v: _is_number(v) and compare(v, literal)

    return factory


def _substring_test(method: Callable[[str, str], bool]) -> Callable[[Scalar, bool], _Test]:
    def factory(literal: Scalar, fold: bool) -> _Test:
        if not isinstance(literal, str):
            return lambda v: False
        text = literal.casefold() if fold else literal
        if fold:
            return lambda v: isinstance(v, str) and method(v.casefold(), text)
        return lambda v: isinstance(v, str) and method(v, text)

    return factory


_TESTS: dict[str, Callable[[Scalar, bool], _Test]] = {
    "eq": _eq_test,
    "gt": _order_test(operator.gt),
    "ge": _order_test(operator.ge),
    "lt": _order_test(operator.lt),
    "le": _order_test(operator.le),
    "co": _substring_test(lambda v, s: s in v),
    "sw": _substring_test(str.startswith),
    "ew": _substring_test(str.endswith),
}


def make_test(op: str, literal: Scalar, *, case_insensitive: bool = False) -> _Test:
    """A test of one value against ``op literal`` (``ne`` is handled by callers).

    >>> make_test("gt", 1)(1.5), make_test("gt", 1)(True)
    (True, False)
    """
    return _TESTS[op](literal, case_insensitive)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | Mapping):
        return len(value) > 0
    return True


# -- node compilers ---------------------------------------------------------------


def _any_value(path: AttrPath, test: _Test) -> Predicate:
    """``doc -> any(test(v) for v in values at path)``, inlined for one-name paths (hot path)."""
    if path.urn is not None or len(path.names) != 1:
        get = make_getter(path)
        return lambda doc: any(map(test, get(doc)))
    name = path.names[0]
    folded = name.casefold()

    def match(doc: Mapping[str, Any]) -> bool:
        if type(doc) is not dict and not isinstance(doc, Mapping):
            return False
        value = doc.get(name, _MISSING)
        if value is _MISSING:
            value = _fallback(doc, folded)
            if value is _MISSING:
                return False
        if type(value) is list or isinstance(value, list):
            return any(map(test, value))
        return test(value)

    return match


def _compile_compare(node: Compare, fold: bool) -> Predicate:
    if node.op == "ne":
        equal = _any_value(node.path, make_test("eq", node.value, case_insensitive=fold))
        return lambda doc: not equal(doc)
    return _any_value(node.path, make_test(node.op, node.value, case_insensitive=fold))


def _compile_present(node: Present, fold: bool) -> Predicate:
    return _any_value(node.path, _present)


def _compile_and(node: And, fold: bool) -> Predicate:
    parts = tuple(_compile(item, fold) for item in node.items)
    if len(parts) == 2:  # the common case, without a loop
        first, second = parts
        return lambda doc: first(doc) and second(doc)

    def match(doc: Mapping[str, Any]) -> bool:
        for part in parts:  # noqa: SIM110 - a plain loop: no generator per document
            if not part(doc):
                return False
        return True

    return match


def _compile_or(node: Or, fold: bool) -> Predicate:
    parts = tuple(_compile(item, fold) for item in node.items)
    if len(parts) == 2:
        first, second = parts
        return lambda doc: first(doc) or second(doc)

    def match(doc: Mapping[str, Any]) -> bool:
        for part in parts:  # noqa: SIM110 - a plain loop: no generator per document
            if part(doc):
                return True
        return False

    return match


def _compile_not(node: Not, fold: bool) -> Predicate:
    inner = _compile(node.item, fold)
    return lambda doc: not inner(doc)


def _compile_value_path(node: ValuePath, fold: bool) -> Predicate:
    get = make_getter(node.path)
    inner = _compile(node.filter, fold)
    then = _compile(node.then, fold) if node.then is not None else None

    def match(doc: Mapping[str, Any]) -> bool:
        for element in get(doc):
            if _is_mapping(element) and inner(element) and (then is None or then(element)):
                return True
        return False

    return match


_COMPILERS: dict[type, Callable[[Any, bool], Predicate]] = {
    Compare: _compile_compare,
    Present: _compile_present,
    And: _compile_and,
    Or: _compile_or,
    Not: _compile_not,
    ValuePath: _compile_value_path,
}


def _compile(node: Node, fold: bool) -> Predicate:
    # Depth is bounded by scim.MAX_FILTER_DEPTH, so recursion here is safe.
    return _COMPILERS[type(node)](node, fold)


def _conjuncts(node: Node) -> list[Node]:
    if type(node) is not And:
        return [node]
    return [part for item in node.items for part in _conjuncts(item)]


_ORDERED = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_INLINE_STEPS = 4  # names in a path that inline_all looks through; longer paths keep the closure


def plain_term(path: AttrPath, op: str, literal: Scalar, general: Predicate) -> Term:
    """A conjunct of :func:`.inline.inline_all`: ``path op literal`` inline where the closure's
    plain-value case is one (case-sensitive), else ``general`` alone.

    ``general`` must be what the closures answer for the conjunct (``op`` on
    any value at ``path``; ``ne`` as not-any-equal). Also used by :mod:`.es`.
    """
    if path.urn is None and 1 <= len(path.names) <= _INLINE_STEPS:
        names = path.names
        if op == "pr":
            return Term(names, "str", "pr", None, general)  # a str is present when not empty
        if type(literal) is int or type(literal) is float:
            if op in _ORDERED:
                return Term(names, "num", op, literal, general)
        # A date-time literal compares date-time strings as instants: closure only.
        elif type(literal) is str and op in FAILS and (op not in _ORDERED or parse_timestamp(literal) is None):
            return Term(names, "str", op, literal, general)
    return Term.closure(general)


def _term(node: Node) -> Term:
    """``node`` as a conjunct of :func:`.inline.inline_all` (see :func:`plain_term`)."""
    general = _compile(node, False)
    if isinstance(node, Present):
        return plain_term(node.path, "pr", None, general)
    if isinstance(node, Compare):
        return plain_term(node.path, node.op, node.value, general)
    return Term.closure(general)


def _compile_top(node: Node, fold: bool) -> Predicate:
    """:func:`_compile`, generated as one function for an ``and`` of plain comparisons (see :mod:`.inline`)."""
    whole = _compile(node, fold)
    if fold:
        return whole
    terms = [_term(part) for part in _conjuncts(node)]
    if not any(term.kind for term in terms):
        return whole
    return inline_all(terms, whole=whole)


@lru_cache(maxsize=512)
def _compile_text(text: str, case_insensitive: bool, bare_values: bool) -> Predicate:
    return _compile_top(parse_filter(text, bare_values=bare_values), case_insensitive)


def compile_filter(
    filter: Node | str, *, case_insensitive: bool = False, bare_values: bool = False
) -> Predicate:
    """Compile a SCIM filter (text or parsed node) into ``predicate(doc) -> bool``.

    Raises ``InvalidFilter`` / ``LimitExceeded`` for text that does not parse.

    >>> compile_filter('tags co "py"', case_insensitive=True)({"tags": ["x", "PYTHON"]})
    True
    """
    if isinstance(filter, str):
        return _compile_text(filter, case_insensitive, bare_values)
    if type(filter) not in _COMPILERS:
        raise InvalidFilter(f"a filter must be a str or a parsed node, got {type(filter).__name__}")
    return _compile_top(filter, case_insensitive)
