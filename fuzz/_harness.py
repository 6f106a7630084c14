"""Shared driver for the fuzz targets: atheris when asked, hypothesis otherwise.

A target module defines ``check(data)`` (raise AssertionError on a broken
invariant), ``INPUTS`` (a hypothesis strategy of ``data``), ``from_bytes(raw)``
(turn libFuzzer bytes into ``data``) and ``SEEDS``; then calls
``main(__name__ ...)``. The invariant of every target: each input returns, or
raises one of the errors the target lists as documented, never anything else,
and never takes longer than ``HANG_SECONDS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings

HANG_SECONDS = 2.0


class Stats:
    def __init__(self) -> None:
        self.runs = 0
        self.slowest = 0.0
        self.slowest_input = ""


def guarded(
    name: str,
    body: Callable[[Any], None],
    allowed: tuple[type[BaseException], ...],
    stats: Stats,
    hang: Callable[[], float],
) -> Callable[[Any], None]:
    """Wrap ``body``: documented errors pass, anything else (or a hang) is an AssertionError."""

    def check(data: Any) -> None:
        start = time.perf_counter()
        try:
            body(data)
        except allowed:
            pass
        except AssertionError:
            raise
        except RecursionError as exc:
            raise AssertionError(f"{name}: RecursionError on {data!r:.200}") from exc
        except Exception as exc:
            raise AssertionError(f"{name}: {type(exc).__name__} on {data!r:.200}: {exc}") from exc
        elapsed = time.perf_counter() - start
        stats.runs += 1
        if elapsed > stats.slowest:
            stats.slowest, stats.slowest_input = elapsed, repr(data)[:80]
        assert elapsed < hang(), f"{name}: {elapsed:.2f}s on {data!r:.200}"

    return check


def fallback(
    check: Callable[[Any], None], inputs: Any, seeds: list[Any], stats: Stats
) -> Callable[[float], int]:
    """A ``run_fallback(seconds)`` that feeds hypothesis batches until time is up."""

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def batch(data: Any) -> None:
        check(data)

    def run_fallback(seconds: float) -> int:
        for seed in seeds:
            check(seed)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch()
        return stats.runs

    return run_fallback


def _instrument_package(atheris: Any) -> None:
    """Coverage feedback for datastore_engine's functions and methods.

    ``atheris.instrument_all()`` was tried: it spends minutes in some large
    third-party functions (seen with fuzz_paths), so only our package is patched.
    """
    import inspect

    for name, module in list(sys.modules.items()):
        if not name.startswith("datastore_engine") or module is None:
            continue
        for obj in list(vars(module).values()):
            members = (
                [obj]
                if inspect.isfunction(obj)
                else list(vars(obj).values())
                if inspect.isclass(obj)
                else []
            )
            for member in members:
                if inspect.isfunction(member) and member.__module__ == name:
                    atheris.instrument_func(member)


def main(name: str, doc: str, check: Callable[[Any], None], from_bytes: Callable[[bytes], Any],
         run_fallback: Callable[[float], int], stats: Stats) -> None:  # fmt: skip
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--atheris", action="store_true", help="run under atheris/libFuzzer")
    args, rest = parser.parse_known_args()
    started = time.monotonic()
    if args.atheris:
        import atheris

        def one(raw: bytes) -> None:
            data = from_bytes(raw)
            if data is not None:
                check(data)

        _instrument_package(atheris)
        atheris.Setup([sys.argv[0], f"-max_total_time={max(1, int(args.seconds))}", *rest], one)
        try:
            atheris.Fuzz()
        except SystemExit:  # libFuzzer exits when the time is up
            pass
    else:
        run_fallback(args.seconds)
    print(
        f"{name}: {stats.runs} executions in {time.monotonic() - started:.1f}s, slowest "
        f"{stats.slowest * 1000:.1f} ms ({stats.slowest_input}), no invariant broken",
        flush=True,
    )
