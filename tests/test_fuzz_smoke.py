"""Each fuzz target's hypothesis fallback runs for ~2 s without breaking its invariant.

The invariant (inside the targets): every input returns or raises one of our
errors. The hang guard is set very loose here, so the test asserts no timing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

FUZZ_DIR = Path(__file__).resolve().parent.parent / "fuzz"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_fuzz_{name}", FUZZ_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["fuzz_scim", "fuzz_es"])
def test_fuzz_fallback_runs_without_breaking_the_invariant(name: str) -> None:
    module = load(name)
    module.HANG_SECONDS = 120.0
    assert module.run_fallback(2.0) > 0


@pytest.mark.parametrize("name", ["fuzz_scim", "fuzz_es"])
def test_fuzz_check_rejects_foreign_exceptions(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness must flag anything but our errors, or the fuzzing proves nothing.
    module = load(name)

    def boom(*args: object, **kwargs: object) -> None:
        raise TypeError("boom")

    target = "compile_filter" if name == "fuzz_scim" else "compile_search"
    monkeypatch.setattr(module, target, boom)
    with pytest.raises(AssertionError, match="TypeError"):
        module.check("a pr" if name == "fuzz_scim" else {})


@pytest.mark.parametrize(("name", "seed_dir"), [("fuzz_scim", "scim"), ("fuzz_es", "es")])
def test_atheris_entry_point_accepts_seed_files(name: str, seed_dir: str) -> None:
    module = load(name)
    seeds = sorted((FUZZ_DIR / "seeds" / seed_dir).iterdir())
    assert seeds
    for seed in seeds:
        module.TestOneInput(seed.read_bytes())
    module.TestOneInput(b"\xff\x00{[")
