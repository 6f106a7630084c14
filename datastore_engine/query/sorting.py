"""Multi-key sorting of documents.

A sort spec is ``"-age,name"`` or ``["-age", "name"]``: dotted paths, a ``-``
prefix for descending (``+`` or nothing for ascending).

* **Missing values sort last** in both directions; ties keep the input order
  (the sort is stable), so callers pass items in rid order for determinism.
* **Mixed types** follow one total order, the same as the index keys:
  ``null < false < true < numbers < strings < lists < dicts``. Numbers compare
  numerically (ints exactly), strings by code point (timestamps as text),
  lists and dicts by their canonical JSON text.
* **Multi-valued paths** (a list, or a path through a list) sort by their
  smallest value ascending and their largest value descending, as
  Elasticsearch does.
* The special key ``_id`` sorts by the item's id when ``rid_of`` is given;
  ``_score`` is ignored (every hit scores 1.0).

``top_items`` gives the first ``n`` of the same order without sorting (or
holding) everything: a page of a large result costs memory for the page only.

Example:
    >>> docs = [{"n": "b", "age": 3}, {"n": "a"}, {"n": "c", "age": 3}, {"n": "d", "age": 9}]
    >>> [d["n"] for d in sort_items(docs, "-age,n")]
    ['d', 'b', 'c', 'a']
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import InvalidQuery
from .evaluate import Getter, make_getter
from .text import show

__all__ = ["SortKey", "parse_sort", "sort_items", "top_items", "total_order_key"]

T = TypeVar("T")

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$-")


@dataclass(frozen=True, slots=True)
class SortKey:
    """One sort key: a dotted ``path`` and its direction."""

    path: str
    descending: bool = False


def total_order_key(value: Any) -> tuple[int, Any]:
    """A key ordering any JSON value: null < false < true < numbers < strings < lists < dicts.

    >>> sorted([2, "a", None, 1.5, True, False], key=total_order_key)
    [None, False, True, 1.5, 2, 'a']
    """
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (2, 0) if value else (1, 0)
    if isinstance(value, int | float):
        return (3, value)
    if isinstance(value, str):
        return (4, value)
    if isinstance(value, list):
        return (5, json.dumps(value, sort_keys=True, default=str))
    return (6, json.dumps(value, sort_keys=True, default=str))


def _parse_one(text: str) -> SortKey:
    descending = text.startswith("-")
    path = text[1:] if text[:1] in "+-" else text
    path = path.strip()
    names = path.split(".")
    if not path or any(not name or not set(name) <= _NAME_CHARS for name in names):
        raise InvalidQuery(
            f"invalid sort key {show(text)}: expected a dotted path like '-age' or 'name.given'"
        )
    return SortKey(path, descending)


def parse_sort(spec: str | Sequence[str | SortKey] | None) -> tuple[SortKey, ...]:
    """Parse ``"-age,name"`` or a list of such strings (or SortKeys).

    >>> parse_sort("-age, name")
    (SortKey(path='age', descending=True), SortKey(path='name', descending=False))
    """
    if spec is None:
        return ()
    parts: Iterable[str | SortKey] = spec.split(",") if isinstance(spec, str) else spec
    keys: list[SortKey] = []
    for part in parts:
        if isinstance(part, SortKey):
            keys.append(part)
        elif isinstance(part, str):
            keys.append(_parse_one(part.strip()))
        else:
            raise InvalidQuery(f"invalid sort key {show(part)}: expected a str")
    return tuple(keys)


def _field_key(get: Getter, descending: bool) -> Callable[[Any], tuple[int, Any]]:
    pick = max if descending else min

    def key(doc: Any) -> tuple[int, Any]:
        values = get(doc)
        if not values:
            # Missing: (1, ...) ascending, (0, ...) under reverse=True, i.e. last both ways.
            return (0 if descending else 1, (0, 0))
        return (1 if descending else 0, pick(map(total_order_key, values)))

    return key


def sort_items(
    items: Iterable[T],
    spec: str | Sequence[str | SortKey] | None,
    *,
    doc_of: Callable[[T], Any] | None = None,
    rid_of: Callable[[T], str] | None = None,
) -> list[T]:
    """A new list of ``items`` sorted by ``spec`` (stable; missing values last).

    ``doc_of`` maps an item to its document (identity by default), ``rid_of`` to
    its id (needed for the ``_id`` key).

    >>> pairs = [("r1", {"a": 2}), ("r2", {"a": 1})]
    >>> sort_items(pairs, "a", doc_of=lambda p: p[1])
    [('r2', {'a': 1}), ('r1', {'a': 2})]
    """
    result = list(items)
    to_doc: Callable[[T], Any] = doc_of if doc_of is not None else (lambda item: item)
    # Sort by the last key first; stable sorts compose into a multi-key sort.
    for key in reversed(parse_sort(spec)):
        if key.path == "_score":
            continue
        if key.path == "_id" and rid_of is not None:
            by_id = rid_of
            result.sort(key=lambda item: by_id(item), reverse=key.descending)
            continue
        field = _field_key(make_getter(key.path), key.descending)
        result.sort(key=lambda item: field(to_doc(item)), reverse=key.descending)
    return result


class _Reversed:
    """A key that orders the other way round (a descending key inside one ascending tuple)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(self.key == other.key)

    __hash__ = None  # type: ignore[assignment]


def _composite_key(
    spec: tuple[SortKey, ...], doc_of: Callable[[T], Any], rid_of: Callable[[T], str] | None, *, flip: bool
) -> Callable[[T], tuple[Any, ...]]:
    """One key giving :func:`sort_items`' order, ascending (``flip``: descending); ties are left
    to the caller. A key against the overall direction is wrapped in :class:`_Reversed`."""
    parts: list[Callable[[T], Any]] = []
    for key in spec:
        if key.path == "_score":
            continue
        against = key.descending != flip
        if key.path == "_id" and rid_of is not None:
            by_id = rid_of

            def rid_against(item: T, by_id: Callable[[T], str] = by_id) -> _Reversed:
                return _Reversed(by_id(item))

            parts.append(rid_against if against else by_id)
            continue
        get, pick = make_getter(key.path), max if key.descending else min
        # Missing sorts after every present value, in the overall direction too.
        present, missing = (1, 0) if flip else (0, 1)

        def field(
            item: T,
            get: Getter = get,
            pick: Any = pick,
            against: bool = against,
            present: int = present,
            missing: int = missing,
        ) -> Any:
            values = get(doc_of(item))
            if not values:
                return (missing,)
            best = pick(map(total_order_key, values))
            return (present, _Reversed(best) if against else best)

        parts.append(field)
    if len(parts) == 1:
        return parts[0]  # orders as its 1-tuple, without building one per item
    return lambda item: tuple([part(item) for part in parts])


def top_items(
    items: Iterable[T],
    spec: str | Sequence[str | SortKey] | None,
    n: int,
    *,
    doc_of: Callable[[T], Any] | None = None,
    rid_of: Callable[[T], str] | None = None,
) -> tuple[list[T], int]:
    """``(sort_items(items, spec, ...)[:n], number of items)``, holding about ``n`` items at a time.

    Equal keys keep the input order, as in :func:`sort_items`.

    >>> docs = [{"a": 3}, {"a": 1}, {}, {"a": 2}]
    >>> top_items(docs, "a", 2)
    ([{'a': 1}, {'a': 2}], 4)
    >>> top_items(docs, "-a", 3)
    ([{'a': 3}, {'a': 2}, {'a': 1}], 4)
    """
    if type(n) is not int or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    keys = parse_sort(spec)
    to_doc: Callable[[T], Any] = doc_of if doc_of is not None else (lambda item: item)
    # All keys descending (the usual "newest first"): nlargest, with no wrapped keys.
    flip = any(k.path != "_score" for k in keys) and all(k.descending for k in keys if k.path != "_score")
    key = _composite_key(keys, to_doc, rid_of, flip=flip)
    total = 0

    def counted() -> Iterator[T]:
        nonlocal total
        for item in items:
            total += 1
            yield item

    # nsmallest is sorted(...)[:n] and nlargest sorted(..., reverse=True)[:n]: both keep
    # equal keys in input order, and a heap of n items only.
    source = counted()
    top = (heapq.nlargest if flip else heapq.nsmallest)(n, source, key=key)
    for _ in source:  # n == 0 reads nothing: the items are still counted
        pass
    return top, total
