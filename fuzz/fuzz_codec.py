"""Fuzz the codec's decoders on arbitrary bytes: decode, decode_untrusted, read_header, record_body.

Invariant: every input returns or raises ``CorruptData``; nothing else, no hang.
What ``decode_untrusted`` accepts is storable JSON: it re-encodes, decodes back
equal, and the trusted ``decode`` reads the same value. Whatever msgpack can
carry (bytes, NaN, int keys, extension types, deep nesting) is judged alike by
the compiled validation fast path (``_accel.c``, when built) and the
pure-Python check: same verdict, same error message.

Run:
    python fuzz/fuzz_codec.py --seconds 60          # hypothesis-driven fallback
    python fuzz/fuzz_codec.py --atheris --seconds 60  # libFuzzer via atheris
"""

from __future__ import annotations

from typing import Any

import _harness
import msgpack
from hypothesis import strategies as st

from datastore_engine import codec
from datastore_engine.errors import CorruptData, LimitExceeded, ValidationError

ALLOWED = (CorruptData,)
HANG_SECONDS = _harness.HANG_SECONDS
stats = _harness.Stats()

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
RAW = st.recursive(  # what msgpack can carry that JSON cannot
    st.binary(max_size=10)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(0, 3) | st.text(max_size=2), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, byte in edits:
        if out:
            out[at % len(out)] = byte
    return bytes(out)


def _dupes(pairs: list[tuple[str, Any]]) -> bytes:
    head = (
        bytes([0x80 | len(pairs)]) if len(pairs) < 16 else b"\xde" + len(pairs).to_bytes(2, "big")
    )
    return head + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in pairs)


INPUTS = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    RAW.map(lambda v: msgpack.packb(v, use_bin_type=True, strict_types=False)),
    st.builds(
        _mutate,
        JSON.map(lambda v: msgpack.packb(v, use_bin_type=True)),
        st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=3),
    ),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), JSON), min_size=2, max_size=5).map(_dupes),
    st.builds(
        lambda head, body: head + body,
        st.binary(min_size=0, max_size=60),
        JSON.map(lambda v: msgpack.packb(v)),
    ),
    st.integers(1, 3000).map(lambda n: b"\x91" * n + b"\xc0"),  # deep nesting
    st.integers(0, 2**32 - 1).map(
        lambda n: b"\xdd" + n.to_bytes(4, "big")
    ),  # huge array header, no body
)
SEEDS: list[Any] = [
    b"",
    b"\xc1",
    codec.encode({"a": [1, 2.5, None]}),
    codec.pack_record(0, 1, 1, (b"\x01" * 16,), codec.encode({"x": 1})),
]


def _verdict(value: Any) -> str:
    try:
        codec.check_value(value)
    except (ValidationError, LimitExceeded) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _accel_agrees(data: bytes) -> None:
    fast = codec._plain_json
    if fast is None:
        return
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    except Exception:  # not msgpack at all: nothing to judge
        return
    with_accel = _verdict(value)
    codec._plain_json = None
    try:
        pure = _verdict(value)
    finally:
        codec._plain_json = fast
    assert with_accel == pure, f"accelerated check says {with_accel!r}, pure Python {pure!r}"


def _body(data: bytes) -> None:
    _accel_agrees(data)
    for fn in (codec.read_header, codec.record_body):
        try:
            fn(data, key="k")
        except CorruptData:
            pass
    try:
        codec.decode(data, key="k")
    except CorruptData:
        pass
    value = codec.decode_untrusted(data, key="k")
    again = codec.encode(value)
    assert codec.decode(again) == value, (
        "decode_untrusted accepted a value that does not round-trip"
    )
    assert codec.decode(data) == value, "decode and decode_untrusted disagree on accepted bytes"


check = _harness.guarded("fuzz_codec", _body, ALLOWED, stats, lambda: HANG_SECONDS)
run_fallback = _harness.fallback(check, INPUTS, SEEDS, stats)


def from_bytes(raw: bytes) -> bytes:
    return raw


if __name__ == "__main__":
    _harness.main("fuzz_codec", __doc__ or "", check, from_bytes, run_fallback, stats)
