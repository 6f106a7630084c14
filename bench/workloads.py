"""The workloads: each times one thing on one backend and returns metrics plus a check.

A workload is a function ``(backend, cfg) -> Outcome``, or a generator function that
pauses (``yield``) between the ``cfg.slices`` parts of its timed loop and returns its
Outcome: the lock-step runner (:mod:`bench.run`) then has every other backend run the
same part before this one goes on, so the backends' parts alternate seconds apart and a
drift of the machine's disk or CPU speed falls on all of them alike. The clock is
stopped while a workload is paused. :func:`complete` runs either kind to its end.
``metrics`` are what the report
prints; ``check`` holds result values (counts, ids, decoded fields) that must agree
across backends with the same N, so a fast wrong answer is caught. Workloads run in
:data:`WORKLOADS` order on one backend; later ones see the state earlier ones left
(the single inserts extend the store, read-modify-write changes ages, and so on).

Example (the in-memory oracle, tiny sizes):
    >>> from pathlib import Path
    >>> from bench.backends import load_backend
    >>> from bench.config import mode_config
    >>> b = load_backend("memory", Path("."))
    >>> out = bulk_insert(b, mode_config("smoke"))
    >>> out.metrics[0].name
    'docs/s'
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from bench.backends.base import Backend, Doc, Unsupported
from bench.config import MIB, Config
from bench.docgen import CITIES, blob_chunks, email_of, make_doc, make_items, rid_of
from bench.memory import AnonSampler, anon_rss_mb

perf = time.perf_counter


@dataclass(frozen=True)
class Metric:
    """One number in the report; ``higher_is_better`` orients the dse/other ratio."""

    name: str
    value: float
    unit: str
    higher_is_better: bool = True


def part_size(total: int, parts: int) -> int:
    """Items a part when ``total`` are cut into ``parts`` (the last may be shorter): how
    :func:`sliced_loop` cuts its parts and :meth:`Outcome.loop` its rate segments, so
    that each segment of a sliced loop is one of its parts.

    >>> part_size(2000, 6), part_size(11, 3), part_size(2, 3), part_size(0, 6)
    (334, 4, 1, 1)
    """
    return max(1, -(-total // max(1, parts)))


@dataclass
class Outcome:
    """What a workload measured and the values other backends must reproduce."""

    metrics: list[Metric] = field(default_factory=list)
    check: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def rate(self, name: str, ops: float, seconds: float, unit: str = "ops/s") -> None:
        self.metrics.append(Metric(name, ops / seconds if seconds > 0 else float("inf"), unit))

    def loop(
        self, name: str, samples_ns: list[int], *, segments: int = 3, latency_prefix: str = ""
    ) -> None:
        """Rate as the median over ``segments`` consecutive slices of a timed loop (a burst
        of noise from a neighbour spoils one slice, not the number), then p50/p99. The
        slices are cut by :func:`part_size`, as :func:`sliced_loop` cuts its parts, so
        with ``segments`` equal to its ``slices`` each slice is one part."""
        size = part_size(len(samples_ns), segments)
        slices = [samples_ns[i : i + size] for i in range(0, len(samples_ns), size)]
        rates = [len(sl) / (sum(sl) / 1e9) if sum(sl) else float("inf") for sl in slices]
        self.metrics.append(Metric(name, statistics.median(rates), "ops/s"))
        self.latencies(latency_prefix, samples_ns)

    def latencies(self, prefix: str, samples_ns: list[int]) -> None:
        p50, p99 = percentiles(samples_ns)
        self.metrics.append(Metric(f"{prefix}p50", p50 / 1000, "us", higher_is_better=False))
        self.metrics.append(Metric(f"{prefix}p99", p99 / 1000, "us", higher_is_better=False))


def percentiles(samples: list[int]) -> tuple[float, float]:
    """(p50, p99) by nearest rank.

    >>> percentiles(list(range(1, 101)))
    (50, 99)
    """
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]

    return pick(0.50), pick(0.99)


#: A sliced workload: pauses between its parts, returns its Outcome.
Steps = Generator[None, None, Outcome]


def complete(result: Outcome | Steps) -> Outcome:
    """The Outcome of a workload's result, running a sliced one through all its parts.

    >>> def two_parts() -> Steps:
    ...     yield
    ...     return Outcome(notes=["done"])
    >>> complete(two_parts()).notes, complete(Outcome()).notes
    (['done'], [])
    """
    if isinstance(result, Outcome):
        return result
    while True:
        try:
            next(result)
        except StopIteration as stop:
            outcome: Outcome = stop.value
            return outcome


def sliced_loop(
    op: Callable[[Any], object], args: list[Any], slices: int
) -> Generator[None, None, list[int]]:
    """:func:`timed_loop` over ``args`` in ``slices`` consecutive parts, pausing between
    them; the per-op nanoseconds of all parts, in order."""
    size = part_size(len(args), slices)
    lat: list[int] = []
    for at in range(0, len(args), size):
        if at:
            yield
        lat += timed_loop(op, args[at : at + size])[1]
    return lat


def _segments(cfg: Config) -> int:
    """Rate segments of a sliced loop: one per part (each part's neighbours ran the same
    part just before or after it); three when the loop runs whole."""
    return cfg.slices if cfg.slices > 1 else 3


def timed_loop(op: Callable[[Any], object], args: list[Any]) -> tuple[float, list[int]]:
    """Run ``op`` on every arg; (total seconds, per-op nanoseconds)."""
    lat: list[int] = []
    clock = time.perf_counter_ns
    start = perf()
    for arg in args:
        t0 = clock()
        op(arg)
        lat.append(clock() - t0)
    return perf() - start, lat


def _rng(cfg: Config, name: str) -> random.Random:
    return random.Random(f"{cfg.seed}-{name}")


def _json_bytes(docs: list[Doc]) -> int:
    return sum(len(json.dumps(d, separators=(",", ":"))) for d in docs)


# -- documents ----------------------------------------------------------------------------


def bulk_insert(b: Backend, cfg: Config) -> Outcome:
    """N documents in one transaction."""
    items = make_items(0, cfg.n_docs, seed=cfg.seed)
    start = perf()
    b.bulk_insert(items)
    dt = perf() - start
    out = Outcome()
    out.rate("docs/s", len(items), dt, "docs/s")
    out.rate("MB/s (JSON size)", _json_bytes([d for _, d in items]) / MIB, dt, "MB/s")
    out.check["first"] = b.get(rid_of(0)) == items[0][1]
    return out


def insert_durable(b: Backend, cfg: Config) -> Steps:
    """Single inserts, one durable commit each, extending the main store past N."""
    items = make_items(cfg.n_docs, cfg.n_docs + cfg.single_durable, seed=cfg.seed)
    lat = yield from sliced_loop(lambda it: b.insert(it[0], it[1], durable=True), items, cfg.slices)
    out = Outcome()
    out.loop("inserts/s", lat, segments=_segments(cfg))
    out.check["last"] = b.get(items[-1][0])["email"]
    return out


def insert_relaxed(b: Backend, cfg: Config) -> Steps:
    """Single inserts, one commit each, without fsync (a separate relaxed store)."""
    items = make_items(0, cfg.single_relaxed, seed=cfg.seed)
    lat = yield from sliced_loop(lambda it: b.insert(it[0], it[1], durable=False), items, cfg.slices)
    out = Outcome()
    out.loop("inserts/s", lat, segments=_segments(cfg))
    return out


def point_get(b: Backend, cfg: Config) -> Steps:
    """Random existing keys, one read transaction each; median of ``repeats`` runs (a
    pause after each)."""
    rng = _rng(cfg, "get")
    rids = [rid_of(rng.randrange(cfg.n_docs)) for _ in range(cfg.gets)]
    for rid in rids[: max(1, len(rids) // 20)]:  # warm-up
        b.get(rid)
    runs = []
    for i in range(cfg.repeats):
        if i:
            yield
        runs.append(timed_loop(b.get, rids))
    dt, lat = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    out = Outcome()
    out.rate("gets/s", len(rids), dt)
    out.latencies("", lat)
    sample = sorted(set(rids))[:5]
    out.check["equal"] = all(b.get(r) == make_doc(int(r[1:]), seed=cfg.seed) for r in sample)
    return out


def read_modify_write(b: Backend, cfg: Config) -> Steps:
    """Get, age += 1, put back: one durable write transaction each."""
    rng = _rng(cfg, "rmw")
    rids = [rid_of(rng.randrange(cfg.n_docs)) for _ in range(cfg.rmw)]
    lat = yield from sliced_loop(b.rmw, rids, cfg.slices)
    out = Outcome()
    out.loop("rmw/s", lat, segments=_segments(cfg))
    out.check["age"] = b.get(rids[0])["age"] - make_doc(int(rids[0][1:]), seed=cfg.seed)["age"]
    out.check["bumps"] = rids.count(rids[0])
    return out


def merge(b: Backend, cfg: Config) -> Steps:
    """Deep merge of a small nested patch: one durable write transaction each."""
    rng = _rng(cfg, "merge")
    ops = [
        (rid_of(rng.randrange(cfg.n_docs)), {"address": {"postcode": f"{k:04d}"}, "visits": k})
        for k in range(cfg.merges)
    ]
    lat = yield from sliced_loop(lambda op: b.merge(op[0], op[1]), ops, cfg.slices)
    out = Outcome()
    out.loop("merges/s", lat, segments=_segments(cfg))
    rid, _ = ops[-1]
    doc = b.get(rid)
    out.check["merged"] = [doc["visits"], doc["address"]["postcode"], doc["address"]["street"]]
    return out


# -- queries ------------------------------------------------------------------------------


def _repeat(cfg: Config, fn: Callable[[], Any]) -> Generator[None, None, tuple[float, Any]]:
    """Median seconds of ``repeats`` runs after one warm-up run (a pause after each run
    but the last); and the last result."""
    result = fn()
    times: list[float] = []
    for i in range(cfg.repeats):
        if i:
            yield
        start = perf()
        result = fn()
        times.append(perf() - start)
    return statistics.median(times), result


def scan_filter(b: Backend, cfg: Config) -> Steps:
    """Full-scan SCIM filter ``age ge 30 and city eq "Oslo"`` with a page of ``scan_count``."""
    dt, (total, rids) = yield from _repeat(cfg, lambda: b.scan(age_min=30, city="Oslo", count=cfg.scan_count))
    out = Outcome()
    out.rate("queries/s", 1, dt)
    out.rate("docs scanned/s", cfg.n_docs + cfg.single_durable, dt, "docs/s")
    out.check.update(total=total, rids=rids[:20])
    return out


def index_eq(b: Backend, cfg: Config) -> Steps:
    """``create_index("email")``, then ``email eq "..."`` lookups of random documents."""
    start = perf()
    b.create_index("email")
    build = perf() - start
    rng = _rng(cfg, "eq")
    wanted = [rng.randrange(cfg.n_docs) for _ in range(cfg.eq_lookups)]
    b.find_eq("email", email_of(wanted[0]), count=10)  # warm-up
    results: list[tuple[int, list[str]]] = []
    lat = yield from sliced_loop(
        lambda i: results.append(b.find_eq("email", email_of(i), count=10)), wanted, cfg.slices
    )
    out = Outcome()
    out.metrics.append(Metric("index build", build, "s", higher_is_better=False))
    out.loop("lookups/s", lat, segments=_segments(cfg))
    out.check["found_one"] = sum(total == 1 for total, _ in results)
    out.check["rid_ok"] = all(
        r[1][:1] in ([rid_of(i)], ["?"]) for r, i in zip(results, wanted, strict=True)
    )
    return out


def index_range(b: Backend, cfg: Config) -> Steps:
    """``create_index("age")``, then ``age ge a and age le a+1`` (~3% of documents each)."""
    start = perf()
    b.create_index("age")
    build = perf() - start
    rng = _rng(cfg, "range")
    lows = [rng.randint(20, 70) for _ in range(cfg.range_queries)]
    b.find_range("age", lows[0], lows[0] + 1, count=cfg.scan_count)  # warm-up
    results: list[tuple[int, list[str]]] = []
    lat = yield from sliced_loop(
        lambda lo: results.append(b.find_range("age", lo, lo + 1, count=cfg.scan_count)),
        lows,
        cfg.slices,
    )
    out = Outcome()
    out.metrics.append(Metric("index build", build, "s", higher_is_better=False))
    out.loop("queries/s", lat, segments=_segments(cfg))
    out.check["totals"] = sum(total for total, _ in results)
    out.check["first_rids"] = results[0][1][:5]
    return out


def es_bool(b: Backend, cfg: Config) -> Steps:
    """ES bool: filter term city + range age [30, 50), must_not term tags "archived"."""
    query = lambda: b.es_bool(city=CITIES[0], age_gte=30, age_lt=50, not_tag="archived", size=10)  # noqa: E731
    dt, (total, _) = yield from _repeat(cfg, query)
    out = Outcome()
    out.rate("queries/s", 1, dt)
    out.check.update(total=total)
    out.notes.append("result order is not compared (ES orders by score)")
    return out


# -- concurrency ---------------------------------------------------------------------------


def _writer_round(b: Backend, threads: int, round_: str, docs: list[tuple[str, Doc]]) -> float:
    """One round: ``threads`` writers start together; seconds until the last finishes."""
    writers = [b.writer() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        insert = writers[t][0]
        barrier.wait()
        try:
            for i, (_, doc) in enumerate(docs):
                insert(f"w{round_}{t}-{i:06d}", doc)
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)

    running = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in running:
        th.start()
    barrier.wait()
    start = perf()
    for th in running:
        th.join()
    dt = perf() - start
    for _, close in writers:
        close()
    if errors:
        raise errors[0]
    return dt


def concurrent_writers(b: Backend, cfg: Config) -> Steps:
    """``threads`` threads, each doing ``per_thread`` single durable inserts at once
    (median of ``repeats`` rounds; a pause after each round)."""
    docs = make_items(0, cfg.per_thread, seed=cfg.seed + 1)
    # A one-thread round before each many-thread round, on the same store: the
    # gain of concurrency is their ratio, writes alike (insert_durable runs
    # earlier, before the indexes exist, so its rate is not the baseline here).
    times, solo = [], []
    for r in range(max(1, cfg.repeats)):
        if r:
            yield
        solo.append(_writer_round(b, 1, f"s{r}", docs))
        times.append(_writer_round(b, cfg.threads, str(r), docs))
    out = Outcome()
    many = cfg.threads * cfg.per_thread / statistics.median(times)
    one = cfg.per_thread / statistics.median(solo)
    out.rate(f"inserts/s (total, {cfg.threads} threads)", many, 1.0)
    out.rate("inserts/s (1 thread, same store)", one, 1.0)
    out.metrics.append(Metric(f"{cfg.threads} threads / 1 thread", many / one, "x"))
    out.check["readable"] = sum(
        b.get(f"w{r}{t}-{cfg.per_thread - 1:06d}")["email"] == docs[-1][1]["email"]
        for t in range(cfg.threads)
        for r in range(len(times))
    )
    return out


# -- blobs -------------------------------------------------------------------------------------


def _size_label(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size} B"


def blobs(b: Backend, cfg: Config) -> Steps:
    """Put then get objects of each configured size, streamed in 1 MiB chunks (MB/s = MiB/s);
    a pause after each object's put and reads, and after each read of a big one."""
    out = Outcome()
    first = True
    for size in cfg.blob_sizes:
        reads = 1
        if size >= 512 * MIB:
            # One put (seconds each), read back three times: a single ~150 ms read decided
            # the ratio by noise (lock-step rounds of one read gave 0.76 to 0.99).
            reps, reads = 1, 3
        elif size >= 32 * MIB:
            reps = 2 if cfg.mode == "quick" else cfg.repeats
        else:
            reps = max(cfg.repeats, 20)  # a few ms each: the median of 20 rather than of 3
        reps = max(1, reps)
        puts, gets = [], []
        base = peak = anon_rss_mb() or 0.0
        for rep in range(reps):
            name = f"obj/{size}/{rep}"
            for read in range(reads):
                if not first:
                    yield  # with no sampler running: a paused child polls nothing
                first = False
                # The heap is sampled only inside a part; its peak is the parts' highest.
                with AnonSampler(interval=0.01) as sampler:
                    if read == 0:
                        chunks = blob_chunks(size, seed=rep)  # the random chunk is made here, untimed
                        start = perf()
                        b.blob_put(name, chunks, length=size)
                        puts.append(perf() - start)
                    start = perf()
                    got = b.blob_get(name)
                    gets.append(perf() - start)
                peak = max(peak, sampler.peak)
                if got != size:
                    raise AssertionError(f"{name}: got {got} bytes, expected {size}")
        label = _size_label(size)
        out.rate(f"put {label}", size / MIB, statistics.median(puts), "MB/s")
        out.rate(f"get {label}", size / MIB, statistics.median(gets), "MB/s")
        growth = max(0.0, peak - base)
        out.metrics.append(Metric(f"heap growth, put + get {label} (MiB)", growth, "MiB", higher_is_better=False))
        out.check[label] = size
    out.notes.append("reads follow writes, so they come from the page cache")
    out.notes.append("512 MiB and more: one put, read back three times (median read)")
    out.notes.append("heap growth: peak anonymous RSS (sampled every 10 ms) over the size's puts and gets, above where it started")
    return out


# -- scale ---------------------------------------------------------------------------------------


def scale(b_factory: Callable[[], Backend], cfg: Config) -> Outcome:
    """Insert ``scale_total`` docs in batches; point-get rate and p50/p99 at mid and at total."""
    if cfg.scale_total <= 0:
        raise Unsupported("full mode only" if cfg.mode != "full" else "not run at this backend's N")
    b = b_factory()
    b.open()
    out = Outcome()
    try:
        insert_time, done = 0.0, 0
        for target in (cfg.scale_mid, cfg.scale_total):
            while done < target:
                items = make_items(done, min(target, done + cfg.scale_batch), seed=cfg.seed)
                start = perf()
                b.bulk_insert(items)
                insert_time += perf() - start
                done += len(items)
            rng = _rng(cfg, f"scale{target}")
            rids = [rid_of(rng.randrange(target)) for _ in range(cfg.scale_gets)]
            for rid in rids[:500]:
                b.get(rid)
            # The first pass also maps in pages this process never touched (the
            # inserts wrote through the file, not the map): reported apart. The
            # rate is the median of ``repeats`` passes, warm, as point_get's.
            runs = [timed_loop(b.get, rids) for _ in range(max(1, cfg.repeats))]
            label = f"{target // 1000}k" if target < 1_000_000 else f"{target // 1_000_000}M"
            out.rate(f"gets/s at {label}, first pass", len(rids), runs[0][0])
            _, lat = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
            out.loop(f"gets/s at {label}", lat, latency_prefix=f"get at {label} ")
        out.rate(f"insert docs/s (batches of {cfg.scale_batch})", done, insert_time, "docs/s")
        out.check["last"] = b.get(rid_of(cfg.scale_total - 1))["email"]
    finally:
        b.close()
    return out


# Report order; the scale workload is separate (it needs a fresh backend).
WORKLOADS: dict[str, tuple[str, Callable[[Backend, Config], Outcome | Steps]]] = {
    "bulk_insert": ("Bulk insert (one transaction)", bulk_insert),
    "insert_durable": ("Single inserts, durable (one commit each)", insert_durable),
    "insert_relaxed": ("Single inserts, relaxed (no fsync)", insert_relaxed),
    "point_get": ("Point get (random keys, a read transaction each)", point_get),
    "rmw": ("Read-modify-write (one durable transaction each)", read_modify_write),
    "merge": ("Deep merge (one durable transaction each)", merge),
    "scan": ('Full-scan filter: age ge 30 and city eq "Oslo"', scan_filter),
    "index_eq": ('Indexed eq: email eq "..."', index_eq),
    "index_range": ("Indexed range: age ge a and age le a+1", index_range),
    "es_bool": ("ES bool query (term + range + must_not)", es_bool),
    "concurrent": ("Concurrent durable writers", concurrent_writers),
    "blobs": ("Blobs: put / get (streamed, 1 MiB chunks)", blobs),
}
SCALE_TITLE = "Scale: batched inserts to 1M, point gets at 100k vs 1M"
