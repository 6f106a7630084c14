"""Run one backend's workloads and return (or print) its results as JSON.

The parent (:mod:`bench.run`) starts ``python -m bench.child --serve`` once per backend, so
each backend's imports, memory and page-cache state are its own and peak RSS
(``ru_maxrss``) is per backend. In serve mode the child opens its backend, says so on
stdout, and then waits for one command a line on stdin:

- ``run <workload>``: run that workload, answer its row as one JSON line; a sliced
  workload (see :mod:`bench.workloads`) runs its first part only and answers
  ``{"workload": ..., "status": "paused"}``;
- ``step``: run the next part of the paused workload, answer as ``run`` does;
- ``finish``: close the backend, answer the whole result (every row, the memory
  figures, ``seconds``, ``pid``) as one JSON line, exit 0.

Logs go to stderr. The one-shot form (``--out F``) runs every workload and writes the
result to ``F``; the smoke test calls :func:`run_backend` in-process. Both forms run
a workload through the same :class:`Session`.

Example:
    python -m bench.child --backend raw --mode quick --dir /tmp/b --out /tmp/raw.json
    printf 'run bulk_insert\\nrun point_get\\nfinish\\n' |
        python -m bench.child --backend raw --mode quick --dir /tmp/b --serve
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from bench.backends import load_backend
from bench.backends.base import Backend, Unsupported
from bench.config import Config, for_backend, mode_config
from bench.memory import AnonSampler, anon_rss_mb
from bench.workloads import SCALE_TITLE, WORKLOADS, Outcome, Steps, scale

# The plain-file backend only stands in for blobs.
ONLY: dict[str, tuple[str, ...]] = {"file": ("blobs",)}

# Test hook (tests/test_bench_lockstep.py): "backend:workload" makes a serve-mode child of
# that backend exit with DIE_STATUS when told to run that workload, as a crash would;
# "backend:workload@K" when told to run part K (2 and up) of that sliced workload.
DIE_AT_ENV = "BENCH_CHILD_DIE_AT"
DIE_STATUS = 86

# The status of a serve-mode answer for a sliced workload between its parts.
PAUSED = "paused"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1 << 20)


def runs(backend: str, workload: str) -> bool:
    """Whether ``backend`` runs ``workload`` at all (see :data:`ONLY`).

    >>> runs("file", "blobs"), runs("file", "point_get"), runs("raw", "point_get")
    (True, False, True)
    """
    only = ONLY.get(backend)
    return only is None or workload in only


def result_header(name: str, cfg: Config) -> dict[str, Any]:
    """The fields a backend's result starts with (its rows go in ``workloads``).

    >>> from bench.config import mode_config
    >>> head = result_header("tinydb", mode_config("quick"))
    >>> head["backend"], head["mode"], head["n_docs"], head["workloads"]
    ('tinydb', 'quick', 2000, [])
    """
    cfg = for_backend(cfg, name)
    return {
        "backend": name,
        "mode": cfg.mode,
        "n_docs": cfg.n_docs,
        "config": dataclasses.asdict(cfg),
        "malloc": os.environ.get("GLIBC_TUNABLES", ""),  # the parent sets bench.run.MALLOC_TUNABLES
        "workloads": [],
    }


def _status(exc: BaseException) -> str:
    if isinstance(exc, Unsupported):
        return f"n/a ({exc})"
    if isinstance(exc, NotImplementedError):
        return f"n/a (not implemented{': ' + str(exc) if str(exc) else ''})"
    return f"error: {type(exc).__name__}: {exc}"


class _Running:
    """A workload under way in a :class:`Session`: its row so far, and its parts to go.

    ``fn`` runs the workload (or, for a sliced one, makes its generator); each
    :meth:`advance` runs one part. The row's ``seconds`` sum the parts, ``spans``
    hold each part's wall-clock start and end (``time.time()``, so rows of different
    processes can be ordered), ``started``/``finished`` the first and last of them.
    """

    def __init__(self, name: str, title: str, fn: Callable[[], Outcome | Steps], notes: dict[str, str]) -> None:
        self.name = name
        self.fn = fn
        self.notes = notes
        self.steps: Steps | None = None
        self.row: dict[str, Any] = {"workload": name, "title": title, "status": "ok", "seconds": 0.0, "spans": []}

    def advance(self) -> bool:
        """Run the next part; True once the workload is over (its row then complete)."""
        row = self.row
        started, start = time.time(), time.perf_counter()
        outcome: Outcome | None = None
        try:
            if self.steps is None:
                result = self.fn()
                if isinstance(result, Outcome):
                    outcome = result
                else:
                    self.steps = result
            if outcome is None:
                assert self.steps is not None
                try:
                    next(self.steps)
                except StopIteration as stop:
                    outcome = stop.value
        except Exception as exc:
            row["status"] = _status(exc)
            if row["status"].startswith("error"):
                row["traceback"] = traceback.format_exc()
        row["seconds"] += time.perf_counter() - start
        row["spans"].append([started, time.time()])
        over = outcome is not None or row["status"] != "ok"
        if over:
            if outcome is not None:
                row.update(
                    metrics=[dataclasses.asdict(m) for m in outcome.metrics],
                    check=outcome.check,
                    notes=[*outcome.notes, *([self.notes[self.name]] if self.name in self.notes else [])],
                )
            row["seconds"] = round(row["seconds"], 3)
            row["started"] = row["spans"][0][0]
            row["finished"] = row["spans"][-1][1]
        return over


def title_of(workload: str) -> str:
    """The report's heading for ``workload``.

    >>> title_of("point_get")
    'Point get (random keys, a read transaction each)'
    """
    return SCALE_TITLE if workload == "scale" else WORKLOADS[workload][0]


class Session:
    """One backend, opened under ``root`` and run one workload at a time.

    Creating a session loads and opens the backend (its imports happen here) and takes
    the RSS baseline; :meth:`run` runs a workload and returns its row; :meth:`finish`
    closes the backend and returns the whole result. If the backend does not open,
    every :meth:`run` returns a row with the reason (``n/a (...)`` or ``error: ...``).

    Anonymous RSS is sampled only while a workload runs, so a session waiting for its
    next command uses no CPU; its peak is unchanged by waiting.

    Example:
        >>> import tempfile
        >>> from bench.config import mode_config
        >>> with tempfile.TemporaryDirectory() as tmp, Session(
        ...     "memory", mode_config("smoke"), Path(tmp)
        ... ) as s:
        ...     row = s.run("bulk_insert")
        ...     result = s.finish()
        >>> row["status"], [r["workload"] for r in result["workloads"]]
        ('ok', ['bulk_insert'])
    """

    def __init__(self, name: str, cfg: Config, root: Path) -> None:
        self.name = name
        self.cfg = for_backend(cfg, name)
        self.root = root
        self.result = result_header(name, cfg)
        self.open_status: str | None = None
        self._backend: Backend | None = None
        self._running: _Running | None = None
        self._anon_peak = 0.0
        self._baseline = 0.0
        # Busy time only (opening, workloads, closing): a serve-mode child also waits for
        # the other backends, and that wait is not this backend's cost.
        self._busy = 0.0
        start = time.perf_counter()
        try:
            backend = load_backend(name, root / "main")  # imports the backend's libraries
            backend.open()
        except Exception as exc:  # e.g. the engine is not written yet: every workload is n/a
            self.open_status = _status(exc)
            self.result["error"] = traceback.format_exc()
            return
        self._backend = backend
        self._baseline = peak_rss_mb()  # after imports: growth is what the workloads cost
        self.result["baseline_rss_mb"] = round(self._baseline, 1)
        self._anon_peak = anon_rss_mb() or 0.0
        self._busy = time.perf_counter() - start

    def run(self, workload: str) -> dict[str, Any]:
        """Run ``workload`` now, all its parts; its row (also appended to ``self.result``)."""
        row = self.start(workload)
        while row is None:
            row = self.step()
        return row

    def start(self, workload: str) -> dict[str, Any] | None:
        """Start ``workload`` and run its first part; its row if it is over, else None
        (a sliced workload paused: :meth:`step` runs the next part)."""
        if self._running is not None:
            raise ValueError(f"workload {self._running.name!r} is still running; step it to its end first")
        if workload != "scale" and workload not in WORKLOADS:
            raise ValueError(f"unknown workload {workload!r}; choose from {[*WORKLOADS, 'scale']}")
        if not runs(self.name, workload):
            raise ValueError(f"backend {self.name!r} does not run {workload!r} (see ONLY)")
        backend = self._backend
        if backend is None:
            assert self.open_status is not None
            row: dict[str, Any] = {
                "workload": workload,
                "title": title_of(workload),
                "status": self.open_status,
            }
            self.result["workloads"].append(row)
            return row
        fn: Callable[[], Outcome | Steps]
        if workload == "scale":  # on a store of its own, which it opens and closes itself
            fn = partial(scale, partial(load_backend, self.name, self.root / "scale"), self.cfg)
        else:
            fn = partial(WORKLOADS[workload][1], backend, self.cfg)
        self._running = _Running(workload, title_of(workload), fn, backend.notes)
        return self.step()

    def step(self) -> dict[str, Any] | None:
        """Run the next part of the paused workload; its row once it is over, else None."""
        running = self._running
        if running is None:
            raise ValueError("no workload is running; 'run <workload>' starts one")
        with AnonSampler() as sampler:
            over = running.advance()
        self._anon_peak = max(self._anon_peak, sampler.peak, anon_rss_mb() or 0.0)
        if not over:
            return None
        self._running = None
        row = running.row
        self._busy += row["seconds"]
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
        row["peak_anon_mb"] = round(self._anon_peak, 1)
        self.result["workloads"].append(row)
        return row

    def finish(self) -> dict[str, Any]:
        """Close the backend; the result with every row run and the memory figures."""
        if self._backend is None:
            return self.result
        start = time.perf_counter()
        self.close()
        self._busy += time.perf_counter() - start
        peak = peak_rss_mb()
        self.result["peak_rss_mb"] = round(peak, 1)
        self.result["rss_growth_mb"] = round(peak - self._baseline, 1)
        self.result["peak_anon_mb"] = round(self._anon_peak, 1)
        self.result["seconds"] = round(self._busy, 2)
        return self.result

    def close(self) -> None:
        """Close the backend if it is open (idempotent)."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _log(name: str, row: dict[str, Any], log: TextIO | None) -> None:
    if log is not None:
        seconds = f"{row['seconds']:7.2f} s" if "seconds" in row else ""
        print(
            f"  {name:7s} {row['workload']:15s} {row['status']:>5s}  {seconds}",
            file=log,
            flush=True,
        )


def run_backend(
    name: str,
    cfg: Config,
    root: Path,
    *,
    workloads: Iterable[str] | None = None,
    log: TextIO | None = None,
) -> dict[str, Any]:
    """Run ``workloads`` (default: all that apply) on backend ``name`` under ``root``."""
    wanted = list(workloads) if workloads is not None else [*WORKLOADS, "scale"]
    with Session(name, cfg, root) as session:
        for workload in (w for w in wanted if runs(name, w)):
            _log(name, session.run(workload), log)
        return session.finish()


def serve(name: str, cfg: Config, root: Path, *, commands: TextIO, answers: TextIO) -> int:
    """Open backend ``name``, then run the commands read from ``commands`` (see the module
    docstring), answering each with one JSON line on ``answers``; the exit status."""

    def answer(value: dict[str, Any]) -> None:
        answers.write(json.dumps(value) + "\n")
        answers.flush()

    with Session(name, cfg, root) as session:
        # The parent waits for this line before it starts timing anyone, so no backend's
        # imports or open run beside another backend's measurement.
        answer({"ready": name, "pid": os.getpid(), "status": session.open_status or "ok"})
        die_at = os.environ.get(DIE_AT_ENV)
        current, part = "", 0  # the workload a 'step' goes on with, and its part
        while line := commands.readline():
            command, _, workload = line.strip().partition(" ")
            if (command == "run" and workload) or (command == "step" and not workload):
                if command == "run":
                    current, part = workload, 1
                else:
                    part += 1
                if die_at in (f"{name}:{workload}", f"{name}:{current}@{part}"):
                    os._exit(DIE_STATUS)
                done = session.start(workload) if command == "run" else session.step()
                if done is None:
                    answer({"workload": current, "status": PAUSED})
                    continue
                _log(name, done, sys.stderr)  # before the answer: logs stay in run order
                answer(done)
            elif command == "finish":
                answer({**session.finish(), "pid": os.getpid()})
                return 0
            else:
                raise ValueError(
                    f"unknown command {line.strip()!r}; expected 'run <workload>', 'step' or 'finish'"
                )
    print(f"[bench.child] {name}: stdin closed before 'finish'", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Child entry point: ``--out F`` runs every workload once; ``--serve`` takes commands."""
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--mode", default="full")
    parser.add_argument("--dir", required=True, type=Path)
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--out", type=Path, help="run the workloads, write the result here")
    how.add_argument("--serve", action="store_true", help="take commands on stdin")
    parser.add_argument("--workloads", default="", help="with --out: comma list (default: all)")
    args = parser.parse_args(argv)
    cfg = mode_config(args.mode)
    if args.serve:
        # Answers need a clean stdout: keep a private copy of it for them and point fd 1
        # at stderr, so a stray print (ours, a library's, C code's) lands in the log
        # instead of corrupting the protocol.
        answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        with answers:
            return serve(args.backend, cfg, args.dir, commands=sys.stdin, answers=answers)
    wanted = [w for w in args.workloads.split(",") if w] or None
    result = run_backend(args.backend, cfg, args.dir, workloads=wanted, log=sys.stderr)
    result["pid"] = os.getpid()
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
