"""Query planning: which index ranges give a superset of the matches.

A plan is data (frozen dataclasses):

* ``Scan(reason)``: no narrowing; read every document.
* ``IndexRange(path, lo, hi, label, exact)``: documents with an index key ``K`` on
  ``path`` with ``lo <= K < hi`` (``hi`` None: no bound); ``lo``/``hi`` are
  over the encoded value part (``indexkeys``), the engine adds its prefix.
  ``exact`` when the range holds only values meeting the comparison (``find``
  then answers from the index without re-checking).
* ``Ids(ids)``: exactly these document ids (``ids`` query; empty = nothing).
* ``Union(parts)`` / ``Intersect(parts)``: of the parts' candidate sets.

The engine runs the plan to get candidate rids, loads each candidate and
applies the *full* compiled predicate, so results always equal a full scan;
a plan only has to return a superset of the matches.

SCIM rules (``plan_filter``):

* ``eq``, ``sw``, ``gt ge lt le`` on an indexed path -> one ``IndexRange``.
  Not when the filter is case-insensitive, the path has a schema URN, the
  literal does not encode (an int beyond float64), or a string literal is an
  ISO-8601 date-time (``eq gt ge lt le`` then compare instants, the index
  orders text). Paths match indexed paths by their exact dotted text.
* ``and`` -> ``Intersect`` of the parts that narrow (Scan parts dropped);
  ``or`` -> ``Union`` only if every part narrows, else ``Scan``.
* ``not``, ``ne``, ``co``, ``ew``, ``pr`` -> ``Scan``.
* ``a[f]`` -> the plan of ``f`` with its paths prefixed by ``a`` (an element
  matching ``f`` puts its values under ``a.*`` of the document), intersected
  with the ``.sub`` comparison when there is one.

Elasticsearch rules (``plan_search``): ``term``/``terms`` -> ``eq`` ranges
(``Union`` for several values), ``range`` -> one range from the tightest
bounds (one value must meet all of them), ``prefix`` -> a ``sw`` range,
``ids`` -> ``Ids``, ``match_none`` -> ``Ids(())``, ``exists``/``match_all`` ->
``Scan``; ``bool``: ``must`` and ``filter`` intersect; ``should`` adds a
``Union`` of its clauses when ``minimum_should_match >= 1``; ``must_not``
never narrows.

Example:
    >>> from datastore_engine.query.scim import parse_filter
    >>> describe(plan_filter(parse_filter('age ge 30 and name co "x"'), {"age"}))
    'index age [ge 30]'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeAlias

from . import indexkeys
from .es import (
    BoolQuery,
    EsQuery,
    Exists,
    IdsQuery,
    MatchAll,
    MatchNone,
    Prefix,
    Range,
    Search,
    Term,
)
from .evaluate import parse_timestamp
from .scim import And, AttrPath, Compare, Node, Not, Or, Present, Scalar, ValuePath

__all__ = [
    "Ids",
    "IndexRange",
    "Intersect",
    "Plan",
    "Scan",
    "Union",
    "describe",
    "intersect",
    "plan_filter",
    "plan_search",
    "union",
]


@dataclass(frozen=True, slots=True)
class Scan:
    """Read every document (``reason`` says why, for explain)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class IndexRange:
    """Index keys on ``path`` with ``lo <= key < hi``.

    ``exact``: the keys in range are exactly the values meeting the comparison, not a
    superset (``eq gt ge lt le`` with a literal the index encodes whole, not a string
    long enough to be cut). With one value a document, they are then its matches.
    """

    path: str
    lo: bytes
    hi: bytes | None
    label: str = ""
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Ids:
    """Exactly these document ids."""

    ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Union:
    """Any part's candidates (2+ parts)."""

    parts: tuple[Plan, ...]


@dataclass(frozen=True, slots=True)
class Intersect:
    """Candidates of every part (2+ parts)."""

    parts: tuple[Plan, ...]


Plan: TypeAlias = Scan | IndexRange | Ids | Union | Intersect


def intersect(parts: list[Plan]) -> Plan:
    """Intersect plans: Scan parts drop out, nested Intersects flatten."""
    flat: list[Plan] = []
    for part in parts:
        if isinstance(part, Intersect):
            flat.extend(part.parts)
        elif not isinstance(part, Scan):
            flat.append(part)
    if not flat:
        reasons = [p.reason for p in parts if isinstance(p, Scan) and p.reason]
        return Scan(reasons[0] if reasons else "")
    return flat[0] if len(flat) == 1 else Intersect(tuple(flat))


def union(parts: list[Plan]) -> Plan:
    """Union plans: any Scan part makes a Scan; nested Unions flatten."""
    flat: list[Plan] = []
    for part in parts:
        if isinstance(part, Scan):
            return Scan(part.reason or "a branch of 'or' cannot use an index")
        flat.extend(part.parts if isinstance(part, Union) else [part])
    if not flat:
        return Ids(frozenset())
    return flat[0] if len(flat) == 1 else Union(tuple(flat))


def _literal(value: Scalar) -> str:
    return json.dumps(value, ensure_ascii=False)


_EXACT_OPS = frozenset({"eq", "gt", "ge", "lt", "le"})


def _range(path: str, op: str, value: Scalar, indexed: Collection[str]) -> Plan:
    if path not in indexed:
        return Scan(f"{path!r} is not indexed")
    if isinstance(value, str) and op != "sw" and parse_timestamp(value) is not None:
        return Scan(f"{path} {op} compares date-times as instants")
    try:
        lo, hi = indexkeys.range_for(op, value)
    except ValueError:
        return Scan(f"{path} {op} {_literal(value)} has no index range")
    # A cut string literal's range holds every string sharing its cut (a superset).
    exact = op in _EXACT_OPS and not (isinstance(value, str) and indexkeys.is_cut(value))
    return IndexRange(path, lo, hi, f"{op} {_literal(value)}", exact)


# -- SCIM ---------------------------------------------------------------------------

_INDEXABLE_OPS = frozenset({"eq", "sw", "gt", "ge", "lt", "le"})


def _join(prefix: tuple[str, ...], path: AttrPath) -> str | None:
    return None if path.urn is not None else ".".join(prefix + path.names)


def _plan_node(node: Node, prefix: tuple[str, ...], indexed: Collection[str]) -> Plan:
    # Depth is bounded by scim.MAX_FILTER_DEPTH, so recursion here is safe.
    if isinstance(node, Compare):
        path = _join(prefix, node.path)
        if path is None:
            return Scan("a schema URN path cannot use an index")
        if node.op not in _INDEXABLE_OPS:
            return Scan(f"operator {node.op!r} cannot use an index")
        return _range(path, node.op, node.value, indexed)
    if isinstance(node, And):
        return intersect([_plan_node(item, prefix, indexed) for item in node.items])
    if isinstance(node, Or):
        return union([_plan_node(item, prefix, indexed) for item in node.items])
    if isinstance(node, ValuePath):
        if node.path.urn is not None:
            return Scan("a schema URN path cannot use an index")
        inner = prefix + node.path.names
        parts = [_plan_node(node.filter, inner, indexed)]
        if node.then is not None:
            parts.append(_plan_node(node.then, inner, indexed))
        return intersect(parts)
    if isinstance(node, Not):
        return Scan("'not' cannot use an index")
    assert isinstance(node, Present)
    return Scan("'pr' cannot use an index")


def plan_filter(
    node: Node, indexed_paths: Collection[str], *, case_insensitive: bool = False
) -> Plan:
    """Plan a parsed SCIM filter against the indexed dotted paths.

    >>> from datastore_engine.query.scim import parse_filter
    >>> p = plan_filter(parse_filter('a eq 1 or b sw "x"'), {"a", "b"})
    >>> describe(p)
    'union(index a [eq 1], index b [sw "x"])'
    """
    if case_insensitive:
        return Scan("case-insensitive comparisons cannot use an index")
    return _plan_node(node, (), frozenset(indexed_paths))


# -- Elasticsearch ---------------------------------------------------------------


def _plan_term(q: Term, indexed: Collection[str]) -> Plan:
    if q.case_insensitive:
        return Scan("case-insensitive term cannot use an index")
    return union([_range(q.path.dotted, "eq", v, indexed) for v in q.values])


def _plan_range(q: Range, indexed: Collection[str]) -> Plan:
    plans = [_range(q.path.dotted, op, v, indexed) for op, v in q.bounds]
    ranges = [p for p in plans if isinstance(p, IndexRange)]
    if not ranges:
        return intersect(plans)
    # One value must meet every bound, so the tightest window of all bounds is
    # still a superset (unlike SCIM 'and', where two values may meet one each).
    lo = max(r.lo for r in ranges)
    highs = [r.hi for r in ranges if r.hi is not None]
    hi = min(highs) if highs else None
    if hi is not None and lo >= hi:
        return Ids(frozenset())
    label = " ".join(r.label for r in ranges)
    # Exact when no bound was left out (a date-time is one) and none is a cut string.
    exact = len(ranges) == len(plans) and all(r.exact for r in ranges)
    return IndexRange(q.path.dotted, lo, hi, label, exact)


def _plan_bool(q: BoolQuery, indexed: Collection[str]) -> Plan:
    parts = [_plan_query(c, indexed) for c in q.must + q.filter]
    if q.should and q.minimum_should_match >= 1:
        if q.minimum_should_match > len(q.should):
            return Ids(frozenset())
        parts.append(union([_plan_query(c, indexed) for c in q.should]))
    return intersect(parts) if parts else Scan("bool without must/filter/should narrows nothing")


_ES_PLANNERS: dict[type, Callable[[Any, Collection[str]], Plan]] = {
    MatchAll: lambda q, idx: Scan("match_all"),
    MatchNone: lambda q, idx: Ids(frozenset()),
    Term: _plan_term,
    Range: _plan_range,
    Prefix: lambda q, idx: (
        Scan("case-insensitive prefix cannot use an index")
        if q.case_insensitive
        else _range(q.path.dotted, "sw", q.value, idx)
    ),
    Exists: lambda q, idx: Scan("'exists' cannot use an index"),
    IdsQuery: lambda q, idx: Ids(q.values),
    BoolQuery: _plan_bool,
}


def _plan_query(query: EsQuery, indexed: Collection[str]) -> Plan:
    return _ES_PLANNERS[type(query)](query, indexed)


def plan_search(search: Search | EsQuery, indexed_paths: Collection[str]) -> Plan:
    """Plan a compiled ES search (or a parsed query) against the indexed paths.

    >>> from datastore_engine.query.es import compile_search
    >>> describe(plan_search(compile_search({"query": {"ids": {"values": ["a"]}}}), set()))
    "ids ['a']"
    """
    query = search.query if isinstance(search, Search) else search
    return _plan_query(query, frozenset(indexed_paths))


# -- explain -----------------------------------------------------------------------


def describe(plan: Plan) -> str:
    """A one-line, human-readable form of a plan (for ``explain``).

    >>> describe(Intersect((IndexRange("a", b"", None, "eq 1"), Ids(frozenset({"x"})))))
    "intersect(index a [eq 1], ids ['x'])"
    """
    if isinstance(plan, Scan):
        return f"scan ({plan.reason})" if plan.reason else "scan"
    if isinstance(plan, IndexRange):
        return f"index {plan.path} [{plan.label}]"
    if isinstance(plan, Ids):
        return f"ids {sorted(plan.ids)!r}" if plan.ids else "none"
    name = "union" if isinstance(plan, Union) else "intersect"
    return f"{name}({', '.join(describe(part) for part in plan.parts)})"
