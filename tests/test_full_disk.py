"""A full disk: writes that cannot be stored raise StorageFull, nothing half-lands, writing resumes.

The disk is "filled" with a file-size limit (``RLIMIT_FSIZE``, with ``SIGXFSZ``
ignored) in a child process, so the test needs no special file system. LMDB
reports the cut-short write at commit as EIO, not EFBIG (measured); the engine
looks at the cause (file at the limit, or a nearly full disk) and raises
StorageFull. ENOSPC itself is not produced here (that needs a small mounted
file system); it takes the same path.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    import datastore_engine as dse

    path = sys.argv[1]
    out = {"errors": []}
    with dse.open(path) as engine:
        base = engine.store("base")
        for i in range(20):
            base.put(f"b{i}", {"i": i, "pad": "p" * 500})
        engine.bucket("media").put("early", b"e" * 5000)
    size = os.path.getsize(os.path.join(path, "data.mdb"))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 200_000, hard))

    engine = dse.open(path)
    base = engine.store("base")
    fill = engine.store("fill")
    written = 0
    for i in range(500):  # 20 KB each: the limit is reached long before 500
        try:
            fill.put(f"f{i}", {"pad": "x" * 20_000})
            written += 1
        except dse.StorageFull as exc:
            out["single"] = {"type": type(exc).__name__, "at": i, "message": str(exc)}
            out["refused_visible"] = fill.get(f"f{i}", default=None) is not None
            break
        except Exception as exc:
            out["errors"].append(f"put f{i}: {type(exc).__name__}: {exc}")
            break
    out["written"] = written

    def attempt(name, fn):
        try:
            fn()
            out[name] = "no error"
        except Exception as exc:
            out[name] = type(exc).__name__

    def txn():
        with engine.transaction():
            for j in range(10):
                engine.store("txn").put(f"t{j}", {"pad": "y" * 20_000})
            fill.delete("f0")

    attempt("transaction", txn)
    attempt("blob", lambda: engine.bucket("media").put("big", b"z" * 3_000_000))
    out["txn_visible"] = engine.store("txn").info.count if "txn" in [s.name for s in engine.stores().items] else 0
    out["f0_still_there"] = fill.get("f0", default=None) is not None
    out["big_visible"] = any(
        o.name == "big" for o in engine.bucket("media").list()
    )
    # Earlier data reads back whole while the disk is full.
    out["base_ok"] = [base.get(f"b{i}")["i"] for i in range(20)] == list(range(20))
    out["early_ok"] = engine.bucket("media").get_bytes("early") == b"e" * 5000
    out["fill_ok"] = all(fill.get(f"f{i}")["pad"] == "x" * 20_000 for i in range(written))
    out["check_full"] = engine.check()

    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    try:
        fill.put("after", {"pad": "a" * 100_000})
        txn()
        engine.bucket("media").put("big", b"z" * 3_000_000)
        out["after"] = "ok"
    except Exception as exc:
        out["after"] = f"{type(exc).__name__}: {exc}"
    out["after_visible"] = [
        fill.get("after", default=None) is not None,
        len(engine.store("txn")),
        engine.bucket("media").get_bytes("big") == b"z" * 3_000_000,
    ]
    out["check_after"] = engine.check()
    engine.close()
    print(json.dumps(out))
    """
)


def test_a_full_disk_raises_storage_full_keeps_old_data_and_recovers(
    tmp_path: pathlib.Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "db")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == []
    assert out["single"]["type"] == "StorageFull", out
    assert "no room on disk" in out["single"]["message"]
    assert out["written"] > 0 and out["refused_visible"] is False
    assert out["transaction"] == "StorageFull" and out["txn_visible"] == 0 and out["f0_still_there"]
    assert out["blob"] == "StorageFull" and out["big_visible"] is False
    assert out["base_ok"] and out["early_ok"] and out["fill_ok"]
    assert out["check_full"] == []
    assert out["after"] == "ok"
    assert out["after_visible"] == [True, 10, True]
    assert out["check_after"] == []
