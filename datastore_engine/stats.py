"""A summary of an open engine: its stores, documents, bytes, buckets and map use.

What ``datastore-engine stats`` prints. Stores are those this engine sees
(its app's local stores, its org's, the system ones); buckets are engine-wide.
Counts come from the live counters, objects from listing each bucket (cost
grows with the number of objects, not their size).

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     _ = engine.store("s").put("a", {"n": 1})
    ...     s = stats(engine)
    ...     (s["stores"], s["documents"], s["domains"]["local"]["documents"])
    (1, 1, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keys import DOMAINS

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["stats"]

_PAGE = 500  # engine.stores() gives at most 500 a page


def stats(engine: Engine) -> dict[str, Any]:
    """``stores``, ``documents``, ``bytes``, per-domain sums, ``buckets`` and ``map`` (see the module doc)."""
    domains = {d: {"stores": 0, "documents": 0, "bytes": 0} for d in DOMAINS}
    start = 0
    while True:
        page = engine.stores(start=start, count=_PAGE)
        for info in page:
            sums = domains[info.domain]
            sums["stores"] += 1
            sums["documents"] += info.count
            sums["bytes"] += info.size
        start += page.count
        if page.count == 0 or start >= page.total:
            break
    buckets = []
    for bucket in engine.buckets():
        objects = size = 0
        for obj in bucket.list():
            objects += 1
            size += obj.size
        buckets.append({"name": bucket.name, "objects": objects, "bytes": size})
    map_info = engine.map_info()
    return {
        "path": engine.path,
        "app": engine.app,
        "org": engine.org,
        "stores": sum(d["stores"] for d in domains.values()),
        "documents": sum(d["documents"] for d in domains.values()),
        "bytes": sum(d["bytes"] for d in domains.values()),
        "domains": domains,
        "buckets": buckets,
        "map": {
            **map_info,
            "used_percent": round(100 * map_info["used_bytes"] / map_info["map_size"], 1),
        },
    }
