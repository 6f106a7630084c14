"""Order-preserving byte encoding of JSON scalars for secondary indexes.

``encode_value(v)`` gives bytes whose ``bytes`` order is the value order:

    null < false < true < numbers < strings

* **Tags.** One leading byte per type: null ``01``, false ``02``, true ``03``,
  number ``04``, string ``05``; lists and dicts are never indexed as values.
* **Numbers.** ``04`` + the 8-byte order-preserving form of ``float(v)``
  (IEEE-754 big-endian, sign bit flipped for positives, all bits flipped for
  negatives; ``-0.0`` is stored as ``0.0``) + an exact tie-breaker: the signed
  integer ``v - int(float(v))`` in an order-preserving variable-length form
  (``80`` for zero; ``80+n`` then n big-endian bytes for positive; ``80-n``
  then n bytes of ``256**n - 1 + d`` for negative). Rounding to the nearest double is
  monotone, so ints and floats share one exact order: ``1 < 1.5 < 2`` and
  ``2**63-1 > 2**63-2`` even though both round to the same double. ``1`` and
  ``1.0`` encode the same (they are ``eq``). Ints beyond the float64 range
  raise ``ValueError`` (documents are 64-bit; callers scan instead).
* **Strings.** ``05`` + UTF-8 (``surrogatepass``; byte order == code-point
  order) with ``00`` escaped as ``00 FF``, then ``00 01`` for a complete string,
  or cut once the escaped body would pass ``STRING_BODY_BYTES`` and ended with
  ``00 02`` (truncated). The cut depends only on the leading bytes, so the
  encoding is monotone (a <= b implies enc(a) <= enc(b)); truncated strings
  that share a cut encode the same, and ranges include that whole group, so
  index candidates are a *superset* of the matches and the engine's re-check
  with the full predicate makes the result exact.
* **Self-delimiting.** No encoding is a prefix of another, so a key
  ``prefix + encode_value(v) + anything`` keeps the value order, and
  :func:`encoded_length` finds where the value ends. Every encoding is at most
  ``MAX_ENCODED_VALUE_BYTES`` (200) bytes, leaving 311 of LMDB's 511-byte key
  limit for the engine's prefix, separator and rid.

Ranges are :class:`KeyRange` ``(lo, hi)``: a key ``K`` (an encoded value,
possibly followed by more bytes such as a rid) is in range when
``lo <= K < hi``; ``hi is None`` means no upper bound. Ranges never cross a
type: ``gt 5`` scans numbers only, as comparisons across types are false.

Example:
    >>> encode_value(1) == encode_value(1.0) < encode_value(1.5) < encode_value("a")
    True
    >>> lo, hi = range_for("sw", "ab")
    >>> lo <= encode_value("abc") < hi, lo <= encode_value("b") < hi
    (True, False)
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from .evaluate import Getter, make_getter
from .scim import AttrPath

__all__ = [
    "MAX_ENCODED_VALUE_BYTES",
    "STRING_BODY_BYTES",
    "KeyRange",
    "encode_value",
    "encoded_length",
    "eq_range",
    "ge_range",
    "gt_range",
    "index_values",
    "is_cut",
    "le_range",
    "lt_range",
    "path_getter",
    "prefix_end",
    "prefix_range",
    "range_for",
    "values_checked",
    "values_found",
]

TAG_NULL, TAG_FALSE, TAG_TRUE, TAG_NUMBER, TAG_STRING = 1, 2, 3, 4, 5
STRING_BODY_BYTES = 196
MAX_ENCODED_VALUE_BYTES = 200

_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")
_COMPLETE = b"\x00\x01"
_TRUNCATED = b"\x00\x02"


class KeyRange(NamedTuple):
    """Keys ``K`` with ``lo <= K < hi`` (``hi`` None: unbounded)."""

    lo: bytes
    hi: bytes | None


def _double_bytes(number: float) -> bytes:
    if number == 0.0:
        number = 0.0  # -0.0 == 0.0: one encoding
    (bits,) = _U64.unpack(_DOUBLE.pack(number))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return _U64.pack(bits)


def _signed_varint(d: int) -> bytes:
    if d == 0:
        return b"\x80"
    if d > 0:
        n = (d.bit_length() + 7) // 8
        return bytes([0x80 + n]) + d.to_bytes(n, "big")
    m = -d - 1
    n = max(1, (m.bit_length() + 7) // 8)
    return bytes([0x80 - n]) + ((1 << (8 * n)) - 1 - m).to_bytes(n, "big")


def _encode_number(value: int | float) -> bytes:
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError(f"number {value!r} is outside the float64 range") from None
    if not math.isfinite(as_float):
        raise ValueError(f"number {value!r} is not finite")
    tie = value - int(as_float) if isinstance(value, int) else 0
    return bytes([TAG_NUMBER]) + _double_bytes(as_float) + _signed_varint(tie)


def _string_body(text: str) -> tuple[bytes, bool]:
    """The escaped (and maybe cut) UTF-8 body, and whether it was cut."""
    raw = text.encode("utf-8", "surrogatepass")
    escaped = raw.replace(b"\x00", b"\x00\xff")
    if len(escaped) <= STRING_BODY_BYTES:
        return escaped, False
    cut = escaped[:STRING_BODY_BYTES]
    # Never split an escape pair (every 00 in the body is followed by FF):
    # a trailing lone 00 would read as a terminator.
    if cut.endswith(b"\x00"):
        cut = cut[:-1]
    return cut, True


def is_cut(text: str) -> bool:
    """True when ``text`` is too long for its index key to hold it whole.

    >>> is_cut("a" * STRING_BODY_BYTES), is_cut("a" * (STRING_BODY_BYTES + 1))
    (False, True)
    """
    return _string_body(text)[1]


def encode_value(value: Any) -> bytes:
    """Order-preserving bytes of a JSON scalar (``ValueError`` for anything else).

    >>> encode_value(None) < encode_value(False) < encode_value(True) < encode_value(-1e300)
    True
    >>> encode_value(2**63 - 1) > encode_value(2**63 - 2) > encode_value(float(2**62))
    True
    """
    if value is None:
        return bytes([TAG_NULL])
    if value is True:
        return bytes([TAG_TRUE])
    if value is False:
        return bytes([TAG_FALSE])
    if isinstance(value, int | float):
        return _encode_number(value)
    if isinstance(value, str):
        body, cut = _string_body(value)
        return bytes([TAG_STRING]) + body + (_TRUNCATED if cut else _COMPLETE)
    raise ValueError(f"only JSON scalars are index values, got {type(value).__name__}")


def encoded_length(data: bytes) -> int:
    """Length of the encoded value at the start of ``data`` (what follows is the engine's).

    >>> encoded_length(encode_value("a\\x00b") + b"rid")
    7
    """
    tag = data[0]
    if tag in (TAG_NULL, TAG_FALSE, TAG_TRUE):
        return 1
    if tag == TAG_NUMBER:
        marker = data[9]
        return 10 + abs(marker - 0x80)
    if tag == TAG_STRING:
        pos = 1
        while True:
            pos = data.index(b"\x00", pos)
            if data[pos + 1] != 0xFF:
                return pos + 2
            pos += 2
    raise ValueError(f"not an encoded index value: {data[:16]!r}")


def prefix_end(data: bytes) -> bytes | None:
    """The smallest bytes greater than every string starting with ``data``."""
    stripped = data.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _type_bounds(value: Any) -> KeyRange:
    tag = encode_value(value)[0]
    return KeyRange(bytes([tag]), bytes([tag + 1]))


def eq_range(value: Any) -> KeyRange:
    """Keys whose value may ``eq`` ``value`` (exact unless the string was cut)."""
    key = encode_value(value)
    return KeyRange(key, prefix_end(key))


def _check_orderable(value: Any) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"ordering needs a number or a string, got {value!r}")


def gt_range(value: Any) -> KeyRange:
    """Keys whose value may be ``> value`` (same type only)."""
    _check_orderable(value)
    key, bounds = encode_value(value), _type_bounds(value)
    # A cut string may share its key with greater strings: start at the key itself.
    lo = key if key.endswith(_TRUNCATED) else prefix_end(key)
    return KeyRange(lo or bounds.hi or b"", bounds.hi)


def ge_range(value: Any) -> KeyRange:
    """Keys whose value may be ``>= value``."""
    _check_orderable(value)
    return KeyRange(encode_value(value), _type_bounds(value).hi)


def lt_range(value: Any) -> KeyRange:
    """Keys whose value may be ``< value``."""
    _check_orderable(value)
    key = encode_value(value)
    hi = prefix_end(key) if key.endswith(_TRUNCATED) else key
    return KeyRange(_type_bounds(value).lo, hi)


def le_range(value: Any) -> KeyRange:
    """Keys whose value may be ``<= value``."""
    _check_orderable(value)
    return KeyRange(_type_bounds(value).lo, prefix_end(encode_value(value)))


def prefix_range(prefix: str) -> KeyRange:
    """Keys of strings that may start with ``prefix`` (``sw``)."""
    body, _cut = _string_body(prefix)
    start = bytes([TAG_STRING]) + body
    return KeyRange(start, prefix_end(start))


_RANGES = {
    "eq": eq_range,
    "gt": gt_range,
    "ge": ge_range,
    "lt": lt_range,
    "le": le_range,
    "sw": prefix_range,
}


def range_for(op: str, value: Any) -> KeyRange:
    """The key range for ``op value`` with op in eq gt ge lt le sw (``ValueError`` otherwise)."""
    if op not in _RANGES:
        raise ValueError(f"operator {op!r} has no index range")
    if op == "sw" and not isinstance(value, str):
        raise ValueError(f"sw needs a string, got {value!r}")
    return _RANGES[op](value)


@lru_cache(maxsize=1024)
def path_getter(path: str) -> Getter:
    """``make_getter(path)`` for a dotted string, built once per path (a write computes its
    documents' index keys with it: building it per document cost ~10% of an indexed insert)."""
    return make_getter(path)


def index_values(doc: Any, path: str | Sequence[str] | AttrPath) -> set[bytes]:
    """The index keys of ``doc`` at ``path``: one per scalar value, list elements each.

    Uses the same path lookup as filters (``evaluate.get_values``), so an index
    returns every document a comparison on that path can match.

    >>> sorted(index_values({"tags": ["b", "a", {"x": 1}], "n": 1}, "tags"))
    [b'\\x05a\\x00\\x01', b'\\x05b\\x00\\x01']
    """
    return values_found(path_getter(path) if isinstance(path, str) else make_getter(path), doc)


def values_found(get: Getter, doc: Any) -> set[bytes]:
    """The index keys of the values ``get`` finds in ``doc`` (see :func:`index_values`)."""
    keys: set[bytes] = set()
    for value in get(doc):
        if value is None or isinstance(value, bool | int | float | str):
            keys.add(encode_value(value))
    return keys


def values_checked(get: Getter, doc: Any) -> tuple[set[bytes], bool]:
    """:func:`values_found`, and whether ``get`` also found a value that is no scalar (a
    list or a dict: never indexed, yet a sort on the path sees it).

    >>> values_checked(make_getter("a"), {"a": [1, {"b": 2}]})
    ({b'\\x04\\xbf\\xf0\\x00\\x00\\x00\\x00\\x00\\x00\\x80'}, True)
    """
    keys: set[bytes] = set()
    other = False
    for value in get(doc):
        if value is None or isinstance(value, bool | int | float | str):
            keys.add(encode_value(value))
        else:
            other = True
    return keys, other
