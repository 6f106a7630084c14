"""Helpers shared by the blob tests: deterministic content, row counts, a guarded child process."""

from __future__ import annotations

import os
import pathlib
import random
import subprocess
import sys
import threading

import datastore_engine as dse

SRC = pathlib.Path(__file__).resolve().parent.parent


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes (so a chunk mix-up shows)."""
    return random.Random(seed).randbytes(size)


def count_rows(eng: dse.Engine, db: str) -> int:
    """How many keys sub-database ``db`` holds."""
    with eng._env.reading() as txn:
        return sum(1 for _ in txn.cursor(db=eng._env.dbs[db]).iternext(values=False))


def spawn_python(code: str, *args: str, stdin: bool = False) -> tuple[subprocess.Popen[str], threading.Timer]:
    """``python -c code args`` importing this checkout, and a started timer that kills it after 120 s.

    The caller cancels the timer (and reaps the child) when it is done: the suite never hangs on it.
    """
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    guard = threading.Timer(120, proc.kill)
    guard.daemon = True
    guard.start()
    return proc, guard
