"""Dotted document paths: ``"a.b.1.c"``.

A path is split on ``.``; an empty segment is refused. On a dict a segment is a
key (so ``"0"`` is the key ``"0"``); on a list a segment must be a decimal
index (``0`` or a digit string without leading zeros). Keys that contain a dot
cannot be addressed by a path; use ``put``/``merge`` for them.

``set_in`` creates missing dict levels as dicts, and may append to a list with
index ``len(list)``; any other index past the end is refused. ``delete_in``
removes a dict key or a list element (later elements shift down).

Example:
    >>> doc = {"a": {"b": [1, {"c": 2}]}}
    >>> get_in(doc, "a.b.1.c")
    2
    >>> set_in(doc, "a.b.0", 5)
    {'a': {'b': [5, {'c': 2}]}}
"""

from __future__ import annotations

from typing import Any

from .errors import LimitExceeded, NotFound, ValidationError
from .merge import deep_copy

__all__ = ["MAX_PATH_CHARS", "delete_in", "get_in", "parse_path", "set_in"]

MAX_PATH_CHARS = 1024
_MISSING = object()


def parse_path(path: object) -> list[str]:
    """Split a dotted path into segments; ValidationError names a bad one."""
    if not isinstance(path, str) or not path:
        raise ValidationError(f"path must be a non-empty str, got {path!r}")
    if len(path) > MAX_PATH_CHARS:
        raise LimitExceeded(
            f"path is {len(path)} characters, over the limit of {MAX_PATH_CHARS}",
            limit="max_path_chars",
            value=len(path),
        )
    parts = path.split(".")
    if any(p == "" for p in parts):
        raise ValidationError(f"path {path!r} has an empty segment")
    return parts


def _index(seg: str, path: str) -> int:
    if not seg.isdigit() or not seg.isascii() or (len(seg) > 1 and seg[0] == "0"):
        raise ValidationError(f"path {path!r}: segment {seg!r} indexes a list and must be a number")
    return int(seg)


def _step(node: Any, seg: str, path: str) -> Any:
    if isinstance(node, dict):
        return node.get(seg, _MISSING)
    if isinstance(node, list):
        i = _index(seg, path)
        return node[i] if i < len(node) else _MISSING
    return _MISSING


def get_in(doc: Any, path: str) -> Any:
    """Value at ``path``; :class:`NotFound` if any step is missing."""
    node = doc
    for seg in parse_path(path):
        node = _step(node, seg, path)
        if node is _MISSING:
            raise NotFound(f"path {path!r} not found")
    return node


def set_in(doc: Any, path: str, value: Any) -> Any:
    """Return a copy of ``doc`` with ``value`` at ``path``."""
    parts = parse_path(path)
    root = deep_copy(doc) if isinstance(doc, dict | list) else {}
    node = root
    for depth, seg in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if last:
                node[seg] = deep_copy(value)
            else:
                if not isinstance(node.get(seg), dict | list):
                    node[seg] = {}
                node = node[seg]
        elif isinstance(node, list):
            i = _index(seg, path)
            if i > len(node):
                raise ValidationError(
                    f"path {path!r}: index {i} at {where!r} is past the end of a list of {len(node)}"
                )
            if last:
                if i == len(node):
                    node.append(deep_copy(value))
                else:
                    node[i] = deep_copy(value)
            else:
                if i == len(node):
                    node.append({})
                elif not isinstance(node[i], dict | list):
                    node[i] = {}
                node = node[i]
        else:  # pragma: no cover - levels are always made containers above
            raise ValidationError(f"path {path!r}: {where!r} is not a container")
    return root


def delete_in(doc: Any, path: str) -> Any:
    """Return a copy of ``doc`` without ``path``; :class:`NotFound` if it is missing."""
    parts = parse_path(path)
    root = deep_copy(doc)
    node = root
    for seg in parts[:-1]:
        node = _step(node, seg, path)
        if node is _MISSING:
            raise NotFound(f"path {path!r} not found")
    seg = parts[-1]
    if isinstance(node, dict) and seg in node:
        del node[seg]
        return root
    if isinstance(node, list):
        i = _index(seg, path)
        if i < len(node):
            del node[i]
            return root
    raise NotFound(f"path {path!r} not found")
