"""The codec refuses non-JSON values by path, and decodes what it wrote."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datastore_engine as dse
from datastore_engine import codec

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(deadline=None, max_examples=200)
@given(json_values)
def test_encode_then_decode_returns_the_same_value(value: object) -> None:
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize(
    ("value", "path_fragment"),
    [
        ({"a": float("nan")}, "'a'"),
        ({"a": [1, float("inf")]}, "'a.1'"),
        ({"a": {"b": -math.inf}}, "'a.b'"),
        ({"a": 2**63}, "'a'"),
        ({"a": -(2**63) - 1}, "'a'"),
        ({"a": {1: "x"}}, "'a'"),
        ({"a": (1, 2)}, "'a'"),
        ({"a": b"bytes"}, "'a'"),
        ({"a": {1, 2}}, "'a'"),
        ({"a": object()}, "'a'"),
        ({"k": [{"deep": [None, {"x": 1j}]}]}, "'k.0.deep.1.x'"),
    ],
    ids=[
        "nan",
        "inf-in-list",
        "neg-inf-nested",
        "int-too-big",
        "int-too-small",
        "int-key",
        "tuple",
        "bytes",
        "set",
        "object",
        "complex-deep",
    ],
)
def test_non_json_values_are_refused_naming_the_path(value: object, path_fragment: str) -> None:
    with pytest.raises(dse.ValidationError) as info:
        codec.encode(value)
    assert path_fragment in str(info.value)


def test_nesting_deeper_than_the_limit_is_limit_exceeded() -> None:
    deep: object = "leaf"
    for _ in range(65):
        deep = [deep]
    with pytest.raises(dse.LimitExceeded) as info:
        codec.encode(deep)
    assert info.value.limit == "max_depth"
    shallow: object = "leaf"
    for _ in range(63):
        shallow = {"k": shallow}
    assert codec.decode(codec.encode(shallow)) == shallow


def test_nesting_limit_is_configurable() -> None:
    with pytest.raises(dse.LimitExceeded):
        codec.encode([[[1]]], max_depth=2)
    assert codec.encode([[1]], max_depth=2)


def test_document_over_the_size_limit_is_limit_exceeded() -> None:
    with pytest.raises(dse.LimitExceeded) as info:
        codec.encode({"x": "a" * 200}, max_bytes=100)
    assert info.value.limit == "max_document_bytes"
    assert "100 bytes" in str(info.value)


def test_a_value_that_does_not_decode_is_corrupt_data_naming_the_document() -> None:
    with pytest.raises(dse.CorruptData) as info:
        codec.decode(b"\xc1\xff", key="doc-7")
    assert "doc-7" in str(info.value)
    assert info.value.key == "doc-7"


def test_untrusted_decoding_refuses_duplicate_keys_and_extension_types() -> None:
    dup = b"\x82\xa1a\x01\xa1a\x02"  # {"a": 1, "a": 2}
    assert codec.decode(dup) == {"a": 2}  # the trusted hot path does not check
    with pytest.raises(dse.CorruptData, match="duplicate"):
        codec.decode_untrusted(dup, key="x")
    ext = msgpack.packb(msgpack.ExtType(5, b"zz"))
    with pytest.raises(dse.CorruptData, match="extension"):
        codec.decode_untrusted(ext, key="x")
    with pytest.raises(dse.CorruptData):
        codec.decode_untrusted(msgpack.packb({"b": b"raw bytes"}, use_bin_type=True), key="x")
    assert codec.decode_untrusted(codec.encode({"ok": [1, 2]})) == {"ok": [1, 2]}


def test_subclasses_of_dict_list_and_str_are_accepted() -> None:
    from collections import OrderedDict

    class Name(str):
        pass

    assert codec.decode(codec.encode(OrderedDict(a=[Name("x")]))) == {"a": ["x"]}
