"""Uploads interrupted by a killed process: reclaimed at the next open, never a live one's."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from blobkit import count_rows, spawn_python

import datastore_engine as dse
from datastore_engine import blobkeys as bk
from datastore_engine import blobs
from datastore_engine.blobkeys import CHUNK_SIZE
from datastore_engine.blobs import CHUNKS_PER_TXN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

# The child puts "obj" from a generator that, once two batches are committed,
# prints "ready" and then waits for a line on stdin before going on.
CHILD = textwrap.dedent(
    """
    import sys
    import datastore_engine as dse

    path, stop_at = sys.argv[1], int(sys.argv[2])

    def source():
        for i in range(stop_at + 3):
            if i == stop_at:
                print("ready", flush=True)
                sys.stdin.readline()
            yield bytes([i % 251]) * {chunk}

    with dse.open(path, durable=False) as eng:
        eng.bucket("media").put("obj", source())
    print("done", flush=True)
    """
).format(chunk=CHUNK_SIZE)

OLD = b"old content " * 200_000  # about 2.3 MiB: three chunks




def start_child(path: pathlib.Path) -> subprocess.Popen[str]:
    proc, guard = spawn_python(CHILD, str(path), str(2 * CHUNKS_PER_TXN + 2), stdin=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    guard.cancel()
    assert line == "ready", f"child said {line!r}"
    return proc


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "db"
    with dse.open(path, durable=False) as eng:
        eng.bucket("media").put("obj", OLD)
    return path


def test_a_killed_upload_is_reclaimed_at_the_next_open_and_the_old_object_stays(
    db: pathlib.Path,
) -> None:
    proc = start_child(db)
    try:
        with dse.open(db, durable=False) as eng:
            # Two batches (and the upload record) are committed, but not visible.
            assert count_rows(eng, "uploads") == 1
            assert count_rows(eng, "chunks") == 3 + 1 + 2 * CHUNKS_PER_TXN
            assert eng.bucket("media").get_bytes("obj") == OLD
            assert blobs.check(eng) == []  # a live upload is no problem
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()  # reaps it and closes the pipes
    assert proc.returncode == -signal.SIGKILL
    with dse.open(db, durable=False) as eng:
        assert count_rows(eng, "uploads") == 0
        assert count_rows(eng, "chunks") == 3 + 1
        assert eng.bucket("media").get_bytes("obj") == OLD
        assert blobs.check(eng) == []


def test_opening_while_another_process_uploads_leaves_its_chunks_alone(db: pathlib.Path) -> None:
    proc = start_child(db)
    try:
        with dse.open(db, durable=False) as eng:
            assert blobs.reclaim_orphans(eng._env) == 0
            assert count_rows(eng, "uploads") == 1
        out, _ = proc.communicate("go\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and out.strip() == "done"
    with dse.open(db, durable=False) as eng:
        stream = eng.bucket("media").get("obj")
        assert stream.info.size == (2 * CHUNKS_PER_TXN + 5) * CHUNK_SIZE
        for i, chunk in enumerate(stream):
            assert chunk == bytes([i % 251]) * CHUNK_SIZE
        assert count_rows(eng, "uploads") == 0
        assert blobs.check(eng) == []


def _forge_upload(eng: dse.Engine, blob_id: int, record: dict[str, Any], chunks: int) -> None:
    def write(ctx: Any) -> None:
        ctx.txn.put(bk.blob_key(blob_id), bk.pack_record(record), db=ctx.dbs["uploads"])
        for seq in range(chunks):
            ctx.txn.put(bk.chunk_key(blob_id, seq), b"z" * 10, db=ctx.dbs["chunks"])

    eng._env.run_write(write)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("record", "reclaimed"),
    [
        (lambda: {"pid": _dead_pid()}, True),
        (
            lambda: {"pid": os.getpid(), "start": blobs._start_time(os.getpid()) + 1},
            True,
        ),  # pid reused
        (lambda: {"pid": os.getpid(), "boot": "another-boot"}, True),
        (lambda: {"pid": os.getppid(), "start": blobs._start_time(os.getppid())}, False),
        (lambda: {"pid": os.getpid()}, False),  # this process: it may still publish
    ],
    ids=["dead-pid", "reused-pid", "before-reboot", "live-process", "this-process"],
)
def test_reclaim_frees_only_uploads_whose_process_is_gone(
    tmp_path: pathlib.Path, record: Any, reclaimed: bool
) -> None:
    with dse.open(tmp_path / "db", durable=False) as eng:
        _forge_upload(eng, 10_000, record(), chunks=CHUNKS_PER_TXN * 5)
        assert blobs.reclaim_orphans(eng._env) == int(reclaimed)
        assert count_rows(eng, "uploads") == int(not reclaimed)
        assert count_rows(eng, "chunks") == (0 if reclaimed else CHUNKS_PER_TXN * 5)
        if reclaimed:
            assert blobs.check(eng) == []
