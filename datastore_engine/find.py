"""Running queries over a store: ``Store.find`` (SCIM), ``Store.search`` (Elasticsearch), ``explain``.

A query runs in one read transaction (one consistent snapshot). The planner
(:mod:`.query.planner`) picks index ranges that give a superset of the matches;
each candidate is loaded and checked with the full compiled filter, so an
indexed query returns exactly what a full scan returns, in the same order.

``find`` returns a :class:`Page` whose ``items`` are ``(rid, document)`` pairs,
in id order unless ``sort`` is given; ``total`` counts every match. With
``fields`` (JSONPath expressions) each document is replaced by its projection
(see :mod:`.query.projection`). Password-protected documents never match.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     s = engine.store("people")
    ...     for rid, age in (("a", 30), ("b", 40), ("c", 50)):
    ...         _ = s.put(rid, {"age": age})
    ...     page = s.find("age ge 40", sort="-age", count=1)
    ...     (page.items, page.total)
    ([('c', {'age': 50})], 2)
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgpack

from . import codec, index
from .codec import FLAG_DELETED, FLAG_PROTECTED
from .errors import LimitExceeded, ValidationError
from .page import Page
from .query import (
    IndexRange,
    Plan,
    Scan,
    SortKey,
    build_response,
    compile_filter,
    compile_projection,
    compile_search,
    parse_sort,
    plan_filter,
    plan_search,
    top_items,
)
from .query import describe as describe_plan
from .query.es import BoolQuery, Range, Search
from .query.evaluate import parse_timestamp
from .query.indexkeys import STRING_BODY_BYTES, encode_value, is_cut
from .query.scim import MAX_FILTER_LENGTH, And, Compare, Node, parse_filter, string_eq

if TYPE_CHECKING:
    from .catalog import StoreState
    from .store import Store

__all__ = ["MAX_FIND_COUNT", "explain", "find", "search"]

MAX_FIND_COUNT = 10_000
_SKIP = FLAG_DELETED | FLAG_PROTECTED

#: ``string_eq(text, max_length)``: the compiled one when built (``_accel.c``; the
#: same answers, tests/test_accel.py), ~0.1 us a filter instead of ~0.6 us.
_string_eq: Callable[[str, int], tuple[str, str] | None] = codec.accel_function("string_eq") or string_eq


@lru_cache(maxsize=1024)
def _parsed(text: str) -> Node:
    """Parse once per filter text (cached: repeated queries skip it)."""
    return parse_filter(text)


@lru_cache(maxsize=1024)
def _compiled(text: str, case_insensitive: bool) -> Callable[[Any], bool]:
    """Compile once per filter text; exact index plans never need it."""
    return compile_filter(_parsed(text), case_insensitive=case_insensitive)


@lru_cache(maxsize=1024)
def _plan(text: str, paths: frozenset[str], case_insensitive: bool) -> Plan:
    return plan_filter(_parsed(text), paths, case_insensitive=case_insensitive)


def _filter_plan(state: StoreState, filter: str, case_insensitive: bool) -> Plan:
    paths = index.indexed_paths(state)
    if not paths:
        return Scan("the store has no indexes")
    return _plan(filter, paths, case_insensitive)


def _check_filter(filter: object) -> str:
    if not isinstance(filter, str):
        raise ValidationError(f"filter must be a SCIM filter string, got {type(filter).__name__}")
    return filter


def _check_window(start: object, count: object) -> tuple[int, int]:
    """``(start, count)`` checked; find() tests the common case (plain ints in range) inline first."""
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValidationError(f"start must be an int >= 0, got {start!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValidationError(f"count must be an int >= 0, got {count!r}")
    if count > MAX_FIND_COUNT:
        raise LimitExceeded(
            f"count {count} is over the limit of {MAX_FIND_COUNT} per page; page through with start=",
            limit="max_find_count",
            value=count,
        )
    return start, count


def _matches(
    txn: Any, dbs: dict[str, Any], state: StoreState, plan: Plan, test: Callable[..., bool], *, with_rid: bool
) -> Iterator[tuple[str, Any]]:
    """``(rid, doc)`` of live, unprotected documents passing ``test``, in id order.

    ``test(doc)``, or ``test(rid, doc)`` when ``with_rid`` (the ES ``ids`` query needs it).
    """
    docs = dbs["docs"]
    prefix = state.prefix
    rids = index.candidates(txn, dbs, state, plan)
    if rids is None:
        # The full-scan loop: the hottest loop of a query, so the record body is
        # decoded inline (header: 15 bytes + 16 per history digest) and the id
        # is decoded only for matches. A record that does not decode goes
        # through codec.record_body for the proper CorruptData.
        cur = txn.cursor(db=docs)
        if not cur.set_range(prefix):
            return
        unpack, copy_below = msgpack.unpackb, codec.COPY_BELOW
        for key, raw in cur:
            if not key.startswith(prefix):
                return
            if raw[0] & _SKIP:
                continue
            try:
                # A slice copies a usual body, yet is ~330 ns cheaper than a
                # memoryview (msgpack's buffer path): codec.record_body's choice.
                start = 15 + (raw[13] << 8 | raw[14]) * 16
                doc = unpack(raw[start:] if len(raw) < copy_below else memoryview(raw)[start:], raw=False)
            except Exception:
                doc = codec.record_body(raw, key=key[8:].decode("utf-8", "replace"))
            if with_rid:
                rid = key[8:].decode()
                if test(rid, doc):
                    yield rid, doc
            elif test(doc):
                yield key[8:].decode(), doc
        return
    get = txn.get
    for rid_b in sorted(rids):
        raw = get(prefix + rid_b, db=docs)
        if raw is None or raw[0] & _SKIP:
            continue
        rid = rid_b.decode()
        doc = codec.record_body(raw, key=rid)
        if test(rid, doc) if with_rid else test(doc):
            yield rid, doc


_STRING_TAG, _STRING_END = encode_value("")[:1], encode_value("")[1:]


def _exact(text: str, state: StoreState, case_insensitive: bool) -> bool:
    """True when the index range of the filter holds exactly its matches (no re-check needed).

    That is one comparison the planner marks exact (``IndexRange.exact``: eq gt ge lt le
    on an indexed path, with a literal the index holds whole), or an ``and`` of such
    comparisons on one path whose index has never held two values in one document
    (their ranges merge into one). Case-insensitive filters never get here. A part the
    planner leaves out of the range (a date-time literal compares as an instant; an int
    past float64 has no key) makes it a superset, not exact
    (``score ge 0 and score le "2024-01-01T00:00:00Z"``).
    """
    if case_insensitive:
        return False
    single = state.extra.get("single_valued")
    if single is None:
        single = state.extra["single_valued"] = frozenset(
            str(d["path"]) for d in state.indexes if not d.get("multi")
        )
    return _exact_shape(text, index.indexed_paths(state), single)


@lru_cache(maxsize=1024)
def _exact_shape(text: str, indexed: frozenset[str], single: frozenset[str]) -> bool:
    node = _parsed(text)
    parts = node.items if isinstance(node, And) else (node,)
    paths = set()
    for part in parts:
        if not isinstance(part, Compare):  # a value path a[...] holds more than one comparison
            return False
        # Each part on its own: one that plans as a scan is not in the And's Intersect.
        plan = plan_filter(part, indexed)
        if not isinstance(plan, IndexRange) or not plan.exact:
            return False
        paths.add(plan.path)
    return len(paths) == 1 and (len(parts) == 1 or paths <= single)


def _has_protected(txn: Any, dbs: dict[str, Any], prefix: bytes) -> bool:
    """True if any document of the store has a password (one cursor step)."""
    cur = txn.cursor(db=dbs["passwords"])
    return bool(cur.set_range(prefix)) and bytes(cur.key()).startswith(prefix)


def _read_page(txn: Any, dbs: dict[str, Any], state: StoreState, rids: list[bytes]) -> list[tuple[str, Any]]:
    """``(rid, document)`` of each of ``rids`` that is live and unprotected, in the order given."""
    docs, prefix, get = dbs["docs"], state.prefix, txn.get
    items: list[tuple[str, Any]] = []
    for rid_b in rids:
        raw = get(prefix + rid_b, db=docs)
        if raw is not None and not raw[0] & _SKIP:
            rid = rid_b.decode()
            items.append((rid, codec.record_body(raw, key=rid)))
    return items


def _exact_page(
    txn: Any, dbs: dict[str, Any], state: StoreState, rids: set[bytes] | list[bytes], start: int, count: int
) -> tuple[list[tuple[str, Any]], int]:
    """Page and total when every candidate rid is a match: count them, decode only the page."""
    docs, prefix, get = dbs["docs"], state.prefix, txn.get
    # Every candidate fits in the page (a lookup): read them all and count what
    # passes, without asking the passwords table whether anything is protected.
    small = start == 0 and len(rids) <= count
    if small or not _has_protected(txn, dbs, prefix):
        if isinstance(rids, list):  # already in rid order
            window = rids[start : start + count]
        else:
            window = (heapq.nsmallest(start + count, rids) if start + count < len(rids) else sorted(rids))[start:]
        items = _read_page(txn, dbs, state, window)
        return items, len(items) if small else len(rids)
    items = []
    total = 0
    for rid_b in sorted(rids):
        raw = get(prefix + rid_b, db=docs)
        if raw is None or raw[0] & _SKIP:  # protected documents never match
            continue
        if start <= total < start + count:
            rid = rid_b.decode()
            items.append((rid, codec.record_body(raw, key=rid)))
        total += 1
    return items, total


def _lookup_page(
    txn: Any, store: Store, path: str, value: str, start: int, count: int
) -> tuple[list[tuple[str, Any]], int] | None:
    """Page and total of ``path eq "value"`` read straight off its index, or None to plan normally.

    The common lookup (``email eq "a@b.c"`` on an indexed path) skips parsing,
    planning and their caches, which miss for every new literal. It reads the
    very range the planner would (:func:`.query.indexkeys.eq_range`), and only
    when that range is exact: a literal the index holds whole, and not a
    date-time (those compare as instants, so the planner scans). When every
    match fits the page, its documents are read here (what :func:`_exact_page`
    would do, without two calls: ~4k instructions of ~82k).
    """
    state = store._read_state(txn)
    if not state.indexes:
        return None
    bases = state.extra.get("eq_bases")
    if bases is None:
        bases = state.extra["eq_bases"] = {str(d["path"]): index.prefix_of(state, int(d["iid"])) for d in state.indexes}
    base = bases.get(path)
    if base is None or (len(value) > STRING_BODY_BYTES // 4 and is_cut(value)):
        return None
    if value[:1].isdigit() and parse_timestamp(value) is not None:  # a date-time starts with its year
        return None
    # encode_value(value), self-delimiting so the rid follows it; string_eq's
    # literals hold no control character, so there is no NUL to escape.
    key = base + _STRING_TAG + value.encode("utf-8", "surrogatepass") + _STRING_END
    cut = len(key)
    rids: list[bytes] = []
    dbs = store._env.dbs
    cur = txn.cursor(db=dbs["index"])
    if cur.set_range(key):
        # (value, rid) keys: one value's entries come in rid order, the order of a scan.
        found = cur.key()
        while found.startswith(key):
            rids.append(found[cut:])
            if not cur.next():
                break
            found = cur.key()
    if start or len(rids) > count:
        return _exact_page(txn, dbs, state, rids, start, count)
    # Every candidate fits in the page: read them all and count what is live and
    # unprotected, without asking the passwords table whether anything is protected.
    items = _read_page(txn, dbs, state, rids)
    return items, len(items)


def _find_exact(
    txn: Any, dbs: dict[str, Any], state: StoreState, plan: Plan, start: int, count: int
) -> tuple[list[tuple[str, Any]], int] | None:
    """Page and total of an exact plan: count from the index, decode only the page."""
    one = index.single_range(state, plan)
    if one is not None and not _has_protected(txn, dbs, state.prefix):
        # One range of a single-valued index: its entries are its matches, each once.
        total, window = index.range_window(txn, dbs, state, one, start + count)
        return _read_page(txn, dbs, state, window[start:]), total
    rids = index.candidates(txn, dbs, state, plan)
    return None if rids is None else _exact_page(txn, dbs, state, rids, start, count)


def _index_sorted(
    txn: Any, dbs: dict[str, Any], state: StoreState, plan: Plan, keys: tuple[SortKey, ...], start: int, count: int
) -> tuple[list[tuple[str, Any]], int] | None:
    """Page and total of an exact plan sorted by its own path, in index order, or None.

    ``find("created gt \"2026-01-01\"", sort="-created", count=10)`` reads ten
    documents instead of every match. Only one sort key on the path of a single-valued
    index's one range, with no protected documents; descending only while the index's
    values have all been scalars (a list or a dict at the path sorts first descending, but
    has no index entry to say so). The caller checks the plan is its filter's exact answer.
    """
    if len(keys) != 1 or keys[0].path in ("_id", "_score"):
        return None  # those two sort by the id (see sort_items), not by a field so named
    one = index.single_range(state, plan)
    if one is None or one.path != keys[0].path:
        return None
    descending = keys[0].descending
    if descending and not any(d["path"] == one.path and d.get("scalar") for d in state.indexes):
        return None
    if _has_protected(txn, dbs, state.prefix):
        return None
    total, window = index.range_sorted(txn, dbs, state, one, start + count, descending=descending)
    return _read_page(txn, dbs, state, window[start:]), total


def find(
    store: Store,
    filter: str,
    *,
    sort: str | Sequence[str] | None = None,
    start: int = 0,
    count: int = 100,
    fields: Sequence[str] | None = None,
    case_insensitive: bool = False,
) -> Page[tuple[str, Any]]:
    """Documents matching a SCIM filter, one page of them (see the module docstring)."""
    # The indexed lookup (path eq "literal") is recognised first: it skips the parser.
    lookup = _string_eq(filter, MAX_FILTER_LENGTH) if type(filter) is str and not sort and not case_insensitive else None
    if not (type(start) is int and type(count) is int and start >= 0 and 0 <= count <= MAX_FIND_COUNT):
        start, count = _check_window(start, count)  # raises, or takes an int subclass
    if lookup is None:
        filter = _check_filter(filter)
        _parsed(filter)  # refuse a filter that does not parse before reading anything
    projection = compile_projection(fields) if fields is not None else None
    if store._engine._closed:
        store._live()  # raises
    env = store._env
    if lookup is not None:
        done = env.run_read(_lookup_page, store, lookup[0], lookup[1], start, count)
        if done is not None:
            items, total = done
            if projection is not None:
                items = [(rid, projection(doc)) for rid, doc in items]
            return Page(items, total, start, len(items))  # positional: ~0.16 us less than by keyword
    with env.reading() as txn:
        state = store._read_state(txn)
        plan = _filter_plan(state, filter, case_insensitive)
        if state.indexes and _exact(filter, state, bool(case_insensitive)):
            if sort:
                done = _index_sorted(txn, env.dbs, state, plan, parse_sort(sort), start, count)
            else:
                done = _find_exact(txn, env.dbs, state, plan, start, count)
            if done is not None:
                items, total = done
                if projection is not None:
                    items = [(rid, projection(doc)) for rid, doc in items]
                return Page(items=items, total=total, start=start, count=len(items))
        predicate = _compiled(filter, bool(case_insensitive))
        found = _matches(txn, env.dbs, state, plan, predicate, with_rid=False)
        if sort:
            # Only the first start + count in sort order are held, not every match.
            top, total = top_items(found, sort, start + count, doc_of=_doc_of, rid_of=_rid_of)
            items = top[start:]
        else:
            # Without a sort only the page is kept; the rest is counted.
            items = []
            total = 0
            for pair in found:
                if start <= total < start + count:
                    items.append(pair)
                total += 1
    if projection is not None:
        items = [(rid, projection(doc)) for rid, doc in items]
    return Page(items=items, total=total, start=start, count=len(items))


def _search_sorted(
    txn: Any, dbs: dict[str, Any], state: StoreState, compiled: Search, plan: Plan
) -> tuple[list[tuple[str, Any]], int] | None:
    """The page (past ``from``) and total of a ``range`` query sorted by its own field, in
    index order, or None.

    ``{"query": {"range": {"ts": {"gte": ...}}}, "sort": [{"ts": "desc"}]}``, alone or
    as the one ``must`` / ``filter`` clause of a ``bool``: one value meets every bound,
    so an exact window of a single-valued index holds exactly the hits, each once. The
    rest is ``find``'s :func:`_index_sorted`.
    """
    query = compiled.query
    if isinstance(query, BoolQuery):
        clauses = query.must + query.filter
        if query.should or query.must_not or query.minimum_should_match or len(clauses) != 1:
            return None
        query = clauses[0]
    if not isinstance(query, Range) or not isinstance(plan, IndexRange) or not plan.exact:
        return None
    return _index_sorted(txn, dbs, state, plan, compiled.sort, compiled.from_, compiled.size)


def search(store: Store, body: Mapping[str, Any] | None) -> dict[str, Any]:
    """An Elasticsearch-shaped search (see :mod:`.query.es` for the subset)."""
    began = time.perf_counter()
    compiled = compile_search(body)
    store._live()
    env = store._env
    with env.reading() as txn:
        state = store._read_state(txn)
        paths = index.indexed_paths(state)
        plan = plan_search(compiled, paths) if paths else Scan("the store has no indexes")
        done = _search_sorted(txn, env.dbs, state, compiled, plan) if compiled.sort and paths else None
        end = compiled.from_ + compiled.size
        if done is not None:
            page, total = done
        else:
            found = _matches(txn, env.dbs, state, plan, compiled.matches, with_rid=True)
            if compiled.sort:
                top, total = top_items(found, compiled.sort, end, doc_of=_doc_of, rid_of=_rid_of)
            else:
                top, total = [], 0
                for pair in found:  # in id order: keep the first ``end``, count the rest
                    if total < end:
                        top.append(pair)
                    total += 1
            page = top[compiled.from_ :]
    hits = [(rid, compiled.source.apply(doc)) for rid, doc in page]
    took = int((time.perf_counter() - began) * 1000)
    return build_response(hits, total=total, took_ms=took)


def _doc_of(pair: tuple[str, Any]) -> Any:
    return pair[1]


def _rid_of(pair: tuple[str, Any]) -> str:
    return pair[0]


def explain(store: Store, filter: str, *, case_insensitive: bool = False) -> dict[str, Any]:
    """How ``find(filter)`` would run: ``plan`` (text), ``indexes`` used, ``candidates`` (None: scan)."""
    filter = _check_filter(filter)
    _compiled(filter, bool(case_insensitive))  # refuse what does not parse or compile
    store._live()
    env = store._env
    with env.reading() as txn:
        state = store._read_state(txn)
        plan = _filter_plan(state, filter, case_insensitive)
        rids = index.candidates(txn, env.dbs, state, plan)
    return {
        "plan": describe_plan(plan),
        "indexes": sorted(_paths_of(plan)),
        "candidates": None if rids is None else len(rids),
        "scan": rids is None,
    }


def _paths_of(plan: Plan) -> set[str]:
    from .query import IndexRange

    if isinstance(plan, IndexRange):
        return {plan.path}
    parts = getattr(plan, "parts", ())
    out: set[str] = set()
    for part in parts:
        out |= _paths_of(part)
    return out
