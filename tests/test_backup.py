"""engine.backup(): a consistent copy while another process keeps writing; restoring is opening the copy."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import datastore_engine as dse

ACCOUNTS = 50
START_BALANCE = 100

# Moves money between accounts (the total never changes inside a commit), logs every move,
# and now and then replaces a blob; runs until the stop file appears.
WRITER = """
import os, random, sys
import datastore_engine as dse
path, stop, accounts = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(7)
with dse.open(path) as engine:
    bank, log, media = engine.store("bank"), engine.store("log"), engine.bucket("media")
    n = 0
    while not os.path.exists(stop):
        a, b = rng.sample(range(accounts), 2)
        amount = rng.randint(1, 10)
        with engine.transaction():
            src, dst = bank.get(f"acct{a}"), bank.get(f"acct{b}")
            bank.put(f"acct{a}", {"balance": src["balance"] - amount})
            bank.put(f"acct{b}", {"balance": dst["balance"] + amount})
            log.put(f"move{n:08d}", {"from": a, "to": b, "amount": amount, "pad": "x" * rng.randint(0, 3000)})
        if n % 25 == 0:
            media.put(f"blob{n % 4}", os.urandom(rng.randint(1, 3 << 20)))
        n += 1
"""


def until(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the writer made no progress")
        time.sleep(0.02)


def assert_sound(path: Path, *, at_least: int, at_most: int) -> int:
    """The copy opens (fully verified), checks clean, and holds one moment of the bank."""
    with dse.open(path, verify=True) as copy:
        assert copy.check() == []
        balances = [doc["balance"] for _rid, doc in copy.store("bank").items()]
        assert len(balances) == ACCOUNTS and sum(balances) == ACCOUNTS * START_BALANCE
        moves = len(copy.store("log"))
        assert at_least <= moves <= at_most
        return moves


@pytest.mark.slow
def test_a_backup_taken_while_another_process_writes_is_consistent(tmp_path: Path) -> None:
    path, stop = tmp_path / "live", tmp_path / "stop"
    with dse.open(path) as engine:
        bank = engine.store("bank")
        with engine.transaction():
            for i in range(ACCOUNTS):
                bank.put(f"acct{i}", {"balance": START_BALANCE})
        log = engine.store("log")
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(stop), str(ACCOUNTS)]
        )
        try:
            until(lambda: len(log) >= 50)
            first = len(log)
            engine.backup(tmp_path / "compact")
            engine.backup(tmp_path / "full", compact=False)
            taken = len(log)
            until(lambda: len(log) >= taken + 50)  # the writer went on after the copies
        finally:
            stop.touch()
            assert writer.wait(timeout=120) == 0
        final = len(log)
        assert engine.check() == []
    for copy in ("compact", "full"):
        moves = assert_sound(tmp_path / copy, at_least=first, at_most=taken)
        assert moves < final  # a moment in the middle, not the end
    compact_size = (tmp_path / "compact" / "data.mdb").stat().st_size
    assert compact_size <= (tmp_path / "full" / "data.mdb").stat().st_size


def test_restoring_is_opening_the_copy_and_it_lives_on_its_own(tmp_path: Path) -> None:
    with dse.open(tmp_path / "live", app="a") as engine:
        engine.store("s").put("x", {"n": 1})
        engine.bucket("media").put("f", b"data")
        engine.backup(tmp_path / "copy")
        engine.store("s").put("x", {"n": 2})
    with dse.open(tmp_path / "copy", app="a") as restored:
        assert restored.store("s").get("x") == {"n": 1}
        assert restored.bucket("media").get_bytes("f") == b"data"
        restored.store("s").put("y", {})
        assert restored.check() == []
    with dse.open(tmp_path / "live", app="a") as engine:
        assert engine.store("s").get("x") == {"n": 2} and "y" not in engine.store("s")


def test_a_backup_never_overwrites_a_database(tmp_path: Path) -> None:
    with dse.open(tmp_path / "live") as engine:
        engine.store("s").put("x", {})
        (tmp_path / "empty").mkdir()
        engine.backup(tmp_path / "empty")  # an existing empty folder is fine
        with pytest.raises(dse.ValidationError, match="already holds a database"):
            engine.backup(tmp_path / "empty")
