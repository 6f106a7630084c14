"""The fuzz targets: a short run each, and their guards can fail.

Longer runs: ``fuzz/run.sh SECONDS`` (atheris when installed).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

import pytest

FUZZ_DIR = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ["fuzz_codec", "fuzz_merge", "fuzz_paths", "fuzz_names", "fuzz_scim", "fuzz_es"]


class FuzzTarget(Protocol):
    """What a target module defines (see fuzz/_harness.py); ``load`` gives the module."""

    HANG_SECONDS: float
    stats: Any  # a fuzz/_harness.py Stats
    check: Callable[[Any], None]
    from_bytes: Callable[[bytes], Any]
    run_fallback: Callable[[float], int]


def load(name: str) -> FuzzTarget:
    if str(FUZZ_DIR) not in sys.path:
        sys.path.insert(0, str(FUZZ_DIR))  # the targets import _harness and _values
    spec = importlib.util.spec_from_file_location(f"_fuzz_target_{name}", FUZZ_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(FuzzTarget, module)  # run from a file: mypy cannot see its names


@pytest.mark.parametrize("name", TARGETS)
def test_fuzz_target_runs_briefly_without_breaking_its_invariant(name: str) -> None:
    module = load(name)
    module.HANG_SECONDS = 120.0  # no timing asserts in CI
    assert module.run_fallback(1.5) > 0


@pytest.mark.parametrize("name", TARGETS)
def test_fuzz_target_seeds_also_run_through_the_byte_entry_point(name: str) -> None:
    module = load(name)
    data = module.from_bytes(b"\x92\x81\xa1a\x01\xa1a" * 3)
    if data is not None:
        module.check(data)


def test_the_guard_flags_foreign_exceptions_and_passes_documented_ones() -> None:
    harness = load("fuzz_codec").__dict__["_harness"]
    stats = harness.Stats()

    def raises(exc: BaseException) -> None:
        raise exc

    from datastore_engine.errors import CorruptData

    check = harness.guarded("t", raises, (CorruptData,), stats, lambda: 120.0)
    check(CorruptData("documented"))
    for foreign in (TypeError("x"), KeyError("k"), RecursionError()):
        with pytest.raises(AssertionError):
            check(foreign)


def test_the_codec_invariant_catches_a_decoder_that_lets_bad_data_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = load("fuzz_codec")
    from datastore_engine import codec

    # A broken decode_untrusted that lets a non-JSON value through must be caught.
    monkeypatch.setattr(
        codec, "decode_untrusted", lambda data, key="": {"a": b"bytes are not JSON"}
    )
    with pytest.raises(AssertionError):
        module.check(b"\x80")


@pytest.mark.parametrize(("name", "entry", "data"), [("fuzz_scim", "compile_filter", "a pr"), ("fuzz_es", "compile_search", {})])
def test_a_query_target_flags_a_foreign_exception_from_the_query_layer(
    name: str, entry: str, data: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The harness must flag anything but our errors, or the fuzzing proves nothing.
    module = load(name)

    def boom(*args: object, **kwargs: object) -> None:
        raise TypeError("boom")

    monkeypatch.setattr(module, entry, boom)
    with pytest.raises(AssertionError, match="TypeError"):
        module.check(data)


@pytest.mark.parametrize(("name", "seed_dir"), [("fuzz_scim", "scim"), ("fuzz_es", "es")])
def test_a_query_target_reads_its_seed_files_through_the_byte_entry_point(name: str, seed_dir: str) -> None:
    module = load(name)
    seeds = sorted((FUZZ_DIR / "seeds" / seed_dir).iterdir())
    assert seeds
    for raw in [*(seed.read_bytes() for seed in seeds), b"\xff\x00{["]:
        data = module.from_bytes(raw)
        if data is not None:
            module.check(data)
    runs = module.stats.runs
    assert runs >= len(seeds)  # every seed is a query the target ran
