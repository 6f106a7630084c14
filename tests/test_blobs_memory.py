"""Putting and getting a 256 MiB object never holds it whole in memory.

Measured in a fresh subprocess so nothing else in the suite muddles the numbers:

* Python allocations (tracemalloc peak) during the put and during the get;
* peak RSS growth (``ru_maxrss``) across the put: LMDB writes through ``pwrite``,
  so the put maps no file pages; its dirty pages are heap memory;
* anonymous RSS (``RssAnon``, sampled) during the get: reading maps the file's
  pages, which count in ``ru_maxrss`` but belong to the page cache, so the get
  is judged by the memory the process really holds.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

MB = 1_000_000
LIMIT = 64 * MB

CHILD = textwrap.dedent(
    """
    import gc, hashlib, json, resource, sys, threading, time, tracemalloc
    import datastore_engine as dse

    MIB = 1 << 20
    SIZE = 256 * MIB

    def anon():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no RssAnon")

    def maxrss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def source():  # streamed: one fresh MiB at a time
        for i in range(SIZE // MIB):
            yield bytes([i % 256]) * MIB

    expected = hashlib.md5()
    for chunk in source():
        expected.update(chunk)

    out = {}
    with dse.open(sys.argv[1], durable=False) as eng:
        b = eng.bucket("mem")
        b.put("warm", b"w" * (3 * MIB))  # imports, first transactions, map growth
        b.get_bytes("warm")
        gc.collect()

        base = maxrss()
        tracemalloc.start()
        info = b.put("big", source())
        out["put_python_peak"] = tracemalloc.get_traced_memory()[1]
        out["put_rss_growth"] = maxrss() - base

        gc.collect()
        tracemalloc.reset_peak()
        base_anon = anon()
        peak = [base_anon]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], anon())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        got, size = hashlib.md5(), 0
        with b.get("big") as stream:
            for chunk in stream:
                got.update(chunk)
                size += len(chunk)
        stop.set()
        sampler.join()
        out["get_python_peak"] = tracemalloc.get_traced_memory()[1]
        out["get_anon_growth"] = peak[0] - base_anon
        out["etag_ok"] = info.etag == expected.hexdigest() == got.hexdigest()
        out["size"] = size
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_256_mib_put_and_get_stay_under_64_mb(tmp_path: pathlib.Path) -> None:
    src = pathlib.Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["size"] == 256 << 20
    assert out["etag_ok"]
    for key in ("put_python_peak", "put_rss_growth", "get_python_peak", "get_anon_growth"):
        assert out[key] < LIMIT, (key, out)
