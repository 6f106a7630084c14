"""Sizes of each benchmark mode, as frozen value objects (no module-level mutable state).

Example:
    >>> cfg = mode_config("quick")
    >>> cfg.n_docs, for_backend(cfg, "tinydb").n_docs
    (5000, 2000)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIB = 1 << 20


@dataclass(frozen=True)
class Config:
    """Operation counts for one mode; ``repeats`` applies to cheap read workloads (median taken)."""

    mode: str
    n_docs: int
    single_durable: int
    single_relaxed: int
    gets: int
    rmw: int
    merges: int
    scan_count: int
    eq_lookups: int
    range_queries: int
    es_queries: int
    threads: int
    per_thread: int
    blob_sizes: tuple[int, ...]
    repeats: int
    scale_total: int  # 0 = skip the scale workload
    scale_mid: int
    scale_batch: int
    scale_gets: int
    seed: int = 20240607
    # Parts of a timed loop that the lock-step runner alternates between backends
    # (bench.workloads.sliced_loop); 1 runs each loop whole. Workloads that repeat
    # (point gets, queries, concurrent rounds, blobs) pause between repeats whatever it is.
    slices: int = 1


MODES: dict[str, Config] = {
    "full": Config(
        mode="full",
        n_docs=100_000,
        single_durable=2000,
        single_relaxed=5000,
        gets=50_000,
        rmw=1000,
        merges=1000,
        scan_count=100,
        eq_lookups=5000,
        range_queries=200,
        es_queries=5,
        threads=4,
        per_thread=250,
        blob_sizes=(MIB, 64 * MIB, 1024 * MIB),
        repeats=3,
        scale_total=1_000_000,
        scale_mid=100_000,
        scale_batch=10_000,
        scale_gets=20_000,
        slices=6,
    ),
    "quick": Config(
        mode="quick",
        n_docs=5000,
        single_durable=300,
        single_relaxed=1000,
        gets=5000,
        rmw=200,
        merges=200,
        scan_count=100,
        eq_lookups=1000,
        range_queries=50,
        es_queries=3,
        threads=4,
        per_thread=50,
        blob_sizes=(MIB, 64 * MIB),
        repeats=3,
        scale_total=0,
        scale_mid=0,
        scale_batch=0,
        scale_gets=0,
        slices=2,
    ),
    # In-process smoke test (tests/test_bench_smoke.py): tiny and fast, no scale.
    "smoke": Config(
        mode="smoke",
        n_docs=300,
        single_durable=10,
        single_relaxed=10,
        gets=50,
        rmw=10,
        merges=10,
        scan_count=7,
        eq_lookups=20,
        range_queries=3,
        es_queries=1,
        threads=4,
        per_thread=5,
        blob_sizes=(MIB + 123, 3 * MIB),
        repeats=1,
        scale_total=0,
        scale_mid=0,
        scale_batch=0,
        scale_gets=0,
        slices=2,
    ),
}

# TinyDB rewrites (and re-reads) its whole JSON file on every operation, so it runs at a
# small N with few operations; the report marks its column with its N.
TINYDB_MAX_DOCS = 2000


def mode_config(mode: str) -> Config:
    """The configuration of ``mode`` ("full", "quick" or "smoke")."""
    return MODES[mode]


def for_backend(cfg: Config, backend: str) -> Config:
    """``cfg`` adjusted for one backend (TinyDB gets a small N and few operations)."""
    if backend != "tinydb":
        return cfg
    small = min(cfg.n_docs, TINYDB_MAX_DOCS)
    return replace(
        cfg,
        n_docs=small,
        single_durable=min(cfg.single_durable, 50 if cfg.mode == "quick" else 200),
        single_relaxed=min(cfg.single_relaxed, 50 if cfg.mode == "quick" else 200),
        gets=min(cfg.gets, 50 if cfg.mode == "quick" else 200),
        rmw=min(cfg.rmw, 30 if cfg.mode == "quick" else 100),
        merges=min(cfg.merges, 30 if cfg.mode == "quick" else 100),
        eq_lookups=min(cfg.eq_lookups, 30 if cfg.mode == "quick" else 100),
        scale_total=0,  # 1M documents in one JSON file is out of TinyDB's range
    )
