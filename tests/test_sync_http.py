"""The sync HTTP client: statuses, retries, timeouts, auth, keep-alive, streaming.

First against a scripted local http.server (threads, 127.0.0.1), then against a
real pouchdb-server (fixture in tests/pouchdb_server.py).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from datastore_engine.errors import SyncError, ValidationError
from datastore_engine.sync import _protocol as proto
from datastore_engine.sync._http import HttpClient

pytest_plugins = ["pouchdb_server"]  # the pouchdb_server and pouchdb_db fixtures

# -- a scripted local server ---------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON value, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: bool = False  # close the connection without saying so (stale keep-alive)
    lines: list[bytes] | None = None  # chunked body, one chunk per item
    hang: float = 0.0  # seconds to stay silent after the lines, then end


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


class Scripted:
    """A local server answering from a list of replies (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply(body={"ok": True})]
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                scripted.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        self.client_address[1],
                    )
                )
                index = min(len(scripted.seen), len(scripted.script)) - 1
                reply = scripted.script[index]
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.lines is not None:
                    self._stream(reply)
                    return
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                if reply.drop_after:
                    self.close_connection = True

            def _stream(self, reply: Reply) -> None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in reply.lines or []:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                scripted.stop.wait(reply.hang)
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.close()


def client_for(url: str, **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {"timeout": 5.0, "total_timeout": 10.0, "backoff": 0.01}
    options.update(kwargs)
    return HttpClient(url, **options)


class FakeTime:
    """A clock that only moves when the client sleeps (and a little per call)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        self.now += 0.001
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- statuses and retries --------------------------------------------------------------


def test_401_raises_sync_error_with_status_and_reason_and_is_not_retried(
    scripted: Scripted,
) -> None:
    scripted.script = [
        Reply(401, {"error": "unauthorized", "reason": "Name or password is incorrect."})
    ]
    with client_for(scripted.url + "/db") as client, pytest.raises(SyncError) as info:
        client.json("GET", "")
    assert (info.value.status, info.value.reason) == (401, "unauthorized")
    assert "Name or password is incorrect." in str(info.value)
    assert len(scripted.seen) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412])
def test_client_error_statuses_are_not_retried(scripted: Scripted, status: int) -> None:
    scripted.script = [Reply(status, {"error": "nope", "reason": "scripted"})]
    with client_for(scripted.url) as client, pytest.raises(SyncError) as info:
        client.request("POST", "db/_bulk_docs", body={"docs": []})
    assert info.value.status == status
    assert len(scripted.seen) == 1


def test_503_twice_then_200_is_retried_and_succeeds(scripted: Scripted) -> None:
    scripted.script = [Reply(503, b"busy"), Reply(503, {"error": "down"}), Reply(200, {"ok": 1})]
    with client_for(scripted.url + "/db") as client:
        assert client.json("GET", "_changes") == {"ok": 1}
    assert len(scripted.seen) == 3


def test_429_honours_retry_after_then_succeeds(scripted: Scripted) -> None:
    scripted.script = [
        Reply(429, {"error": "too_many_requests"}, {"Retry-After": "0.05"}),
        Reply(200, []),
    ]
    fake = FakeTime()
    with client_for(scripted.url) as client:
        client._clock, client._sleep = fake.clock, fake.sleep
        assert client.json("GET", "/") == []
    assert fake.sleeps == [0.05]


def test_persistent_503_gives_up_inside_total_timeout_with_the_last_status(
    scripted: Scripted,
) -> None:
    scripted.script = [Reply(503, {"error": "service_unavailable", "reason": "maintenance"})]
    fake = FakeTime()
    with client_for(scripted.url, total_timeout=3.0, backoff=0.25, backoff_max=1.0) as client:
        client._clock, client._sleep = fake.clock, fake.sleep
        with pytest.raises(SyncError) as info:
            client.request("GET", "/db")
    assert (info.value.status, info.value.reason) == (503, "service_unavailable")
    assert "gave up after" in str(info.value)
    assert fake.sleeps == [0.25, 0.5, 1.0, 1.0]  # doubling, capped, stops before 3 s
    assert len(scripted.seen) == len(fake.sleeps) + 1


def test_allowed_status_is_returned_not_raised(scripted: Scripted) -> None:
    scripted.script = [Reply(404, {"error": "not_found", "reason": "missing"})]
    with client_for(scripted.url + "/db") as client:
        assert client.request("GET", "_local/abc", allow={404}).status == 404
        assert client.json("GET", "_local/abc", allow={404}) is None
    assert [s.path for s in scripted.seen] == ["/db/_local/abc", "/db/_local/abc"]


def test_non_json_success_body_raises_bad_json(scripted: Scripted) -> None:
    scripted.script = [Reply(200, b"<html>proxy login</html>")]
    with client_for(scripted.url) as client, pytest.raises(SyncError) as info:
        client.json("GET", "/")
    assert (info.value.status, info.value.reason) == (200, "bad_json")


# -- transport failures ----------------------------------------------------------------


def closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_retries_then_raises_within_total_timeout() -> None:
    fake = FakeTime()
    client = client_for(f"http://127.0.0.1:{closed_port()}/db", total_timeout=2.0, backoff=0.1)
    client._clock, client._sleep = fake.clock, fake.sleep
    with client, pytest.raises(SyncError) as info:
        client.json("GET", "")
    assert (info.value.status, info.value.reason) == (0, "connection")
    assert len(fake.sleeps) >= 3
    assert sum(fake.sleeps) < 2.0


def test_connection_refused_on_real_clock_raises_sync_error() -> None:
    client = client_for(f"http://127.0.0.1:{closed_port()}", total_timeout=2.0, backoff=0.05)
    with client, pytest.raises(SyncError) as info:
        client.request("GET", "/")
    assert info.value.status == 0
    assert "gave up after" in str(info.value)


def test_server_that_never_answers_raises_timeout() -> None:
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts the connection; nobody ever reads it
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with (
            client_for(url, timeout=0.2, total_timeout=0.5) as client,
            pytest.raises(SyncError) as info,
        ):
            client.request("GET", "/")
    assert (info.value.status, info.value.reason) == (0, "timeout")


# -- URLs, auth, headers, keep-alive ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/db",
        "file:///tmp/db",
        "example.com/db",
        "http:///db",
        "http://h/db?x=1",
        "http://h:99999/",
    ],
)
def test_bad_peer_url_raises_validation_error(url: str) -> None:
    with pytest.raises(ValidationError):
        HttpClient(url)


def test_credentials_in_url_and_auth_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="use one"):
        HttpClient("http://a:b@127.0.0.1/db", auth=("c", "d"))


@pytest.mark.parametrize(
    ("url", "auth"),
    [("http://bob:s%3Acret@{host}/db", None), ("http://{host}/db", ("bob", "s:cret"))],
    ids=["in-url", "auth-arg"],
)
def test_basic_auth_is_sent_and_password_kept_out_of_messages(
    scripted: Scripted, url: str, auth: tuple[str, str] | None
) -> None:
    scripted.script = [Reply(403, {"error": "forbidden", "reason": "no"})]
    host = scripted.url.removeprefix("http://")
    with client_for(url.format(host=host), auth=auth) as client, pytest.raises(SyncError) as info:
        client.request("GET", "")
    expected = "Basic " + base64.b64encode(b"bob:s:cret").decode()
    assert scripted.seen[0].headers["authorization"] == expected
    assert "s:cret" not in str(info.value) and "cret" not in client.url


def test_custom_headers_and_json_body_are_sent(scripted: Scripted) -> None:
    with client_for(scripted.url + "/db", headers={"X-Trace": "t1"}) as client:
        client.request("POST", "_revs_diff", body={"a": ["1-x"]}, params={"w": 2, "x": True})
    seen = scripted.seen[0]
    assert (seen.method, seen.path) == ("POST", "/db/_revs_diff?w=2&x=true")
    assert seen.headers["x-trace"] == "t1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["accept"] == "application/json"
    assert json.loads(seen.body) == {"a": ["1-x"]}


def test_non_json_body_raises_validation_error_before_sending(scripted: Scripted) -> None:
    with client_for(scripted.url) as client, pytest.raises(ValidationError):
        client.request("POST", "/db/_bulk_docs", body={"x": float("nan")})
    assert scripted.seen == []


def test_requests_reuse_one_keep_alive_connection(scripted: Scripted) -> None:
    with client_for(scripted.url) as client:
        for _ in range(3):
            client.json("GET", "/")
    assert len({s.client_port for s in scripted.seen}) == 1


def test_stale_keep_alive_connection_is_replaced_without_backoff(scripted: Scripted) -> None:
    scripted.script = [Reply(200, {"n": 1}, drop_after=True), Reply(200, {"n": 2})]
    fake = FakeTime()
    with client_for(scripted.url) as client:
        client._clock, client._sleep = fake.clock, fake.sleep
        assert client.json("GET", "/") == {"n": 1}
        time.sleep(0.05)  # let the server close its end
        assert client.json("GET", "/") == {"n": 2}
    assert fake.sleeps == []
    assert len({s.client_port for s in scripted.seen}) == 2


# -- streaming -------------------------------------------------------------------------


def test_stream_lines_yields_rows_and_skips_heartbeats(scripted: Scripted) -> None:
    rows = [
        b'{"seq":1,"id":"a","changes":[{"rev":"1-x"}]}\n',
        b"\n",
        b'{"seq":2,"id":"b",',
        b'"changes":[]}\n',
    ]
    scripted.script = [Reply(200, lines=rows)]
    with client_for(scripted.url + "/db") as client:
        lines = list(client.stream_lines("_changes", params={"feed": "continuous"}))
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]
    assert scripted.seen[0].path == "/db/_changes?feed=continuous"


def test_stream_lines_ends_quietly_after_max_seconds_on_a_silent_feed(scripted: Scripted) -> None:
    scripted.script = [Reply(200, lines=[b'{"results":[\n'], hang=30.0)]
    with client_for(scripted.url) as client:
        lines = list(client.stream_lines("/db/_changes", read_timeout=5.0, max_seconds=0.3))
    assert lines == ['{"results":[']


def test_stream_lines_raises_timeout_when_silent_longer_than_read_timeout(
    scripted: Scripted,
) -> None:
    scripted.script = [Reply(200, lines=[b"first\n"], hang=30.0)]
    with client_for(scripted.url) as client:
        stream = client.stream_lines("/db/_changes", read_timeout=0.2)
        assert next(stream) == "first"
        with pytest.raises(SyncError) as info:
            next(stream)
    assert info.value.reason == "timeout"


def test_stream_lines_raises_on_error_status(scripted: Scripted) -> None:
    scripted.script = [Reply(404, {"error": "not_found", "reason": "no_db_file"})]
    with client_for(scripted.url) as client, pytest.raises(SyncError) as info:
        list(client.stream_lines("/nodb/_changes"))
    assert (info.value.status, info.value.reason) == (404, "not_found")


# -- against a real pouchdb-server -----------------------------------------------------

HISTORY_C = {"start": 3, "ids": ["ccc", "bbb", "aaa"]}
HISTORY_D = {"start": 3, "ids": ["ddd", "bbb", "aaa"]}


def seed_conflict(client: HttpClient) -> None:
    """Write doc "d" with two conflicting leaves 3-ccc and 3-ddd, as a replicator does."""
    docs = [
        {"_id": "d", "_rev": "3-ccc", "_revisions": HISTORY_C, "v": "c"},
        {"_id": "d", "_rev": "3-ddd", "_revisions": HISTORY_D, "v": "d"},
    ]
    assert client.json("POST", "_bulk_docs", body={"docs": docs, "new_edits": False}) == []


def test_pouchdb_create_database_twice_is_412_file_exists(pouchdb_server: str) -> None:
    with client_for(pouchdb_server) as server:
        assert server.json("PUT", "/made-here") == {"ok": True}
        with pytest.raises(SyncError) as info:
            server.json("PUT", "/made-here")
        server.json("DELETE", "/made-here")
    assert (info.value.status, info.value.reason) == (412, "file_exists")


def test_pouchdb_bad_password_is_401_without_retry(pouchdb_db: str) -> None:
    with (
        client_for(pouchdb_db, auth=("nobody", "wrong")) as client,
        pytest.raises(SyncError) as info,
    ):
        client.json("GET", "")
    assert (info.value.status, info.value.reason) == (401, "unauthorized")
    assert "gave up" not in str(info.value)


def test_pouchdb_bulk_docs_new_edits_false_keeps_both_leaves_and_history(pouchdb_db: str) -> None:
    with client_for(pouchdb_db) as client:
        seed_conflict(client)
        leaves = proto.parse_open_revs(
            client.json("GET", "d", params={"open_revs": "all", "revs": True})
        )
        winner = client.json("GET", "d", params={"revs": True, "conflicts": True})
    assert sorted(doc["_rev"] for doc in leaves.docs) == ["3-ccc", "3-ddd"]
    assert {doc["_rev"]: proto.revisions_to_revs(doc["_revisions"]) for doc in leaves.docs} == {
        "3-ccc": ["3-ccc", "2-bbb", "1-aaa"],
        "3-ddd": ["3-ddd", "2-bbb", "1-aaa"],
    }
    assert (winner["_rev"], winner["_conflicts"]) == ("3-ddd", ["3-ccc"])  # higher hash wins


def test_pouchdb_changes_all_docs_lists_every_leaf(pouchdb_db: str) -> None:
    with client_for(pouchdb_db) as client:
        client.json("PUT", proto.doc_path("plain/doc"), body={"a": 1})
        seed_conflict(client)
        rows, last_seq = proto.parse_changes(
            client.json("GET", "_changes", params={"style": "all_docs"})
        )
        later, _ = proto.parse_changes(
            client.json("GET", "_changes", params={"since": rows[0].seq})
        )
    assert [(r.id, sorted(r.revs)) for r in rows] == [
        ("plain/doc", [rows[0].revs[0]]),
        ("d", ["3-ccc", "3-ddd"]),
    ]
    assert last_seq == rows[-1].seq
    assert [r.id for r in later] == ["d"]


def test_pouchdb_revs_diff_reports_only_what_is_missing(pouchdb_db: str) -> None:
    with client_for(pouchdb_db) as client:
        seed_conflict(client)
        changes = [proto.Change(1, "d", ("3-ccc", "3-eee")), proto.Change(2, "new", ("1-n",))]
        answer = client.json("POST", "_revs_diff", body=proto.revs_diff_request(changes))
    assert proto.parse_revs_diff(answer) == {"d": ["3-eee"], "new": ["1-n"]}


def test_pouchdb_bulk_get_returns_docs_with_revisions_and_missing_entries(pouchdb_db: str) -> None:
    with client_for(pouchdb_db) as client:
        seed_conflict(client)
        body = proto.bulk_get_request({"d": ["3-ccc"], "gone": ["1-zz"]})
        result = proto.parse_bulk_get(
            client.json("POST", "_bulk_get", params={"revs": True}, body=body)
        )
    assert [(d["_id"], d["_rev"], d["_revisions"]) for d in result.docs] == [
        ("d", "3-ccc", HISTORY_C)
    ]
    assert result.errors == [("gone", "1-zz", "missing")]


def test_pouchdb_local_checkpoint_round_trip(pouchdb_db: str) -> None:
    rep_id = proto.replication_id(source="local:abc", target=proto.endpoint_identity(pouchdb_db))
    path = proto.doc_path(proto.checkpoint_doc_id(rep_id))
    with client_for(pouchdb_db) as client:
        assert client.json("GET", path, allow={404}) is None
        first = proto.checkpoint_doc(
            None, rep_id=rep_id, session_id="s1", start_seq=0, recorded_seq=4
        )
        client.json("PUT", path, body=first)
        stored = client.json("GET", path)
        second = proto.checkpoint_doc(
            stored, rep_id=rep_id, session_id="s2", start_seq=4, recorded_seq=9
        )
        client.json("PUT", path, body=second)
        with pytest.raises(SyncError) as info:  # a stale _rev is refused
            client.json("PUT", path, body=first | {"_rev": stored["_rev"]})
        latest = client.json("GET", path)
        rows, _ = proto.parse_changes(client.json("GET", "_changes"))
    assert info.value.status == 409
    assert [h["session_id"] for h in latest["history"]] == ["s2", "s1"]
    assert proto.resume_seq(latest, latest) == 9
    assert proto.resume_seq(latest, first) == 4
    assert rows == []  # _local docs never appear in _changes


def test_pouchdb_inline_attachment_round_trip(pouchdb_db: str) -> None:
    data = bytes(range(256))
    doc = {
        "_id": "att",
        "_rev": "1-aa",
        "_attachments": {"blob.bin": proto.encode_attachment(data)},
    }
    with client_for(pouchdb_db) as client:
        client.json("POST", "_bulk_docs", body={"docs": [doc], "new_edits": False})
        stub = client.json("GET", "att")["_attachments"]["blob.bin"]
        full = client.json("GET", "att", params={"attachments": True})["_attachments"]["blob.bin"]
    assert stub["stub"] is True and stub["digest"] == proto.attachment_digest(data)
    assert proto.decode_attachment(full) == data


def test_pouchdb_continuous_changes_stream_then_max_seconds_ends_it(pouchdb_db: str) -> None:
    with client_for(pouchdb_db) as client:
        seed_conflict(client)
        params = {"feed": "continuous", "style": "all_docs", "heartbeat": 200, "since": 0}
        lines = list(
            client.stream_lines("_changes", params=params, read_timeout=2.0, max_seconds=1.0)
        )
    rows = [proto.parse_change(json.loads(line)) for line in lines]
    assert [(r.id, sorted(r.revs)) for r in rows] == [("d", ["3-ccc", "3-ddd"])]


def test_pouchdb_longpoll_ignores_timeout_so_max_seconds_ends_it(pouchdb_db: str) -> None:
    with client_for(pouchdb_db) as client:
        params = {"feed": "longpoll", "since": "now", "timeout": 200, "heartbeat": 200}
        lines = list(
            client.stream_lines("_changes", params=params, read_timeout=2.0, max_seconds=1.0)
        )
    # The server opened the results array and then only sent heartbeats.
    assert lines == ['{"results":[']
