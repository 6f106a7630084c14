"""Markdown tables from the per-backend results (pure functions over the JSON dicts).

Example:
    >>> fmt(1234567.0), fmt(12.345), fmt(0.01234)
    ('1,234,567', '12.3', '0.0123')
"""

from __future__ import annotations

import statistics
from typing import Any

Result = dict[str, Any]
ORDER = ("dse", "raw", "sqlite", "tinydb", "file", "memory")
RATIO_AGAINST = ("raw", "sqlite", "file")  # file appears only in the blob table


def fmt(value: float | None) -> str:
    """A number with about three significant digits, thousands separated."""
    if value is None:
        return "-"
    if value == float("inf"):
        return "inf"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _label(res: Result, n_main: int) -> str:
    name = str(res["backend"])
    n = res.get("n_docs")
    if n is not None and n != n_main and name != "file":
        return f"{name} (N={n // 1000}k)" if n >= 1000 else f"{name} (N={n})"
    return name


def _row_of(res: Result, workload: str) -> Result | None:
    return next((w for w in res.get("workloads", []) if w["workload"] == workload), None)


def _metric(row: Result | None, name: str) -> Result | None:
    if row is None or row.get("status") != "ok":
        return None
    return next((m for m in row.get("metrics", []) if m["name"] == name), None)


def _ratio(a: Result | None, b: Result | None) -> str:
    if a is None or b is None or not b["value"] or a["value"] in (None, float("inf")):
        return "-"
    return f"{a['value'] / b['value']:.2f}x"


def round_ratios(a: Result | None, b: Result | None) -> str:
    """Each round's ratio ``a / b``, in round order, then their median: how far one run's
    rounds agree, and a ratio whose two sides always ran side by side.

    Rounds run in lock-step (:mod:`bench.run`), so round i of both backends ran seconds
    apart (their timed loops in alternating parts); "-" unless both have one value a round.

    >>> round_ratios({"value": 4.0, "rounds": [2.0, 4.0, 3.0]}, {"value": 8.0, "rounds": [4.0, 8.0, 4.0]})
    '0.50 0.50 0.75 (median 0.50)'
    >>> round_ratios({"value": 4.0, "rounds": [4.0]}, {"value": 8.0, "rounds": [8.0]})
    '-'
    """
    if a is None or b is None:
        return "-"
    mine, theirs = a.get("rounds") or [], b.get("rounds") or []
    if len(mine) < 2 or len(mine) != len(theirs) or not all(theirs):
        return "-"
    ratios = [x / y for x, y in zip(mine, theirs, strict=True)]
    return " ".join(f"{r:.2f}" for r in ratios) + f" (median {statistics.median(ratios):.2f})"


def _comparable(value: Any) -> bool:
    # dse page items may not expose rids ("?"): such values are not compared.
    return "?" not in value if isinstance(value, list) else True


def check_mismatches(results: list[Result], workload: str) -> list[str]:
    """Check values that differ between backends run at the same N."""
    by_n: dict[int, list[tuple[str, Result]]] = {}
    for res in results:
        row = _row_of(res, workload)
        if row is not None and row.get("status") == "ok" and row.get("check"):
            by_n.setdefault(int(res["n_docs"]), []).append((res["backend"], row["check"]))
    problems = []
    for group in by_n.values():
        for key in sorted({k for _, check in group for k in check}):
            seen = {
                name: check[key]
                for name, check in group
                if key in check and _comparable(check[key])
            }
            if len({repr(v) for v in seen.values()}) > 1:
                problems.append(
                    f"check `{key}` differs: " + ", ".join(f"{n}={v!r}" for n, v in seen.items())
                )
    return problems


def workload_table(results: list[Result], workload: str, n_main: int) -> list[str]:
    """One Markdown table: a row per metric, a column per backend, then dse ratios."""
    present = [r for r in results if _row_of(r, workload) is not None]
    if not present:
        return []
    first = _row_of(present[0], workload)
    assert first is not None
    names: list[str] = []
    for res in present:
        row = _row_of(res, workload)
        for m in (row or {}).get("metrics", []) if (row or {}).get("status") == "ok" else []:
            if m["name"] not in names:
                names.append(m["name"])
    dse = next((r for r in present if r["backend"] == "dse"), None)
    ratio_cols = [
        o for o in RATIO_AGAINST if dse is not None and any(r["backend"] == o for r in present)
    ]
    raw = next((r for r in present if r["backend"] == "raw"), None)
    per_round = dse is not None and raw is not None and _has_rounds(dse, workload)
    header = [
        "metric",
        *(_label(r, n_main) for r in present),
        *(f"dse/{o}" for o in ratio_cols),
        *(["dse/raw by round"] if per_round else []),
    ]
    lines = [
        f"### {first['title']}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    statuses = {r["backend"]: (_row_of(r, workload) or {}).get("status", "-") for r in present}
    for i, name in enumerate(names or ["(status)"]):
        unit = ""
        cells = []
        for res in present:
            m = _metric(_row_of(res, workload), name)
            if m is not None:
                unit = m["unit"]
                cells.append(fmt(m["value"]))
            else:
                status = statuses[res["backend"]]
                cells.append(status if status != "ok" and i == 0 else "-")
        ratios = []
        for other in ratio_cols:
            o = next(r for r in present if r["backend"] == other)
            ratios.append(
                _ratio(
                    _metric(_row_of(dse, workload), name) if dse else None,
                    _metric(_row_of(o, workload), name),
                )
            )
        if per_round and dse is not None and raw is not None:
            ratios.append(round_ratios(_metric(_row_of(dse, workload), name), _metric(_row_of(raw, workload), name)))
        shown = name if unit in name else f"{name} ({unit})"
        lines.append(f"| {shown} | " + " | ".join(cells + ratios) + " |")
    rss = [fmt((_row_of(r, workload) or {}).get("peak_rss_mb")) for r in present]
    blanks = ["-"] * (len(ratio_cols) + per_round)
    lines.append("| peak RSS so far (MiB) | " + " | ".join(rss + blanks) + " |")
    notes = sorted({n for r in present for n in (_row_of(r, workload) or {}).get("notes", [])})
    problems = check_mismatches(results, workload)
    lines.append("")
    lines.extend(f"- note: {n}" for n in notes)
    lines.extend(f"- **MISMATCH** {p}" for p in problems)
    if notes or problems:
        lines.append("")
    return lines


def _has_rounds(res: Result, workload: str) -> bool:
    row = _row_of(res, workload)
    return row is not None and any(len(m.get("rounds") or []) > 1 for m in row.get("metrics", []))


def summary_table(results: list[Result], n_main: int) -> list[str]:
    """Per-backend memory and wall time."""
    lines = [
        "### Memory and time per backend (each in its own process)",
        "",
        "| backend | N | RSS after imports (MiB) | peak RSS (MiB) | growth (MiB) | peak anon RSS (MiB) | wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for res in results:
        lines.append(
            f"| {_label(res, n_main)} | {'-' if res['backend'] == 'file' else res.get('n_docs', '-')} | "
            f"{fmt(res.get('baseline_rss_mb'))} | "
            f"{fmt(res.get('peak_rss_mb'))} | {fmt(res.get('rss_growth_mb'))} | "
            f"{fmt(res.get('peak_anon_mb'))} | {fmt(res.get('seconds'))} |"
        )
    return [*lines, ""]


LEGEND = (
    "Ratios are dse value / other value: for rates (ops/s, MB/s) above 1x means dse is faster; "
    "for latencies and build times (us, s) below 1x means dse is faster. "
    "With several rounds, \"dse/raw by round\" gives each round's own ratio (the two ran "
    "seconds apart, in lock-step) and their median; the other columns compare each "
    "backend's best round, which may come from rounds minutes apart. "
    "Peak RSS is ru_maxrss of the backend's own process and includes mapped LMDB file pages "
    "(reclaimable); peak anon RSS (sampled every 50 ms) is the heap actually held."
)


def markdown(results: list[Result], workloads: list[str], *, header: str) -> str:
    """The whole report."""
    ordered = sorted(
        results, key=lambda r: ORDER.index(r["backend"]) if r["backend"] in ORDER else 99
    )
    n_main = max((int(r.get("n_docs", 0)) for r in ordered), default=0)
    lines = [header, "", LEGEND, ""]
    for workload in workloads:
        lines.extend(workload_table(ordered, workload, n_main))
    lines.extend(summary_table(ordered, n_main))
    return "\n".join(lines)
