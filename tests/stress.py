"""The long reliability run: 500 SIGKILLs and 60 s of concurrent bank transfers.

Run from the repository root::

    .venv/bin/python -m tests.stress                       # 500 kills, 60 s bank
    .venv/bin/python -m tests.stress --kills 50 --seconds 10 --seed 7

CI runs the short versions (tests/test_crash.py, tests/test_concurrency.py).
Exit status 0 means every round passed; a failure prints the seed to replay.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bankkit
import crashkit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=500, help="SIGKILL rounds (default 500)")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="bank-transfer run time (default 60)"
    )
    parser.add_argument("--seed", type=int, default=None, help="replay a seed printed by a failure")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    failed = False
    with tempfile.TemporaryDirectory(prefix="dse-stress-") as work:
        if args.kills:
            started = time.monotonic()
            print(f"crash: {args.kills} kills, seed {seed}", flush=True)

            def report(number: int, result: crashkit.RoundResult) -> None:
                if (number + 1) % 50 == 0:
                    print(f"  {number + 1} kills, {time.monotonic() - started:.0f}s", flush=True)

            try:
                totals = crashkit.run_kills(
                    str(Path(work) / "crash-db"),
                    kills=args.kills,
                    seed=seed,
                    workdir=work,
                    report=report,
                )
                print(f"crash: ok {totals} in {time.monotonic() - started:.0f}s", flush=True)
            except AssertionError as exc:
                failed = True
                print(f"crash: FAILED {exc}", flush=True)
        if args.seconds:
            print(f"bank: 4 processes x 4 threads for {args.seconds:.0f}s", flush=True)
            result = bankkit.run_bank(str(Path(work) / "bank-db"), seconds=args.seconds)
            problems = [
                *result["errors"],
                *(f"reader saw total {t}" for t in result["bad_totals"]),
                *(f"check: {p}" for p in result["check"]),
            ]
            if result["final_total"] != bankkit.TOTAL:
                problems.append(f"final total {result['final_total']} != {bankkit.TOTAL}")
            if min(result["map_sizes"], default=0) <= bankkit.MAP_SIZE:
                problems.append("the map never grew")
            summary = {
                k: result[k] for k in ("transfers", "reads", "map_grown_retries", "map_sizes")
            }
            if problems:
                failed = True
                print("bank: FAILED\n  " + "\n  ".join(problems), flush=True)
            else:
                print(f"bank: ok {summary}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
