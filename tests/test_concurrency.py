"""4 processes x 4 threads move money between stores; every snapshot read sees the same total.

The workload is in ``bankkit.py``: 3 transfer threads and 1 reader thread per
process, a 1 MiB starting map that grows mid-run (ballast written halfway).
CI runs 10 s; ``python -m tests.stress`` runs 60 s.
"""

from __future__ import annotations

import pathlib
from typing import Any

import bankkit
import pytest

import datastore_engine as dse


@pytest.mark.slow
def test_bank_transfers_keep_the_total_under_concurrency_and_map_growth(
    tmp_path: pathlib.Path,
) -> None:
    result = bankkit.run_bank(str(tmp_path / "db"), seconds=10, processes=4, writers=3, readers=1)
    assert result["errors"] == []
    assert result["exit_codes"] == [0, 0, 0, 0]
    assert result["bad_totals"] == [], "a reader saw money appear or vanish"
    assert result["final_total"] == bankkit.TOTAL
    assert result["transfers"] > 0 and result["reads"] > 0
    assert min(result["map_sizes"]) > bankkit.MAP_SIZE, "the map never grew"
    assert result["check"] == []


def test_a_snapshot_does_not_see_a_commit_made_after_it_began(engine: dse.Engine) -> None:
    import threading

    a, b = engine.store("a"), engine.store("b")
    a.put("x", {"n": 1})
    b.put("y", {"n": 1})
    with engine.snapshot():
        assert a.get("x")["n"] == 1
        done = threading.Event()

        def move() -> None:
            with engine.transaction():
                a.put("x", {"n": 0})
                b.put("y", {"n": 2})
            done.set()

        # The writer runs on another thread and commits while our snapshot is open.
        t = threading.Thread(target=move)
        t.start()
        assert done.wait(30)
        t.join()
        assert (a.get("x")["n"], b.get("y")["n"], len(a), dict(b.items())) == (
            1,
            1,
            1,
            {"y": {"n": 1}},
        )
    assert (a.get("x")["n"], b.get("y")["n"]) == (0, 2)


def test_writes_inside_a_snapshot_are_refused_and_change_nothing(
    engine: dse.Engine, snapshot: Any
) -> None:
    s = engine.store("s")
    s.put("x", {"n": 1})
    before = snapshot(engine)
    with engine.snapshot():
        with pytest.raises(dse.ValidationError, match="read-only"):
            s.put("x", {"n": 2})
        with pytest.raises(dse.ValidationError, match="read-only"), engine.transaction():
            pass
    assert snapshot(engine) == before
    s.put("x", {"n": 3})  # and writing works again after it
    assert s.get("x") == {"n": 3}


def test_a_snapshot_inside_a_transaction_sees_the_transactions_own_writes(
    engine: dse.Engine,
) -> None:
    s = engine.store("s")
    with engine.transaction():
        s.put("x", {"n": 1})
        with engine.snapshot():
            assert s.get("x") == {"n": 1}
    assert s.get("x") == {"n": 1}
