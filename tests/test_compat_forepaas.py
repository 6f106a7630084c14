"""compat.forepaas: the ForePaaS datastore and bucket connectors (seed 003) over the blob store."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, assert_type

import pytest

import datastore_engine as dse
from datastore_engine.blobkeys import ObjectInfo
from datastore_engine.compat.forepaas import BucketConnector, Datastore, connect


@pytest.fixture
def default_engine_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``connect()`` without an engine opens $DATASTORE_ENGINE_PATH; point it at a temp dir."""
    path = str(tmp_path / "default")
    monkeypatch.setenv("DATASTORE_ENGINE_PATH", path)
    yield path


@pytest.fixture
def ds(engine: dse.Engine) -> Datastore:
    found = connect("data_store", engine=engine)
    assert isinstance(found, Datastore)
    return found


@pytest.fixture
def bucket(ds: Datastore) -> BucketConnector:
    assert ds.create_bucket("my_bucket") is True
    return ds.get_bucket("my_bucket")


# -- the seed's examples, as written ------------------------------------------------------------


def test_seed_connect_to_the_datastore(default_engine_path: str) -> None:
    from datastore_engine.compat.forepaas import connect

    cn_datastore = connect("data_store")
    try:
        assert isinstance(cn_datastore, Datastore)
        assert cn_datastore.engine.path == default_engine_path
        assert cn_datastore.list() == []
    finally:
        cn_datastore.close()
    assert cn_datastore.engine.closed


def test_seed_connect_to_a_bucket(default_engine_path: str) -> None:
    from datastore_engine.compat.forepaas import connect

    with dse.open(default_engine_path) as engine:
        engine.create_bucket("name")

    bucket_name = "name"
    cn_bucket = connect("data_store/" + bucket_name)
    try:
        assert isinstance(cn_bucket, BucketConnector)
        assert cn_bucket.name == "name"
        assert cn_bucket.put("a.txt", b"hi", 2) == "49f68a5c8493ec2c0bf489821c21fc3b"
    finally:
        cn_bucket.close()


def test_seed_bucket_get(default_engine_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    with dse.open(default_engine_path) as engine:
        store = engine.create_bucket("my_bucket")
        store.put("folder/file_name.csv", b"x,y\n1,2\n")
        store.put("file_name.csv", b"a" * (40 * 1024))

    ds = connect("data_store")
    bucket = ds.get_bucket("my_bucket")
    bucket.get("folder/file_name.csv")
    data = bucket.get("file_name.csv")
    for d in data.stream(32 * 1024):
        print(d)

    printed = capsys.readouterr().out.splitlines()
    assert printed == [repr(b"a" * (32 * 1024)), repr(b"a" * (8 * 1024))]
    assert bucket.get("folder/file_name.csv").read() == b"x,y\n1,2\n"
    ds.close()


# -- the Datastore connector ---------------------------------------------------------------------


def test_datastore_lists_buckets_as_array_or_str(ds: Datastore) -> None:
    for name in ("b-bucket", "a_bucket", "c.bucket"):
        assert ds.create_bucket(name) is True
    assert ds.list() == ["a_bucket", "b-bucket", "c.bucket"]
    assert ds.list(return_type="array") == ["a_bucket", "b-bucket", "c.bucket"]
    assert ds.list(return_type="str") == "a_bucket,b-bucket,c.bucket"
    with pytest.raises(dse.ValidationError):
        ds.list(return_type="dict")


def test_get_buckets_gives_connectors(ds: Datastore) -> None:
    ds.create_bucket("one")
    ds.create_bucket("two")
    found = ds.get_buckets()
    assert [b.name for b in found] == ["one", "two"]
    assert all(isinstance(b, BucketConnector) for b in found)


def test_create_remove_and_exists_answer_booleans(ds: Datastore) -> None:
    assert ds.bucket_exists("box") is False
    assert ds.create_bucket("box") is True
    assert ds.create_bucket("box") is False
    assert ds.bucket_exists("box") is True
    ds.get_bucket("box").put("f", b"1", 1)
    assert ds.remove_bucket("box") is False  # not empty
    assert ds.bucket_exists("box") is True
    ds.get_bucket("box").delete("f")
    assert ds.remove_bucket("box") is True
    assert ds.remove_bucket("box") is False
    assert ds.bucket_exists("box") is False


def test_a_bad_bucket_name_is_refused(ds: Datastore) -> None:
    with pytest.raises(dse.ValidationError):
        ds.create_bucket("Bad Name")


def test_get_bucket_of_a_missing_bucket_is_not_found(ds: Datastore) -> None:
    with pytest.raises(dse.NotFound, match="nope"):
        ds.get_bucket("nope")
    with pytest.raises(dse.NotFound):
        connect("data_store/nope", engine=ds.engine)
    assert ds.bucket_exists("nope") is False


@pytest.mark.parametrize("name", ["datastore", "data_store/", "other/x", ""])
def test_connect_refuses_other_names(engine: dse.Engine, name: str) -> None:
    with pytest.raises(dse.ValidationError):
        connect(name, engine=engine)


# -- the Bucket connector ---------------------------------------------------------------------------


@pytest.fixture
def filled(bucket: BucketConnector) -> BucketConnector:
    bucket.put("a.csv", io.BytesIO(b"1,2"), 3, metadata={"owner": "ann"})
    bucket.put("dir/b.csv", b"3,4", 3)
    bucket.put("dir/sub/c.json", b"{}", 2)
    return bucket


def test_list_is_recursive_with_metadata_by_default(filled: BucketConnector) -> None:
    found = filled.list()
    assert [o.object_name for o in found] == ["a.csv", "dir/b.csv", "dir/sub/c.json"]
    assert found[0].metadata == {"owner": "ann"}
    assert (found[0].size, found[0].bucket_name, found[0].is_dir) == (3, "my_bucket", False)
    assert filled.list(metadata=False)[0].metadata == {}


def test_list_not_recursive_gives_folders(filled: BucketConnector) -> None:
    found = filled.list(recursive=False)
    assert [(o.object_name, o.is_dir) for o in found] == [("a.csv", False), ("dir/", True)]
    assert [o.object_name for o in filled.list(prefix="dir/", recursive=False)] == [
        "dir/b.csv",
        "dir/sub/",
    ]


def test_list_filename_filters_and_joins(filled: BucketConnector) -> None:
    assert filled.list_filename() == ["a.csv", "dir/b.csv", "dir/sub/c.json"]
    assert filled.list_filename(contains=".csv") == ["a.csv", "dir/b.csv"]
    assert filled.list_filename(return_type="str", contains="dir") == "dir/b.csv,dir/sub/c.json"
    assert filled.list_filename(recursive=False) == ["a.csv", "dir/"]
    assert filled.list_filename(contains="zzz", return_type="str") == ""


def test_get_answers_a_response_with_read_and_stream(filled: BucketConnector) -> None:
    response = filled.get("dir/b.csv")
    assert response.read() == b"3,4"
    response.release_conn()
    assert list(filled.get("a.csv").stream(2)) == [b"1,", b"2"]
    with pytest.raises(dse.NotFound):
        filled.get("missing.csv")


def test_put_returns_the_etag_and_put_takes_a_stream_of_length(bucket: BucketConnector) -> None:
    etag = bucket.put("x.bin", io.BytesIO(b"hello world"), 5)
    assert etag == "5d41402abc4b2a76b9719d911017c592"  # md5("hello")
    assert bucket.get("x.bin").read() == b"hello"


def test_fput_and_fget_go_through_files(bucket: BucketConnector, tmp_path: Any) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"file body")
    etag = bucket.fput("docs/in.txt", str(src))
    assert etag == bucket.stat("docs/in.txt").etag
    info = bucket.fget("docs/in.txt", str(tmp_path / "out" / "copy.txt"))
    assert (tmp_path / "out" / "copy.txt").read_bytes() == b"file body"
    assert (info.object_name, info.size, info.etag) == ("docs/in.txt", 9, etag)


def test_stat_of_one_and_of_many(filled: BucketConnector) -> None:
    one = filled.stat("a.csv")
    assert (one.object_name, one.size, one.content_type) == ("a.csv", 3, "text/csv")
    many = filled.stat(["a.csv", "dir/b.csv"])
    assert [o.object_name for o in many] == ["a.csv", "dir/b.csv"]
    with pytest.raises(dse.NotFound):
        filled.stat("missing")


def test_delete_one_or_many(filled: BucketConnector) -> None:
    assert filled.delete("a.csv") is True
    assert filled.delete("a.csv") is False
    assert filled.delete(["dir/b.csv", "nope"]) == {"dir/b.csv": True, "nope": False}
    assert filled.list_filename() == ["dir/sub/c.json"]


def test_fcopy_to_copies_into_another_bucket(ds: Datastore, filled: BucketConnector) -> None:
    ds.create_bucket("backup")
    info = filled.fcopy_to("backup", "copies/a.csv", "a.csv")
    assert (info.bucket_name, info.object_name) == ("backup", "copies/a.csv")
    assert ds.get_bucket("backup").get("copies/a.csv").read() == b"1,2"
    assert filled.get("a.csv").read() == b"1,2"
    with pytest.raises(dse.NotFound):
        filled.fcopy_to("backup", "x", "missing")
    with pytest.raises(dse.NotFound):
        filled.fcopy_to("no-such-bucket", "x", "a.csv")


# -- put_request against a local server ---------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(f"GET {self.path} {self.headers.get('X-Token', '')}".encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._send(b"POST " + self.rfile.read(length))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_put_request_stores_the_response_body(bucket: BucketConnector, server: str) -> None:
    etag = bucket.put_request(
        f"{server}/export/report.csv", "reports/today.csv", headers={"X-Token": "t"}
    )
    assert bucket.get("reports/today.csv").read() == b"GET /export/report.csv t"
    assert etag == bucket.stat("reports/today.csv").etag


def test_put_request_into_a_folder_uses_the_urls_file_name(
    bucket: BucketConnector, server: str
) -> None:
    bucket.put_request(f"{server}/files/data.csv")
    bucket.put_request(f"{server}/files/data.csv?x=1", "imports/")
    assert bucket.list_filename() == ["data.csv", "imports/data.csv"]


def test_put_request_with_post_data(bucket: BucketConnector, server: str) -> None:
    bucket.put_request(f"{server}/make", "made.csv", data=b"a=1", method="POST")
    assert bucket.get("made.csv").read() == b"POST a=1"


def test_put_request_refuses_a_folder_url_without_a_file_name(
    bucket: BucketConnector, server: str
) -> None:
    with pytest.raises(dse.ValidationError):
        bucket.put_request(f"{server}/", "")
    assert bucket.list_filename() == []


def test_return_types_follow_the_arguments_for_a_type_checker(engine: dse.Engine, filled: BucketConnector) -> None:
    """``assert_type`` is checked by mypy in CI (``tests/`` is under ``mypy --strict``); at run time
    the values must be what the types say."""
    with connect("data_store", engine=engine) as ds:
        assert_type(ds, Datastore)
        names = assert_type(ds.list(), list[str])
        joined = assert_type(ds.list("str"), str)
        assert names == ["my_bucket"] and joined == "my_bucket"
    files = assert_type(filled.list_filename(contains="csv"), list[str])
    assert files == ["a.csv", "dir/b.csv"]
    assert assert_type(filled.list_filename("str", contains="csv"), str) == "a.csv,dir/b.csv"
    one = assert_type(filled.stat("a.csv"), ObjectInfo)
    many = assert_type(filled.stat(["a.csv"]), list[ObjectInfo])
    assert [one] == many
    assert assert_type(filled.delete("a.csv"), bool) is True
    assert assert_type(filled.delete(["dir/b.csv", "gone"]), dict[str, bool]) == {"dir/b.csv": True, "gone": False}
