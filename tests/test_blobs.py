"""Blob store: buckets, objects, streams, listing, atomic publication, shared content, check()."""

from __future__ import annotations

import hashlib
import io
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from blobkit import count_rows, pattern
from hypothesis import given, settings
from hypothesis import strategies as st
from threadkit import run_threads

import datastore_engine as dse
from datastore_engine import blobs
from datastore_engine.blobkeys import CHUNK_SIZE, SHORT_NAME_BYTES
from datastore_engine.blobs import CHUNKS_PER_TXN

MIB = 1 << 20




# -- buckets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["abc", "my_bucket", "media", "a.b-c_d", "x" * 63, "0day", "logs.2024"],
)
def test_valid_bucket_names_are_accepted(engine: dse.Engine, name: str) -> None:
    assert engine.bucket(name).name == name
    assert engine.bucket_exists(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "3-63"),
        ("x" * 64, "3-63"),
        ("Media", "lowercase"),
        ("my bucket", "lowercase"),
        ("-abc", "start and end"),
        ("abc.", "start and end"),
        ("a..b", "adjacent dots"),
        ("a.-b", "dot next to a hyphen"),
        ("192.168.5.4", "IP address"),
        ("xn--abc", "xn--"),
        ("data-s3alias", "s3alias"),
        ("ab/c", "lowercase"),
        (b"abc", "must be a str"),
    ],
)
def test_bad_bucket_names_are_refused_with_the_rule_they_break(
    engine: dse.Engine, name: Any, why: str
) -> None:
    with pytest.raises(dse.ValidationError, match=why):
        engine.bucket(name)
    with pytest.raises(dse.ValidationError):
        engine.create_bucket(name)


def test_create_bucket_conflicts_when_it_exists_and_bucket_gets_or_creates(
    engine: dse.Engine,
) -> None:
    assert not engine.bucket_exists("media")
    created = engine.create_bucket("media")
    with pytest.raises(dse.Conflict, match="media"):
        engine.create_bucket("media")
    assert engine.bucket("media") == created
    assert [b.name for b in engine.buckets()] == ["media"]
    assert created.creation_date.tzinfo is not None


def test_buckets_are_listed_by_name(engine: dse.Engine) -> None:
    for name in ["zeta", "alpha", "mid_one"]:
        engine.create_bucket(name)
    assert [b.name for b in engine.buckets()] == ["alpha", "mid_one", "zeta"]


def test_remove_bucket_refuses_a_non_empty_bucket_unless_forced(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    b.put("a", b"1")
    with pytest.raises(dse.Conflict, match="not empty"):
        engine.remove_bucket("media")
    assert b.get_bytes("a") == b"1"
    engine.remove_bucket("media", force=True)
    assert not engine.bucket_exists("media")
    assert count_rows(engine, "chunks") == 0
    assert count_rows(engine, "objects") == 0
    with pytest.raises(dse.NotFound):
        engine.remove_bucket("media")
    with pytest.raises(dse.NotFound, match="media"):
        b.put("a", b"2")


def test_remove_empty_bucket_without_force(engine: dse.Engine) -> None:
    engine.bucket("empty")
    engine.remove_bucket("empty")
    assert engine.buckets() == []


def test_forced_remove_of_many_objects_deletes_them_all_in_batches(fast: dse.Engine) -> None:
    b = fast.bucket("many")
    for i in range(blobs._REMOVE_BATCH * 2 + 7):
        b.put(f"o{i:04}", b"x")
    other = fast.bucket("other")
    other.put("keep", b"k")
    fast.remove_bucket("many", force=True)
    assert count_rows(fast, "objects") == 1
    assert other.get_bytes("keep") == b"k"
    assert blobs.check(fast) == []


def test_a_recreated_bucket_does_not_see_the_old_objects(engine: dse.Engine) -> None:
    engine.bucket("media").put("a", b"1")
    engine.remove_bucket("media", force=True)
    assert list(engine.bucket("media").list()) == []


# -- put and get ---------------------------------------------------------------------------------


def test_put_returns_info_with_md5_etag_guessed_type_and_metadata(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    info = b.put("img/a.jpg", b"jpegdata", metadata={"owner": "ada"})
    assert info.name == "img/a.jpg"
    assert info.size == 8
    assert info.etag == hashlib.md5(b"jpegdata").hexdigest()
    assert info.content_type == "image/jpeg"
    assert info.metadata == {"owner": "ada"}
    assert info.bucket_name == "media"
    assert not info.is_dir
    assert b.stat("img/a.jpg") == info


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "text/plain"),
        ("dir.v2/report.CSV", "text/csv"),
        ("x.json", "application/json"),
        ("archive.tar.gz", "application/gzip"),
        ("noext", "application/octet-stream"),
        ("data:text/html,x", "application/octet-stream"),
        ("dir.jpg/file", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed_from_the_last_name_segment(
    engine: dse.Engine, name: str, expected: str
) -> None:
    assert engine.bucket("media").put(name, b"").content_type == expected


def test_an_explicit_content_type_wins(engine: dse.Engine) -> None:
    assert (
        engine.bucket("media").put("a.txt", b"x", content_type="image/png").content_type
        == "image/png"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda data: data,
        lambda data: bytearray(data),
        lambda data: memoryview(data),
        lambda data: io.BytesIO(data),
        lambda data: iter([data[:10], data[10 : CHUNK_SIZE + 5], b"", data[CHUNK_SIZE + 5 :]]),
        lambda data: (data[i : i + 333_333] for i in range(0, len(data), 333_333)),
    ],
    ids=["bytes", "bytearray", "memoryview", "file", "iterator", "odd-pieces"],
)
def test_every_kind_of_data_round_trips_across_chunk_boundaries(
    engine: dse.Engine, make: Any
) -> None:
    data = pattern(3 * CHUNK_SIZE + 12345)
    b = engine.bucket("media")
    info = b.put("obj", make(data))
    assert info.size == len(data)
    assert info.etag == hashlib.md5(data).hexdigest()
    assert b.get_bytes("obj") == data
    assert count_rows(engine, "chunks") == 4 + 1  # four chunks and the blob header


def test_empty_object(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    info = b.put("empty", b"")
    assert (info.size, info.etag) == (0, hashlib.md5(b"").hexdigest())
    assert b.get_bytes("empty") == b""
    assert list(b.get("empty")) == []


def test_length_reads_only_that_much_of_a_file(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    fh = io.BytesIO(b"0123456789")
    assert b.put("part", fh, length=4).size == 4
    assert b.get_bytes("part") == b"0123"
    assert fh.read() == b"456789"


@pytest.mark.parametrize(
    ("data", "length", "match"),
    [
        (b"abc", 4, "length"),
        (io.BytesIO(b"abc"), 4, "ended 1 bytes before"),
        (iter([b"ab", b"cd"]), 3, "more than length"),
        (iter([b"ab"]), 3, "holds 2 bytes"),
        ("text", None, "not str"),
        (io.StringIO("text"), None, "binary mode"),
        (iter(["text"]), None, "yielded str"),
        (12, None, "got int"),
        (b"x", -1, "length must be"),
    ],
)
def test_bad_data_or_length_stores_nothing(
    engine: dse.Engine, data: Any, length: Any, match: str
) -> None:
    b = engine.bucket("media")
    b.put("obj", b"old")
    with pytest.raises(dse.ValidationError, match=match):
        b.put("obj", data, length=length)
    assert b.get_bytes("obj") == b"old"
    assert blobs.check(engine) == []
    assert count_rows(engine, "uploads") == 0


def test_put_replaces_and_frees_the_old_content(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    b.put("obj", pattern(2 * CHUNK_SIZE))
    b.put("obj", b"small")
    assert b.get_bytes("obj") == b"small"
    assert count_rows(engine, "chunks") == 2
    assert blobs.check(engine) == []


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", dse.ValidationError),
        ("a\x00b", dse.ValidationError),
        ("x" * 1025, dse.LimitExceeded),
        ("é" * 513, dse.LimitExceeded),
        ("\ud800", dse.ValidationError),
        (5, dse.ValidationError),
    ],
)
def test_bad_object_names_are_refused(
    engine: dse.Engine, name: Any, error: type[Exception]
) -> None:
    b = engine.bucket("media")
    with pytest.raises(error):
        b.put(name, b"x")
    with pytest.raises(error):
        b.stat(name)


def test_names_are_opaque_keys_including_dots_slashes_and_1024_bytes(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    names = ["../../etc/passwd", "/abs", "a//b", ".", "x" * 1024, "é" * 512, "sp ace?#%"]
    for i, name in enumerate(names):
        b.put(name, str(i).encode())
    for i, name in enumerate(names):
        assert b.get_bytes(name) == str(i).encode()
        assert b.stat(name).name == name
    assert sorted(b.list_filename()) == sorted(names)


def test_long_names_sharing_their_key_prefix_stay_distinct(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    stem = "p" * SHORT_NAME_BYTES
    names = [stem + suffix for suffix in ["b", "a", "c", "aa", ""]]
    for name in names:
        b.put(name, name[-2:].encode())
    for name in names:
        assert b.get_bytes(name) == name[-2:].encode()
    assert [o.name for o in b.list()] == sorted(names)
    b.delete(stem + "a")
    assert not b.exists(stem + "a")
    assert b.exists(stem + "aa")


def test_missing_objects_are_not_found(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    for call in (b.get, b.stat, b.get_bytes, b.delete):
        with pytest.raises(dse.NotFound, match="nope"):
            call("nope")
    with pytest.raises(KeyError):
        b.stat("nope")
    assert not b.exists("nope")


# -- streams ---------------------------------------------------------------------------------------


def test_stream_reads_in_pieces_iterates_in_chunks_and_closes(engine: dse.Engine) -> None:
    data = pattern(2 * CHUNK_SIZE + 100)
    b = engine.bucket("media")
    b.put("obj", data)
    with b.get("obj") as stream:
        assert stream.info.size == len(data)
        assert stream.read(0) == b""
        head = stream.read(10)
        rest = b"".join(stream)
    assert head + rest == data
    assert stream.closed
    with pytest.raises(ValueError):
        stream.read(1)
    assert [len(c) for c in b.get("obj")] == [CHUNK_SIZE, CHUNK_SIZE, 100]
    pieces = list(b.get("obj").stream(32 * 1024))
    assert {len(p) for p in pieces[:-1]} == {32 * 1024}
    assert b"".join(pieces) == data
    buf = bytearray(7)
    s = b.get("obj")
    assert s.readinto(buf) == 7 and bytes(buf) == data[:7]
    assert s.read() == data[7:]
    assert s.read(5) == b""


def test_stream_works_with_shutil_and_buffered_readers(
    engine: dse.Engine, tmp_path: pathlib.Path
) -> None:
    import shutil

    data = pattern(CHUNK_SIZE + 3)
    b = engine.bucket("media")
    b.put("obj", data)
    out = io.BytesIO()
    shutil.copyfileobj(b.get("obj"), out)
    assert out.getvalue() == data
    assert io.BufferedReader(b.get("obj")).read() == data


def test_a_reader_gets_conflict_not_a_mix_when_the_object_is_replaced(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    old = pattern(3 * CHUNK_SIZE, seed=1)
    b.put("obj", old)
    stream = b.get("obj")
    first = next(stream)
    assert first == old[:CHUNK_SIZE]
    b.put("obj", pattern(3 * CHUNK_SIZE, seed=2))
    with pytest.raises(dse.Conflict, match="replaced or deleted"):
        next(stream)


def test_a_reader_of_a_shared_blob_keeps_reading_when_one_name_is_deleted(
    engine: dse.Engine,
) -> None:
    b = engine.bucket("media")
    data = pattern(2 * CHUNK_SIZE)
    b.put("obj", data)
    b.copy_to("media", "copy", "obj")
    stream = b.get("obj")
    b.delete("obj")
    assert stream.read() == data


# -- files -------------------------------------------------------------------------------------------


def test_fput_and_fget_round_trip_and_fget_creates_parents_without_leftovers(
    engine: dse.Engine, tmp_path: pathlib.Path
) -> None:
    src = tmp_path / "in.bin"
    data = pattern(CHUNK_SIZE + 17)
    src.write_bytes(data)
    b = engine.bucket("media")
    info = b.fput("dir/in.bin", src)
    assert info.content_type == "application/octet-stream"
    target = tmp_path / "out" / "deeper" / "copy.bin"
    got = b.fget("dir/in.bin", target)
    assert target.read_bytes() == data
    assert got.etag == info.etag
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]


def test_fget_replaces_an_existing_file_and_leaves_it_alone_when_the_object_is_missing(
    engine: dse.Engine, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "f.txt"
    target.write_bytes(b"before")
    b = engine.bucket("media")
    with pytest.raises(dse.NotFound):
        b.fget("nope", target)
    assert target.read_bytes() == b"before"
    b.put("yes", b"after")
    b.fget("yes", target)
    assert target.read_bytes() == b"after"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


def test_fget_never_uses_the_object_name_as_a_path(
    engine: dse.Engine, tmp_path: pathlib.Path
) -> None:
    b = engine.bucket("media")
    b.put("../escape.txt", b"x")
    b.fget("../escape.txt", tmp_path / "inside.txt")
    assert (tmp_path / "inside.txt").read_bytes() == b"x"
    assert not (tmp_path.parent / "escape.txt").exists()


# -- delete and copy --------------------------------------------------------------------------------------


def test_delete_one_or_many(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    for name in "abc":
        b.put(name, name.encode())
    assert b.delete("a") is None
    assert b.delete(["b", "zz", "c", "b"]) == {"b": True, "zz": False, "c": True}
    assert list(b.list()) == []
    assert count_rows(engine, "chunks") == 0


def test_copy_to_shares_content_and_each_copy_lives_on_alone(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    other = engine.bucket("archive")
    data = pattern(2 * CHUNK_SIZE + 1)
    b.put("src.bin", data, metadata={"k": "v"}, content_type="x/y")
    info = b.copy_to("archive", "dst.bin", "src.bin")
    assert (info.bucket_name, info.name, info.etag, info.metadata, info.content_type) == (
        "archive",
        "dst.bin",
        hashlib.md5(data).hexdigest(),
        {"k": "v"},
        "x/y",
    )
    assert count_rows(engine, "chunks") == 3 + 1  # shared, not copied
    assert blobs.check(engine) == []
    b.delete("src.bin")
    assert other.get_bytes("dst.bin") == data
    assert blobs.check(engine) == []
    other.delete("dst.bin")
    assert count_rows(engine, "chunks") == 0


def test_copy_onto_itself_and_over_another_object(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    b.put("a", b"aaa")
    b.put("b", b"bbb")
    b.copy_to("media", "a", "a")
    b.copy_to("media", "b", "a")
    assert (b.get_bytes("a"), b.get_bytes("b")) == (b"aaa", b"aaa")
    assert blobs.check(engine) == []


def test_copy_errors(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    b.put("a", b"1")
    with pytest.raises(dse.NotFound, match="nope"):
        b.copy_to("media", "x", "nope")
    with pytest.raises(dse.NotFound, match="absent"):
        b.copy_to("absent", "x", "a")


# -- listing ------------------------------------------------------------------------------------------------


@pytest.fixture
def tree(engine: dse.Engine) -> dse.Bucket:
    b = engine.bucket("tree")
    for name in [
        "a.txt",
        "img/1.jpg",
        "img/2.jpg",
        "img/raw/3.raw",
        "imgs.txt",
        "z/deep/x",
        "é.txt",
    ]:
        b.put(name, name.encode())
    return b


def test_list_is_recursive_and_by_name(tree: dse.Bucket) -> None:
    names = [o.name for o in tree.list()]
    assert names == [
        "a.txt",
        "img/1.jpg",
        "img/2.jpg",
        "img/raw/3.raw",
        "imgs.txt",
        "z/deep/x",
        "é.txt",
    ]
    assert all(o.size == len(o.name.encode()) and not o.is_dir for o in tree.list())


def test_list_non_recursive_groups_folders_at_slash(tree: dse.Bucket) -> None:
    top = [(o.name, o.is_dir) for o in tree.list(recursive=False)]
    assert top == [
        ("a.txt", False),
        ("img/", True),
        ("imgs.txt", False),
        ("z/", True),
        ("é.txt", False),
    ]
    assert [(o.name, o.is_dir) for o in tree.list(prefix="img/", recursive=False)] == [
        ("img/1.jpg", False),
        ("img/2.jpg", False),
        ("img/raw/", True),
    ]
    folder = next(o for o in tree.list(recursive=False) if o.is_dir)
    assert (folder.size, folder.etag, folder.last_modified) == (0, "", None)


def test_list_prefix_and_start_after(tree: dse.Bucket) -> None:
    assert [o.name for o in tree.list(prefix="img")] == [
        "img/1.jpg",
        "img/2.jpg",
        "img/raw/3.raw",
        "imgs.txt",
    ]
    assert [o.name for o in tree.list(start_after="img/2.jpg")] == [
        "img/raw/3.raw",
        "imgs.txt",
        "z/deep/x",
        "é.txt",
    ]
    assert [o.name for o in tree.list(prefix="img/", start_after="img/1.jpg", recursive=False)] == [
        "img/2.jpg",
        "img/raw/",
    ]
    assert list(tree.list(prefix="nothing")) == []


def test_list_filename_filters_by_substring(tree: dse.Bucket) -> None:
    assert tree.list_filename(contains=".txt") == ["a.txt", "imgs.txt", "é.txt"]
    assert tree.list_filename() == [o.name for o in tree.list()]


def test_list_spans_many_read_batches(fast: dse.Engine) -> None:
    b = fast.bucket("many")
    names = [f"d{i % 3}/o{i:05}" for i in range(blobs._LIST_BATCH * 3 + 5)]
    with fast.transaction():
        for name in names:
            b.put(name, b"")
    assert [o.name for o in b.list()] == sorted(names)
    assert [o.name for o in b.list(recursive=False)] == ["d0/", "d1/", "d2/"]


def test_list_of_a_missing_bucket_is_not_found(engine: dse.Engine) -> None:
    b = engine.bucket("gone")
    engine.remove_bucket("gone")
    with pytest.raises(dse.NotFound):
        list(b.list())


def _model_list(
    names: list[str], prefix: str, recursive: bool, start_after: str | None
) -> list[str]:
    out: list[str] = []
    for name in sorted(names, key=lambda n: n.encode()):
        if not name.startswith(prefix) or (
            start_after is not None and name.encode() <= start_after.encode()
        ):
            continue
        cut = name.find("/", len(prefix))
        entry = name if recursive or cut < 0 else name[: cut + 1]
        if not out or out[-1] != entry:
            out.append(entry)
    return out


_segment = st.sampled_from(["a", "b", "é", "/", "x" * 200, "y" * 230, "-", "z"])
_name = (
    st.lists(_segment, min_size=1, max_size=6)
    .map("".join)
    .filter(lambda n: len(n.encode()) <= 1024)
)
_names = st.lists(_name, min_size=1, max_size=12, unique=True)


@settings(deadline=None, max_examples=40)
@given(
    names=_names,
    prefix=st.sampled_from(["", "a", "a/", "x" * 200, "é", "/"]),
    recursive=st.booleans(),
    start_after=st.none() | st.sampled_from(["a", "b/", "x" * 250, "é"]),
)
def test_list_matches_a_model_including_long_names(
    names: list[str], prefix: str, recursive: bool, start_after: str | None
) -> None:
    with dse.open_temporary() as eng:
        b = eng.bucket("prop")
        with eng.transaction():
            for name in names:
                b.put(name, b"")
        got = [o.name for o in b.list(prefix=prefix, recursive=recursive, start_after=start_after)]
    assert got == _model_list(names, prefix, recursive, start_after)


# -- atomic publication, transactions, concurrency --------------------------------------------------------


def test_a_multi_transaction_upload_is_invisible_until_complete(fast: dse.Engine) -> None:
    b = fast.bucket("media")
    b.put("obj", b"old")
    seen: list[bytes] = []
    total = (CHUNKS_PER_TXN * 2 + 3) * CHUNK_SIZE

    def source() -> Iterator[bytes]:
        for i in range(total // CHUNK_SIZE):
            if i in (CHUNKS_PER_TXN + 2, 2 * CHUNKS_PER_TXN + 2):  # after one and two batch commits
                seen.append(b.get_bytes("obj"))
                assert count_rows(fast, "uploads") == 1
            yield pattern(CHUNK_SIZE, seed=i)

    info = b.put("obj", source())
    assert seen == [b"old", b"old"]
    assert info.size == total
    assert count_rows(fast, "uploads") == 0
    with b.get("obj") as stream:
        for i, chunk in enumerate(stream):
            assert chunk == pattern(CHUNK_SIZE, seed=i)
    assert blobs.check(fast) == []


def test_a_failing_source_after_several_batches_leaves_nothing_behind(fast: dse.Engine) -> None:
    b = fast.bucket("media")
    b.put("obj", b"old")

    def source() -> Iterator[bytes]:
        for i in range(CHUNKS_PER_TXN * 2 + 1):
            yield pattern(CHUNK_SIZE, seed=i)
        raise OSError("source broke")

    with pytest.raises(OSError, match="source broke"):
        b.put("obj", source())
    assert b.get_bytes("obj") == b"old"
    assert count_rows(fast, "uploads") == 0
    assert count_rows(fast, "chunks") == 2
    assert blobs.check(fast) == []


def test_a_bucket_removed_during_an_upload_makes_it_fail_cleanly(fast: dse.Engine) -> None:
    b = fast.bucket("media")

    def source() -> Iterator[bytes]:
        for i in range(CHUNKS_PER_TXN + 2):
            if i == CHUNKS_PER_TXN + 1:
                fast.remove_bucket("media")
            yield b"x" * CHUNK_SIZE

    with pytest.raises(dse.NotFound, match="media"):
        b.put("obj", source())
    assert count_rows(fast, "chunks") == 0
    assert count_rows(fast, "uploads") == 0


def test_put_inside_a_transaction_is_atomic_with_it(fast: dse.Engine) -> None:
    b = fast.bucket("media")
    store = fast.store("docs")
    data = pattern((CHUNKS_PER_TXN + 3) * CHUNK_SIZE)
    with pytest.raises(RuntimeError), fast.transaction():
        b.put("obj", data)
        store.put("d", {"x": 1})
        assert b.get_bytes("obj") == data  # the transaction sees its own write
        raise RuntimeError("roll back")
    assert not b.exists("obj")
    assert "d" not in store
    assert count_rows(fast, "chunks") == 0
    assert count_rows(fast, "uploads") == 0
    with fast.transaction():
        b.put("obj", data)
        store.put("d", {"x": 1})
    assert b.get_bytes("obj") == data
    assert store.get("d") == {"x": 1}
    assert blobs.check(fast) == []


def test_a_failed_put_inside_a_transaction_leaves_the_rest_of_it(fast: dse.Engine) -> None:
    b = fast.bucket("media")
    with fast.transaction():
        b.put("kept", b"k")

        def bad() -> Iterator[bytes]:
            yield from [b"x" * CHUNK_SIZE] * (CHUNKS_PER_TXN + 1)
            raise OSError("broken")

        with pytest.raises(OSError):
            b.put("lost", bad())
    assert b.get_bytes("kept") == b"k"
    assert not b.exists("lost")
    assert blobs.check(fast) == []


def test_concurrent_puts_and_reads_from_threads(fast: dse.Engine) -> None:
    b = fast.bucket("media")
    store = fast.store("docs")

    def writer(t: int) -> None:
        for i in range(4):
            data = pattern(CHUNK_SIZE * 2 + t, seed=t * 100 + i)
            b.put(f"t{t}", data)
            store.put(f"t{t}-{i}", {"i": i})
            got = b.get_bytes(f"t{t}")
            assert got == data

    run_threads(writer, 4)
    assert len(store) == 16
    assert blobs.check(fast) == []


def test_two_writers_of_one_name_leave_one_whole_object(fast: dse.Engine) -> None:
    b = fast.bucket("media")
    datas = [pattern(CHUNK_SIZE * (CHUNKS_PER_TXN + 1), seed=s) for s in (1, 2)]
    threads = [threading.Thread(target=b.put, args=("same", d)) for d in datas]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert b.get_bytes("same") in datas
    assert blobs.check(fast) == []
    assert count_rows(fast, "chunks") == CHUNKS_PER_TXN + 2


def test_a_closed_engine_refuses_bucket_use(tmp_path: pathlib.Path) -> None:
    eng = dse.open(tmp_path / "db")
    b = eng.bucket("media")
    eng.close()
    with pytest.raises(dse.EngineClosed):
        b.put("a", b"x")
    with pytest.raises(dse.EngineClosed):
        eng.bucket("media")


def test_objects_survive_close_and_reopen(tmp_path: pathlib.Path) -> None:
    data = pattern(CHUNK_SIZE + 5)
    with dse.open(tmp_path / "db") as eng:
        eng.bucket("media").put("obj", data, metadata={"a": "b"})
    with dse.open(tmp_path / "db") as eng:
        assert eng.bucket("media").get_bytes("obj") == data
        assert eng.bucket("media").stat("obj").metadata == {"a": "b"}


# -- metadata -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"k": 1}, dse.ValidationError),
        ({"": "v"}, dse.ValidationError),
        ([("k", "v")], dse.ValidationError),
        ({"k": "v" * 9000}, dse.LimitExceeded),
    ],
)
def test_bad_metadata_is_refused(engine: dse.Engine, metadata: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        engine.bucket("media").put("a", b"x", metadata=metadata)


def test_bad_content_type_is_refused(engine: dse.Engine) -> None:
    with pytest.raises(dse.ValidationError, match="content_type"):
        engine.bucket("media").put("a", b"x", content_type="text/plain\r\nX: y")


# -- check() ------------------------------------------------------------------------------------------------------


def test_check_reports_missing_chunks_orphans_and_bad_counts(engine: dse.Engine) -> None:
    from datastore_engine import blobkeys as bk

    b = engine.bucket("media")
    b.put("obj", pattern(2 * CHUNK_SIZE))
    b.put("other", b"x")
    assert blobs.check(engine) == []
    blob_of = {name: int(b._manifest(name)["blob"]) for name in ("obj", "other")}

    def damage(ctx: Any) -> None:
        chunks = ctx.dbs["chunks"]
        ctx.txn.delete(bk.chunk_key(blob_of["obj"], 1), db=chunks)
        ctx.txn.put(bk.chunk_key(999, 0), b"orphan", db=chunks)
        ctx.txn.put(
            bk.blob_key(blob_of["other"]), bk.pack_blob_header(refs=2, size=1, chunks=1), db=chunks
        )

    engine._env.run_write(damage)
    problems = blobs.check(engine)
    assert any(f"blob {blob_of['obj']}: header says 2 chunks" in p for p in problems), problems
    assert any("blob 999: 1 orphan chunks" in p for p in problems), problems
    assert any(
        f"blob {blob_of['other']}: counts 2 references, 1 manifests" in p for p in problems
    ), problems
    with pytest.raises(dse.CorruptData, match="chunk 1 is missing"):
        b.get_bytes("obj")


def test_exports() -> None:
    assert dse.Bucket is blobs.Bucket
    assert dse.ObjectInfo is blobs.ObjectInfo
    assert dse.__all__ == sorted(dse.__all__)
