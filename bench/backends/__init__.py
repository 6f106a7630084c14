"""Benchmark backends by name; each is imported only in the process that runs it."""

from __future__ import annotations

import importlib
from pathlib import Path

from bench.backends.base import Backend

# name -> "module:class"; imported lazily so a child process loads only its own libraries.
BACKENDS: dict[str, str] = {
    "dse": "bench.backends.dse:DseBackend",
    "raw": "bench.backends.raw:RawBackend",
    "sqlite": "bench.backends.sqlite:SqliteBackend",
    "tinydb": "bench.backends.tiny:TinyBackend",
    "file": "bench.backends.file:FileBackend",
    "memory": "bench.backends.memory:MemoryBackend",  # test oracle, not run by default
}


def load_backend(name: str, root: Path) -> Backend:
    """An unopened backend ``name`` rooted at ``root``."""
    module, cls = BACKENDS[name].split(":")
    backend: Backend = getattr(importlib.import_module(module), cls)(root)
    return backend
