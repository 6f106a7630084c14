"""Run every workload of one backend and return (or print) its results as JSON.

The parent (:mod:`bench.run`) starts ``python -m bench.child`` once per backend, so
each backend's imports, memory and page-cache state are its own and peak RSS
(``ru_maxrss``) is per backend. The smoke test calls :func:`run_backend` in-process.

Example:
    python -m bench.child --backend raw --mode quick --dir /tmp/b --out /tmp/raw.json
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.backends import load_backend
from bench.backends.base import Unsupported
from bench.config import Config, for_backend, mode_config
from bench.memory import AnonSampler
from bench.workloads import SCALE_TITLE, WORKLOADS, Outcome, scale

# The plain-file backend only stands in for blobs.
ONLY: dict[str, tuple[str, ...]] = {"file": ("blobs",)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1 << 20)




def _status(exc: BaseException) -> str:
    if isinstance(exc, Unsupported):
        return f"n/a ({exc})"
    if isinstance(exc, NotImplementedError):
        return f"n/a (not implemented{': ' + str(exc) if str(exc) else ''})"
    return f"error: {type(exc).__name__}: {exc}"


def _record(
    name: str, title: str, fn: Any, *, sampler: AnonSampler, notes: dict[str, str]
) -> dict[str, Any]:
    start = time.perf_counter()
    row: dict[str, Any] = {"workload": name, "title": title, "status": "ok"}
    try:
        outcome: Outcome = fn()
        row.update(
            metrics=[dataclasses.asdict(m) for m in outcome.metrics],
            check=outcome.check,
            notes=[*outcome.notes, *([notes[name]] if name in notes else [])],
        )
    except Exception as exc:
        row["status"] = _status(exc)
        if row["status"].startswith("error"):
            row["traceback"] = traceback.format_exc()
    row["seconds"] = round(time.perf_counter() - start, 3)
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    row["peak_anon_mb"] = round(sampler.peak, 1)
    return row


def _title(workload: str) -> str:
    return SCALE_TITLE if workload == "scale" else WORKLOADS[workload][0]


def run_backend(
    name: str, cfg: Config, root: Path, *, workloads: Iterable[str] | None = None, log: Any = None
) -> dict[str, Any]:
    """Run ``workloads`` (default: all that apply) on backend ``name`` under ``root``."""
    cfg = for_backend(cfg, name)
    wanted = list(workloads) if workloads is not None else [*WORKLOADS, "scale"]
    wanted = [w for w in wanted if w in ONLY.get(name, wanted)]
    result: dict[str, Any] = {
        "backend": name,
        "mode": cfg.mode,
        "n_docs": cfg.n_docs,
        "config": dataclasses.asdict(cfg),
        "workloads": [],
    }
    started = time.perf_counter()
    try:
        backend = load_backend(name, root / "main")  # imports the backend's libraries
        backend.open()
    except Exception as exc:  # e.g. the engine is not written yet: every workload is n/a
        status = _status(exc)
        result["workloads"] = [
            {"workload": w, "title": _title(w), "status": status} for w in wanted
        ]
        result["error"] = traceback.format_exc()
        return result
    baseline = peak_rss_mb()  # after imports: growth is what the workloads cost
    result["baseline_rss_mb"] = round(baseline, 1)
    with AnonSampler() as sampler:
        try:
            for wname in wanted:
                if wname == "scale":
                    row = _record(
                        "scale",
                        SCALE_TITLE,
                        lambda: scale(lambda: load_backend(name, root / "scale"), cfg),
                        sampler=sampler,
                        notes=backend.notes,
                    )
                else:
                    title, fn = WORKLOADS[wname]
                    row = _record(
                        wname,
                        title,
                        lambda fn=fn: fn(backend, cfg),
                        sampler=sampler,
                        notes=backend.notes,
                    )
                result["workloads"].append(row)
                if log is not None:
                    print(
                        f"  {name:7s} {wname:15s} {row['status']:>5s}  {row['seconds']:7.2f} s",
                        file=log,
                        flush=True,
                    )
        finally:
            backend.close()
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["rss_growth_mb"] = round(peak_rss_mb() - baseline, 1)
    result["peak_anon_mb"] = round(sampler.peak, 1)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    """Child entry point: run one backend, write its JSON to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--mode", default="full")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--workloads", default="")
    args = parser.parse_args(argv)
    wanted = [w for w in args.workloads.split(",") if w] or None
    result = run_backend(
        args.backend, mode_config(args.mode), args.dir, workloads=wanted, log=sys.stderr
    )
    result["pid"] = os.getpid()
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
