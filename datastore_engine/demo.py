"""The README's main job: a short tour of the engine on a local directory.

Run it with ``datastore-engine demo`` (default directory ``./datastore``). It is
re-runnable: it resets its own demo stores and bucket first, and prints every
step and what came back.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from .engine import open as open_engine
from .errors import NotFound

__all__ = ["run_demo"]

PEOPLE = [
    (
        "ada",
        {
            "name": "Ada Lovelace",
            "age": 36,
            "city": "London",
            "emails": [{"type": "work", "value": "ada@engine.org"}],
        },
    ),
    (
        "alan",
        {
            "name": "Alan Turing",
            "age": 41,
            "city": "Manchester",
            "emails": [{"type": "home", "value": "alan@home.uk"}],
        },
    ),
    (
        "grace",
        {
            "name": "Grace Hopper",
            "age": 85,
            "city": "New York",
            "emails": [{"type": "work", "value": "grace@navy.mil"}],
        },
    ),
    ("linus", {"name": "Linus Torvalds", "age": 29, "city": "Helsinki", "tags": ["kernel"]}),
]


def run_demo(
    path: str | os.PathLike[str] = "datastore", *, out: Callable[[str], None] = print
) -> dict[str, Any]:
    """Create stores in each domain, add, merge, query, store a blob; print and return what happened."""
    results: dict[str, Any] = {}

    def show(label: str, value: Any) -> None:
        results[label] = value
        out(f"{label:<44} {json.dumps(value, default=str)}")

    with open_engine(path, app="demo-app", org="demo-org") as engine:
        out(f"datastore_engine demo on {os.path.abspath(os.fspath(path))}")
        for name, domain in (
            ("people", "local"),
            ("settings", "organization"),
            ("feature-flags", "system"),
        ):
            with contextlib.suppress(NotFound):
                engine.drop_store(name, domain=domain, confirmed=True)
        if engine.bucket_exists("demo-media"):
            engine.remove_bucket("demo-media", force=True)
        people = engine.store("people")  # local: private to app "demo-app"
        settings = engine.store("settings", domain="organization")  # shared by org "demo-org"
        flags = engine.store("feature-flags", domain="system")  # shared by every app on this file
        with engine.transaction():
            for rid, doc in PEOPLE:
                people.add(doc, rid=rid)
        show("added people (one transaction)", people.keys())
        rid = settings.add({"theme": "dark", "limits": {"upload_mb": 10}})
        show("organization store: auto id", rid)
        settings.merge(rid, {"limits": {"download_mb": 50}, "beta": True})
        show("after deep merge", settings.get(rid))
        flags.put("sync", {"enabled": True, "peers": ["http://127.0.0.1:5984/db"]})
        show("system store", flags.get("sync"))
        people.create_index("age")
        page = people.find('age ge 30 and not (city eq "London")', sort="-age")
        show("SCIM: age ge 30 and not London (sorted)", [rid for rid, _doc in page.items])
        show("explain the plan", people.explain("age ge 30"))
        work = people.find('emails[type eq "work"]', fields=["$.name"])
        show("SCIM value path: work emails", [doc for _rid, doc in work.items])
        hits = people.search(
            {"query": {"bool": {"filter": [{"range": {"age": {"lt": 40}}}]}}, "sort": ["age"]}
        )
        show("Elasticsearch bool/range", [h["_id"] for h in hits["hits"]["hits"]])
        bucket = engine.bucket("demo-media")
        info = bucket.put("notes/hello.txt", b"hello from datastore_engine\n")
        show("blob put (etag = MD5)", {"name": info.name, "size": info.size, "etag": info.etag})
        show("blob get", bucket.get_bytes("notes/hello.txt").decode())
        show("change feed of people", [c.rid for c in people.changes()])
        info_people = people.info
        show("people store info", {"count": info_people.count, "size": info_people.size,
                                   "location": info_people.location})  # fmt: skip
    out("done: run it again any time; it resets its own stores first")
    return results
