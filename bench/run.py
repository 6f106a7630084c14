"""Run the benchmark: one subprocess per backend, in lock-step; JSON saved, Markdown printed.

``python -m bench --quick`` is the CI smoke run (whole run < 60 s, no thresholds);
``python -m bench`` is the full run (N=100k, 1 GiB blobs, 1M-document scale).

Lock-step: a round starts every backend's child at once (``python -m bench.child
--serve``); each opens its backend and waits. Then, workload by workload in report
order, the parent tells one child to run the workload and waits for its row, then the
next child, and so on; only one child works at any moment, the others block on stdin.
So the backends' measurements of one workload are seconds apart, not minutes: on a
shared machine disk-flush latency and CPU speed drift over minutes, and when dse ran
all its workloads before raw started, dse/raw ratios of unchanged code moved by up to
0.4x between runs. Each backend still has its own process, imports, memory and peak RSS.

The timed loops go further: they run in ``slices`` parts (6 in the full run), and every
backend runs part one before any runs part two, so the parts alternate about a
second apart (see :mod:`bench.workloads`). Durable inserts, timed whole one backend
after the other, still gave dse/raw ratios from 0.67 to 0.99 between rounds of one run
(the disk's flush time drifts over seconds); timed in alternating parts of 250 in one
process they gave 0.83-1.10, median 0.94.

With ``--rounds R`` this repeats R times with fresh children, and each metric reports
its best round: noise from a neighbour only ever slows a run down, so the best round is
the closest to the code's own speed. Memory figures report the worst round. Every
round's values stay in the JSON.

Example:
    python -m bench --quick --backends raw,sqlite --workloads bulk_insert,point_get
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import queue
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.child import PAUSED, result_header, runs, title_of
from bench.config import mode_config
from bench.report import markdown
from bench.workloads import WORKLOADS

_MEMORY_FIELDS = ("baseline_rss_mb", "peak_rss_mb", "rss_growth_mb", "peak_anon_mb")
DEFAULT_BACKENDS = ("dse", "raw", "sqlite", "tinydb", "file")
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for mod in ("lmdb", "msgpack", "tinydb"):
        try:
            m = __import__(mod)
            v = getattr(m, "__version__", None) or getattr(m, "version", "?")
            out[mod] = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        except ImportError:
            out[mod] = "missing"
    return out


def serve_command(backend: str, mode: str, datadir: Path) -> list[str]:
    """The command line of ``backend``'s serve-mode child.

    >>> serve_command("raw", "quick", Path("/tmp/b/raw"))[1:]
    ['-m', 'bench.child', '--backend', 'raw', '--mode', 'quick', '--dir', '/tmp/b/raw', '--serve']
    """
    return [
        sys.executable,
        *("-m", "bench.child", "--backend", backend, "--mode", mode),
        *("--dir", str(datadir), "--serve"),
    ]


#: glibc malloc settings every child runs with (``GLIBC_TUNABLES``), unless the caller set
#: its own. With glibc's defaults a 1 MiB buffer is served by mmap or from the heap, and
#: the heap's top given back or kept, depending on what the process freed before (the
#: thresholds move with it). Measured on the first get after each 1 MiB put: ~230 page
#: faults a get for raw and ~5 for dse in one script, ~230 for both in another, by the
#: history of the heap, not by the engine (raw's get took ~1 ms there, dse's ~0.35 ms).
#: Fixed thresholds give every backend the same allocator: blocks up to 4 MiB from the
#: heap, at most 8 MiB of free heap top kept (then ~5 faults a get for both).
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=8388608"


def child_env() -> dict[str, str]:
    """The environment of a child: this one, with :data:`MALLOC_TUNABLES` unless it sets its own.

    >>> child_env()["GLIBC_TUNABLES"] == (os.environ.get("GLIBC_TUNABLES") or MALLOC_TUNABLES)
    True
    """
    env = dict(os.environ)
    if not env.get("GLIBC_TUNABLES"):
        env["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    return env


# How long a child that should exit by itself gets before it is killed.
_EXIT_GRACE = 10.0
#: How long the parent waits for one answer of a child (its backend opening, one workload,
#: its finish) before it kills the child and gives it error rows; the slowest workload of a
#: full run (the 1M-document scale) takes about a minute here. BENCH_CHILD_TIMEOUT overrides.
ANSWER_TIMEOUT = float(os.environ.get("BENCH_CHILD_TIMEOUT", "1800"))


class ServeChild:
    """One backend's serve-mode child (see :mod:`bench.child`), told one workload at a time.

    A child that exits, or answers with something that is not a JSON object, is reaped
    at once (killed by its pid if it does not exit when its stdin closes); from then on
    :meth:`run` gives ``error: child exited with status N`` rows and :meth:`finish` the
    rows the child did answer plus those. A child that does not answer within
    ``timeout`` seconds (:data:`ANSWER_TIMEOUT`) is killed and treated the same way
    (``error: child gave no answer in N s``). :meth:`close` always leaves no process behind.

    ``command`` replaces the child's command line (tests use it to fake a child).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     child = ServeChild("memory", "smoke", Path(tmp) / "memory")
        ...     try:
        ...         child.ready()
        ...         row = child.run("bulk_insert")
        ...         result = child.finish()
        ...     finally:
        ...         _ = child.close()
        >>> row["status"], result["backend"], child.proc.returncode
        ('ok', 'memory', 0)
    """

    def __init__(
        self,
        backend: str,
        mode: str,
        datadir: Path,
        *,
        command: list[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.backend = backend
        self.mode = mode
        self.rows: list[dict[str, Any]] = []
        self.failure: str | None = None
        self.timeout = ANSWER_TIMEOUT if timeout is None else timeout
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            command or serve_command(backend, mode, datadir),
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # The child's lines, read by a thread so that a wait for one can time out
        # ("" at EOF, when the child closed its stdout or exited).
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_lines, name=f"bench-{backend}", daemon=True)
        self._reader.start()

    def _read_lines(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            for line in stdout:
                self._lines.put(line)
        except (OSError, ValueError):  # the pipe was closed under us (close())
            pass
        self._lines.put("")

    def ready(self) -> None:
        """Wait until the child has opened its backend (or failed to)."""
        self._answer(None)

    def run(self, workload: str) -> dict[str, Any] | None:
        """Have the child run ``workload`` now; its row (an error row if the child is gone),
        or None when a sliced workload paused after its first part (see :meth:`step`)."""
        return self._row(workload, f"run {workload}")

    def step(self, workload: str) -> dict[str, Any] | None:
        """Have the child run the next part of ``workload``; as :meth:`run`."""
        return self._row(workload, "step")

    def _row(self, workload: str, command: str) -> dict[str, Any] | None:
        row = self._answer(command)
        if row is not None and row.get("status") == PAUSED:
            return None
        if row is None:
            # The real title: the report heads a table with its first backend's row's.
            row = {"workload": workload, "title": title_of(workload), "status": self.failure}
        self.rows.append(row)
        return row

    def finish(self) -> dict[str, Any]:
        """Have the child close its backend; its whole result, and it has exited."""
        result = self._answer("finish")
        if result is None:
            result = result_header(self.backend, mode_config(self.mode))
            result["workloads"] = self.rows
            result["pid"] = self.proc.pid
        self.close(grace=_EXIT_GRACE)
        return result

    def close(self, *, grace: float = 0.0) -> int:
        """Reap the child: wait up to ``grace`` s for it to exit, then kill it; its status."""
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # by pid: SIGKILL to this child only
        status = self.proc.wait()
        self._reader.join(timeout=_EXIT_GRACE)  # it ends at the pipe's EOF
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # unflushed bytes to a child that is gone
                    pipe.close()
        return status

    def _answer(self, command: str | None) -> dict[str, Any] | None:
        """Send ``command`` (if any) and read one answer line; None once the child failed."""
        if self.failure is not None:
            return None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        line, timed_out = "", False
        try:
            if command is not None:
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()
            line = self._lines.get(timeout=self.timeout)  # "" at EOF: the child closed it or exited
            answer = json.loads(line)
        except queue.Empty:
            answer, timed_out = None, True
        except (OSError, ValueError):  # a broken pipe; EOF or a line that is not JSON
            answer = None
        if isinstance(answer, dict):
            return answer
        if timed_out:
            self.proc.kill()  # by pid: it is not answering, so it would not stop at EOF either
        # Closing its stdin lets a live child exit by itself (it stops at EOF), so its
        # own status is reported; one that does not is killed after the grace time.
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        status = self.close(grace=_EXIT_GRACE)
        if timed_out:
            self.failure = f"error: child gave no answer in {self.timeout:g} s (killed)"
            said = f"gave no answer to {command or 'opening'!r} in {self.timeout:g} s"
        else:
            self.failure = f"error: child exited with status {status}"
            said = f"answered {line.strip()[:200]!r}, not a JSON object" if line else "closed stdout"
        print(f"[bench] {self.backend}: the child {said}; {self.failure}", file=sys.stderr)
        return None


def run_round(
    backends: list[str], mode: str, workdir: Path, workloads: list[str], *, label: str = ""
) -> list[dict[str, Any]]:
    """One round in lock-step: every backend's result, each backend's data in ``workdir/<name>``.

    All children start and open their backends first; then for each workload (in the
    order given) each backend that runs it runs it in turn, the others waiting. The
    children are killed (by pid) if anything goes wrong here, KeyboardInterrupt included.
    """
    plans = {b: [w for w in workloads if runs(b, w)] for b in backends}
    children: dict[str, ServeChild] = {}
    try:
        for backend in backends:
            if plans[backend]:
                children[backend] = ServeChild(backend, mode, workdir / backend)
        opening = f"[bench] {', '.join(children)} ({mode}){label}: opening"
        print(opening, file=sys.stderr, flush=True)
        for child in children.values():
            child.ready()  # no one is timed while another backend imports and opens
        for workload in workloads:
            print(f"[bench] {workload}", file=sys.stderr, flush=True)
            # A sliced workload pauses after each part: every backend runs part one,
            # then every backend part two, and so on (see bench.workloads).
            paused = [c for b, c in children.items() if workload in plans[b] and c.run(workload) is None]
            while paused:
                paused = [c for c in paused if c.step(workload) is None]
        return [child.finish() for child in children.values()]
    finally:
        for child in children.values():
            child.close()


def best_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One backend's result from several rounds: each metric at its best, memory (MiB) at its worst.

    >>> def r(v, rss):
    ...     m = {"name": "ops/s", "value": v, "unit": "ops/s", "higher_is_better": True}
    ...     return {"backend": "x", "peak_rss_mb": rss, "workloads": [{"workload": "w", "status": "ok", "metrics": [m]}]}
    >>> out = best_of([r(10.0, 5.0), r(30.0, 7.0), r(20.0, 6.0)])
    >>> out["workloads"][0]["metrics"][0]["value"], out["workloads"][0]["metrics"][0]["rounds"], out["peak_rss_mb"]
    (30.0, [10.0, 30.0, 20.0], 7.0)
    """
    combined = copy.deepcopy(rounds[0])
    combined["rounds"] = len(rounds)
    for field in _MEMORY_FIELDS:
        values = [r[field] for r in rounds if isinstance(r.get(field), int | float)]
        if values:
            combined[field] = max(values)
    for wl in combined["workloads"]:
        same = [
            w
            for r in rounds
            for w in r["workloads"]
            if w["workload"] == wl["workload"] and w.get("status") == "ok"
        ]
        if wl.get("status") != "ok" and same:
            wl.update(copy.deepcopy(same[0]))
        for metric in wl.get("metrics", []):
            values = [
                m["value"] for w in same for m in w.get("metrics", []) if m["name"] == metric["name"]
            ]
            if not values:
                continue
            metric["rounds"] = values
            if metric.get("unit") == "MiB":  # memory: the worst round, never the luckiest
                metric["value"] = max(values)
            else:
                metric["value"] = max(values) if metric["higher_is_better"] else min(values)
    return combined


# Workloads that run on their own state; every other one reads or extends the main store
# that bulk_insert loads.
_OWN_STATE = frozenset({"bulk_insert", "insert_relaxed", "blobs", "scale"})


def plan_workloads(asked: list[str]) -> list[str]:
    """The workloads to run, in report order, with ``bulk_insert`` first when others need its store.

    >>> plan_workloads(["merge", "point_get"])
    ['bulk_insert', 'point_get', 'merge']
    >>> plan_workloads(["blobs", "insert_relaxed"])
    ['insert_relaxed', 'blobs']
    """
    wanted = set(asked)
    if not wanted <= _OWN_STATE:
        wanted.add("bulk_insert")
    return [w for w in [*WORKLOADS, "scale"] if w in wanted]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the backends in lock-step, save JSON, print Markdown."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small N, < 60 s")
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS))
    parser.add_argument("--workloads", default="", help="comma list (default: all)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where data files go (default: temp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run R rounds, each with fresh children in lock-step; best round per metric",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default: bench/results/<ts>.json)"
    )
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    cfg = mode_config(mode)
    asked = [w for w in args.workloads.split(",") if w] or [
        *WORKLOADS,
        *(["scale"] if cfg.scale_total else []),
    ]
    unknown = [w for w in asked if w not in WORKLOADS and w != "scale"]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {[*WORKLOADS, 'scale']}")
    workloads = plan_workloads(asked)
    if "bulk_insert" in workloads and "bulk_insert" not in asked:
        print("[bench] bulk_insert added: the workloads asked for read the store it loads",
              file=sys.stderr)  # fmt: skip
    backends = [b for b in args.backends.split(",") if b]
    workdir = Path(tempfile.mkdtemp(prefix="dse-bench-", dir=args.workdir))
    started = time.perf_counter()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    per_backend: dict[str, list[dict[str, Any]]] = {}
    try:
        for round_no in range(1, args.rounds + 1):
            label = f" round {round_no}/{args.rounds}" if args.rounds > 1 else ""
            for result in run_round(backends, mode, workdir, workloads, label=label):
                per_backend.setdefault(result["backend"], []).append(result)
            if not args.keep:
                for backend in backends:
                    shutil.rmtree(workdir / backend, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    results = [best_of(rounds) for rounds in per_backend.values()]

    stamp = time.strftime("%Y%m%d-%H%M%S")
    machine = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "malloc": child_env()["GLIBC_TUNABLES"],
    }
    versions = _versions()
    meta = {
        "mode": mode,
        "timestamp": stamp,
        "git": _git_head(),
        "seconds": round(elapsed, 1),
        "rounds": args.rounds,
        "machine": machine,
        "versions": versions,
    }
    out = args.out or RESULTS / f"{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    header = (
        f"## datastore_engine benchmark ({mode}, N={cfg.n_docs:,})\n\n"
        f"{machine['platform']}, {machine['cpus']} CPUs; "
        f"children run with GLIBC_TUNABLES={machine['malloc']}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; git {meta['git']}; total {elapsed:.0f} s"
        + (f"; best of {args.rounds} rounds per metric" if args.rounds > 1 else "")
        + f"; JSON: {out}"
    )
    print(markdown(results, workloads, header=header))
    return 0
