"""Bank-transfer workload: many processes and threads move money, readers check the total.

:func:`run_bank` starts ``processes`` spawned processes; each runs
``writers`` transfer threads and ``readers`` reader threads for ``seconds``:

* a transfer moves a random amount between two accounts in *different*
  stores inside one ``engine.transaction()``;
* a reader sums every balance of every store inside one ``engine.snapshot()``
  and records any total that is not the starting total;
* the map starts at 1 MiB, and halfway through one thread of process 0 writes
  a few MiB of ballast, so the map grows (in every process) in the middle of
  the run. ``MapGrown`` from a transaction is the documented retryable signal:
  it is retried and counted; any other exception is recorded as an error.

The caller asserts: no errors, no bad total, the final total exact, the map
grew, ``engine.check()`` clean. Used by ``tests/test_concurrency.py`` (CI, 10 s)
and ``python -m tests.stress`` (60 s).
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
if str(HERE.parent.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent.parent))

import datastore_engine as dse  # noqa: E402

STORES = [f"bank{i}" for i in range(4)]
ACCOUNTS = [f"acct{i}" for i in range(8)]
START_BALANCE = 1000
TOTAL = START_BALANCE * len(STORES) * len(ACCOUNTS)
MAP_SIZE = 1 << 20
BALLAST = (24, 200_000)  # documents x bytes: ~4.8 MB, several doublings of a 1 MiB map


def setup(path: str) -> None:
    with dse.open(path, map_size=MAP_SIZE) as engine, engine.transaction():
        for name in STORES:
            store = engine.store(name)
            for acct in ACCOUNTS:
                store.put(acct, {"balance": START_BALANCE})


def total_of(engine: dse.Engine) -> int:
    return sum(doc["balance"] for name in STORES for doc in engine.store(name).values())


def _transfer(engine: dse.Engine, rng: random.Random) -> None:
    a, b = rng.sample(STORES, 2)
    sa, sb = engine.store(a), engine.store(b)
    x, y = rng.choice(ACCOUNTS), rng.choice(ACCOUNTS)
    amount = rng.randrange(1, 50)
    with engine.transaction():
        bx = sa.get(x)["balance"]
        by = sb.get(y)["balance"]
        sa.put(x, {"balance": bx - amount})
        sb.put(y, {"balance": by + amount})


def _worker(path: str, index: int, seconds: float, writers: int, readers: int, out: Any) -> None:
    stats: dict[str, Any] = {
        "transfers": 0,
        "reads": 0,
        "map_grown_retries": 0,
        "bad_totals": [],
        "errors": [],
    }
    lock = threading.Lock()
    # durable=False: no flush per commit, so many more interleavings per second;
    # this test is about isolation and growth, not about surviving a power cut.
    engine = dse.open(path, map_size=MAP_SIZE, durable=False)
    start = time.monotonic()
    deadline = start + seconds

    def record_error() -> None:
        with lock:
            stats["errors"].append(f"process {index}: {traceback.format_exc()}")

    def writer(t: int) -> None:
        rng = random.Random(index * 100 + t)
        ballast_due = index == 0 and t == 0
        try:
            while time.monotonic() < deadline:
                if ballast_due and time.monotonic() > start + seconds / 2:
                    ballast_due = False
                    count, size = BALLAST
                    for i in range(count):
                        engine.store("ballast").put(f"b{i}", {"pad": "x" * size})
                try:
                    _transfer(engine, rng)
                except dse.MapGrown:
                    with lock:
                        stats["map_grown_retries"] += 1
                    continue
                with lock:
                    stats["transfers"] += 1
        except BaseException:
            record_error()

    def reader() -> None:
        try:
            while time.monotonic() < deadline:
                with engine.snapshot():
                    total = total_of(engine)
                with lock:
                    stats["reads"] += 1
                    if total != TOTAL and len(stats["bad_totals"]) < 10:
                        stats["bad_totals"].append(total)
        except BaseException:
            record_error()

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
    threads += [threading.Thread(target=reader) for _ in range(readers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stats["map_size"] = engine.map_info()["map_size"]
    engine.close()
    out.put(stats)


def run_bank(
    path: str, *, seconds: float, processes: int = 4, writers: int = 3, readers: int = 1
) -> dict[str, Any]:
    """Run the workload; return the merged statistics plus the final total, map size and check()."""
    setup(path)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(path, i, seconds, writers, readers, out))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    results: list[dict[str, Any]] = []
    give_up = time.monotonic() + seconds + 120
    while len(results) < len(procs) and time.monotonic() < give_up:
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and out.empty():
                break  # a process died without reporting
    for p in procs:
        p.join(timeout=60)
    merged: dict[str, Any] = {
        "transfers": 0,
        "reads": 0,
        "map_grown_retries": 0,
        "bad_totals": [],
        "errors": [],
    }
    if len(results) < len(procs):
        merged["errors"].append(
            f"only {len(results)} of {len(procs)} processes reported (see stderr)"
        )
    for r in results:
        for key in ("transfers", "reads", "map_grown_retries"):
            merged[key] += r[key]
        merged["bad_totals"] += r["bad_totals"]
        merged["errors"] += r["errors"]
    merged["exit_codes"] = [p.exitcode for p in procs]
    merged["map_sizes"] = [r["map_size"] for r in results]
    merged["processes"] = len(procs)
    with dse.open(path, map_size=MAP_SIZE) as engine:
        merged["final_total"] = total_of(engine)
        merged["check"] = engine.check()
    return merged
