"""Every row of docs/limits.md, on both sides of its boundary, with nothing changed by a refusal.

Each row: ``setup`` prepares (stores, buckets, documents), then the refused
call must raise the documented error (and ``LimitExceeded.limit`` name) and
leave every sub-database byte for byte as it was (the ``snapshot`` fixture),
then the call at the boundary must succeed. A test at the end checks that the
table in docs/limits.md and this list name the same rows.
"""

from __future__ import annotations

import http.server
import pathlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import access

MiB = 1024 * 1024
DOC_LIMIT = 16 * MiB
MAP_OVERHEAD = 8  # msgpack bytes of {"p": <str32>} around the string


def nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def es_nest(depth: int) -> dict[str, Any]:
    query: dict[str, Any] = {"match_all": {}}
    for _ in range(depth):
        query = {"bool": {"must": [query]}}
    return {"query": query}


def filter_of_length(n: int) -> str:
    head = 'n eq "'
    return head + "x" * (n - len(head) - 1) + '"'


@dataclass(frozen=True)
class Row:
    id: str
    error: type[Exception]
    limit: str | None
    ok: Callable[[dse.Engine, Any], Any]
    bad: Callable[[dse.Engine, Any], Any]


def s(engine: dse.Engine) -> dse.Store:
    return engine.store("s")


def media(engine: dse.Engine) -> Any:
    return engine.bucket("media")


ROWS = [
    Row("document id bytes", dse.LimitExceeded, "max_rid_bytes",
        lambda e, _: s(e).put("é" * 125, {}), lambda e, _: s(e).put("é" * 125 + "x", {})),
    Row("document id empty or NUL", dse.ValidationError, None,
        lambda e, _: s(e).put("a", {}), lambda e, _: s(e).put("a\x00b", {})),
    Row("store name characters", dse.LimitExceeded, "max_store_name_chars",
        lambda e, _: e.store("n" * 128), lambda e, _: e.store("n" * 129)),
    Row("store name control characters", dse.ValidationError, None,
        lambda e, _: e.store("tab-less"), lambda e, _: e.store("tab\there")),
    Row("nesting depth", dse.LimitExceeded, "max_depth",
        lambda e, _: s(e).put("deep", nest(64)), lambda e, _: s(e).put("deep", nest(65))),
    Row("document size", dse.LimitExceeded, "max_document_bytes",
        lambda e, _: s(e).put("big", {"p": "x" * (DOC_LIMIT - MAP_OVERHEAD)}),
        lambda e, _: s(e).put("big", {"p": "x" * (DOC_LIMIT - MAP_OVERHEAD + 1)})),
    Row("integer range", dse.ValidationError, None,
        lambda e, _: s(e).put("i", {"n": 2**63 - 1}), lambda e, _: s(e).put("i", {"n": 2**63})),
    Row("non-finite float", dse.ValidationError, None,
        lambda e, _: s(e).put("f", {"n": 1e308}), lambda e, _: s(e).put("f", {"n": float("inf")})),
    Row("path characters", dse.LimitExceeded, "max_path_chars",
        lambda e, _: s(e).set_path("d", "p" * 1024, 1), lambda e, _: s(e).set_path("d", "p" * 1025, 1)),
    Row("store quota", dse.LimitExceeded, "max_size_mb",
        # size counts the id ("a", 1 byte) and the encoded body
        lambda e, _: e.store("quota").put("a", {"p": "x" * (MiB - 1 - MAP_OVERHEAD)}),
        lambda e, _: e.store("quota").put("a", {"p": "x" * (MiB - MAP_OVERHEAD)})),
    Row("store description characters", dse.LimitExceeded, "max_description_chars",
        lambda e, _: e.update_store("s", description="d" * 4096),
        lambda e, _: e.update_store("s", description="d" * 4097)),
    Row("store listing page size", dse.LimitExceeded, "max_page_count",
        lambda e, _: e.stores(count=500), lambda e, _: e.stores(count=501)),
    Row("find page size", dse.LimitExceeded, "max_find_count",
        lambda e, _: s(e).find("n pr", count=10_000), lambda e, _: s(e).find("n pr", count=10_001)),
    Row("filter length", dse.LimitExceeded, "max_filter_length",
        lambda e, _: s(e).find(filter_of_length(8192)), lambda e, _: s(e).find(filter_of_length(8193))),
    Row("filter nesting", dse.LimitExceeded, "max_filter_depth",
        lambda e, _: s(e).find("(" * 64 + "n pr" + ")" * 64),
        lambda e, _: s(e).find("(" * 65 + "n pr" + ")" * 65)),
    Row("search result window", dse.LimitExceeded, "max_result_window",
        lambda e, _: s(e).search({"from": 0, "size": 10_000}),
        lambda e, _: s(e).search({"from": 1, "size": 10_000})),
    Row("search query nesting", dse.LimitExceeded, "max_query_depth",
        lambda e, _: s(e).search(es_nest(32)), lambda e, _: s(e).search(es_nest(33))),
    Row("projection expression length", dse.InvalidQuery, None,
        lambda e, _: s(e).find("n pr", fields=["$." + "a" * 1022]),
        lambda e, _: s(e).find("n pr", fields=["$." + "a" * 1023])),
    Row("indexes per store", dse.ValidationError, None,
        lambda e, _: s(e).create_index("k31"), lambda e, _: e.store("full").create_index("k32")),
    Row("bucket name length", dse.ValidationError, None,
        lambda e, _: e.bucket("b" * 63), lambda e, _: e.bucket("b" * 64)),
    Row("object name bytes", dse.LimitExceeded, "max_object_name_bytes",
        lambda e, _: media(e).put("o" * 1024, b"x"), lambda e, _: media(e).put("o" * 1025, b"x")),
    Row("object name empty or NUL", dse.ValidationError, None,
        lambda e, _: media(e).put("a/b", b"x"), lambda e, _: media(e).put("a\x00b", b"x")),
    Row("object metadata bytes", dse.LimitExceeded, "max_metadata_bytes",
        lambda e, _: media(e).put("m", b"x", metadata={"k": "v" * 8191}),
        lambda e, _: media(e).put("m", b"x", metadata={"k": "v" * 8192})),
    Row("URL scheme", dse.ValidationError, None,
        lambda e, url: media(e).put_from_url(url + "/10", "u"),
        lambda e, url: media(e).put_from_url("file:///etc/passwd", "u")),
    Row("URL body size", dse.LimitExceeded, "max_bytes",
        lambda e, url: media(e).put_from_url(url + "/1000", "u", max_bytes=1000),
        lambda e, url: media(e).put_from_url(url + "/1001", "u", max_bytes=1000)),
    Row("password bytes", dse.ValidationError, None,
        lambda e, _: s(e).put("pw", {}, password="p" * 1024),
        lambda e, _: s(e).put("pw", {}, password="p" * 1025)),
    Row("app and org names", dse.ValidationError, None,
        lambda e, _: dse.open(e.path, app="a" * 128, org=e.org).close(),
        lambda e, _: dse.open(e.path, app="a" * 129, org=e.org)),
]  # fmt: skip


def _setup(engine: dse.Engine, row: Row) -> None:
    s(engine).put("d", {"n": 1})
    media(engine)
    engine.create_store("quota", max_size_mb=1)
    if row.id == "indexes per store":
        for i in range(31):
            s(engine).create_index(f"k{i}")
        full = engine.store("full")
        for i in range(32):
            full.create_index(f"k{i}")


class _Body(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        size = int(self.path.strip("/"))
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(b"b" * size)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Body)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_limit_refuses_past_the_boundary_changes_nothing_and_accepts_at_it(
    engine: dse.Engine, snapshot: Any, url: str, row: Row
) -> None:
    _setup(engine, row)
    before = snapshot(engine)
    with pytest.raises(row.error) as info:
        row.bad(engine, url)
    if row.limit is not None:
        assert isinstance(info.value, dse.LimitExceeded) and info.value.limit == row.limit
    assert snapshot(engine) == before, "a refused call changed the file"
    row.ok(engine, url)


def test_wrong_passwords_are_refused_and_slow_down_after_two(
    engine: dse.Engine, monkeypatch: Any
) -> None:
    """Password attempts: Forbidden each time; from the third wrong try on, each waits (0.25 s, doubling)."""
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    monkeypatch.setattr(access.BACKOFF, "clock", lambda: now[0])
    monkeypatch.setattr(access.BACKOFF, "sleep", sleep)
    store = engine.store("s")
    store.put("p", {"secret": 1}, password="right")
    for _ in range(4):
        with pytest.raises(dse.Forbidden) as info:
            store.get("p", password="wrong")
        assert info.value.reason == "BadPassword"
    assert slept == [0.25, 0.5]  # attempts 1 and 2 go at once, then the delay doubles
    assert store.get("p", password="right") == {"secret": 1}  # never refused, only delayed
    slept.clear()
    with pytest.raises(dse.Forbidden):
        store.get("p", password="wrong")
    assert slept == []  # a right password forgets the wrong ones


def test_docs_limits_table_lists_exactly_these_rows() -> None:
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "limits.md").read_text()
    documented = set(re.findall(r"^\| ([A-Za-z][^|]*?) +\|", text, flags=re.MULTILINE)) - {"limit"}
    tested = {r.id for r in ROWS} | {"password attempts"}
    assert documented == tested
