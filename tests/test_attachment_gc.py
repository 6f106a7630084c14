"""collect_attachments: own-bucket attachment blobs no kept revision names go; nothing else does."""

from __future__ import annotations

import base64
import hashlib
import io
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datastore_engine as dse
from datastore_engine.cli import main
from datastore_engine.sync import (
    CollectResult,
    collect_attachments,
    get_attachment,
    put_attachment,
    replicate,
)
from datastore_engine.sync._collect import DEFAULT_GRACE

pytest_plugins = ["pouchdb_server"]


@pytest.fixture
def store(engine: dse.Engine) -> dse.Store:
    return engine.store("synced")


def entry(store: dse.Store, rid: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = store.get(rid)["_attachments"][name]
    return found


def own_objects(store: dse.Store) -> set[str]:
    name = collect_attachments(store, dry_run=True).bucket
    return {o.name for o in store.engine.bucket(name).list()}


def md5_digest(data: bytes) -> str:
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


def history(*hashes: str) -> list[str]:
    """Rev ids newest first for a branch of one-letter hashes, oldest first: history("a", "b")."""
    return [f"{i + 1}-{h * 32}" for i, h in reversed(list(enumerate(hashes)))]


def test_an_attachment_of_a_deleted_document_is_collected(store: dse.Store) -> None:
    put_attachment(store, "cat", "photo.jpg", b"meow" * 100, content_type="image/jpeg")
    obj = entry(store, "cat", "photo.jpg")["object"]
    store.delete("cat")
    result = collect_attachments(store, grace=0)
    assert isinstance(result, CollectResult)
    assert result.removed == (obj,) and result.kept == () and result.pending == ()
    assert result.bytes_freed == 400 and not result.dry_run
    assert own_objects(store) == set()
    assert collect_attachments(store, grace=0).removed == ()


def test_a_replaced_attachment_is_collected_and_the_new_one_stays(store: dse.Store) -> None:
    put_attachment(store, "doc", "a.txt", b"first")
    old = entry(store, "doc", "a.txt")["object"]
    put_attachment(store, "doc", "a.txt", b"second")
    new = entry(store, "doc", "a.txt")["object"]
    result = collect_attachments(store, grace=0)
    assert (result.removed, result.kept) == ((old,), (new,))
    assert get_attachment(store, "doc", "a.txt") == b"second"


def test_content_shared_by_two_documents_survives_until_both_drop_it(store: dse.Store) -> None:
    put_attachment(store, "a", "x.bin", b"shared bytes")
    put_attachment(store, "b", "y.bin", b"shared bytes")
    (obj,) = own_objects(store)
    store.delete("a")
    assert collect_attachments(store, grace=0).kept == (obj,)
    assert get_attachment(store, "b", "y.bin") == b"shared bytes"
    store.put("b", {"no": "attachments"})
    assert collect_attachments(store, grace=0).removed == (obj,)


def test_an_attachment_named_only_by_a_losing_leaf_survives_until_it_is_resolved(
    store: dse.Store,
) -> None:
    put_attachment(store, "src", "x.bin", b"loser's content")
    att = entry(store, "src", "x.bin")
    store.delete("src")
    store.put_revision("d", {"v": "root"}, history=history("a"))
    left = {"v": "left", "_attachments": {"x.bin": att}}
    store.put_revision("d", left, history=history("a", "b"))
    store.put_revision("d", {"v": "right"}, history=history("a", "c"))
    (loser,) = store.conflicts("d")
    assert loser == history("a", "b")[0]  # the winner ("c" > "b") names no attachment
    assert collect_attachments(store, grace=0).kept == (att["object"],)
    doc, _hist, _deleted = store.get_revision("d", loser)
    assert doc["_attachments"]["x.bin"]["digest"] == att["digest"]
    store.delete_conflict("d", loser)
    assert collect_attachments(store, grace=0).removed == (att["object"],)


def test_a_tombstone_that_carries_attachments_keeps_them(store: dse.Store) -> None:
    put_attachment(store, "src", "x.bin", b"kept by a tombstone")
    att = entry(store, "src", "x.bin")
    store.delete("src")
    store.put_revision("t", {"_attachments": {"x.bin": att}}, history=history("a"), deleted=True)
    assert "t" not in store
    assert collect_attachments(store, grace=0).kept == (att["object"],)


def test_a_password_protected_document_keeps_its_attachments(store: dse.Store) -> None:
    store.put("secret", {"n": 1}, password="pw")
    put_attachment(store, "secret", "a.txt", b"private", password="pw")
    assert len(collect_attachments(store, grace=0).kept) == 1  # no password needed to count
    assert get_attachment(store, "secret", "a.txt", password="pw") == b"private"


def test_objects_of_app_buckets_are_never_removed(engine: dse.Engine, store: dse.Store) -> None:
    media = engine.bucket("media")
    media.put("img/a.jpg", b"jpeg")
    media.put("img/unreferenced.jpg", b"nobody names me")
    att = {"content_type": "image/jpeg", "bucket": "media", "object": "img/a.jpg"}
    store.put("post", {"_attachments": {"a.jpg": att}})
    assert get_attachment(store, "post", "a.jpg") == b"jpeg"
    store.delete("post")
    result = collect_attachments(store, grace=0)
    assert result.removed == () and result.bucket != "media"
    assert sorted(o.name for o in media.list()) == ["img/a.jpg", "img/unreferenced.jpg"]


def test_dry_run_removes_nothing_and_reports_what_a_real_run_removes(store: dse.Store) -> None:
    for i in range(5):
        put_attachment(store, f"d{i}", "f.txt", f"content {i}".encode())
    for i in (0, 2, 4):
        store.delete(f"d{i}")
    before = own_objects(store)
    dry = collect_attachments(store, grace=0, dry_run=True)
    assert dry.dry_run and len(dry.removed) == 3 and len(dry.kept) == 2
    assert own_objects(store) == before
    real = collect_attachments(store, grace=0)
    assert (real.removed, real.kept, real.bytes_freed) == (dry.removed, dry.kept, dry.bytes_freed)
    assert own_objects(store) == set(dry.kept)


def test_a_fresh_unreferenced_blob_is_kept_within_the_grace_period(store: dse.Store) -> None:
    put_attachment(store, "doc", "a.txt", b"old content")
    old = entry(store, "doc", "a.txt")["object"]
    put_attachment(store, "doc", "a.txt", b"new content")
    result = collect_attachments(store)  # default grace: an hour
    assert result.pending == (old,) and result.removed == ()
    assert old in own_objects(store)
    assert collect_attachments(store, grace=0).removed == (old,)


@pytest.mark.parametrize("grace", [-1, float("nan"), float("inf"), "60", True])
def test_a_bad_grace_is_a_validation_error(store: dse.Store, grace: Any) -> None:
    with pytest.raises(dse.ValidationError, match="grace"):
        collect_attachments(store, grace=grace)


def test_a_store_without_attachments_has_nothing_to_collect(store: dse.Store) -> None:
    store.put("plain", {"a": 1})
    result = collect_attachments(store, grace=0)
    assert (result.removed, result.kept, result.pending, result.bytes_freed) == ((), (), (), 0)
    assert result.to_dict()["removed"] == []


# -- a collection running between a blob write and the revision that names it ---------------------


@pytest.fixture
def collect_before_put(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[CollectResult]]:
    """Run ``collect_attachments`` (default grace) inside every ``Store.put``, before it writes:
    put_attachment has then written its blob but not yet the revision."""
    results: list[CollectResult] = []
    real_put: Callable[..., str] = dse.Store.put

    def put(self: dse.Store, rid: str, doc: Any, **kwargs: Any) -> str:
        results.append(collect_attachments(self))
        return real_put(self, rid, doc, **kwargs)

    monkeypatch.setattr(dse.Store, "put", put)
    yield results


def test_a_blob_uploaded_for_a_revision_not_yet_written_survives(
    store: dse.Store, collect_before_put: list[CollectResult]
) -> None:
    put_attachment(store, "doc", "a.txt", b"in flight")
    (seen,) = collect_before_put
    assert seen.pending == (entry(store, "doc", "a.txt")["object"],) and seen.removed == ()
    assert get_attachment(store, "doc", "a.txt") == b"in flight"


def test_reusing_an_old_unreferenced_blob_makes_it_young_again(
    store: dse.Store, monkeypatch: pytest.MonkeyPatch, collect_before_put: list[CollectResult]
) -> None:
    put_attachment(store, "gone", "a.txt", b"same content")
    store.delete("gone")  # the object is unreferenced, and soon old
    # Two hours later (a fake clock: no sleeping), the same content is attached again
    # while a collection with the default one-hour grace runs between blob and revision.
    later = time.time_ns() + 2 * 3600 * 10**9
    monkeypatch.setattr(time, "time_ns", lambda: later)
    monkeypatch.setattr(time, "time", lambda: later / 1e9)
    put_attachment(store, "new", "a.txt", b"same content")
    assert collect_before_put[-1].removed == ()
    assert get_attachment(store, "new", "a.txt") == b"same content"


def test_a_blob_reused_between_the_snapshot_and_the_sweep_is_not_deleted(
    store: dse.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_attachment(store, "gone", "a.txt", b"same content")
    obj = entry(store, "gone", "a.txt")["object"]
    store.delete("gone")
    later = time.time_ns() + 2 * 3600 * 10**9  # two hours on: the object is old and unreferenced
    monkeypatch.setattr(time, "time_ns", lambda: later)
    monkeypatch.setattr(time, "time", lambda: later / 1e9)
    # The sweep's write transaction is the first engine.transaction() of the collection:
    # just before it, a write attaches the same content again (blob reused, then revision).
    real_transaction = dse.Engine.transaction
    raced: list[str] = []

    def transaction(self: dse.Engine) -> Any:
        if not raced:
            raced.append(put_attachment(store, "new", "a.txt", b"same content"))
        return real_transaction(self)

    monkeypatch.setattr(dse.Engine, "transaction", transaction)
    result = collect_attachments(store)
    assert raced and result.removed == () and result.pending == (obj,)
    assert get_attachment(store, "new", "a.txt") == b"same content"


# -- sync still works after a collection -------------------------------------------------------------


def test_push_and_pull_work_after_a_collection(
    engine: dse.Engine, store: dse.Store, pouchdb_db: str
) -> None:
    put_attachment(store, "keep", "k.bin", b"kept" * 1000)
    put_attachment(store, "drop", "d.bin", b"dropped" * 1000)
    put_attachment(store, "swap", "s.bin", b"before")
    assert replicate(store, pouchdb_db, direction="push").doc_write_failures == 0
    store.delete("drop")
    put_attachment(store, "swap", "s.bin", b"after")
    assert len(collect_attachments(store, grace=0).removed) == 2
    assert get_attachment(store, "keep", "k.bin") == b"kept" * 1000
    assert replicate(store, pouchdb_db, direction="push").doc_write_failures == 0
    other = engine.store("replica")
    assert replicate(other, pouchdb_db, direction="pull").doc_write_failures == 0
    assert get_attachment(other, "keep", "k.bin") == b"kept" * 1000
    assert get_attachment(other, "swap", "s.bin") == b"after"
    assert "drop" not in other
    # The peer's stubs of an attachment we still hold resolve locally after the collection.
    assert replicate(store, pouchdb_db, direction="pull").doc_write_failures == 0
    assert get_attachment(store, "swap", "s.bin") == b"after"


# -- property: after a collection, exactly the referenced objects remain, all readable -------------

RIDS = ("a", "b", "c")
CONTENTS = (b"one", b"two", b"three", b"")
OPS = st.one_of(
    st.tuples(st.just("attach"), st.sampled_from(RIDS), st.sampled_from(("x", "y")),
              st.sampled_from(CONTENTS)),
    st.tuples(st.just("detach"), st.sampled_from(RIDS), st.sampled_from(("x", "y"))),
    st.tuples(st.just("delete"), st.sampled_from(RIDS)),
    st.tuples(st.just("branch"), st.sampled_from(RIDS)),
    st.tuples(st.just("resolve"), st.sampled_from(RIDS)),
    st.tuples(st.just("collect"),),
)  # fmt: skip


def _apply(store: dse.Store, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "attach":
        put_attachment(store, args[0], args[1], args[2])
    elif kind == "detach":
        doc = store.get(args[0], None)
        if doc is not None and args[1] in doc.get("_attachments", {}):
            atts = {k: v for k, v in doc["_attachments"].items() if k != args[1]}
            store.put(args[0], {**doc, "_attachments": atts})
    elif kind == "delete":
        if args[0] in store:
            store.delete(args[0])
    elif kind == "branch":  # a replicated sibling of the winner, with its body: a conflict
        if args[0] in store:
            rev = store.rev(args[0])
            _doc, hist, _deleted = store.get_revision(args[0], rev)
            sibling = f"{rev.split('-')[0]}-{uuid.uuid4().hex}"
            store.put_revision(args[0], store.get(args[0]), history=[sibling, *hist[1:]])
    elif kind == "resolve":
        for loser in store.conflicts(args[0])[:1]:
            store.delete_conflict(args[0], loser)
    else:
        collect_attachments(store, grace=0)


def _kept_revisions(store: dse.Store) -> Iterator[Any]:
    for change in store.changes():
        if change.rid in store:
            yield store.get(change.rid)
        for loser in store.conflicts(change.rid):
            yield store.get_revision(change.rid, loser)[0]


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(OPS, max_size=25))
def test_collection_keeps_exactly_what_kept_revisions_name(ops: list[tuple[Any, ...]]) -> None:
    with dse.open_temporary() as engine:
        store = engine.store("prop")
        for op in ops:
            _apply(store, op)
        result = collect_attachments(store, grace=0)
        bucket = engine.bucket(result.bucket)
        named = set()
        for doc in _kept_revisions(store):
            for att in doc.get("_attachments", {}).values():
                data = bucket.get_bytes(att["object"])
                assert md5_digest(data) == att["digest"]
                named.add(att["object"])
        assert {o.name for o in bucket.list()} == named == set(result.kept)
        assert result.pending == ()


def test_the_command_line_help_states_the_library_default_grace() -> None:
    out = io.StringIO()
    assert main(["collect-attachments", "--help"], stdout=out) == 0
    assert f"default {DEFAULT_GRACE:g}," in " ".join(out.getvalue().split())
