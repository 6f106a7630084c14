"""Store CRUD, paths, iteration and refusals, through the public API."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import datastore_engine as dse


def test_add_with_an_explicit_id_returns_it_and_refuses_a_duplicate(engine: dse.Engine) -> None:
    s = engine.store("myNumbers")
    assert s.add({"one": 1}, rid="one") == "one"
    with pytest.raises(dse.DuplicateKey, match="'one'"):
        s.add({"one": 2}, rid="one")
    assert s.get("one") == {"one": 1}


def test_add_without_an_id_makes_time_ordered_unique_ids(engine: dse.Engine) -> None:
    s = engine.store("auto")
    ids = [s.add({"n": i}) for i in range(300)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 300
    assert s.keys() == ids


def test_auto_ids_strictly_increase_across_threads() -> None:
    from datastore_engine.keys import new_rid

    per_thread: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        for _ in range(2000):
            out.append(new_rid())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [r for out in per_thread for r in out]
    assert len(set(every)) == len(every)
    for out in per_thread:
        assert out == sorted(out)


def test_get_missing_raises_not_found_which_is_a_key_error(engine: dse.Engine) -> None:
    s = engine.store("s")
    with pytest.raises(KeyError):
        s.get("nope")
    with pytest.raises(dse.NotFound, match="'nope'"):
        s.get("nope")
    assert s.get("nope", default=None) is None
    assert s.get("nope", None) is None


def test_put_replaces_and_merge_deep_merges(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("k", {"a": {"b": 1, "c": [1, 2]}, "x": 1})
    s.merge("k", {"a": {"c": [9], "d": 4}})
    assert s.get("k") == {"a": {"b": 1, "c": [9, 2], "d": 4}, "x": 1}
    s.put("k", {"only": True})
    assert s.get("k") == {"only": True}


def test_merge_creates_a_missing_document(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.merge("new", {"a": 1})
    assert s.get("new") == {"a": 1}


def test_delete_removes_and_a_missing_delete_is_not_found(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("a", {"v": 1})
    s.delete("a")
    assert "a" not in s
    assert len(s) == 0
    with pytest.raises(dse.NotFound):
        s.delete("a")
    s.add({"again": True}, rid="a")  # a tombstone does not block add
    assert s.get("a") == {"again": True}


def test_len_counts_live_documents_through_puts_and_deletes(engine: dse.Engine) -> None:
    s = engine.store("s")
    for i in range(10):
        s.put(f"d{i}", {"i": i})
    s.put("d3", {"i": 33})
    s.delete("d4")
    s.delete("d5")
    assert len(s) == 8


def test_paths_get_set_delete_with_list_indexes(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("one", {"a": {"b": [10, {"c": 1}]}})
    assert s.get_path("one", "a.b.1.c") == 1
    assert s.get_path("one", "a.b.0") == 10
    s.set_path("one", "a.b.1.c", 2)
    s.set_path("one", "a.b.2", "appended")
    s.set_path("one", "new.deep.key", True)
    assert s.get("one") == {"a": {"b": [10, {"c": 2}, "appended"]}, "new": {"deep": {"key": True}}}
    s.delete_path("one", "a.b.0")
    assert s.get_path("one", "a.b") == [{"c": 2}, "appended"]
    with pytest.raises(dse.NotFound):
        s.get_path("one", "a.zzz")
    assert s.get_path("one", "a.zzz", default=5) == 5
    with pytest.raises(dse.NotFound):
        s.delete_path("one", "a.zzz")
    with pytest.raises(dse.ValidationError, match="past the end"):
        s.set_path("one", "a.b.9", 1)
    with pytest.raises(dse.ValidationError, match="empty segment"):
        s.get_path("one", "a..b")


def test_keys_filter_by_prefix_and_substring_case_sensitively(engine: dse.Engine) -> None:
    s = engine.store("s")
    for rid in ["steve1", "steve2", "Steve3", "bob", "bsteve"]:
        s.put(rid, {})
    assert s.keys(prefix="steve") == ["steve1", "steve2"]
    assert s.keys(contains="steve") == ["bsteve", "steve1", "steve2"]
    assert s.keys() == sorted(["steve1", "steve2", "Steve3", "bob", "bsteve"])
    assert dict(s.items())["bob"] == {}


def test_items_iterates_many_documents_in_batches(engine: dse.Engine) -> None:
    s = engine.store("big")
    with engine.transaction():
        for i in range(2500):
            s.put(f"{i:05d}", {"i": i})
    got = list(s.items())
    assert [d["i"] for _, d in got] == list(range(2500))


def test_revisions_grow_and_if_rev_guards_writes(engine: dse.Engine) -> None:
    s = engine.store("s")
    r1 = s.put("d", {"v": 1})
    assert r1.startswith("1-")
    r2 = s.put("d", {"v": 2}, if_rev=r1)
    assert r2.startswith("2-")
    with pytest.raises(dse.Conflict, match=r1):
        s.put("d", {"v": 3}, if_rev=r1)
    assert s.get("d", with_rev=True) == ({"v": 2}, r2)
    with pytest.raises(dse.Conflict):
        s.delete("d", if_rev=r1)
    assert s.delete("d", if_rev=r2).startswith("3-")


def test_the_same_edit_of_the_same_parent_gives_the_same_revision(tmp_path: object) -> None:
    revs = []
    for i in range(2):
        with dse.open_temporary() as eng:
            s = eng.store("s")
            s.put("d", {"v": 1})
            revs.append(s.put("d", {"v": 2}))
        del i
    assert revs[0] == revs[1]


def test_change_feed_has_one_entry_per_document_in_order(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("a", {"v": 1})
    s.put("b", {"v": 1})
    s.put("a", {"v": 2})
    s.delete("b")
    feed = list(s.changes())
    assert [(c.rid, c.deleted) for c in feed] == [("a", False), ("b", True)]
    assert feed[0].seq < feed[1].seq
    assert list(s.changes(since=feed[0].seq)) == feed[1:]
    assert [c.rid for c in s.changes(limit=1)] == ["a"]
    with_docs = list(s.changes(include_docs=True))
    assert with_docs[0][1] == {"v": 2} and with_docs[1][1] is None


REFUSED = [
    ("rid-empty", lambda s: s.put("", {})),
    ("rid-not-str", lambda s: s.put(5, {})),
    ("rid-too-long", lambda s: s.put("x" * 251, {})),
    ("rid-multibyte-too-long", lambda s: s.put("é" * 126, {})),
    ("rid-nul", lambda s: s.put("a\x00b", {})),
    ("rid-surrogate", lambda s: s.put("a\ud800", {})),
    ("nan", lambda s: s.put("ok", {"x": float("nan")})),
    ("infinity", lambda s: s.put("ok", {"x": float("inf")})),
    ("big-int", lambda s: s.put("ok", {"x": 2**64})),
    ("non-str-key", lambda s: s.put("ok", {1: "x"})),
    ("bytes", lambda s: s.put("ok", {"x": b"b"})),
    ("tuple", lambda s: s.put("ok", (1, 2))),
    ("too-deep", lambda s: s.put("ok", _nest(70))),
    ("too-big", lambda s: s.put("ok", {"x": "a" * (16 * 1024 * 1024 + 1)})),
    ("merge-nan", lambda s: s.merge("existing", {"x": float("nan")})),
    ("set-path-bad-value", lambda s: s.set_path("existing", "a", {1, 2})),
    ("set-path-bad-path", lambda s: s.set_path("existing", "a..b", 1)),
    ("add-duplicate", lambda s: s.add({}, rid="existing")),
    ("delete-missing", lambda s: s.delete("missing")),
    ("delete-path-missing", lambda s: s.delete_path("existing", "zz")),
    ("stale-rev", lambda s: s.put("existing", {}, if_rev="1-00000000000000000000000000000000")),
]


def _nest(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize("attempt", [a for _, a in REFUSED], ids=[i for i, _ in REFUSED])
def test_refused_input_raises_a_typed_error_and_leaves_the_file_unchanged(
    engine: dse.Engine, attempt: Any, snapshot: Any
) -> None:
    s = engine.store("s")
    s.put("existing", {"a": 1, "list": [1, 2]})
    before = snapshot(engine)
    with pytest.raises(dse.DatastoreError):
        attempt(s)
    assert snapshot(engine) == before


def test_store_names_are_validated(engine: dse.Engine) -> None:
    with pytest.raises(dse.ValidationError):
        engine.store("")
    with pytest.raises(dse.LimitExceeded):
        engine.store("n" * 129)
    with pytest.raises(dse.ValidationError):
        engine.store("bad\nname")
    with pytest.raises(dse.ValidationError, match="domain"):
        engine.store("x", domain="global")
    assert engine.store("n" * 128).name == "n" * 128


def test_a_closed_engine_refuses_use(tmp_path: object) -> None:
    import pathlib

    eng = dse.open(pathlib.Path(str(tmp_path)) / "c")
    s = eng.store("s")
    eng.close()
    with pytest.raises(dse.EngineClosed):
        s.get("x")
    with pytest.raises(dse.EngineClosed):
        eng.store("s")


def test_revision_history_is_bounded_by_revs_limit(engine: dse.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from datastore_engine import changes
    from datastore_engine.codec import read_header

    monkeypatch.setattr(changes, "REVS_LIMIT", 5)
    s = engine.store("s")
    revs = [s.put("d", {"v": i}) for i in range(10)]
    rev = revs[-1]
    assert rev.startswith("10-")
    _key, raw = s._raw("d")
    assert raw is not None
    header = read_header(raw)
    assert header.gen == 10
    assert len(header.hist) == 5
    assert header.rev == rev
    # newest first, each digest the one its revision was named by
    assert [f"{10 - i}-{dig.hex()}" for i, dig in enumerate(header.hist)] == revs[::-1][:5]
    s.delete("d")  # a tombstone carries the history on
    _key, raw = s._raw("d")
    assert raw is not None
    assert read_header(raw).hist[1:] == header.hist[:4]


def test_put_many_writes_a_mapping_or_pairs_in_one_transaction_and_returns_revisions(engine: dse.Engine) -> None:
    s = engine.store("many")
    s.put("old", {"v": 0})
    revs = s.put_many({"a": {"v": 1}, "old": {"v": 2}})
    assert revs == [s.rev("a"), s.rev("old")]
    assert revs[1].startswith("2-")  # a replaced document gets its next revision
    assert s.put_many([("b", [1, 2]), ("c", None)]) == [s.rev("b"), s.rev("c")]
    assert dict(s.items()) == {"a": {"v": 1}, "b": [1, 2], "c": None, "old": {"v": 2}}
    assert [c.rid for c in s.changes()] == ["a", "old", "b", "c"]
    assert s.put_many([]) == []


def test_put_many_writes_nothing_when_any_item_is_bad(engine: dse.Engine, snapshot: Any) -> None:
    s = engine.store("many")
    s.put("keep", {"v": 1})
    before = snapshot(engine)
    with pytest.raises(dse.ValidationError, match="'b'"):
        s.put_many([("a", {"v": 1}), ("b", {"v": float("nan")}), ("c", {})])
    with pytest.raises(dse.ValidationError, match="non-empty"):
        s.put_many([("a", {}), ("", {})])
    with pytest.raises(dse.ValidationError, match="pairs"):
        s.put_many([("a", {}), "bc"])  # type: ignore[list-item]
    with pytest.raises(dse.ValidationError, match="pairs"):
        s.put_many([("a", {}, 3)])  # type: ignore[list-item]
    assert snapshot(engine) == before


def test_put_many_keeps_indexes_quotas_and_outer_transactions(engine: dse.Engine, snapshot: Any) -> None:
    s = engine.store("many")
    s.create_index("email")
    s.put_many([(f"p{i}", {"email": f"{i}@x"}) for i in range(5)] + [("p1", {"email": "new@x"})])
    assert [r for r, _ in s.find('email eq "new@x"').items] == ["p1"]
    assert s.find('email eq "1@x"').total == 0
    with pytest.raises(RuntimeError), engine.transaction():
        s.put_many({"q": {"email": "q@x"}})
        assert "q" in s
        raise RuntimeError("roll back")
    assert "q" not in s
    engine.create_store("small", max_size_mb=1)
    small = engine.store("small")
    before = snapshot(engine)
    with pytest.raises(dse.LimitExceeded, match="max_size_mb"):
        small.put_many((f"d{i}", "x" * 100_000) for i in range(11))
    assert snapshot(engine) == before


def test_put_many_validates_every_document_of_a_structured_store(engine: dse.Engine, snapshot: Any) -> None:
    structure = engine.create_structure("st", [{"name": "n", "type": "number"}])
    engine.create_store("typed", structure=structure)
    s = engine.store("typed")
    s.put_many({"a": {"n": 1}})
    before = snapshot(engine)
    with pytest.raises(dse.StructureViolation):
        s.put_many({"b": {"n": 2}, "c": {"n": "three"}})
    assert snapshot(engine) == before
    assert s.keys() == ["a"]


def _feed(store: dse.Store) -> list[str]:
    return [c.rid for c in store.changes()]


def test_put_many_over_several_chunks_in_any_id_order_and_any_store(engine: dse.Engine) -> None:
    first, second = engine.store("first"), engine.store("second")  # first's keys are not the file's last
    second.put("z", {})
    rids = [f"r{(i * 7919) % 2600:05d}" for i in range(2600)]  # every id once, out of order
    revs = first.put_many((rid, {"n": i}) for i, rid in enumerate(rids))
    assert len(first) == 2600 and first.get(rids[1234]) == {"n": 1234}
    assert revs[:3] == [first.rev(r) for r in rids[:3]] and revs[-1] == first.rev(rids[-1])
    assert _feed(first) == rids  # one change per document, in write order
    assert second.keys() == ["z"] and len(second) == 1


def test_put_many_with_existing_and_repeated_ids_ends_like_one_put_each(engine: dse.Engine) -> None:
    s = engine.store("mixed")
    s.put_many((f"d{i:05d}", {"v": 0}) for i in range(0, 3000, 3))
    model: dict[str, dict[str, Any]] = {f"d{i:05d}": {"v": 0} for i in range(0, 3000, 3)}
    items = [(f"d{i:05d}", {"v": i}) for i in range(3000)] + [("d00001", {"v": "again"})]
    for rid, doc in items:
        model[rid] = doc
    s.put_many(items)
    assert dict(s.items()) == model and len(s) == len(model) == 3000
    assert sorted(_feed(s)) == sorted(model)  # each document once in the feed, at its last write
    assert s.rev("d00003").startswith("2-") and s.rev("d00001").startswith("2-")


def test_put_many_refuses_a_chunk_past_the_quota_and_writes_nothing(engine: dse.Engine, snapshot: Any) -> None:
    engine.create_store("q", max_size_mb=1)
    s = engine.store("q")
    s.put_many((f"a{i:04d}", "x" * 500) for i in range(1000))  # ~0.5 MB: fits
    before = snapshot(engine)
    with pytest.raises(dse.LimitExceeded, match="max_size_mb"):
        s.put_many((f"b{i:04d}", "x" * 500) for i in range(1500))
    assert snapshot(engine) == before and len(s) == 1000
