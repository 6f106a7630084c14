"""Strategies and byte decoders shared by the JSON-shaped fuzz targets."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import strategies as st

KEYS = st.sampled_from(["a", "b", "0", "1", "x.y", "", "é"]) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=40,
)
# Also some values the codec refuses (the targets must refuse them with our errors).
ANY = JSON | st.recursive(
    SCALARS | st.floats() | st.binary(max_size=4) | st.tuples(st.integers()) | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.integers(0, 2) | KEYS, inner, max_size=3)
    ),
    max_leaves=10,
)


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


def values_from_bytes(raw: bytes, count: int) -> list[Any] | None:
    """``count`` values unpacked from fuzzer bytes (msgpack stream), or None if there are not enough."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=1 << 20)
    try:
        unpacker.feed(raw)
        out = []
        for value in unpacker:
            out.append(value)
            if len(out) == count:
                return out
    except Exception:
        return None
    return None
