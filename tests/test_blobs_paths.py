"""The put and get paths by size: one transaction below SMALL_OBJECT_BYTES, hashed beside
the chunk writes above it; the manifest and first chunk read together.

Each path must keep the blob contracts: exact sizes and etags at every boundary, atomic
replacement (a reader sees the old object or the new one, whole), nothing left behind by a
failure or a rollback, and a killed writer's chunks reclaimed at the next open.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import random
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from blobkit import count_rows, pattern, spawn_python
from hypothesis import given, settings
from hypothesis import strategies as st
from threadkit import threads_running

import datastore_engine as dse
from datastore_engine import blobs
from datastore_engine.blobkeys import CHUNK_SIZE
from datastore_engine.blobs import CHUNKS_PER_TXN, SMALL_OBJECT_BYTES

SMALL = SMALL_OBJECT_BYTES
BATCH = CHUNKS_PER_TXN * CHUNK_SIZE




SIZES = [
    0,
    1,
    SMALL - 1,
    SMALL,
    SMALL + 1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    2 * CHUNK_SIZE,
    BATCH,
    BATCH + 1,
]
SIZE_IDS = [
    "0",
    "1",
    "small-1",
    "small",
    "small+1",
    "chunk-1",
    "chunk",
    "chunk+1",
    "2chunks",
    "batch",
    "batch+1",
]
KINDS: dict[str, Callable[[bytes], object]] = {
    "bytes": lambda data: data,
    "bytearray": lambda data: bytearray(data),
    "file": lambda data: io.BytesIO(data),
    "pieces": lambda data: (data[i : i + 100_000] for i in range(0, len(data), 100_000)),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_exact_sizes_round_trip_with_their_etag_on_every_path(
    fast: dse.Engine, size: int, kind: str
) -> None:
    data = pattern(size, seed=size)
    b = fast.bucket("media")
    info = b.put("obj", KINDS[kind](data), length=size)
    assert (info.size, info.etag) == (size, hashlib.md5(data).hexdigest())
    assert b.stat("obj").etag == info.etag
    assert b.get_bytes("obj") == data
    with b.get("obj") as stream:
        assert [len(c) for c in stream] == [
            min(CHUNK_SIZE, size - i) for i in range(0, size, CHUNK_SIZE)
        ]
    assert b"".join(b.get("obj").stream(100_003)) == data
    assert count_rows(fast, "chunks") == -(-size // CHUNK_SIZE) + 1  # chunks and the header
    assert count_rows(fast, "uploads") == 0
    assert blobs.check(fast) == []


def test_bytes_are_stored_as_they_were_when_put(fast: dse.Engine) -> None:
    # Chunks of a bytes object are views of it (no copy); of a bytearray, copies.
    b = fast.bucket("media")
    data = bytearray(pattern(2 * CHUNK_SIZE + 3))
    b.put("obj", data)
    kept = bytes(data)
    data[:] = b"\x00" * len(data)
    assert b.get_bytes("obj") == kept
    frozen = pattern(3 * CHUNK_SIZE)
    b.put("frozen", memoryview(frozen)[CHUNK_SIZE:])
    assert b.get_bytes("frozen") == frozen[CHUNK_SIZE:]


@pytest.mark.parametrize(
    ("old_size", "new_size"),
    [
        (SMALL - 1, SMALL + 1),
        (CHUNK_SIZE, CHUNK_SIZE + 1),
        (CHUNK_SIZE + 1, SMALL - 1),
        (3 * CHUNK_SIZE, CHUNK_SIZE),
    ],
    ids=["small-to-hashed", "one-to-two-chunks", "two-chunks-to-small", "three-to-one"],
)
def test_readers_see_the_old_or_the_new_object_whole_while_it_is_replaced(
    fast: dse.Engine, old_size: int, new_size: int
) -> None:
    b = fast.bucket("media")
    versions = [pattern(old_size, seed=1), pattern(new_size, seed=2)]
    b.put("obj", versions[0])
    seen: set[int] = set()
    done = threading.Event()

    def reader(_t: int) -> None:
        reads = 0
        while not done.is_set() or not reads:  # once the writer is done, a read succeeds
            try:
                got = b.get_bytes("obj")
            except dse.Conflict:
                continue  # replaced while being read: never a mix
            assert got in versions, f"a mix of {len(got)} bytes"
            seen.add(versions.index(got))
            reads += 1

    with threads_running(reader, 2):
        try:
            for i in range(12):
                b.put("obj", versions[(i + 1) % 2])
        finally:
            done.set()
    assert seen  # the readers did read
    assert b.get_bytes("obj") == versions[0]
    assert count_rows(fast, "uploads") == 0
    assert blobs.check(fast) == []


def test_a_stream_of_a_one_chunk_object_reads_it_whole_after_a_replace(engine: dse.Engine) -> None:
    b = engine.bucket("media")
    old = pattern(CHUNK_SIZE, seed=1)
    b.put("obj", old)
    stream = b.get("obj")
    b.put("obj", pattern(CHUNK_SIZE, seed=2))
    b.delete("obj")
    assert stream.read() == old  # opened before: the manifest and its chunk were read together
    assert stream.info.size == len(old)


@pytest.mark.parametrize(
    "size", [SMALL - 1, SMALL + 1, CHUNK_SIZE + 1], ids=["small", "hashed", "2chunks"]
)
def test_a_rolled_back_transaction_leaves_no_trace_of_a_put(fast: dse.Engine, size: int) -> None:
    b = fast.bucket("media")
    b.put("obj", b"old")
    data = pattern(size)
    with pytest.raises(RuntimeError), fast.transaction():
        b.put("obj", data)
        assert b.get_bytes("obj") == data  # the transaction sees its own write
        raise RuntimeError("roll back")
    assert b.get_bytes("obj") == b"old"
    assert count_rows(fast, "chunks") == 2
    assert count_rows(fast, "uploads") == 0
    with fast.transaction():
        b.put("obj", data)
    assert b.get_bytes("obj") == data
    assert blobs.check(fast) == []


@pytest.mark.parametrize("size", [SMALL - 1, SMALL + 1], ids=["small", "hashed"])
def test_a_put_into_a_removed_bucket_fails_and_leaves_nothing(fast: dse.Engine, size: int) -> None:
    b = fast.bucket("media")
    fast.remove_bucket("media")
    with pytest.raises(dse.NotFound, match="media"):
        b.put("obj", pattern(size))
    assert count_rows(fast, "chunks") == 0
    assert count_rows(fast, "uploads") == 0


def test_a_dangling_manifest_is_corrupt_data_not_a_conflict(engine: dse.Engine) -> None:
    from datastore_engine import blobkeys as bk

    b = engine.bucket("media")
    b.put("obj", b"content")
    blob_id = int(b._manifest("obj")["blob"])
    engine._env.run_write(lambda ctx: ctx.txn.delete(bk.blob_key(blob_id), db=ctx.dbs["chunks"]))
    with pytest.raises(dse.CorruptData, match="is missing"):
        b.get("obj")


@pytest.mark.parametrize(
    ("db", "key_of", "value", "match"),
    [
        ("objects", "manifest", b"\xc1", "object 'obj' does not decode"),
        ("objects", "manifest", b"\x81\xa4name\xa3obj", "object 'obj' lacks field"),
        ("chunks", "header", b"short", "blob header blob .* has 5 bytes"),
        ("buckets", "bucket", b"\xc1", "bucket 'media' does not decode"),
    ],
    ids=["manifest-undecodable", "manifest-incomplete", "header-short", "bucket-undecodable"],
)
def test_get_of_a_corrupt_record_names_it(
    engine: dse.Engine, db: str, key_of: str, value: bytes, match: str
) -> None:
    """The read path decodes without building error labels; on bad bytes it still names the record."""
    from datastore_engine import blobkeys as bk

    b = engine.bucket("media")
    b.put("obj", b"content")
    b.get_bytes("obj")  # the bucket id is cached by its record's bytes: corrupt ones are not
    blob_id = int(b._manifest("obj")["blob"])
    with engine._env.reading() as txn:
        bucket_raw = bytes(txn.get(b"media", db=engine._env.dbs["buckets"]))
    bucket_id = bk.u64(int(bk.unpack_record(bucket_raw, what="bucket")["id"]))
    key = {
        "manifest": bk.object_key(bucket_id, "obj"),
        "header": bk.blob_key(blob_id),
        "bucket": b"media",
    }[key_of]
    engine._env.run_write(lambda ctx: ctx.txn.put(key, value, db=ctx.dbs[db]))
    with pytest.raises(dse.CorruptData, match=match):
        b.get("obj")


def test_a_bucket_made_again_under_its_name_reads_with_its_new_id(engine: dse.Engine) -> None:
    """Bucket ids are cached by the record's bytes: a new record (a new id) is never mistaken."""
    b = engine.bucket("media")
    b.put("obj", b"first")
    assert b.get_bytes("obj") == b"first"
    engine.remove_bucket("media", force=True)
    with pytest.raises(dse.NotFound):
        b.get("obj")
    again = engine.bucket("media")
    with pytest.raises(dse.NotFound):
        again.get("obj")
    again.put("obj", b"second")
    assert b.get_bytes("obj") == b"second"


@settings(max_examples=40, deadline=None)
@given(
    size=st.sampled_from([0, 1, 99, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 7]),
    reads=st.lists(
        st.sampled_from([0, 1, 7, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, -1]),
        max_size=8,
    ),
)
def test_read_of_any_size_sequence_matches_a_bytes_io_model(
    read_engine: dse.Engine, size: int, reads: list[int]
) -> None:
    """read(n) hands a whole chunk over when n covers it, slices it otherwise.

    As a raw stream's read, it returns at most n bytes and at most to the end of the
    current chunk, never nothing before the end: the bytes are those of a BytesIO model.
    """
    b = read_engine.bucket("reads")
    name = f"obj{size}"
    if not b.exists(name):
        b.put(name, pattern(size, seed=size))
    model = io.BytesIO(pattern(size, seed=size))
    with b.get(name) as stream:
        for n in reads:
            left = size - model.tell()
            got = stream.read(n)
            assert got == model.read(len(got))
            if n < 0:
                assert len(got) == left
            else:
                assert len(got) <= n and (len(got) > 0) == (n > 0 and left > 0)
        assert stream.read() == model.read()
        assert stream.read(CHUNK_SIZE) == b""
    with pytest.raises(ValueError):
        stream.read(CHUNK_SIZE)
    assert stream.read(0) == b""  # as io: a read of nothing asks nothing, even when closed


@pytest.fixture(scope="module")
def read_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dse.Engine]:
    with dse.open(str(tmp_path_factory.mktemp("reads")), durable=False) as eng:
        yield eng


def test_the_stream_keeps_its_own_closed_flag_for_every_io_caller(engine: dse.Engine) -> None:
    """``closed`` is ObjectStream's own: with, BufferedReader, flush and the finalizer all see it."""
    import gc

    b = engine.bucket("media")
    data = pattern(CHUNK_SIZE + 9)
    b.put("obj", data)
    stream = b.get("obj")
    assert not stream.closed
    with stream:
        assert stream.read(3) == data[:3]
    assert stream.closed
    with pytest.raises(ValueError):
        stream.flush()
    with pytest.raises(ValueError):
        stream.read(1)
    with pytest.raises(ValueError):
        stream.readinto(bytearray(4))
    with pytest.raises(ValueError):
        next(iter(stream))
    buffered = io.BufferedReader(b.get("obj"))
    assert buffered.read() == data
    raw = buffered.raw
    buffered.close()
    assert raw.closed
    unclosed = b.get("obj")
    unclosed.read(5)
    del unclosed
    gc.collect()  # the io finalizer closes it through the same flag, without an error
    assert b.get_bytes("obj") == data


def test_reads_across_chunks_never_copy_a_whole_chunk(engine: dse.Engine) -> None:
    """A read of at least a chunk returns the chunk read from LMDB itself, not a copy of it."""
    b = engine.bucket("media")
    b.put("obj", pattern(2 * CHUNK_SIZE + 5))
    with b.get("obj") as stream:
        first = stream._raw
        assert stream.read(CHUNK_SIZE) is first
        second = stream.read(4 * CHUNK_SIZE)
        assert len(second) == CHUNK_SIZE and stream._raw == b""
        assert stream.read(4 * CHUNK_SIZE) == pattern(2 * CHUNK_SIZE + 5)[-5:]


# -- killed writers ------------------------------------------------------------------------------

# The child replaces "obj" over and over, alternating two contents of two chunks each
# (hashed beside the chunk write, then published); it is killed at a random moment.
KILLED_CHILD = textwrap.dedent(
    """
    import random, sys
    import datastore_engine as dse

    path = sys.argv[1]
    versions = [random.Random(s).randbytes({size}) for s in (1, 2)]
    with dse.open(path, durable=False) as eng:
        b = eng.bucket("media")
        i = 0
        while True:
            b.put("obj", versions[i % 2])
            if i == 0:
                print("ready", flush=True)
            i += 1
    """
).format(size=CHUNK_SIZE + 1)


def test_a_writer_killed_at_a_random_moment_leaves_one_whole_object_and_no_orphans(
    tmp_path: pathlib.Path,
) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rnd = random.Random(seed)
    versions = [random.Random(s).randbytes(CHUNK_SIZE + 1) for s in (1, 2)]
    path = tmp_path / "db"
    for _ in range(4):
        proc, guard = spawn_python(KILLED_CHILD, str(path))
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rnd.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        finally:
            guard.cancel()
            if proc.poll() is None:  # pragma: no cover
                proc.kill()
                proc.communicate()
        with dse.open(path, durable=False) as eng:  # reclaims the killed upload
            b = eng.bucket("media")
            info = b.stat("obj")
            got = b.get_bytes("obj")
            assert got in versions
            assert info.etag == hashlib.md5(got).hexdigest()
            assert count_rows(eng, "uploads") == 0
            assert count_rows(eng, "chunks") == 2 + 1
            assert blobs.check(eng) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_hashes_with_its_own_threads(tmp_path: pathlib.Path) -> None:
    data = pattern(SMALL + 1)
    with dse.open(tmp_path / "parent", durable=False) as eng:
        eng.bucket("media").put("obj", data)  # starts this process's hashing threads
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            signal.alarm(60)  # a hash queued to the parent's (absent) threads would hang
            with dse.open(tmp_path / "child", durable=False) as eng:
                info = eng.bucket("media").put("obj", data)
                code = 0 if info.etag == hashlib.md5(data).hexdigest() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
