"""Short, safe text of any value for error messages.

``show`` bounds depth and length, so a hostile body (a 10 MB string, a list
nested 100k deep) cannot make an error message huge or hit ``RecursionError``.

Example:
    >>> show([[[[[1]]]]])
    '[[[[[...]]]]]'
    >>> len(show("x" * 10_000)) < 100
    True
"""

from __future__ import annotations

import reprlib

__all__ = ["show"]

_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6


def show(value: object) -> str:
    """A bounded ``repr`` of ``value``."""
    return _REPR.repr(value)
