"""compat.cloudstore: the CloudStore client (seed 001): threads, callbacks, response dicts, passwords, media."""
# ruff: noqa: UP031  (the seed's examples use %-formatting; they are kept as written)

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.compat.cloudstore import CloudStore, LocalResponse

API_KEY = "ZFA5mAkxjVznvSsXOUxE"


@pytest.fixture
def cloud(engine: dse.Engine) -> CloudStore:
    return CloudStore(API_KEY, engine=engine)


def ok(future: Any) -> dict[str, Any]:
    res: dict[str, Any] = future.result(timeout=30)
    assert res["error"] is None, res
    return res


def fails(future: Any, error: str) -> dict[str, Any]:
    res: dict[str, Any] = future.result(timeout=30)
    assert res["error"] == error, res
    return res


# -- the seed's examples, as written ------------------------------------------------------


def test_seed_initializing(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATASTORE_ENGINE_PATH", str(tmp_path / "default"))
    cloud = CloudStore("ZFA5mAkxjVznvSsXOUxE")
    try:
        assert cloud.engine.path == str(tmp_path / "default")
        assert ok(cloud.save("k", 1))["message"] == "Data saved"
    finally:
        cloud.close()
    assert cloud.engine.closed


def test_seed_general_information_lock(cloud: CloudStore) -> None:
    cd = cloud
    cd.lock.acquire()
    try:
        assert CloudStore.lock.locked()
    finally:
        cd.lock.release()
    assert not CloudStore.lock.locked()


def test_seed_saving_data(cloud: CloudStore, capsys: pytest.CaptureFixture[str]) -> None:
    # Handle the response.
    def onSave(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print(res["message"])

    # Save some data.
    future = cloud.save("Shopping_List", {"Apples": 8, "Oranges": 6}, onSave)
    ok(future)
    assert capsys.readouterr().out == "Data saved\n"
    assert ok(cloud.load("Shopping_List"))["data"] == {"Apples": 8, "Oranges": 6}


def test_seed_loading_data(cloud: CloudStore, capsys: pytest.CaptureFixture[str]) -> None:
    ok(cloud.save("Shopping_List", {"Apples": 8, "Oranges": 6}))

    # Handle the response.
    def OnLoad(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print(res["message"])

    # Load some data.
    future = cloud.load("Shopping_List", OnLoad)
    res = ok(future)
    assert res["data"] == {"Apples": 8, "Oranges": 6}
    assert capsys.readouterr().out == "Data loaded\n"


def test_seed_merging_data_app1_then_app2(
    cloud: CloudStore, capsys: pytest.CaptureFixture[str]
) -> None:
    # App 1
    def OnSave(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print(res["message"])

    #  Save some data.
    cloud.save("Shopping_List", {"Apples": 8, "Oranges": 6}, OnSave)
    assert cloud.wait(timeout=30)

    # App 2
    #  Handle the response.
    def onLoad(res: dict[str, Any]) -> None:
        # You should now see your new Shopping_List with 10 Oranges and 8 Bananas
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print("%s: %s" % (res["message"], res["data"]))

    #  Handle the response.
    def onMerge(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            # Data merged successfully
            print(res["message"])

            # Lets now reload the data to see if our object has changed
            cloud.load("Shopping_List", onLoad)

    #  Update our Shopping List by adding a new item and changing existing items.
    cloud.merge("Shopping_List", {"Apples": 8, "Oranges": 10, "Bananas": 8}, onMerge)
    assert cloud.wait(timeout=30)
    assert capsys.readouterr().out.splitlines() == [
        "Data saved",
        "Data merged",
        "Data loaded: {'Apples': 8, 'Oranges': 10, 'Bananas': 8}",
    ]


def test_seed_listing_steve(cloud: CloudStore) -> None:
    for key in ("steve1", "steve2", "Steve3", "bob"):
        ok(cloud.save(key, {"k": key}))
    seen: list[str] = []

    def callback(res: dict[str, Any]) -> None:
        seen.append(res["message"])

    ok(cloud.list("steve", callback))
    assert seen == ["steve1,steve2"]


def test_seed_listing_example(cloud: CloudStore, capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("Shopping_List", "Shopping_Old", "Todo"):
        ok(cloud.save(key, 1))

    # Handle the response.
    def OnList(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print(res["message"])
        # This will show a comma separated list of all files matching your filter

    ok(cloud.list("Shopping", OnList))
    assert capsys.readouterr().out == "Shopping_List,Shopping_Old\n"


def test_seed_deleting_data(cloud: CloudStore, capsys: pytest.CaptureFixture[str]) -> None:
    ok(cloud.save("Shopping_List", {"Apples": 8}))

    # Handle the response.
    def OnDelete(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print(res["message"])

    ok(cloud.delete("Shopping_List", OnDelete))
    fails(cloud.delete("Shopping_List", OnDelete), "NoFile")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Data deleted"
    assert out[1].startswith("Error: NoFile, ") and "Shopping_List" in out[1]


def test_seed_upload(
    cloud: CloudStore, engine: dse.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    image = bytes(range(256)) * 4
    file_data = base64.b64encode(image).decode()

    def OnUpload(res: dict[str, Any]) -> None:
        if res.get("error"):
            print("Error: %s, %s" % (res["error"], res["message"]))
        else:
            print(res["message"])

    #  Let's assume you want to upload an image to the CloudStore
    #  You must upload images as a string in a format such as base64
    res = ok(cloud.upload(file_data, "jazz3.jpg", "image/jpg", OnUpload))
    assert capsys.readouterr().out == "File uploaded\n"
    assert res["data"] == {
        "name": "jazz3.jpg",
        "folder": cloud.folder,
        "id": f"{cloud.folder}/jazz3.jpg",
        "mimetype": "image/jpg",
        "size": len(file_data),
    }
    stored = engine.bucket(cloud.folder).get_bytes("jazz3.jpg")
    assert base64.b64decode(stored) == image


# -- the response dict ------------------------------------------------------------------------


def test_a_response_has_the_five_keys_and_a_local_response(cloud: CloudStore) -> None:
    res = ok(cloud.save("k", {"a": 1}))
    assert set(res) == {"error", "message", "data", "response", "exception"}
    assert isinstance(res["response"], LocalResponse)
    assert (res["response"].status_code, res["response"].ok, res["exception"]) == (200, True, None)
    missing = fails(cloud.load("nope"), "NoFile")
    assert (missing["response"].status_code, missing["response"].ok) == (404, False)
    assert isinstance(missing["exception"], dse.NotFound)
    assert missing["response"].json()["error"] == "NoFile"


def test_load_of_a_missing_key_is_nofile(cloud: CloudStore) -> None:
    res = fails(cloud.load("Missing"), "NoFile")
    assert "Missing" in res["message"] and res["data"] is None


def test_keys_are_case_sensitive(cloud: CloudStore) -> None:
    ok(cloud.save("Key", 1))
    fails(cloud.load("key"), "NoFile")


def test_save_replaces_and_stores_any_json_value(cloud: CloudStore) -> None:
    for value in ("text", 42, [1, 2], {"a": {"b": None}}):
        ok(cloud.save("v", value))
        assert ok(cloud.load("v"))["data"] == value


def test_merge_is_recursive_arrays_too_and_creates_missing(cloud: CloudStore) -> None:
    ok(cloud.merge("m", {"a": {"x": 1}, "l": [1, {"p": 1}]}))
    ok(cloud.merge("m", {"a": {"y": 2}, "l": [9, {"q": 2}, 3]}))
    assert ok(cloud.load("m"))["data"] == {"a": {"x": 1, "y": 2}, "l": [9, {"p": 1, "q": 2}, 3]}


def test_list_with_an_empty_filter_lists_every_key(cloud: CloudStore) -> None:
    for key in ("b", "a", "c"):
        ok(cloud.save(key, 1))
    assert ok(cloud.list(""))["message"] == "a,b,c"
    assert ok(cloud.list("zzz"))["message"] == ""


def test_a_bad_value_is_an_invalid_request(cloud: CloudStore) -> None:
    res = fails(cloud.save("k", float("nan")), "InvalidRequest")
    assert res["response"].status_code == 400
    fails(cloud.save("", 1), "InvalidRequest")


# -- passwords -----------------------------------------------------------------------------------


def test_a_password_set_on_first_save_guards_load_save_merge_and_delete(cloud: CloudStore) -> None:
    ok(cloud.save("secret", {"n": 1}, None, "pw"))
    for future in (
        cloud.load("secret"),
        cloud.load("secret", None, "wrong"),
        cloud.save("secret", {"n": 2}, None, "wrong"),
        cloud.merge("secret", {"n": 3}),
        cloud.delete("secret", None, "wrong"),
    ):
        res = fails(future, "BadPassword")
        assert res["response"].status_code == 403
        assert isinstance(res["exception"], dse.Forbidden)
    assert ok(cloud.load("secret", None, "pw"))["data"] == {"n": 1}
    ok(cloud.merge("secret", {"m": 2}, None, "pw"))
    assert ok(cloud.load("secret", None, "pw"))["data"] == {"n": 1, "m": 2}
    assert "secret" in ok(cloud.list(""))["message"]
    ok(cloud.delete("secret", None, "pw"))
    fails(cloud.load("secret", None, "pw"), "NoFile")


def test_an_upload_password_guards_the_file_and_a_refusal_keeps_the_old_one(
    cloud: CloudStore, engine: dse.Engine
) -> None:
    ok(cloud.upload(b"v1", "notes.txt", "text/plain", None, "pw"))
    fails(cloud.upload(b"v2", "notes.txt", "text/plain", None, "wrong"), "BadPassword")
    fails(cloud.upload(b"v2", "notes.txt"), "BadPassword")
    assert engine.bucket(cloud.folder).get_bytes("notes.txt") == b"v1"
    ok(cloud.upload(b"v3", "notes.txt", "text/plain", None, "pw"))
    assert engine.bucket(cloud.folder).get_bytes("notes.txt") == b"v3"


# -- media -----------------------------------------------------------------------------------------


def test_upload_takes_bytes_and_open_files(
    cloud: CloudStore, engine: dse.Engine, tmp_path: Any
) -> None:
    (tmp_path / "a.txt").write_text("héllo", encoding="utf-8")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    with open(tmp_path / "a.txt", encoding="utf-8") as text:
        res = ok(cloud.upload(text, "a.txt"))
    assert (res["data"]["mimetype"], res["data"]["size"]) == ("text/plain", 6)
    with open(tmp_path / "b.bin", "rb") as binary:
        ok(cloud.upload(binary, "b.bin", "application/octet-stream"))
    ok(cloud.upload(b"raw", "c.dat"))
    bucket = engine.bucket(cloud.folder)
    assert bucket.get_bytes("a.txt").decode() == "héllo"
    assert bucket.get_bytes("b.bin") == b"\x00\x01"
    assert bucket.get_bytes("c.dat") == b"raw"


def test_media_is_shared_by_apps_with_the_same_key_only(engine: dse.Engine) -> None:
    one, two, other = (
        CloudStore(API_KEY, engine=engine),
        CloudStore(API_KEY, engine=engine),
        CloudStore("k2", engine=engine),
    )
    ok(one.upload(b"x", "pic.jpg"))
    assert one.folder == two.folder != other.folder
    assert engine.bucket(two.folder).exists("pic.jpg")
    assert not engine.bucket(other.folder).exists("pic.jpg")


# -- scoping, threads ---------------------------------------------------------------------------


def test_data_is_scoped_by_api_key(engine: dse.Engine, tmp_path: Any) -> None:
    a, b = CloudStore("key-a", engine=engine), CloudStore("key-b", engine=engine)
    ok(a.save("shared_name", "a's"))
    fails(b.load("shared_name"), "NoFile")
    with CloudStore("key-a", str(tmp_path / "other")) as elsewhere:
        fails(elsewhere.load("shared_name"), "NoFile")
        ok(elsewhere.save("x", 1))
    with CloudStore("key-a", str(tmp_path / "other")) as again:
        assert ok(again.load("x"))["data"] == 1


def test_the_future_resolves_after_the_callback_returned(cloud: CloudStore) -> None:
    events: list[str] = []
    release = threading.Event()

    def slow(res: dict[str, Any]) -> None:
        release.wait(30)
        events.append("callback")

    future = cloud.save("k", 1, slow)
    assert not future.done()
    release.set()
    ok(future)
    assert events == ["callback"]


def test_calls_and_callbacks_run_on_worker_threads(cloud: CloudStore) -> None:
    threads: list[threading.Thread] = []
    ok(cloud.save("k", 1, lambda res: threads.append(threading.current_thread())))
    assert threads and threads[0] is not threading.current_thread()


def test_the_library_does_not_hold_the_lock_while_calling_back(cloud: CloudStore) -> None:
    got: list[bool] = []

    def callback(res: dict[str, Any]) -> None:
        got.append(CloudStore.lock.acquire(blocking=False))
        CloudStore.lock.release()

    ok(cloud.save("k", 1, callback))
    assert got == [True]


def test_a_callback_that_raises_fails_its_future(cloud: CloudStore) -> None:
    def broken(res: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cloud.save("k", 1, broken).result(timeout=30)
    assert ok(cloud.load("k"))["data"] == 1


def test_many_parallel_calls(cloud: CloudStore) -> None:
    futures = [cloud.merge("counter", {f"k{i}": i}) for i in range(40)]
    for future in futures:
        ok(future)
    assert ok(cloud.load("counter"))["data"] == {f"k{i}": i for i in range(40)}


def test_an_empty_api_key_is_refused(engine: dse.Engine) -> None:
    with pytest.raises(dse.ValidationError):
        CloudStore("", engine=engine)
