"""Field projection with JSONPath expressions (jsonpath-ng, extended syntax).

``project(doc, ["name.given", "emails[*].value"])`` returns a flat dict keyed
by each expression as written:

* one match   -> the matched value (``{"name.given": "Ann"}``),
* several     -> the list of matched values in document order,
* no match    -> the key is left out (so ``"x" in result`` tells presence).

Why this shape: the common case (plain dotted fields) reads naturally, and the
expression text as key keeps results unambiguous when two expressions reach
the same data. The price: an expression like ``tags[*]`` gives a bare value
when the list has one element; callers who need a list every time write the
path of the list itself (``tags``). Filter expressions (``a[?(@.b > 1)]``)
work, as jsonpath-ng's extended parser is used.

A bad expression (or one over ``MAX_EXPRESSION_LENGTH`` characters) raises
``InvalidQuery`` naming it; compiled expressions are cached.

Example:
    >>> project({"name": {"given": "Ann"}, "tags": ["a", "b"]}, ["name.given", "tags[*]", "nope"])
    {'name.given': 'Ann', 'tags[*]': ['a', 'b']}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeAlias

from ..errors import InvalidQuery
from .text import show

__all__ = ["MAX_EXPRESSION_LENGTH", "Projection", "compile_projection", "project"]

MAX_EXPRESSION_LENGTH = 1024

Projection: TypeAlias = Callable[[Mapping[str, Any]], dict[str, Any]]


@lru_cache(maxsize=256)
def _parse(expression: str) -> Any:
    # Imported here: jsonpath-ng builds its parser tables on first import (slow-ish).
    from jsonpath_ng.ext.parser import parse

    try:
        return parse(expression)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses of several kinds
        raise InvalidQuery(f"invalid JSONPath expression {show(expression)}: {exc}") from exc


def compile_projection(fields: Sequence[str]) -> Projection:
    """Validate ``fields`` once and return ``project(doc) -> dict``.

    >>> compile_projection(["a[?(@.b > 1)].b"])({"a": [{"b": 1}, {"b": 2}]})
    {'a[?(@.b > 1)].b': 2}
    """
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        raise InvalidQuery(f"fields must be a list of JSONPath strings, got {show(fields)}")
    compiled: list[tuple[str, Any]] = []
    for field in fields:
        if not isinstance(field, str) or not field.strip():
            raise InvalidQuery(
                f"invalid JSONPath expression {show(field)}: expected a non-empty str"
            )
        if len(field) > MAX_EXPRESSION_LENGTH:
            raise InvalidQuery(
                f"JSONPath expression of {len(field)} characters is over {MAX_EXPRESSION_LENGTH}"
            )
        compiled.append((field, _parse(field)))

    def project_one(doc: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for field, expression in compiled:
            try:
                values = [match.value for match in expression.find(doc)]
            except Exception as exc:  # e.g. a filter comparing str and int inside jsonpath-ng
                raise InvalidQuery(f"JSONPath expression {show(field)} failed: {exc}") from exc
            if len(values) == 1:
                result[field] = values[0]
            elif values:
                result[field] = values
        return result

    return project_one


def project(doc: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Project one document; see the module notes for the shape."""
    return compile_projection(fields)(doc)
