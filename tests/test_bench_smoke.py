"""The benchmark's baseline backends run every workload and agree with a dict model.

Tiny N, no timing assertions: this proves the bench measures correct work (a fast
wrong answer would show up as a check that differs from the in-memory oracle).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    import bench  # noqa: F401
except ImportError:  # pytest run as a script puts tests/, not the repo root, on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.child import run_backend
from bench.config import mode_config
from bench.docgen import blob_chunks, make_items
from bench.report import check_mismatches, markdown
from bench.workloads import WORKLOADS

SMOKE = mode_config("smoke")
NOT_THREAD_SAFE_OR_NO_BLOBS = {"concurrent", "blobs"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("bench")
    return {
        name: run_backend(name, SMOKE, root / name, workloads=list(WORKLOADS))
        for name in ("memory", "raw", "sqlite", "tinydb")
    }


def _rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["workload"]: row for row in result["workloads"]}


@pytest.mark.parametrize("backend", ["memory", "raw", "sqlite"])
def test_every_workload_runs_on_the_lmdb_and_sqlite_baselines(
    results: dict[str, Any], backend: str
) -> None:
    rows = _rows(results[backend])
    failed = {w: r["status"] for w, r in rows.items() if r["status"] != "ok"}
    assert not failed, failed
    assert set(rows) == set(WORKLOADS)


def test_tinydb_runs_all_but_threads_and_blobs(results: dict[str, Any]) -> None:
    rows = _rows(results["tinydb"])
    for workload, row in rows.items():
        if workload in NOT_THREAD_SAFE_OR_NO_BLOBS:
            assert row["status"].startswith("n/a"), (workload, row["status"])
        else:
            assert row["status"] == "ok", (workload, row["status"])


@pytest.mark.parametrize(
    ("backend", "workload"),
    [
        (backend, workload)
        for backend in ("raw", "sqlite", "tinydb")
        for workload in WORKLOADS
        if not (backend == "tinydb" and workload in NOT_THREAD_SAFE_OR_NO_BLOBS)
    ],
)
def test_results_equal_the_dict_model(results: dict[str, Any], backend: str, workload: str) -> None:
    row = _rows(results[backend])[workload]
    assert row["status"] == "ok", row.get("traceback", row["status"])
    assert row["check"] == _rows(results["memory"])[workload]["check"]


def test_scan_finds_the_documents_the_generator_made(results: dict[str, Any]) -> None:
    # Independent of every backend: count matches over the generated documents, then
    # apply the read-modify-write bumps the workload made (recorded in its check).
    docs = dict(make_items(0, SMOKE.n_docs + SMOKE.single_durable, seed=SMOKE.seed))
    expected_before_rmw = sum(d["age"] >= 30 and d["city"] == "Oslo" for d in docs.values())
    total = _rows(results["raw"])["scan"]["check"]["total"]
    # rmw only raises ages, so it can only add matches, and at most one per bumped document
    assert expected_before_rmw <= total <= expected_before_rmw + SMOKE.rmw
    assert total > 0


def test_report_has_a_table_per_workload_and_no_mismatch(results: dict[str, Any]) -> None:
    text = markdown(list(results.values()), list(WORKLOADS), header="# smoke")
    for title, _ in WORKLOADS.values():
        assert f"### {title}" in text
    assert "MISMATCH" not in text
    assert check_mismatches(list(results.values()), "scan") == []


def test_report_flags_a_backend_that_disagrees(results: dict[str, Any]) -> None:
    liar = {**results["raw"], "backend": "dse"}
    liar["workloads"] = [
        {**row, "check": {**row.get("check", {}), "total": -1}}
        if row["workload"] == "scan"
        else row
        for row in liar["workloads"]
    ]
    assert check_mismatches([results["sqlite"], liar], "scan")


def test_workloads_that_read_the_main_store_run_after_the_bulk_insert_that_loads_it() -> None:
    from bench.run import plan_workloads

    assert plan_workloads(["merge", "insert_durable"]) == ["bulk_insert", "insert_durable", "merge"]
    assert plan_workloads(["index_eq", "bulk_insert", "scan"]) == ["bulk_insert", "scan", "index_eq"]
    assert plan_workloads(["blobs", "insert_relaxed", "scale"]) == ["insert_relaxed", "blobs", "scale"]
    assert plan_workloads([*WORKLOADS, "scale"]) == [*WORKLOADS, "scale"]


def test_blob_chunks_makes_its_random_chunk_when_called_so_a_timed_put_times_only_the_put(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []
    real = random.Random.randbytes

    def counting(self: random.Random, n: int) -> bytes:
        made.append(n)
        return real(self, n)

    monkeypatch.setattr(random.Random, "randbytes", counting)
    size = 2 * (1 << 20) + 12_345
    chunks = blob_chunks(size, seed=3)
    assert made == [1 << 20]  # before the first next(): the blobs workload starts its clock after this
    parts = list(chunks)
    assert made == [1 << 20]  # one random chunk, repeated
    assert [len(p) for p in parts] == [1 << 20, 1 << 20, 12_345]
    assert parts[0] == parts[1] == real(random.Random(3), 1 << 20)
    assert parts[2] == parts[0][:12_345]
