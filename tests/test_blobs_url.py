"""Bucket.put_from_url against a local http.server on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import datastore_engine as dse
from datastore_engine import blobs
from datastore_engine.blobkeys import CHUNK_SIZE


def body_of(size: int) -> bytes:
    return bytes(i % 256 for i in range(256)) * (size // 256) + b"x" * (size % 256)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def _query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    def _send(self, status: int, body: bytes, ctype: str = "text/csv", length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(0, len(body), 65536):
            self.wfile.write(body[i : i + 65536])

    def do_GET(self) -> None:
        route = urllib.parse.urlsplit(self.path).path
        q = self._query()
        if route == "/data":
            self._send(200, body_of(int(q["size"])))
        elif route == "/unsized":  # no Content-Length: the body ends when the connection closes
            self._send(200, body_of(int(q["size"])), length=False)
        elif route.startswith("/status/"):
            self._send(int(route.rsplit("/", 1)[1]), b"no such thing", ctype="text/plain")
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", q["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/short":  # promises more than it sends
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"only this")
        elif route == "/slow":
            time.sleep(2)
            self._send(200, b"late")
        elif route == "/headers":
            self._send(
                200,
                json.dumps({"x-test": self.headers.get("X-Test")}).encode(),
                ctype="application/json",
            )
        else:
            self._send(404, b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        reply = {
            "method": self.command,
            "body": body.decode(),
            "ctype": self.headers.get("Content-Type"),
        }
        self._send(200, json.dumps(reply).encode(), ctype="application/json")

    do_PUT = do_POST


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out on purpose break the pipe of /slow


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = QuietServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def bucket(tmp_path: object) -> Iterator[dse.Bucket]:
    with dse.open_temporary() as eng:
        b = eng.bucket("web")
        b.put("keep", b"old")
        yield b


def nothing_stored(b: dse.Bucket, name: str = "obj") -> bool:
    eng = b._engine
    return (
        not b.exists(name)
        and b.get_bytes("keep") == b"old"
        and blobs.check(eng) == []
        and [o.name for o in b.list()] == ["keep"]
    )


def test_a_response_is_streamed_into_an_object(server: str, bucket: dse.Bucket) -> None:
    size = 3 * CHUNK_SIZE + 77
    info = bucket.put_from_url(f"{server}/data?size={size}", "obj")
    assert info.size == size
    assert info.etag == hashlib.md5(body_of(size)).hexdigest()
    assert info.content_type == "text/csv"
    assert bucket.get_bytes("obj") == body_of(size)


def test_a_body_without_content_length_is_read_to_the_end(server: str, bucket: dse.Bucket) -> None:
    info = bucket.put_from_url(
        f"{server}/unsized?size={CHUNK_SIZE + 5}", "obj.bin", content_type="a/b"
    )
    assert (info.size, info.content_type) == (CHUNK_SIZE + 5, "a/b")


def test_post_with_form_data_and_headers(server: str, bucket: dse.Bucket) -> None:
    bucket.put_from_url(f"{server}/echo", "obj", method="post", data={"a": "1", "b": "x y"})
    assert json.loads(bucket.get_bytes("obj")) == {
        "method": "POST",
        "body": "a=1&b=x+y",
        "ctype": "application/x-www-form-urlencoded",
    }
    bucket.put_from_url(
        f"{server}/echo", "raw", method="PUT", data=b"\x00raw", headers={"Content-Type": "x/y"}
    )
    assert json.loads(bucket.get_bytes("raw"))["ctype"] == "x/y"
    bucket.put_from_url(f"{server}/headers", "h", headers={"X-Test": "yes"})
    assert json.loads(bucket.get_bytes("h")) == {"x-test": "yes"}


def test_redirects_between_http_urls_are_followed(server: str, bucket: dse.Bucket) -> None:
    target = urllib.parse.quote(f"{server}/data?size=10", safe="")
    assert bucket.put_from_url(f"{server}/redirect?to={target}", "obj").size == 10


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "data:text/plain,hi",
        "/relative",
        "http://",
        "gopher://x",
    ],
)
def test_other_schemes_are_refused(bucket: dse.Bucket, url: str) -> None:
    with pytest.raises(dse.ValidationError, match=r"url|http"):
        bucket.put_from_url(url, "obj")
    assert nothing_stored(bucket)


def test_a_redirect_to_another_scheme_is_refused(server: str, bucket: dse.Bucket) -> None:
    target = urllib.parse.quote("file:///etc/passwd", safe="")
    with pytest.raises(dse.ValidationError, match="file"):
        bucket.put_from_url(f"{server}/redirect?to={target}", "obj")
    assert nothing_stored(bucket)


def test_a_declared_length_over_max_bytes_stores_nothing(server: str, bucket: dse.Bucket) -> None:
    with pytest.raises(dse.LimitExceeded, match="max_bytes=1000") as err:
        bucket.put_from_url(f"{server}/data?size=5000", "obj", max_bytes=1000)
    assert err.value.limit == "max_bytes"
    assert nothing_stored(bucket)


def test_a_body_growing_over_max_bytes_stores_nothing(server: str, bucket: dse.Bucket) -> None:
    size = 20 * CHUNK_SIZE  # more than one write batch before the limit trips
    with pytest.raises(dse.LimitExceeded, match="max_bytes"):
        bucket.put_from_url(f"{server}/unsized?size={size}", "obj", max_bytes=18 * CHUNK_SIZE)
    assert nothing_stored(bucket)
    bucket.put_from_url(
        f"{server}/unsized?size={size}", "keep", max_bytes=size
    )  # exactly the limit is fine
    assert bucket.stat("keep").size == size


@pytest.mark.parametrize("status", [404, 500, 403])
def test_an_http_error_is_a_storage_error_with_the_status_and_stores_nothing(
    server: str, bucket: dse.Bucket, status: int
) -> None:
    with pytest.raises(dse.StorageError, match=str(status)) as err:
        bucket.put_from_url(f"{server}/status/{status}", "obj")
    assert isinstance(err.value.__cause__, urllib.error.HTTPError)
    assert err.value.__cause__.code == status
    assert nothing_stored(bucket)


def test_a_body_cut_short_stores_nothing(server: str, bucket: dse.Bucket) -> None:
    with pytest.raises(dse.StorageError, match="nothing was stored"):
        bucket.put_from_url(f"{server}/short", "obj")
    assert nothing_stored(bucket)


def test_a_timeout_is_a_storage_error(server: str, bucket: dse.Bucket) -> None:
    with pytest.raises(dse.StorageError):
        bucket.put_from_url(f"{server}/slow", "obj", timeout=0.2)
    assert nothing_stored(bucket)


def test_a_refused_connection_is_a_storage_error(bucket: dse.Bucket) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(dse.StorageError):
            bucket.put_from_url(f"http://127.0.0.1:{port}/x", "obj", timeout=5)
    assert nothing_stored(bucket)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "TRACE"}, "method"),
        ({"headers": {"X": "a\r\nb"}}, "header"),
        ({"data": 3.5}, "data"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    server: str, bucket: dse.Bucket, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(dse.ValidationError, match=match):
        bucket.put_from_url(f"{server}/data?size=1", "obj", **kwargs)  # type: ignore[arg-type]
    assert nothing_stored(bucket)
