"""An Elasticsearch query-DSL subset over JSON documents, pure Python.

``compile_search(body)`` validates a search body once and returns a
:class:`Search`: the parsed query (frozen dataclasses the planner reads), a
predicate ``matches(rid, doc) -> bool``, the sort keys, ``from_``, ``size`` and
the ``_source`` filter. ``build_response(...)`` shapes the answer.

Supported body keys: ``query`` (default ``match_all``), ``from`` (default 0),
``size`` (default 10), ``sort``, ``_source``, ``track_total_hits`` (accepted,
ignored: totals are always exact). ``from + size`` may not pass
``MAX_RESULT_WINDOW`` (10000, like ES ``index.max_result_window``):
``LimitExceeded(limit="max_result_window")``.

Clauses (anything else is ``InvalidQuery`` naming the clause or key):

* ``match_all``, ``match_none``
* ``term {f: v}`` / ``{f: {"value": v, "case_insensitive": bool}}``, ``terms {f: [v, ...]}``:
  a value at ``f`` equals ``v`` with the SCIM ``eq`` rules (``evaluate``):
  any element of a list, ``1`` equals ``1.0``, ``true`` is not ``1``, ISO-8601
  date-times as instants; ``v`` must be a string, number or bool.
* ``range {f: {gt, gte, lt, lte}}``: *one* value at ``f`` meets every bound
  (numbers numerically, strings by code point, date-times as instants);
  ``format`` is refused, ``time_zone`` is accepted only as UTC.
* ``prefix {f: "ab"}`` / ``{f: {"value": "ab", "case_insensitive": bool}}``: a string value starts with it.
* ``exists {"field": f}``: a non-null value at ``f`` (``""`` exists; ``[]``
  and ``[null]`` do not), as in Elasticsearch; differs from SCIM ``pr``.
* ``ids {"values": [...]}``: the document id is one of them (ints are taken as their text).
* ``bool`` with ``must``, ``filter``, ``should``, ``must_not`` (a clause or a
  list) and ``minimum_should_match`` (int, ``"2"``, ``"-1"``, ``"50%"``, as ES
  resolves it); its default is 1 when there are ``should`` clauses and no
  ``must``/``filter``, else 0. Nesting is capped at ``MAX_QUERY_DEPTH``
  (``LimitExceeded(limit="max_query_depth")``).
* ``boost`` and ``_name`` are accepted and ignored wherever ES allows them.

Field paths are dotted and looked up like SCIM paths (exact key, then
case-insensitive). ``sort`` takes ``"f"``, ``{"f": "desc"}``,
``{"f": {"order": "desc"}}``, ``"_id"`` and ``"_score"`` (ignored), or a list
of them; see ``sorting`` for the order. ``_source`` takes ``true``/``false``,
a field or list of fields, or ``{"includes": [...], "excludes": [...]}``;
patterns may use ``*`` wildcards; a field keeps its whole subtree; objects
inside lists are filtered element by element.

Scores: every hit scores ``1.0``; ``max_score`` is ``1.0``, or ``None`` when
there are no hits (the subset has no relevance ranking).

Example:
    >>> search = compile_search({"query": {"bool": {"must": {"range": {"age": {"gte": 18}}}}}})
    >>> search.matches("r1", {"age": 20}), search.size
    (True, 10)
    >>> build_response([("r1", {"age": 20})], total=1, took_ms=3)["hits"]["max_score"]
    1.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TypeAlias

from ..errors import InvalidQuery, LimitExceeded
from .evaluate import make_getter, make_test, plain_term
from .inline import Term as Conjunct
from .inline import inline_all
from .scim import AttrPath, Scalar
from .sorting import SortKey
from .text import show

__all__ = [
    "MAX_QUERY_DEPTH",
    "MAX_RESULT_WINDOW",
    "BoolQuery",
    "EsPredicate",
    "EsQuery",
    "Exists",
    "IdsQuery",
    "MatchAll",
    "MatchNone",
    "Prefix",
    "Range",
    "Search",
    "SourceFilter",
    "Term",
    "build_response",
    "compile_matches",
    "compile_query",
    "compile_search",
]

MAX_RESULT_WINDOW = 10_000
MAX_QUERY_DEPTH = 32
DEFAULT_SIZE = 10

EsPredicate: TypeAlias = Callable[[str, Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class MatchAll:
    """Every document."""


@dataclass(frozen=True, slots=True)
class MatchNone:
    """No document."""


@dataclass(frozen=True, slots=True)
class Term:
    """A value at ``path`` equals one of ``values`` (``term`` and ``terms``)."""

    path: AttrPath
    values: tuple[Scalar, ...]
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Range:
    """One value at ``path`` meets every ``(op, value)`` bound; ops are gt ge lt le."""

    path: AttrPath
    bounds: tuple[tuple[str, Scalar], ...]


@dataclass(frozen=True, slots=True)
class Prefix:
    """A string value at ``path`` starts with ``value``."""

    path: AttrPath
    value: str
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Exists:
    """A non-null value at ``path``."""

    path: AttrPath


@dataclass(frozen=True, slots=True)
class IdsQuery:
    """The document id is in ``values``."""

    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class BoolQuery:
    """ES ``bool``; ``minimum_should_match`` is already resolved to a count."""

    must: tuple[EsQuery, ...] = ()
    filter: tuple[EsQuery, ...] = ()
    should: tuple[EsQuery, ...] = ()
    must_not: tuple[EsQuery, ...] = ()
    minimum_should_match: int = 0


EsQuery: TypeAlias = MatchAll | MatchNone | Term | Range | Prefix | Exists | IdsQuery | BoolQuery


@dataclass(frozen=True, slots=True)
class SourceFilter:
    """``_source``: ``enabled`` False drops it; includes/excludes are patterns."""

    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def apply(self, doc: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``_source`` to return for ``doc`` (None when disabled).

        >>> SourceFilter(includes=("a.*",), excludes=("a.x",)).apply({"a": {"x": 1, "y": 2}, "b": 3})
        {'a': {'y': 2}}
        """
        if not self.enabled:
            return None
        if not self.includes and not self.excludes:
            return dict(doc)
        return _filter_source(doc, "", not self.includes, self.includes, self.excludes)


def _filter_source(
    value: Mapping[str, Any],
    prefix: str,
    inside: bool,
    includes: tuple[str, ...],
    excludes: tuple[str, ...],
) -> dict[str, Any]:
    # ``inside``: an include pattern matched an ancestor, so the whole subtree is in.
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if any(fnmatchcase(path, pattern) for pattern in excludes):
            continue
        kept = inside or any(fnmatchcase(path, pattern) for pattern in includes)
        if kept and not excludes:
            out[key] = item
        elif isinstance(item, Mapping):
            sub = _filter_source(item, path + ".", kept, includes, excludes)
            if sub or kept:
                out[key] = sub
        elif isinstance(item, list):
            elements = [
                _filter_source(e, path + ".", kept, includes, excludes)
                if isinstance(e, Mapping)
                else e
                for e in item
                if kept or isinstance(e, Mapping)
            ]
            elements = [e for e in elements if kept or e]
            if elements or kept:
                out[key] = elements
        elif kept:
            out[key] = item
    return out


@dataclass(frozen=True, slots=True)
class Search:
    """A compiled search body."""

    query: EsQuery
    matches: EsPredicate
    sort: tuple[SortKey, ...]
    from_: int
    size: int
    source: SourceFilter


# -- parsing --------------------------------------------------------------------

_IGNORED = frozenset({"boost", "_name"})


def _as_dict(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidQuery(f"{what} must be an object, got {show(value)}")
    return value


def _field(name: Any, clause: str) -> AttrPath:
    if not isinstance(name, str) or not name or any(not part for part in name.split(".")):
        raise InvalidQuery(f"{clause}: invalid field name {show(name)}")
    return AttrPath(tuple(name.split(".")))


def _single_field(clause: str, body: Any) -> tuple[AttrPath, Any]:
    spec = _as_dict(body, clause)
    fields = [key for key in spec if key not in _IGNORED]
    if len(fields) != 1:
        raise InvalidQuery(
            f"{clause} needs exactly one field, got {show(sorted(map(str, fields)))}"
        )
    return _field(fields[0], clause), spec[fields[0]]


def _check_keys(clause: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    for key in spec:
        if key not in allowed and key not in _IGNORED:
            raise InvalidQuery(f"{clause}: unsupported parameter {show(key)}")


def _scalar(clause: str, value: Any, *, allow_bool: bool = True) -> Scalar:
    if isinstance(value, bool):
        if allow_bool:
            return value
    elif isinstance(value, str) or (isinstance(value, int | float) and math.isfinite(value)):
        return value
    raise InvalidQuery(f"{clause}: unsupported value {show(value)}")


def _case_insensitive(clause: str, spec: Mapping[str, Any]) -> bool:
    flag = spec.get("case_insensitive", False)
    if not isinstance(flag, bool):
        raise InvalidQuery(f"{clause}: case_insensitive must be true or false")
    return flag


def _parse_term(body: Any, depth: int) -> EsQuery:
    path, spec = _single_field("term", body)
    if isinstance(spec, Mapping):
        _check_keys("term", spec, {"value", "case_insensitive"})
        if "value" not in spec:
            raise InvalidQuery("term: missing 'value'")
        return Term(path, (_scalar("term", spec["value"]),), _case_insensitive("term", spec))
    return Term(path, (_scalar("term", spec),))


def _parse_terms(body: Any, depth: int) -> EsQuery:
    path, values = _single_field("terms", body)
    if not isinstance(values, list):
        raise InvalidQuery(f"terms: expected a list of values, got {show(values)}")
    return Term(path, tuple(_scalar("terms", v) for v in values))


_RANGE_OPS = {"gt": "gt", "gte": "ge", "lt": "lt", "lte": "le"}


def _parse_range(body: Any, depth: int) -> EsQuery:
    path, spec = _single_field("range", body)
    spec = _as_dict(spec, "range field")
    bounds: list[tuple[str, Scalar]] = []
    for key, value in spec.items():
        if key in _RANGE_OPS:
            bounds.append((_RANGE_OPS[key], _scalar("range", value, allow_bool=False)))
        elif key == "time_zone" and value in ("Z", "UTC", "+00:00"):
            continue
        elif key not in _IGNORED:
            raise InvalidQuery(f"range: unsupported parameter {show(key)}")
    if not bounds:
        raise InvalidQuery(f"range on {show(path.dotted)} needs at least one of gt, gte, lt, lte")
    return Range(path, tuple(bounds))


def _parse_prefix(body: Any, depth: int) -> EsQuery:
    path, spec = _single_field("prefix", body)
    ci = False
    if isinstance(spec, Mapping):
        _check_keys("prefix", spec, {"value", "case_insensitive"})
        ci = _case_insensitive("prefix", spec)
        spec = spec.get("value")
    if not isinstance(spec, str):
        raise InvalidQuery(f"prefix: expected a string value, got {show(spec)}")
    return Prefix(path, spec, ci)


def _parse_exists(body: Any, depth: int) -> EsQuery:
    spec = _as_dict(body, "exists")
    _check_keys("exists", spec, {"field"})
    return Exists(_field(spec.get("field"), "exists"))


def _parse_ids(body: Any, depth: int) -> EsQuery:
    spec = _as_dict(body, "ids")
    _check_keys("ids", spec, {"values"})
    values = spec.get("values")
    if not isinstance(values, list) or not all(
        isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in values
    ):
        raise InvalidQuery(f"ids: 'values' must be a list of ids, got {show(values)}")
    return IdsQuery(frozenset(str(v) for v in values))


def _parse_empty(name: str, kind: EsQuery) -> Callable[[Any, int], EsQuery]:
    def parse(body: Any, depth: int) -> EsQuery:
        _check_keys(name, _as_dict(body, name), set())
        return kind

    return parse


_MSM_RE = re.compile(r"(-?)([0-9]+)(%?)")


def _resolve_msm(value: Any, count: int) -> int:
    """Resolve ES ``minimum_should_match`` against ``count`` should clauses."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidQuery(f"bool: unsupported minimum_should_match {show(value)}")
    m = _MSM_RE.fullmatch(text)
    if m is None:
        raise InvalidQuery(f"bool: unsupported minimum_should_match {show(value)}")
    negative, digits, percent = m.groups()
    number = int(digits)
    amount = count * number // 100 if percent else number
    resolved = count - amount if negative else amount
    return max(0, resolved)


def _parse_bool(body: Any, depth: int) -> EsQuery:
    spec = _as_dict(body, "bool")
    _check_keys("bool", spec, {"must", "filter", "should", "must_not", "minimum_should_match"})
    parts: dict[str, tuple[EsQuery, ...]] = {}
    for key in ("must", "filter", "should", "must_not"):
        clauses = spec.get(key, [])
        if isinstance(clauses, Mapping):
            clauses = [clauses]
        if not isinstance(clauses, list):
            raise InvalidQuery(f"bool.{key} must be a clause or a list of clauses")
        parts[key] = tuple(_parse_query(c, depth + 1) for c in clauses)
    should = parts["should"]
    if "minimum_should_match" in spec:
        msm = _resolve_msm(spec["minimum_should_match"], len(should))
    else:
        msm = 1 if should and not parts["must"] and not parts["filter"] else 0
    return BoolQuery(parts["must"], parts["filter"], should, parts["must_not"], msm)


_PARSERS: dict[str, Callable[[Any, int], EsQuery]] = {
    "match_all": _parse_empty("match_all", MatchAll()),
    "match_none": _parse_empty("match_none", MatchNone()),
    "term": _parse_term,
    "terms": _parse_terms,
    "range": _parse_range,
    "prefix": _parse_prefix,
    "exists": _parse_exists,
    "ids": _parse_ids,
    "bool": _parse_bool,
}


def _parse_query(body: Any, depth: int = 0) -> EsQuery:
    if depth > MAX_QUERY_DEPTH:
        raise LimitExceeded(
            f"query nests deeper than max_query_depth={MAX_QUERY_DEPTH}",
            limit="max_query_depth",
            value=depth,
        )
    spec = _as_dict(body, "query clause")
    if len(spec) != 1:
        raise InvalidQuery(
            f"a query clause needs exactly one key, got {show(sorted(map(str, spec)))}"
        )
    ((name, args),) = spec.items()
    parser = _PARSERS.get(name)
    if parser is None:
        raise InvalidQuery(
            f"unsupported query clause {show(name)}; supported: {', '.join(_PARSERS)}"
        )
    return parser(args, depth)


# -- predicates -----------------------------------------------------------------


def _any_of(getter: Callable[[Any], list[Any]], tests: list[Callable[[Any], bool]]) -> EsPredicate:
    return lambda rid, doc: any(test(v) for v in getter(doc) for test in tests)


def _pred_term(q: Term) -> EsPredicate:
    tests = [make_test("eq", v, case_insensitive=q.case_insensitive) for v in q.values]
    return _any_of(make_getter(q.path), tests)


def _pred_range(q: Range) -> EsPredicate:
    get = make_getter(q.path)
    tests = [make_test(op, v) for op, v in q.bounds]
    return lambda rid, doc: any(all(t(v) for t in tests) for v in get(doc))


def _pred_prefix(q: Prefix) -> EsPredicate:
    return _any_of(
        make_getter(q.path), [make_test("sw", q.value, case_insensitive=q.case_insensitive)]
    )


def _pred_exists(q: Exists) -> EsPredicate:
    get = make_getter(q.path)
    return lambda rid, doc: any(v is not None for v in get(doc))


def _pred_ids(q: IdsQuery) -> EsPredicate:
    ids = q.values
    return lambda rid, doc: rid in ids


def _pred_bool(q: BoolQuery) -> EsPredicate:
    required = tuple(compile_query(c) for c in q.must + q.filter)
    excluded = tuple(compile_query(c) for c in q.must_not)
    should = tuple(compile_query(c) for c in q.should)
    need = q.minimum_should_match

    def match(rid: str, doc: Mapping[str, Any]) -> bool:
        if not all(p(rid, doc) for p in required) or any(p(rid, doc) for p in excluded):
            return False
        if need <= 0:
            return True
        hits = 0
        for p in should:
            if p(rid, doc):
                hits += 1
                if hits >= need:
                    return True
        return False

    return match


_PREDICATES: dict[type, Callable[[Any], EsPredicate]] = {
    MatchAll: lambda q: lambda rid, doc: True,
    MatchNone: lambda q: lambda rid, doc: False,
    Term: _pred_term,
    Range: _pred_range,
    Prefix: _pred_prefix,
    Exists: _pred_exists,
    IdsQuery: _pred_ids,
    BoolQuery: _pred_bool,
}


def compile_query(query: EsQuery) -> EsPredicate:
    """The predicate ``matches(rid, doc)`` of a parsed query."""
    return _PREDICATES[type(query)](query)


def _uses_rid(query: EsQuery) -> bool:
    if isinstance(query, IdsQuery):
        return True
    if isinstance(query, BoolQuery):
        return any(map(_uses_rid, (*query.must, *query.filter, *query.should, *query.must_not)))
    return False


def _doc_only(pred: EsPredicate) -> Callable[[Any], bool]:
    return lambda doc: pred("", doc)  # for a query that never reads the id (no ids clause)


def _required(clause: EsQuery) -> list[Conjunct]:
    """Conjuncts that hold when ``clause`` does (its own closure answers the unusual values)."""
    general = _doc_only(compile_query(clause))
    if isinstance(clause, Term) and len(clause.values) == 1 and not clause.case_insensitive:
        return [plain_term(clause.path, "eq", clause.values[0], general)]
    if isinstance(clause, Range) and clause.bounds:
        # One value must meet every bound: on a plain value that is each bound in turn;
        # a list or anything else goes to the range's own closure (in each conjunct).
        return [plain_term(clause.path, op, value, general) for op, value in clause.bounds]
    if isinstance(clause, Prefix) and not clause.case_insensitive:
        return [plain_term(clause.path, "sw", clause.value, general)]
    return [Conjunct.closure(general)]


def _excluded(clause: EsQuery) -> Conjunct:
    """The conjunct that holds when ``clause`` does not (a ``must_not`` clause)."""
    pred = compile_query(clause)
    general: Callable[[Any], bool] = lambda doc: not pred("", doc)  # noqa: E731
    if isinstance(clause, Term) and len(clause.values) == 1 and not clause.case_insensitive:
        return plain_term(clause.path, "ne", clause.values[0], general)  # not any value equal
    return Conjunct.closure(general)


def compile_matches(query: EsQuery) -> EsPredicate:
    """:func:`compile_query`, generated as one function when the query is a conjunction of
    plain clauses: ``term`` / ``range`` / ``prefix`` alone, or a ``bool`` of ``must``,
    ``filter`` and ``must_not`` (no ``should`` that counts, no ``ids``); see :mod:`.inline`.

    >>> m = compile_matches(_parse_query({"bool": {"filter": [{"range": {"age": {"gte": 30}}}]}}))
    >>> m("r", {"age": 30}), m("r", {"age": [1, 40]}), m("r", {"Age": 2})
    (True, True, False)
    """
    closures = compile_query(query)
    if _uses_rid(query):
        return closures
    if isinstance(query, BoolQuery) and query.minimum_should_match <= 0:
        required: tuple[EsQuery, ...] = (*query.must, *query.filter)
        excluded = query.must_not
    elif isinstance(query, Term | Range | Prefix):
        required, excluded = (query,), ()
    else:
        return closures
    conjuncts = [part for clause in required for part in _required(clause)]
    conjuncts += [_excluded(clause) for clause in excluded]
    if not any(part.kind for part in conjuncts):
        return closures
    match = inline_all(conjuncts, whole=_doc_only(closures))
    return lambda rid, doc: match(doc)


# -- the body -------------------------------------------------------------------

_BODY_KEYS = frozenset({"query", "from", "size", "sort", "_source", "track_total_hits"})


def _count(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidQuery(f"{show(key)} must be a non-negative integer, got {show(value)}")
    return value


def _parse_sort(spec: Any) -> tuple[SortKey, ...]:
    items = spec if isinstance(spec, list) else [spec]
    keys: list[SortKey] = []
    for item in items:
        if isinstance(item, str):
            keys.append(SortKey(_field(item, "sort").dotted))
            continue
        entry = _as_dict(item, "sort entry")
        if len(entry) != 1:
            raise InvalidQuery(f"sort entry needs exactly one field, got {show(item)}")
        ((name, order),) = entry.items()
        if isinstance(order, Mapping):
            _check_keys("sort", order, {"order", "unmapped_type"})
            order = order.get("order", "asc")
        if order not in ("asc", "desc"):
            raise InvalidQuery(
                f"sort order of {show(name)} must be 'asc' or 'desc', got {show(order)}"
            )
        keys.append(SortKey(_field(name, "sort").dotted, order == "desc"))
    return tuple(keys)


def _patterns(value: Any, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) and p for p in items):
        raise InvalidQuery(
            f"_source {what} must be a field name or a list of them, got {show(value)}"
        )
    return tuple(items)


def _parse_source(spec: Any) -> SourceFilter:
    if spec is None or spec is True:
        return SourceFilter()
    if spec is False:
        return SourceFilter(enabled=False)
    if isinstance(spec, Mapping):
        allowed = {"includes", "excludes", "include", "exclude"}
        bad = [k for k in spec if k not in allowed]
        if bad:
            raise InvalidQuery(f"_source: unsupported key {show(bad[0])}")
        includes = spec.get("includes", spec.get("include", []))
        excludes = spec.get("excludes", spec.get("exclude", []))
        return SourceFilter(True, _patterns(includes, "includes"), _patterns(excludes, "excludes"))
    return SourceFilter(True, _patterns(spec, "includes"))


def compile_search(body: Mapping[str, Any] | None) -> Search:
    """Validate an ES search body and compile it.

    >>> s = compile_search({"query": {"terms": {"tag": ["a", "b"]}}, "sort": [{"age": "desc"}], "size": 2})
    >>> s.matches("x", {"tag": ["c", "b"]}), s.sort, s.size
    (True, (SortKey(path='age', descending=True),), 2)
    """
    body = {} if body is None else _as_dict(body, "search body")
    for key in body:
        if key not in _BODY_KEYS:
            raise InvalidQuery(
                f"unsupported search body key {show(key)}; supported: {', '.join(sorted(_BODY_KEYS))}"
            )
    query = _parse_query(body.get("query", {"match_all": {}}))
    from_, size = _count(body, "from", 0), _count(body, "size", DEFAULT_SIZE)
    if from_ + size > MAX_RESULT_WINDOW:
        raise LimitExceeded(
            f"from + size = {from_ + size} is over max_result_window={MAX_RESULT_WINDOW}",
            limit="max_result_window",
            value=from_ + size,
        )
    sort = _parse_sort(body["sort"]) if "sort" in body else ()
    return Search(
        query, compile_matches(query), sort, from_, size, _parse_source(body.get("_source"))
    )


def build_response(
    hits: Iterable[tuple[str, Mapping[str, Any] | None]], *, total: int, took_ms: int
) -> dict[str, Any]:
    """The ES response for ``(rid, source)`` hits (``source`` None: no ``_source`` key).

    >>> build_response([], total=0, took_ms=1)
    {'took': 1, 'timed_out': False, 'hits': {'total': {'value': 0, 'relation': 'eq'}, 'max_score': None, 'hits': []}}
    """
    rows: list[dict[str, Any]] = []
    for rid, source in hits:
        row: dict[str, Any] = {"_id": rid, "_score": 1.0}
        if source is not None:
            row["_source"] = source
        rows.append(row)
    return {
        "took": took_ms,
        "timed_out": False,
        "hits": {
            "total": {"value": total, "relation": "eq"},
            "max_score": 1.0 if rows else None,
            "hits": rows,
        },
    }
