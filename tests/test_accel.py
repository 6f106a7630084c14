"""The optional compiled fast paths (``_accel.c``) against pure Python.

Validation: the accelerator may only say "plain JSON, accept" or "not sure":
every value must be accepted or refused exactly as the pure-Python path does,
with the same error type and message, and every encoding must be the same bytes.

First revisions (``put_many``'s loop): the records, feed entries and revision
ids must be the same bytes and strings as the Python loop's, whether the digest
comes from OpenSSL directly or through a ``hashlib`` object.

Feed tails: the compiled reader must give the Python loop's pairs for every
tail, and the same ValueError, word for word, for every damaged one.

Lookup filters: the compiled ``string_eq`` must split exactly the texts the
regex of ``query.scim.string_eq`` splits, into the same path and literal.
"""

from __future__ import annotations

import enum
import hashlib
import math
import os
import re
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datastore_engine as dse
from datastore_engine import changes, codec
from datastore_engine import engine as engine_module
from datastore_engine import find as find_module
from datastore_engine.errors import LimitExceeded, ValidationError
from datastore_engine.query import scim

try:
    from datastore_engine._accel import (
        drop_openssl,
        first_revision,
        first_revisions,
        plain_json,
        string_eq,
        unpack_tail,
        use_openssl,
    )
except ImportError:  # not built here: the tests that call it are skipped (needs_accel)
    pass

needs_accel = pytest.mark.skipif(not codec.accelerated(), reason="the C accelerator is not built here")


@pytest.fixture(params=["accelerated", "pure"])
def validation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the compiled fast paths, then without them (as on a machine without a C compiler)."""
    if request.param == "pure":
        monkeypatch.setattr(codec, "_plain_json", None)
        monkeypatch.setattr(changes, "_first_revisions_c", None)
        monkeypatch.setattr(changes, "first_revision_fast", changes.first_revision)
        monkeypatch.setattr(engine_module, "unpack_tail", engine_module._unpack_tail_py)
        monkeypatch.setattr(find_module, "_string_eq", scim.string_eq)
    elif not codec.accelerated():
        pytest.skip("the C accelerator is not built here")
    return str(request.param)


class Str(str):
    pass


class Int(int):
    pass


class Float(float):
    pass


class Dict(dict):  # type: ignore[type-arg]
    pass


class List(list):  # type: ignore[type-arg]
    pass


class Colour(enum.IntEnum):
    RED = 1


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except (ValidationError, LimitExceeded) as exc:
        return (type(exc).__name__, str(exc))


def _both(fn: Callable[[], Any]) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """``fn``'s outcome with the accelerator, then without it."""
    fast = _outcome(fn)
    saved, codec._plain_json = codec._plain_json, None
    try:
        slow = _outcome(fn)
    finally:
        codec._plain_json = saved
    return fast, slow


_bad_leaves = st.sampled_from(
    [math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, 2**70, b"bytes", (1, 2), {1, 2}, 1j, object()]
)
_odd_but_fine = st.sampled_from([Str("s"), Int(3), Float(1.5), Colour.RED, 2**63 - 1, -(2**63), -0.0, 1e308])
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), _bad_leaves, _odd_but_fine
)
_keys = st.one_of(st.text(max_size=5), st.sampled_from([1, None, 2.5, Str("k"), b"k", (1,)]))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_keys, children, max_size=4),
        st.lists(children, max_size=3).map(List),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(Dict),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(OrderedDict),
        st.lists(children, max_size=3).map(tuple),
    )


_values = st.recursive(_leaves, _containers, max_leaves=20)


@needs_accel
@settings(max_examples=600, deadline=None)
@given(value=_values, max_depth=st.integers(min_value=0, max_value=6))
def test_encoding_with_the_accelerator_is_identical_to_pure_python(value: Any, max_depth: int) -> None:
    fast, slow = _both(lambda: codec.encode(value, max_depth=max_depth, where="'d'"))
    assert fast == slow


@needs_accel
@settings(max_examples=300, deadline=None)
@given(value=_values, max_depth=st.integers(min_value=0, max_value=6))
def test_the_bulk_encoder_with_the_accelerator_is_identical_to_pure_python(value: Any, max_depth: int) -> None:
    def run() -> bytes:
        return codec.encoder(max_depth=max_depth)(value, "d")

    fast, slow = _both(run)
    assert fast == slow


@needs_accel
@settings(max_examples=600, deadline=None)
@given(value=_values, max_depth=st.integers(min_value=0, max_value=6), max_bytes=st.integers(min_value=1, max_value=200))
def test_encode_plain_gives_encodes_bytes_or_leaves_the_value_to_it(value: Any, max_depth: int, max_bytes: int) -> None:
    """The store's encode is encode_plain, else encode: together they must be encode (the Python check)."""
    data = codec.encode_plain(value, max_depth, max_bytes)
    saved, codec._plain_json = codec._plain_json, None
    try:
        slow = _outcome(lambda: codec.encode(value, max_depth=max_depth, max_bytes=max_bytes, where="'d'"))
        assert codec.encode_plain(value, max_depth, max_bytes) is None  # nothing without the compiled check
    finally:
        codec._plain_json = saved
    if data is not None:
        assert slow == ("ok", data)


@needs_accel
@settings(max_examples=600, deadline=None)
@given(value=_values, max_depth=st.integers(min_value=0, max_value=6))
def test_the_accelerator_says_plain_only_for_values_the_python_check_accepts(value: Any, max_depth: int) -> None:
    if plain_json(value, max_depth):
        codec._check(value, 0, max_depth)  # must not raise


@needs_accel
def test_the_accelerator_is_not_sure_about_subclasses_and_leaves_them_to_python() -> None:
    for value in ({"a": Str("x")}, [Int(1)], Dict(a=1), List([1]), Colour.RED, [Float(0.5)]):
        assert plain_json(value, 64) is False
        codec.check_value(value)  # still accepted, by the Python check
    assert plain_json({Str("k"): 1}, 64) is False
    with pytest.raises(ValidationError, match="non-str key 'k'"):  # keys must be exact str: Python refuses
        codec.check_value({Str("k"): 1})


@needs_accel
def test_the_accelerator_keeps_the_int64_and_finite_float_bounds() -> None:
    assert plain_json([2**63 - 1, -(2**63), 1.7e308, -0.0], 64) is True
    for bad in (2**63, -(2**63) - 1, math.nan, math.inf, -math.inf):
        assert plain_json({"a": [bad]}, 64) is False


@needs_accel
def test_the_accelerator_counts_depth_like_the_python_check() -> None:
    nested: Any = 1
    for _ in range(5):
        nested = {"a": [nested]}  # 10 containers deep
    assert plain_json(nested, 10) is True
    assert plain_json(nested, 9) is False
    codec.check_value(nested, max_depth=10)
    with pytest.raises(LimitExceeded):
        codec.check_value(nested, max_depth=9)


@needs_accel
def test_the_accelerator_hands_very_deep_values_to_python_whatever_the_limit() -> None:
    nested: Any = []
    for _ in range(600):  # past the C recursion bound (512)
        nested = [nested]
    assert plain_json(nested, 10_000) is False
    codec.check_value(nested, max_depth=10_000)  # Python decides: within the limit, accepted


@needs_accel
def test_the_accelerator_refuses_wrong_arguments_with_type_errors() -> None:
    with pytest.raises(TypeError):
        plain_json({})  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        plain_json({}, "64")  # type: ignore[arg-type]


@needs_accel
def test_the_accelerator_walks_a_self_containing_list_only_to_the_depth_limit() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert plain_json(loop, 64) is False
    with pytest.raises(LimitExceeded):
        codec.check_value(loop)


@pytest.mark.parametrize(
    ("doc", "error", "fragments"),
    [
        ({"a": {"b": math.nan}}, ValidationError, ("value at 'a.b' of", "is not finite: nan")),
        ({"n": [1, 2**64]}, ValidationError, ("value at 'n.1' of", "is an int outside signed 64-bit")),
        ({"t": (1, 2)}, ValidationError, ("value at 't' of", "is not a JSON value (type tuple)")),
        ({"k": {3: "x"}}, ValidationError, ("value at 'k' of", "has a non-str key 3")),
        ({"s": "\ud800"}, ValidationError, ("cannot be encoded",)),
    ],
)
def test_a_bad_document_gets_the_same_error_and_leaves_the_store_untouched(
    engine: dse.Engine, doc: dict[str, Any], error: type[Exception], fragments: tuple[str, ...], validation: str
) -> None:
    store = engine.store("people")
    store.put("keep", {"v": 1})
    for write in (lambda: store.add(doc, rid="x"), lambda: store.put_many([("y", doc)]),
                  lambda: store.merge("keep", doc)):  # fmt: skip
        with pytest.raises(error) as caught:
            write()
        for fragment in fragments:
            assert fragment in str(caught.value)
    assert store.get("keep") == {"v": 1}
    assert len(store) == 1


def test_documents_with_subclasses_are_stored_as_plain_json_either_way(engine: dse.Engine, validation: str) -> None:
    store = engine.store("things")
    doc = OrderedDict(name=Str("ada"), n=Int(3), colour=Colour.RED, tags=List(["x"]), ratio=Float(0.5))
    store.put("a", doc)
    store.put_many([("b", doc)])
    assert store.get("a") == store.get("b") == {"name": "ada", "n": 3, "colour": 1, "tags": ["x"], "ratio": 0.5}


def test_the_pure_environment_variable_turns_the_accelerator_off() -> None:
    code = (
        "import datastore_engine as dse; from datastore_engine import codec;"
        "print(codec.accelerated());"
        "e = dse.open_temporary(); s = e.store('s'); s.put('a', {'x': [1, 2.5]}); print(s.get('a')); e.close()"
    )
    env = {**os.environ, "DATASTORE_ENGINE_PURE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False", "{'x': [1, 2.5]}"]


def test_without_the_compiled_module_validation_falls_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after an install on a machine without a C compiler (the Extension is optional)."""
    monkeypatch.delenv("DATASTORE_ENGINE_PURE", raising=False)
    monkeypatch.setitem(sys.modules, "datastore_engine._accel", None)  # import now raises ImportError
    assert codec._load_accel() is None
    assert changes._load_accel() == (None, False)
    monkeypatch.setattr(codec, "_plain_json", codec._load_accel())
    assert not codec.accelerated()
    assert codec.decode(codec.encode({"a": [1, 2.5]})) == {"a": [1, 2.5]}
    with pytest.raises(ValidationError, match="is not finite"):
        codec.encode({"a": math.nan})


def test_the_accelerator_is_built_where_the_build_requires_it() -> None:
    """CI sets DATASTORE_ENGINE_REQUIRE_ACCEL=1: there a missing build is a failure, not a silent fallback."""
    if os.environ.get("DATASTORE_ENGINE_REQUIRE_ACCEL") != "1":
        pytest.skip("DATASTORE_ENGINE_REQUIRE_ACCEL is not set (only CI requires the compiled module)")
    assert codec.accelerated(), "datastore_engine._accel did not build or import; see the pip install output"


# -- first revisions ---------------------------------------------------------------------------

_chunks = st.lists(
    st.tuples(st.just("rid"), st.binary(min_size=1, max_size=250), st.none(), st.binary(max_size=5000)),
    max_size=6,
)


@pytest.fixture
def openssl_dropped() -> Any:
    """Hash through the hashlib object for the test, then bind OpenSSL again as at import."""
    drop_openssl()
    yield
    changes._first_revisions_c, changes._openssl_bound = changes._load_accel()


def _first_revisions_all_ways(prefix: bytes, seq: int, chunk: list[Any]) -> list[Any]:
    """The compiled loop with OpenSSL bound (when it binds here), then through hashlib, then Python."""
    out = [first_revisions(changes._FIRST_SHA, prefix, seq, chunk)]
    drop_openssl()
    try:
        out.append(first_revisions(changes._FIRST_SHA, prefix, seq, chunk))
    finally:
        changes._first_revisions_c, changes._openssl_bound = changes._load_accel()
    out.append(changes._first_revisions_py(prefix, seq, chunk))
    return out


@needs_accel
@settings(max_examples=300, deadline=None)
@given(prefix=st.binary(max_size=12), chunk=_chunks, data=st.data())
def test_compiled_first_revisions_are_the_python_loops_bytes(prefix: bytes, chunk: list[Any], data: Any) -> None:
    seq = data.draw(st.integers(min_value=0, max_value=2**64 - 1 - len(chunk)), label="seq")
    native, hashlib_object, python = _first_revisions_all_ways(prefix, seq, chunk)
    assert native == hashlib_object == python
    records, entries, revs = python
    assert len(records) == len(entries) == len(revs) == len(chunk)


@needs_accel
@settings(max_examples=300, deadline=None)
@given(
    prefix=st.binary(max_size=12),
    seq=st.integers(min_value=0, max_value=2**64 - 1),
    rid=st.binary(min_size=1, max_size=250),
    body=st.binary(max_size=5000),
)
def test_the_compiled_single_first_revision_is_the_python_ones_bytes(prefix: bytes, seq: int, rid: bytes, body: bytes) -> None:
    python = changes.first_revision(prefix, seq, rid, body)
    assert first_revision(changes._FIRST_SHA, prefix, seq, rid, body) == python
    drop_openssl()  # through the hashlib object
    try:
        assert first_revision(changes._FIRST_SHA, prefix, seq, rid, body) == python
    finally:
        changes._first_revisions_c, changes._openssl_bound = changes._load_accel()
    assert changes.first_revision_fast(prefix, seq, rid, body) == python


@needs_accel
@pytest.mark.parametrize(
    "args",
    [
        ("p", 1, b"r", b"body"),
        (b"p", 1, "r", b"body"),
        (b"p", 1, b"r", bytearray(b"body")),
        (b"p", -1, b"r", b"body"),
        (b"p", 2**64, b"r", b"body"),
        (b"p", 1, b"r"),
    ],
)
def test_the_compiled_single_first_revision_refuses_wrong_arguments(args: tuple[Any, ...]) -> None:
    with pytest.raises((TypeError, OverflowError)):
        first_revision(changes._FIRST_SHA, *args)


@needs_accel
def test_the_compiled_loop_binds_openssl_here_and_gives_pinned_revision_ids() -> None:
    """On this machine kind the OpenSSL binding takes; its ids are the ones pinned before it existed."""
    assert changes._openssl_bound
    body = codec.encode({"name": "ada", "age": 36})
    _, _, revs = first_revisions(changes._FIRST_SHA, b"\x00" * 8, 1, [("ada", b"ada", None, body)])
    assert revs == [changes.rev_string(1, changes.digest(b"", False, body))]


@needs_accel
def test_openssl_is_not_bound_from_a_library_not_loaded_or_with_a_wrong_known_answer(openssl_dropped: None) -> None:
    import _hashlib

    probe = b"probe"
    right = hashlib.sha256(b"\x00" + probe).digest()
    assert not use_openssl("/nonexistent/libcrypto.so", probe, right)
    assert not use_openssl(_hashlib.__file__, probe, bytes(32))  # the self-test refuses it
    assert not use_openssl(_hashlib.__file__, probe, right[:8])  # too short to compare: refused too
    chunk = [("a", b"a", None, b"\x81\xa1a\x01")]
    assert first_revisions(changes._FIRST_SHA, b"p", 3, chunk) == changes._first_revisions_py(b"p", 3, chunk)
    assert use_openssl(_hashlib.__file__, probe, right)


@needs_accel
@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"p", 1, ("not", "a list")), TypeError),
        (("p", 1, []), TypeError),
        ((b"p", 1, [("rid", "text id", None, b"body")]), TypeError),
        ((b"p", 1, [("rid", b"id", None)]), TypeError),
        ((b"p", 1, [["rid", b"id", None, b"body"]]), TypeError),
        ((b"p", -1, []), OverflowError),
        ((b"p", 2**64, []), OverflowError),
        ((b"p", 2**64 - 1, [("r", b"a", None, b""), ("r", b"b", None, b"")]), OverflowError),
    ],
)
def test_the_compiled_loop_refuses_wrong_arguments(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        first_revisions(changes._FIRST_SHA, *args)
    with pytest.raises(TypeError):
        first_revisions(changes._FIRST_SHA, b"p")  # type: ignore[call-arg]  # too few arguments on purpose


def test_put_many_gives_the_same_revisions_and_feed_either_way(engine: dse.Engine, validation: str) -> None:
    store = engine.store("load")
    items = [(f"d{i:04d}", {"n": i, "name": f"doc {i}", "tags": ["a"] * (i % 3)}) for i in range(300)]
    revs = store.put_many(items)
    expected = [changes.rev_string(1, changes.digest(b"", False, codec.encode(doc))) for _, doc in items]
    assert revs == expected
    assert [store.get(rid) for rid, _ in items] == [doc for _, doc in items]
    feed = list(store.changes())
    assert [(c.rid, c.rev, c.deleted) for c in feed] == [(rid, rev, False) for (rid, _), rev in zip(items, revs, strict=True)]


def _tail_outcome(read: Callable[[bytes, Any], Any], sid: bytes, tail: Any) -> Any:
    """What reading a feed tail gives: its pairs, or the ValueError's words."""
    try:
        return read(sid, tail)
    except ValueError as exc:
        return ("ValueError", str(exc))


_tail_entries = st.lists(st.tuples(st.binary(min_size=8, max_size=8), st.binary(max_size=300)), max_size=30)


@needs_accel
@settings(max_examples=400, deadline=None)
@given(sid=st.binary(max_size=12), entries=_tail_entries, cut=st.integers(min_value=0), junk=st.binary(max_size=12))
def test_the_compiled_feed_tail_reader_gives_the_python_loops_pairs_and_errors(
    sid: bytes, entries: list[tuple[bytes, bytes]], cut: int, junk: bytes
) -> None:
    whole = engine_module.pack_tail([(sid + seq, entry) for seq, entry in entries])
    assert unpack_tail(sid, whole) == [(sid + seq, entry) for seq, entry in entries]
    for tail in (whole, whole[: cut % (len(whole) + 1)], whole + junk, junk):
        python = _tail_outcome(engine_module._unpack_tail_py, sid, tail)
        assert _tail_outcome(unpack_tail, sid, tail) == python
        assert _tail_outcome(unpack_tail, sid, memoryview(tail)) == python  # a record read as a buffer


@needs_accel
def test_the_compiled_feed_tail_reader_is_the_one_the_engine_uses_and_names_the_cut() -> None:
    assert engine_module.unpack_tail is unpack_tail
    sid = (3).to_bytes(8, "big")
    tail = engine_module.tail_entry(sid + (9).to_bytes(8, "big"), b"entry")
    with pytest.raises(ValueError, match="feed tail entry of 5 bytes cut short at byte 0 of 14"):
        unpack_tail(sid, tail[:-1])
    with pytest.raises(ValueError, match="feed tail cut short at byte 15 of 17"):
        unpack_tail(sid, tail + b"\x00\x00")


@needs_accel
@pytest.mark.parametrize("args", [(b"sid",), (b"sid", "text tail"), ("text sid", b""), (b"sid", b"", b"")])
def test_the_compiled_feed_tail_reader_refuses_wrong_arguments(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        unpack_tail(*args)


def test_single_inserts_past_many_feed_tails_list_the_same_feed_either_way(
    engine: dse.Engine, validation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ~1 KiB of feed entries moves from the counters record into the feed tree, read by unpack_tail."""
    read, reads = engine_module.unpack_tail, []

    def counted(sid: bytes, tail: bytes) -> list[tuple[bytes, bytes]]:
        reads.append(len(tail))
        return read(sid, tail)

    monkeypatch.setattr(engine_module, "unpack_tail", counted)
    store = engine.store("one_by_one")
    rids = [f"d{i:04d}" for i in range(200)]
    revs = [store.put(rid, {"n": i}) for i, rid in enumerate(rids)]
    for rid in rids[:150]:
        store.add({"copy": rid}, rid=rid + "-copy")
    feed = list(store.changes())
    assert [(c.seq, c.rid, c.rev) for c in feed[:200]] == [(i + 1, rid, rev) for i, (rid, rev) in enumerate(zip(rids, revs, strict=True))]
    assert [c.rid for c in feed[200:]] == [rid + "-copy" for rid in rids[:150]]
    assert [c.seq for c in list(store.changes(since=190, limit=5))] == [191, 192, 193, 194, 195]
    assert engine.check() == []
    assert sum(size > engine_module.TAIL_BYTES for size in reads) >= 10  # tails moved into the tree


# -- lookup filters ------------------------------------------------------------------------------

_spaces = st.lists(st.sampled_from([" ", "\t", "\n", "\u3000", "\xa0", "\x1c", "\x85", "\u200b", "x"]), max_size=3)
_names = st.text(alphabet="aAnNdDoOrRtTz09_$-.é", min_size=0, max_size=8)
_ops = st.sampled_from(["eq", "EQ", "eQ", "Eq", "ne", "e", "eqq", "pr"])
_literals = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12) | st.text(
    alphabet='ab"\\\x00\x1f\x7f \u2028é', max_size=8
)


_filters = st.builds(
    lambda a, path, b, op, c, lit, close, d, tail: f'{a}{path}{b}{op}{c}"{lit}{close}{d}{tail}',
    _spaces.map("".join), _names, _spaces.map("".join), _ops, _spaces.map("".join), _literals,
    st.sampled_from(['"', "", '""']), _spaces.map("".join), st.sampled_from(["", "", " or b pr", ")", "x"]),
)


@needs_accel
@settings(max_examples=3000, deadline=None)
@given(text=_filters | st.text(alphabet='ae q."\\ \t$-_\u3000', max_size=16))
def test_the_compiled_lookup_split_takes_exactly_the_filters_the_regex_takes(text: str) -> None:
    assert string_eq(text, scim.MAX_FILTER_LENGTH) == scim.string_eq(text)


@needs_accel
def test_the_compiled_lookup_split_is_the_one_find_uses_and_keeps_the_edges() -> None:
    assert find_module._string_eq is string_eq
    assert string_eq('email eq "a@b.c"', 100) == ("email", "a@b.c")
    assert string_eq('\u3000a.b-c\u3000EQ\t"\u00e9 x"\n', 100) == ("a.b-c", "\u00e9 x")
    assert string_eq('a eq ""', 100) == ("a", "")
    long = 'a eq "' + "x" * 94 + '"'  # 101 characters
    assert string_eq(long, 101) == ("a", "x" * 94)
    assert string_eq(long, 100) is None and scim.string_eq(long, 100) is None
    for text in ['and eq "x"', 'OR.b eq "x"', 'Not eq "x"', 'a.-b eq "x"', 'a. eq "x"', 'a eq"x"', 'a eq "x\\"',
                 'a eq "x', 'a eq "\x1f"', '-a eq "x"', 'a eq "x" y', 'a eq "x"" ', "", " "]:  # fmt: skip
        assert string_eq(text, 100) is None, text
        assert scim.string_eq(text) is None, text
    assert string_eq('andy eq "x"', 100) == ("andy", "x")


@needs_accel
@pytest.mark.parametrize("args", [('a eq "x"',), (b'a eq "x"', 10), ('a eq "x"', "10"), ('a eq "x"', 10, 1)])
def test_the_compiled_lookup_split_refuses_wrong_arguments(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        string_eq(*args)


def test_the_regex_white_space_is_what_the_compiled_split_skips() -> None:
    """The C code skips Py_UNICODE_ISSPACE, which is str.isspace; the regex's ``\\s`` must be that set."""
    space = re.compile(r"\s")
    assert [c for c in range(sys.maxunicode + 1) if (space.fullmatch(chr(c)) is not None) != chr(c).isspace()] == []


def test_indexed_lookups_spelled_every_way_answer_like_a_scan_either_way(engine: dse.Engine, validation: str) -> None:
    plain, indexed = engine.store("plain"), engine.store("indexed")
    docs = {"d1": {"email": "a@x.org", "and": {"b": "a@x.org"}}, "d2": {"email": "b@x.org"},
            "d3": {"email": ["a@x.org", "c@x.org"]}, "d4": {"email": "a@x.org"}}  # fmt: skip
    for store in (plain, indexed):
        store.put_many(list(docs.items()))
        store.delete("d4")
    indexed.create_index("email")
    texts = ['email eq "a@x.org"', '  email\u3000EQ\t"a@x.org" ', 'email eq "c@x.org"', 'email eq "nobody"',
             'email eq "a@x.org" or email eq "b@x.org"', 'email eq "b@x.org"', 'and.b eq "a@x.org"']  # fmt: skip
    for text in texts:
        assert indexed.find(text).items == plain.find(text).items, text
    assert [rid for rid, _ in indexed.find('email eq "a@x.org"').items] == ["d1", "d3"]
    assert [rid for rid, _ in indexed.find('and.b eq "a@x.org"').items] == ["d1"]  # the parser's path, not the split's
    with pytest.raises(dse.InvalidFilter, match="expected an attribute name"):
        indexed.find('and eq "a@x.org"')
