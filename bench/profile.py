"""Run one workload under cProfile and print the top functions (for hot-path work).

The store is filled first (bulk insert, not profiled) unless the workload is the bulk
insert itself; then only the chosen workload is profiled.

Example:
    python -m bench.profile point_get                 # dse, quick sizes
    python -m bench.profile scan --n 20000 --sort tottime --top 40
    python -m bench.profile bulk_insert --backend raw --out /tmp/bulk.prof   # for snakeviz
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import sys
import tempfile
from pathlib import Path

from bench.backends import load_backend
from bench.config import for_backend, mode_config
from bench.workloads import WORKLOADS, bulk_insert, complete


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, profile the workload, print the statistics."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--backend", default="dse")
    parser.add_argument("--mode", default="quick", choices=("quick", "full"))
    parser.add_argument(
        "--n", type=int, default=None, help="number of documents (default: the mode's)"
    )
    parser.add_argument(
        "--sort", default="cumulative", help="pstats sort key (cumulative, tottime, ...)"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="also dump raw stats here")
    args = parser.parse_args(argv)

    cfg = mode_config(args.mode)
    if args.n is not None:
        cfg = dataclasses.replace(cfg, n_docs=args.n)
    cfg = for_backend(cfg, args.backend)
    title, fn = WORKLOADS[args.workload]
    with tempfile.TemporaryDirectory(prefix="dse-profile-") as tmp:
        backend = load_backend(args.backend, Path(tmp))
        backend.open()
        try:
            if args.workload != "bulk_insert":
                bulk_insert(backend, cfg)
            profiler = cProfile.Profile()
            profiler.enable()
            outcome = complete(fn(backend, cfg))
            profiler.disable()
        finally:
            backend.close()
    print(f"# {args.backend}: {title} (N={cfg.n_docs:,}); under the profiler, so slower than real:")
    for m in outcome.metrics:
        print(f"#   {m.name}: {m.value:,.1f} {m.unit}")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(args.sort)
    stats.print_stats(args.top)
    if args.out is not None:
        stats.dump_stats(str(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
