"""Replication against a real CouchDB-protocol peer: pouchdb-server 4.2.0, in memory."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.sync import ReplicationResult, get_attachment, put_attachment, replicate

pytest_plugins = ["pouchdb_server"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    try:
        with _OPENER.open(request, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.loads(exc.read() or b"{}")}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def remote_docs(db: str) -> dict[str, Any]:
    rows = http("GET", f"{db}/_all_docs?include_docs=true")["rows"]
    return {row["id"]: row["doc"] for row in rows}


def until(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def store(engine: dse.Engine) -> dse.Store:
    return engine.store("synced")


@pytest.fixture
def other(engine: dse.Engine) -> dse.Store:
    return engine.store("replica")


def test_push_1000_documents_and_read_them_back_over_http(
    store: dse.Store, pouchdb_db: str
) -> None:
    with dse.open_temporary() as eng:  # durable=False: this test is about the protocol
        s = eng.store("many")
        with eng.transaction():
            for i in range(1000):
                s.put(f"doc{i:04d}", {"i": i, "tags": ["a", "b"], "nested": {"x": i * 1.5}})
        result = replicate(s, pouchdb_db, direction="push", batch_size=300)
        assert (result.docs_read, result.docs_written, result.doc_write_failures) == (1000, 1000, 0)
        docs = remote_docs(pouchdb_db)
        assert len(docs) == 1000
        for rid in ("doc0000", "doc0500", "doc0999"):
            doc, rev = s.get(rid, with_rev=True)
            remote = docs[rid]
            assert remote.pop("_rev") == rev and remote.pop("_id") == rid
            assert remote == doc


def test_pull_documents_created_over_http(store: dse.Store, pouchdb_db: str) -> None:
    docs = [{"_id": f"r{i}", "n": i, "name": "é" * i} for i in range(50)]
    answer = http("POST", f"{pouchdb_db}/_bulk_docs", {"docs": docs})
    revs = {row["id"]: row["rev"] for row in answer}
    result = replicate(store, pouchdb_db, direction="pull", batch_size=20)
    assert (result.docs_written, result.doc_write_failures) == (50, 0)
    assert len(store) == 50
    assert store.get("r7", with_rev=True) == ({"n": 7, "name": "é" * 7}, revs["r7"])


def test_both_sides_agree_on_the_winner_and_the_conflict(store: dse.Store, pouchdb_db: str) -> None:
    store.put("shared", {"v": "original"})
    replicate(store, pouchdb_db, direction="push")
    base = http("GET", f"{pouchdb_db}/shared")
    http("PUT", f"{pouchdb_db}/shared", {"_rev": base["_rev"], "v": "remote edit"})
    store.put("shared", {"v": "local edit"})
    result = replicate(store, pouchdb_db, direction="both")
    assert result.doc_write_failures == 0
    remote = http("GET", f"{pouchdb_db}/shared?conflicts=true")
    local_doc, local_rev = store.get("shared", with_rev=True)
    assert remote["_rev"] == local_rev
    assert remote["v"] == local_doc["v"]
    assert remote["_conflicts"] == store.conflicts("shared")
    assert len(store.conflicts("shared")) == 1

    # Resolving (delete the loser) replicates like any change.
    store.delete_conflict("shared", store.conflicts("shared")[0])
    replicate(store, pouchdb_db, direction="both")
    assert "_conflicts" not in http("GET", f"{pouchdb_db}/shared?conflicts=true")
    assert store.conflicts("shared") == []


def test_deletes_replicate_both_ways(store: dse.Store, other: dse.Store, pouchdb_db: str) -> None:
    store.put("gone", {"v": 1})
    store.put("kept", {"v": 1})
    replicate(store, pouchdb_db, direction="push")
    tombstone = store.delete("gone")
    replicate(store, pouchdb_db, direction="push")
    assert http("GET", f"{pouchdb_db}/gone")["status"] == 404
    assert http("GET", f"{pouchdb_db}/gone?rev={tombstone}")["_deleted"] is True

    replicate(other, pouchdb_db, direction="pull")
    assert "gone" not in other and "kept" in other
    kept = http("GET", f"{pouchdb_db}/kept")
    http("DELETE", f"{pouchdb_db}/kept?rev={kept['_rev']}")
    replicate(other, pouchdb_db, direction="pull")
    assert "kept" not in other and len(other) == 0
    assert [c.deleted for c in other.changes()] == [True, True]


def test_a_blob_attachment_round_trips_byte_for_byte(
    store: dse.Store, other: dse.Store, pouchdb_db: str
) -> None:
    data = os.urandom(200_000) + bytes(range(256))
    store.put("photo", {"title": "cat"})
    put_attachment(store, "photo", "cat.bin", data, content_type="application/octet-stream")
    assert replicate(store, pouchdb_db, direction="push").docs_written == 1
    served = http("GET", f"{pouchdb_db}/photo/cat.bin")
    assert served == data
    replicate(other, pouchdb_db, direction="pull")
    assert get_attachment(other, "photo", "cat.bin") == data
    assert other.get("photo")["title"] == "cat"

    # An attachment made on the peer comes down too.
    doc = http("GET", f"{pouchdb_db}/photo")
    doc["_attachments"]["note.txt"] = {"content_type": "text/plain", "data": "aGVsbG8="}
    http("PUT", f"{pouchdb_db}/photo", doc)
    replicate(store, pouchdb_db, direction="pull")
    assert get_attachment(store, "photo", "note.txt") == b"hello"
    assert get_attachment(store, "photo", "cat.bin") == data


class Interrupt(Exception):
    pass


def test_an_interrupted_push_resumes_from_its_checkpoint(store: dse.Store, pouchdb_db: str) -> None:
    for i in range(300):
        store.put(f"d{i:03d}", {"i": i})
    batches: list[int] = []

    def stop_after_two(result: ReplicationResult) -> None:
        batches.append(result.docs_written)
        if len(batches) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        replicate(store, pouchdb_db, direction="push", batch_size=50, progress=stop_after_two)
    assert len(remote_docs(pouchdb_db)) == 100
    again = replicate(store, pouchdb_db, direction="push", batch_size=50)
    assert again.start_seq == 100
    assert (again.docs_read, again.docs_written) == (200, 200)  # nothing re-sent
    assert len(remote_docs(pouchdb_db)) == 300


def test_an_interrupted_pull_resumes_from_its_checkpoint(store: dse.Store, pouchdb_db: str) -> None:
    http("POST", f"{pouchdb_db}/_bulk_docs", {"docs": [{"_id": f"p{i:03d}"} for i in range(120)]})
    calls: list[int] = []

    def stop_after_one(result: ReplicationResult) -> None:
        calls.append(1)
        raise Interrupt

    with pytest.raises(Interrupt):
        replicate(store, pouchdb_db, direction="pull", batch_size=40, progress=stop_after_one)
    assert len(store) == 40
    again = replicate(store, pouchdb_db, direction="pull", batch_size=40)
    assert (again.docs_read, again.docs_written, again.missing_found) == (80, 80, 80)
    assert len(store) == 120


def test_a_second_sync_with_no_changes_transfers_nothing(store: dse.Store, pouchdb_db: str) -> None:
    for i in range(30):
        store.put(f"l{i}", {"i": i})
    http("POST", f"{pouchdb_db}/_bulk_docs", {"docs": [{"_id": f"r{i}"} for i in range(30)]})
    first = replicate(store, pouchdb_db, direction="both")
    assert first.docs_written == 60
    second = replicate(store, pouchdb_db, direction="both")
    assert (second.docs_read, second.docs_written, second.missing_found) == (0, 0, 0)
    third = replicate(store, pouchdb_db, direction="both")
    assert (third.docs_read, third.docs_written, third.missing_checked) == (0, 0, 0)
    assert len(store) == 60 and len(remote_docs(pouchdb_db)) == 60


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/db", "not a url", "http:///db"])
def test_a_bad_url_is_a_clear_sync_error(store: dse.Store, url: str) -> None:
    with pytest.raises(dse.SyncError, match="bad peer URL") as info:
        replicate(store, url)
    assert info.value.reason == "bad_url"


def test_a_refused_connection_is_a_sync_error_within_the_total_timeout(store: dse.Store) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(dse.SyncError, match="no answer") as info:
        replicate(store, f"http://127.0.0.1:{port}/db", total_timeout=0.5)
    assert (info.value.status, info.value.reason) == (0, "connection")


def test_wrong_credentials_are_a_401_sync_error(store: dse.Store, pouchdb_db: str) -> None:
    with pytest.raises(dse.SyncError, match="401") as info:
        replicate(store, pouchdb_db, auth=("nobody", "wrong"))
    assert (info.value.status, info.value.reason) == (401, "unauthorized")


def test_a_missing_database_is_a_404_unless_asked_to_create_it(
    store: dse.Store, pouchdb_db: str
) -> None:
    missing = pouchdb_db + "-new"
    with pytest.raises(dse.SyncError, match="does not exist") as info:
        replicate(store, missing, direction="push")
    assert info.value.status == 404
    store.put("a", {})
    try:
        assert replicate(store, missing, direction="push", create_target=True).docs_written == 1
    finally:
        http("DELETE", missing)


def test_filter_and_doc_ids_limit_what_is_pushed(store: dse.Store, pouchdb_db: str) -> None:
    for i in range(10):
        store.put(f"d{i}", {"i": i})
    replicate(store, pouchdb_db, direction="push", filter=lambda doc: doc.get("i", 0) % 2 == 0)
    assert sorted(remote_docs(pouchdb_db)) == [f"d{i}" for i in range(0, 10, 2)]
    replicate(store, pouchdb_db, direction="push", doc_ids=["d1"])
    assert "d1" in remote_docs(pouchdb_db) and "d3" not in remote_docs(pouchdb_db)


def test_password_protected_documents_are_never_pushed(store: dse.Store, pouchdb_db: str) -> None:
    store.put("open", {})
    store.put("secret", {"pin": 1234}, password="pw")
    replicate(store, pouchdb_db, direction="push")
    assert sorted(remote_docs(pouchdb_db)) == ["open"]


def test_continuous_replication_follows_both_sides_until_stopped(
    store: dse.Store, pouchdb_db: str
) -> None:
    stop = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(replicate(store, pouchdb_db, continuous=True, stop=stop))
        except Exception as exc:  # reported by the asserts below
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        store.put("from-local", {"n": 1})
        assert until(lambda: "from-local" in remote_docs(pouchdb_db))
        http("PUT", f"{pouchdb_db}/from-remote", {"n": 2})
        assert until(lambda: "from-remote" in store)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert isinstance(outcome[0], ReplicationResult), outcome
    assert outcome[0].parts["push"].docs_written >= 1 and outcome[0].parts["pull"].docs_written >= 1


def test_a_peer_without_bulk_get_is_read_with_open_revs(
    store: dse.Store, pouchdb_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datastore_engine.sync import _http

    real = _http.HttpClient.request
    asked: list[str] = []

    def no_bulk_get(self: _http.HttpClient, method: str, path: str = "", **kw: Any) -> Any:
        asked.append(path)
        if path == "_bulk_get":  # as CouchDB 1.x answers
            return _http.Response(404, "Not Found", {}, b'{"error":"not_found","reason":"missing"}')
        return real(self, method, path, **kw)

    monkeypatch.setattr(_http.HttpClient, "request", no_bulk_get)
    http("POST", f"{pouchdb_db}/_bulk_docs", {"docs": [{"_id": f"o{i}", "i": i} for i in range(5)]})
    result = replicate(store, pouchdb_db, direction="pull")
    assert (result.docs_written, result.doc_write_failures) == (5, 0)
    assert store.get("o3") == {"i": 3}
    assert asked.count("_bulk_get") == 1 and "o3" in asked
