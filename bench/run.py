"""Run the benchmark: one subprocess per backend, JSON saved, Markdown printed.

``python -m bench --quick`` is the CI smoke run (whole run < 60 s, no thresholds);
``python -m bench`` is the full run (N=100k, 1 GiB blobs, 1M-document scale).

Example:
    python -m bench --quick --backends raw,sqlite --workloads bulk_insert,point_get
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.child import ONLY
from bench.config import mode_config
from bench.report import markdown
from bench.workloads import WORKLOADS

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


def run_child(backend: str, mode: str, workdir: Path, workloads: list[str]) -> dict[str, Any]:
    """Run one backend in a fresh interpreter; its JSON result (or an error record)."""
    out = workdir / f"{backend}.json"
    cmd = [
        sys.executable,
        "-m",
        "bench.child",
        "--backend",
        backend,
        "--mode",
        mode,
        "--dir",
        str(workdir / backend),
        "--out",
        str(out),
        "--workloads",
        ",".join(workloads),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    if proc.returncode != 0 or not out.exists():
        status = f"error: child exited with status {proc.returncode}"
        return {
            "backend": backend,
            "n_docs": None,
            "workloads": [{"workload": w, "title": w, "status": status} for w in workloads],
        }
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run each backend, save JSON, print Markdown."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small N, < 60 s")
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS))
    parser.add_argument("--workloads", default="", help="comma list (default: all)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where data files go (default: temp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default: bench/results/<ts>.json)"
    )
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    cfg = mode_config(mode)
    workloads = [w for w in args.workloads.split(",") if w] or [
        *WORKLOADS,
        *(["scale"] if cfg.scale_total else []),
    ]
    unknown = [w for w in workloads if w not in WORKLOADS and w != "scale"]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {[*WORKLOADS, 'scale']}")
    backends = [b for b in args.backends.split(",") if b]
    workdir = Path(tempfile.mkdtemp(prefix="dse-bench-", dir=args.workdir))
    started = time.perf_counter()
    results = []
    try:
        for backend in backends:
            mine = [w for w in workloads if w in ONLY.get(backend, workloads)]
            if not mine:
                continue
            print(f"[bench] {backend} ({mode})", file=sys.stderr, flush=True)
            results.append(run_child(backend, mode, workdir, mine))
            if not args.keep:
                shutil.rmtree(workdir / backend, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started

    stamp = time.strftime("%Y%m%d-%H%M%S")
    machine = {"platform": platform.platform(), "cpus": os.cpu_count()}
    versions = _versions()
    meta = {
        "mode": mode,
        "timestamp": stamp,
        "git": _git_head(),
        "seconds": round(elapsed, 1),
        "machine": machine,
        "versions": versions,
    }
    out = args.out or RESULTS / f"{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    header = (
        f"## datastore_engine benchmark ({mode}, N={cfg.n_docs:,})\n\n"
        f"{machine['platform']}, {machine['cpus']} CPUs; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; git {meta['git']}; total {elapsed:.0f} s; JSON: {out}"
    )
    print(markdown(results, workloads, header=header))
    return 0
