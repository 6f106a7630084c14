"""The bench's parent runs one child per backend in lock-step, and cleans up after them.

These run the real parent/child path (``bench.run.main`` starting ``python -m bench.child
--serve``) at the quick sizes on the ``raw`` and ``memory`` backends, with two or three
small workloads: a few seconds each. No timing assertions: wall-clock timestamps are
compared only for their order.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

try:
    import bench  # noqa: F401
except ImportError:  # pytest run as a script puts tests/, not the repo root, on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run
from bench.child import DIE_AT_ENV, DIE_STATUS, PAUSED, serve
from bench.config import mode_config
from bench.run import ServeChild, main

MEMORY_FIELDS = ("baseline_rss_mb", "peak_rss_mb", "rss_growth_mb", "peak_anon_mb", "seconds")

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _children() -> set[int]:
    """Pids whose parent is this process, zombies included (a zombie keeps its /proc entry)."""
    me = os.getpid()
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited while we looked
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])  # after "pid (comm)": state, ppid
        if ppid == me:
            pids.add(int(stat.parent.name))
    return pids


def _bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "r.json"
    workdir = tmp_path / "work"
    workdir.mkdir()
    assert main(["--quick", "--workdir", str(workdir), "--out", str(out), *args]) == 0
    assert list(workdir.iterdir()) == []  # every round's data removed (no --keep)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["workload"]: row for row in result["workloads"]}


def test_rounds_of_lockstep_children_give_each_backend_its_rows_and_memory_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _bench(
        tmp_path,
        *("--backends", "raw,memory", "--workloads", "bulk_insert,point_get", "--rounds", "2"),
    )
    assert data["meta"]["rounds"] == 2
    results = {r["backend"]: r for r in data["results"]}
    assert list(results) == ["raw", "memory"]
    for result in results.values():
        assert result["rounds"] == 2
        assert result["n_docs"] == mode_config("quick").n_docs
        rows = _rows(result)
        assert list(rows) == ["bulk_insert", "point_get"]
        for row in rows.values():
            assert row["status"] == "ok", row.get("traceback", row["status"])
            assert all(len(m["rounds"]) == 2 for m in row["metrics"]), row["metrics"]
            assert row["peak_rss_mb"] > 0 and row["peak_anon_mb"] > 0
        for field in MEMORY_FIELDS:
            assert isinstance(result[field], int | float), (field, result.get(field))
        assert result["peak_rss_mb"] >= result["baseline_rss_mb"]
        assert result["pid"] != os.getpid()  # measured in a child, not in the parent
    raw, memory = (_rows(results[b])["point_get"] for b in ("raw", "memory"))
    assert raw["check"] == memory["check"]
    assert "### Point get" in capsys.readouterr().out


def test_children_run_with_the_fixed_malloc_thresholds_and_the_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    data = _bench(tmp_path, "--backends", "memory", "--workloads", "bulk_insert")
    assert data["meta"]["machine"]["malloc"] == run.MALLOC_TUNABLES
    assert [r["malloc"] for r in data["results"]] == [run.MALLOC_TUNABLES]  # as the child saw it
    assert f"GLIBC_TUNABLES={run.MALLOC_TUNABLES}" in capsys.readouterr().out


def test_a_callers_own_malloc_tunables_reach_the_children_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = "glibc.malloc.trim_threshold=1048576"
    monkeypatch.setenv("GLIBC_TUNABLES", mine)
    data = _bench(tmp_path, "--backends", "memory", "--workloads", "bulk_insert")
    assert data["meta"]["machine"]["malloc"] == mine
    assert [r["malloc"] for r in data["results"]] == [mine]


def test_backends_take_turns_part_by_part_and_finish_a_workload_before_the_next(
    tmp_path: Path,
) -> None:
    workloads = ["bulk_insert", "insert_durable", "point_get"]  # report order
    data = _bench(tmp_path, "--backends", "raw,memory", "--workloads", ",".join(workloads))
    spans = sorted(
        (start, end, row["workload"], r["backend"])
        for r in data["results"]
        for row in r["workloads"]
        for start, end in row["spans"]
    )
    parts = {w: len([s for s in spans if s[2] == w]) // 2 for w in workloads}
    # bulk_insert is one part; point_get pauses between its 3 passes; insert_durable
    # runs in the quick mode's 2 slices.
    assert parts == {"bulk_insert": 1, "point_get": 3, "insert_durable": 2}
    # Workload by workload in report order, and within one, part by part, each part
    # backend by backend...
    assert [(w, b) for _, _, w, b in spans] == [
        (w, b) for w in workloads for _ in range(parts[w]) for b in ("raw", "memory")
    ]
    # ...and one child working at a time: each part starts after the one before it ended.
    for (_, end, *before), (start, _, *after) in pairwise(spans):
        assert start >= end, (before, after)
    for r in data["results"]:
        for row in r["workloads"]:
            assert (row["started"], row["finished"]) == (row["spans"][0][0], row["spans"][-1][1])


@needs_proc
def test_a_child_that_dies_gets_error_rows_while_the_other_backend_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _children()
    monkeypatch.setenv(DIE_AT_ENV, "raw:point_get")
    data = _bench(tmp_path, "--backends", "raw,memory", "--workloads", "bulk_insert,point_get,scan")
    results = {r["backend"]: r for r in data["results"]}
    dead = f"error: child exited with status {DIE_STATUS}"
    assert {w: r["status"] for w, r in _rows(results["raw"]).items()} == {
        "bulk_insert": "ok",
        "point_get": dead,
        "scan": dead,
    }
    assert results["raw"]["n_docs"] == mode_config("quick").n_docs  # the report can group it
    assert all(r["status"] == "ok" for r in results["memory"]["workloads"])
    assert _children() == before  # both children reaped: none running, no zombie
    assert "### Full-scan filter" in capsys.readouterr().out


@needs_proc
def test_a_child_that_dies_between_parts_gets_an_error_row_and_the_other_finishes_every_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _children()
    monkeypatch.setenv(DIE_AT_ENV, "raw:point_get@2")  # after its first pass of three
    data = _bench(tmp_path, "--backends", "raw,memory", "--workloads", "bulk_insert,point_get,scan")
    results = {r["backend"]: _rows(r) for r in data["results"]}
    dead = f"error: child exited with status {DIE_STATUS}"
    assert {w: r["status"] for w, r in results["raw"].items()} == {
        "bulk_insert": "ok",
        "point_get": dead,
        "scan": dead,
    }
    memory = results["memory"]
    assert all(r["status"] == "ok" for r in memory.values())
    assert [len(memory[w]["spans"]) for w in ("bulk_insert", "point_get", "scan")] == [1, 3, 3]
    assert _children() == before


@needs_proc
def test_an_interrupted_parent_kills_its_children_by_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _children()
    started: list[ServeChild] = []
    ready = ServeChild.ready

    def record_ready(self: ServeChild) -> None:
        started.append(self)
        ready(self)

    def interrupt(self: ServeChild, workload: str) -> dict[str, Any]:
        raise KeyboardInterrupt  # as Ctrl-C while the parent waits for a row

    monkeypatch.setattr(ServeChild, "ready", record_ready)
    monkeypatch.setattr(ServeChild, "run", interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(
            [
                "--quick",
                "--backends",
                "raw,memory",
                "--workloads",
                "bulk_insert",
                "--workdir",
                str(tmp_path),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
    assert [c.backend for c in started] == ["raw", "memory"]
    assert [c.proc.returncode for c in started] == [-signal.SIGKILL, -signal.SIGKILL]
    assert _children() == before
    assert list(tmp_path.iterdir()) == []  # the data directory went too, and no JSON


FAKE_CHILD = """
import sys
print('{"ready": "raw"}', flush=True)
sys.stdin.readline()
print("Traceback (most recent call last):", flush=True)
sys.stdin.read()  # until the parent closes our stdin
sys.exit(3)
"""


def test_a_child_that_answers_with_something_not_json_is_reaped_and_gets_error_rows(
    tmp_path: Path,
) -> None:
    child = ServeChild("raw", "quick", tmp_path, command=[sys.executable, "-c", FAKE_CHILD])
    child.ready()
    first = child.run("bulk_insert")
    second = child.run("point_get")  # not sent: the child is gone
    assert child.proc.returncode == 3  # it exited by itself once its stdin closed
    assert first is not None and second is not None
    assert first == {
        "workload": "bulk_insert",
        "title": "Bulk insert (one transaction)",
        "status": "error: child exited with status 3",
    }
    assert second["status"] == first["status"]
    result = child.finish()
    assert result["backend"] == "raw"
    assert result["pid"] == child.proc.pid
    assert result["workloads"] == [first, second]


def test_serve_answers_one_json_line_per_command_and_the_result_at_finish(
    tmp_path: Path,
) -> None:
    answers = io.StringIO()
    commands = io.StringIO("run bulk_insert\nrun point_get\nfinish\n")
    status = serve("memory", mode_config("smoke"), tmp_path, commands=commands, answers=answers)
    ready, *rows, result = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert status == 0
    assert ready == {"ready": "memory", "pid": os.getpid(), "status": "ok"}
    assert [r["workload"] for r in rows] == ["bulk_insert", "point_get"]
    assert result["workloads"] == rows
    assert all(field in result for field in (*MEMORY_FIELDS, "pid"))


def test_serve_pauses_a_sliced_workload_between_parts_until_stepped(tmp_path: Path) -> None:
    answers = io.StringIO()
    commands = io.StringIO("run bulk_insert\nrun insert_durable\nstep\nfinish\n")
    serve("memory", mode_config("smoke"), tmp_path, commands=commands, answers=answers)
    _ready, bulk, paused, durable, result = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert paused == {"workload": "insert_durable", "status": PAUSED}  # smoke: 2 slices
    assert (durable["workload"], durable["status"], len(durable["spans"])) == ("insert_durable", "ok", 2)
    assert durable["metrics"][0]["name"] == "inserts/s"
    assert result["workloads"] == [bulk, durable]  # a paused answer is not a row


def test_serve_refuses_a_step_with_nothing_paused_and_a_run_while_paused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no workload is running"):
        serve("memory", mode_config("smoke"), tmp_path, commands=io.StringIO("step\n"), answers=io.StringIO())
    commands = io.StringIO("run bulk_insert\nrun insert_durable\nrun point_get\n")
    with pytest.raises(ValueError, match="'insert_durable' is still running"):
        serve("memory", mode_config("smoke"), tmp_path / "b", commands=commands, answers=io.StringIO())


def test_serve_answers_every_run_with_the_reason_a_backend_did_not_open(
    tmp_path: Path,
) -> None:
    answers = io.StringIO()
    commands = io.StringIO("run bulk_insert\nfinish\n")
    serve("no-such-backend", mode_config("smoke"), tmp_path, commands=commands, answers=answers)
    ready, row, result = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert ready["status"] == row["status"] == "error: KeyError: 'no-such-backend'"
    assert result["workloads"] == [row]


def test_serve_rejects_an_unknown_command_naming_it(tmp_path: Path) -> None:
    commands = io.StringIO("walk bulk_insert\n")
    with pytest.raises(ValueError, match="'walk bulk_insert'"):
        serve("memory", mode_config("smoke"), tmp_path, commands=commands, answers=io.StringIO())


def test_serve_rejects_a_workload_its_backend_does_not_run(tmp_path: Path) -> None:
    commands = io.StringIO("run point_get\n")
    with pytest.raises(ValueError, match="'file' does not run 'point_get'"):
        serve("file", mode_config("smoke"), tmp_path, commands=commands, answers=io.StringIO())


def test_the_one_shot_child_still_writes_its_result_file(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.child",
            "--backend",
            "memory",
            "--mode",
            "smoke",
            "--dir",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--workloads",
            "bulk_insert,scan",
        ],
        cwd=run.ROOT,
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    assert [(r["workload"], r["status"]) for r in result["workloads"]] == [
        ("bulk_insert", "ok"),
        ("scan", "ok"),
    ]
    assert all(field in result for field in (*MEMORY_FIELDS, "pid"))


def _result(backend: str, rounds: list[float]) -> dict[str, Any]:
    metric = {"name": "ops/s", "value": max(rounds), "unit": "ops/s", "higher_is_better": True, "rounds": rounds}
    row = {"workload": "point_get", "title": "Point get", "status": "ok", "metrics": [metric]}
    return {"backend": backend, "n_docs": 10, "workloads": [row]}


def test_report_gives_each_rounds_own_dse_to_raw_ratio() -> None:
    from bench.report import markdown

    text = markdown([_result("dse", [30.0, 60.0, 45.0]), _result("raw", [60.0, 80.0, 50.0])],
                    ["point_get"], header="h")  # fmt: skip
    header = next(line for line in text.splitlines() if line.startswith("| metric"))
    row = next(line for line in text.splitlines() if line.startswith("| ops/s"))
    assert header.endswith("| dse/raw | dse/raw by round |")
    assert row.endswith("| 0.75x | 0.50 0.75 0.90 (median 0.75) |")  # best against best, then round by round


def test_a_sliced_loops_rate_is_the_median_of_its_parts() -> None:
    from bench.workloads import Outcome, sliced_loop

    seen: list[int] = []
    parts = sliced_loop(seen.append, list(range(11)), 3)
    sizes = []
    with pytest.raises(StopIteration) as stop:
        while True:
            before = len(seen)
            next(parts)
            sizes.append(len(seen) - before)
    sizes.append(len(seen) - sum(sizes))
    assert sizes == [4, 4, 3] and seen == list(range(11)) and len(stop.value.value) == 11
    out = Outcome()
    # Parts of 4, 4 and 3 ops at 1, 2 and 4 ns an op: 1e9, 5e8 and 2.5e8 ops/s.
    out.loop("ops/s", [1] * 4 + [2] * 4 + [4] * 3, segments=3)
    assert out.metrics[0].value == pytest.approx(5e8)  # slices cut 3, 3, 3 would give 6e8


def test_report_has_no_round_column_for_a_single_round() -> None:
    from bench.report import markdown

    text = markdown([_result("dse", [30.0]), _result("raw", [60.0])], ["point_get"], header="h")
    header = next(line for line in text.splitlines() if line.startswith("| metric"))
    assert header.endswith("| dse/raw |")
    assert next(line for line in text.splitlines() if line.startswith("| ops/s")).endswith("| 0.50x |")


HANGING_CHILD = """
import sys, time
print('{"ready": "raw"}', flush=True)
sys.stdin.readline()
time.sleep(600)  # never answers the workload
"""


def test_a_child_that_does_not_answer_in_time_is_killed_and_gets_error_rows(tmp_path: Path) -> None:
    child = ServeChild("raw", "quick", tmp_path, command=[sys.executable, "-c", HANGING_CHILD], timeout=1.0)
    child.ready()
    first = child.run("bulk_insert")
    second = child.run("point_get")  # not sent: the child is gone
    assert child.proc.returncode == -signal.SIGKILL  # killed by its pid, not left sleeping
    assert first is not None and second is not None
    assert first["status"] == "error: child gave no answer in 1 s (killed)"
    assert second["status"] == first["status"]
    result = child.finish()
    assert result["workloads"] == [first, second] and result["pid"] == child.proc.pid
