"""The store catalog: create, list (sort, paginate, filter), update, drop."""

from __future__ import annotations

import re
from typing import Any

import pytest
from threadkit import threads_running

import datastore_engine as dse
from datastore_engine import codec
from datastore_engine.manage import SORT_FIELDS

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_create_store_returns_its_full_info(engine: dse.Engine) -> None:
    info = engine.create_store(
        "crm",
        domain="organization",
        description="customers",
        owner="u:ann",
        max_size_mb=5,
        admin_access=["u:ann"],
        read_access=["g:staff", "g:staff"],
        write_access=("u:bob",),
    )
    assert isinstance(info, dse.StoreInfo)
    assert (info.name, info.domain, info.description, info.owner, info.max_size_mb) == (
        "crm", "organization", "customers", "u:ann", 5,
    )  # fmt: skip
    assert (info.admin_access, info.read_access, info.write_access) == (
        ("u:ann",),
        ("g:staff",),
        ("u:bob",),
    )
    assert (info.size, info.count, info.structure) == (0, 0, None)
    assert ISO_MS.match(info.created) and ISO_MS.match(info.last_modified)
    assert info.location == "datastore://organization/test-org/crm"
    assert engine.store("crm", domain="organization").info == info
    assert engine.store_info(id=info.id, domain="organization") == info


def test_ids_are_stable_and_unique_and_names_unique_per_domain(engine: dse.Engine) -> None:
    a = engine.create_store("a")
    b = engine.create_store("b", id="my-id")
    assert b.id == "my-id" and a.id != b.id
    with pytest.raises(dse.Conflict, match="'a'"):
        engine.create_store("a")
    with pytest.raises(dse.Conflict, match="my-id"):
        engine.create_store("c", id="my-id")
    engine.store("auto")  # get-or-create is a creation too
    with pytest.raises(dse.Conflict):
        engine.create_store("auto")
    # Same name or id in another domain is another store.
    assert engine.create_store("a", domain="system", id="my-id").domain == "system"
    renamed = engine.update_store("b", name="b2")
    assert renamed.id == "my-id"
    assert engine.store_info(id="my-id").name == "b2"
    with pytest.raises(dse.ValidationError, match="never changes"):
        engine.update_store("b2", id="other")


def test_create_store_refuses_bad_fields(engine: dse.Engine) -> None:
    bad: list[dict[str, Any]] = [
        {"max_size_mb": 0},
        {"max_size_mb": 1.5},
        {"max_size_mb": True},
        {"read_access": "u:ann"},
        {"admin_access": [""]},
        {"description": 3},
        {"owner": ""},
        {"id": ""},
        {"domain": "galaxy"},
        {"structure": 7},
    ]
    for kwargs in bad:
        with pytest.raises(dse.ValidationError):
            engine.create_store("s", **kwargs)
    with pytest.raises(dse.LimitExceeded):
        engine.create_store("x" * 129)
    with pytest.raises(dse.NotFound, match="structure"):
        engine.create_store("s", structure="no-such-structure")
    assert engine.stores().total == 0


def test_size_is_the_exact_encoded_bytes_of_keys_and_values(engine: dse.Engine) -> None:
    store = engine.store("sized")
    assert store.info.size == 0
    model: dict[str, Any] = {}
    store.put("a", {"x": 1})
    store.put("bb", {"y": "text" * 10})
    store.merge("a", {"z": [1, 2, 3]})
    store.add({"k": None}, rid="ccc")
    store.delete("bb")
    store.set_path("ccc", "k", {"deep": True})
    model = {rid: doc for rid, doc in store.items()}
    expected = sum(len(rid.encode()) + len(codec.encode(doc)) for rid, doc in model.items())
    info = store.info
    assert (info.size, info.count) == (expected, 2)
    with engine.transaction():
        store.put("dd", {"n": 1})
        assert store.info.size == expected + 2 + len(codec.encode({"n": 1}))


def _populate(engine: dse.Engine) -> None:
    rows: list[dict[str, Any]] = [
        {"name": "delta", "description": "d", "owner": "u:b", "max_size_mb": 3, "docs": 3},
        {"name": "alpha", "description": "z", "owner": None, "max_size_mb": None, "docs": 1},
        {"name": "charlie", "description": "a", "owner": "u:a", "max_size_mb": 1, "docs": 0},
        {"name": "bravo", "description": "m", "owner": "u:c", "max_size_mb": 2, "docs": 2},
    ]
    st = engine.create_structure("loose", [{"name": "i", "type": "number"}])
    for i, row in enumerate(rows):
        domain = ("local", "organization", "system", "local")[i]
        engine.create_store(
            row["name"], domain=domain, description=row["description"], owner=row["owner"],
            max_size_mb=row["max_size_mb"], structure=st.id if i % 2 else None,
        )  # fmt: skip
        store = engine.store(row["name"], domain=domain)
        for j in range(row["docs"]):
            store.put(f"r{j}", {"i": j, "pad": "p" * (10 * i)})


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("field", SORT_FIELDS)
def test_listing_sorts_by_each_field_both_ways(
    engine: dse.Engine, field: str, direction: str
) -> None:
    _populate(engine)
    every = engine.stores().items
    present = sorted((i for i in every if getattr(i, field) is not None), key=lambda i: i.name)
    present.sort(key=lambda i: getattr(i, field), reverse=direction == "desc")
    missing = [i for i in sorted(every, key=lambda i: i.name) if getattr(i, field) is None]
    page = engine.stores(sort_by=field, sort_dir=direction)
    assert [i.name for i in page.items] == [i.name for i in present + missing]
    assert page.total == 4
    values = [getattr(i, field) for i in page.items if getattr(i, field) is not None]
    assert values == sorted(values, reverse=direction == "desc")


def test_listing_refuses_bad_page_arguments(engine: dse.Engine) -> None:
    for kwargs in (
        {"sort_by": "nope"},
        {"sort_dir": "up"},
        {"start": -1},
        {"count": -1},
        {"domain": "x"},
    ):
        with pytest.raises(dse.ValidationError):
            engine.stores(**kwargs)
    with pytest.raises(dse.LimitExceeded, match="500") as too_many:
        engine.stores(count=501)
    assert too_many.value.limit == "max_page_count"
    assert engine.stores(count=500).count == 0
    with pytest.raises(dse.InvalidFilter):
        engine.stores(filter="name eq")
    with pytest.raises(dse.InvalidFilter):
        engine.stores(data_filter="(")


def test_pagination_over_1234_stores(engine: dse.Engine) -> None:
    names = [f"s{i:04d}" for i in range(1234)]
    with engine.transaction():
        for name in reversed(names):
            engine.create_store(name)
    seen: list[str] = []
    start = 0
    while True:
        page = engine.stores(start=start, count=500)
        assert page.total == 1234 and page.start == start and page.count == len(page.items)
        if not page.items:
            break
        seen.extend(i.name for i in page.items)
        start += page.count
    assert seen == names
    assert [len(engine.stores(start=s, count=500)) for s in (0, 500, 1000, 1234, 5000)] == [
        500,
        500,
        234,
        0,
        0,
    ]
    tail = engine.stores(sort_dir="desc", start=1230, count=10)
    assert [i.name for i in tail] == ["s0003", "s0002", "s0001", "s0000"]


def test_filter_over_store_info_fields(engine: dse.Engine) -> None:
    _populate(engine)

    def names(**kwargs: Any) -> list[str]:
        return [i.name for i in engine.stores(**kwargs)]

    assert names(filter='owner eq "u:b"') == ["delta"]
    assert names(filter="size gt 0 and count ge 2") == ["bravo", "delta"]
    assert names(filter="max_size_mb le 2") == ["bravo", "charlie"]
    assert names(filter='domain eq "system" or description co "z"') == ["alpha", "charlie"]
    assert names(filter="not (owner pr)") == ["alpha"]
    assert names(filter='created ge "2000-01-01T00:00:00Z"') == [
        "alpha",
        "bravo",
        "charlie",
        "delta",
    ]
    assert names(filter='location sw "datastore://local/"') == ["bravo", "delta"]
    engine.update_store("delta", read_access=["g:staff"])
    assert names(filter='read_access eq "g:staff"') == ["delta"]
    assert names(filter='name eq "delta"', domain="system") == []


def test_data_filter_keeps_stores_with_a_matching_document(engine: dse.Engine) -> None:
    _populate(engine)
    assert [i.name for i in engine.stores(data_filter="i eq 2")] == ["delta"]
    assert [i.name for i in engine.stores(data_filter="i ge 1")] == ["bravo", "delta"]
    assert engine.stores(data_filter="i pr", filter='name ne "delta"').total == 2
    # Password-protected documents are never looked at.
    engine.store("charlie", domain="system").put("secret", {"i": 99}, password="pw")
    assert engine.stores(data_filter="i eq 99").total == 0


def test_listing_a_domain_and_all_domains(tmp_path: Any) -> None:
    path = tmp_path / "shared"
    with dse.open(path, app="one", org="acme") as one, dse.open(path, app="two", org="acme") as two:
        one.create_store("mine")
        one.create_store("ours", domain="organization")
        one.create_store("everyone", domain="system")
        two.create_store("theirs")
        assert [i.name for i in one.stores()] == ["everyone", "mine", "ours"]
        assert [i.name for i in two.stores()] == ["everyone", "ours", "theirs"]
        assert [i.name for i in one.stores("local")] == ["mine"]
        assert [i.name for i in two.stores("system")] == ["everyone"]
        with dse.open(path, app="one", org="other") as three:
            assert [i.name for i in three.stores()] == ["everyone", "mine"]


def test_update_store_changes_only_the_fields_given(engine: dse.Engine) -> None:
    before = engine.create_store(
        "s", description="old", owner="u:a", read_access=["u:r"], max_size_mb=4
    )
    after = engine.update_store("s", description="new")
    assert after.description == "new"
    same = ("id", "name", "owner", "read_access", "max_size_mb", "created", "location")
    assert all(getattr(after, f) == getattr(before, f) for f in same)
    assert after.last_modified >= before.last_modified
    after = engine.update_store("s", owner=None, max_size_mb=None, admin_access=["u:x"])
    assert (after.owner, after.max_size_mb, after.admin_access, after.description) == (
        None,
        None,
        ("u:x",),
        "new",
    )
    with pytest.raises(dse.ValidationError, match="unknown store fields"):
        engine.update_store("s", colour="red")
    with pytest.raises(dse.NotFound):
        engine.update_store("missing", description="x")


def test_rename_moves_the_store_with_its_documents(engine: dse.Engine) -> None:
    engine.store("old").put("k", {"v": 1})
    engine.create_store("taken")
    with pytest.raises(dse.Conflict, match="'taken'"):
        engine.update_store("old", name="taken")
    info = engine.update_store("old", name="new")
    assert info.name == "new" and info.count == 1
    assert engine.store("new").get("k") == {"v": 1}
    with pytest.raises(dse.NotFound):
        engine.store_info("old")
    assert [i.name for i in engine.stores()] == ["new", "taken"]


def test_catalog_changes_reach_other_engines_at_once(tmp_path: Any) -> None:
    path = tmp_path / "db"
    with dse.open(path, app="a") as first, dse.open(path, app="a") as second:
        store = first.store("s")
        store.put("x", {"v": "x" * 100})
        second.update_store("s", max_size_mb=1)
        assert store.info.max_size_mb == 1
        with pytest.raises(dse.LimitExceeded):
            store.put("big", {"v": "x" * (1 << 20)})


def _keys_of(snapshot: dict[str, list[tuple[bytes, bytes]]], prefix: bytes) -> dict[str, int]:
    found = {}
    for db, items in snapshot.items():
        n = sum(1 for k, _v in items if k.startswith(prefix))
        if n:
            found[db] = n
    return found


def test_drop_refuses_a_non_empty_store_unless_confirmed(engine: dse.Engine, snapshot: Any) -> None:
    store = engine.store("full")
    store.put("a", {"n": 1})
    store.put("b", {"n": 2})
    before = snapshot(engine)
    with pytest.raises(dse.Conflict, match="holds 2 documents"):
        engine.drop_store("full")
    assert snapshot(engine) == before
    empty = engine.create_store("empty")
    assert engine.drop_store("empty") == empty.id
    assert engine.drop_store("full", confirmed=True)
    assert engine.stores().total == 0


def test_drop_removes_everything_of_the_store_in_one_go(engine: dse.Engine, snapshot: Any) -> None:
    from datastore_engine.keys import sid_bytes

    keep = engine.store("keep")
    keep.put("k", {"n": 0})
    store = engine.store("doomed")
    sid = store._state.sid
    store.put("a", {"n": 1})
    store.put("gone", {"n": 2})
    store.delete("gone")  # a tombstone
    store.put("secret", {"n": 3}, password="pw")
    store.put_many({f"bulk{i}": {"n": i} for i in range(20)})  # feed entries in the feed tree, not only its tail
    if hasattr(store, "create_index"):
        store.create_index("n")
    prefix = sid_bytes(sid)
    assert set(_keys_of(snapshot(engine), prefix)) >= {"docs", "changes", "passwords", "counters"}
    store_id = store.info.id
    assert engine.drop_store("doomed", confirmed=True) == store_id
    after = snapshot(engine)
    assert _keys_of(after, prefix) == {}
    assert not any(k.endswith(b"doomed") for k, _v in after["catalog"])
    assert not any(k.endswith(store_id.encode()) for k, _v in after["meta"])
    assert keep.get("k") == {"n": 0} and len(keep) == 1
    with pytest.raises(dse.NotFound):
        store.put("late", {"n": 4})
    # The name is free again: a new, empty store.
    assert len(engine.store("doomed")) == 0
    assert engine.store("doomed").info.id != store_id


def test_drop_stores_is_all_or_nothing(engine: dse.Engine) -> None:
    for name in ("a", "b", "c"):
        engine.create_store(name)
    engine.store("b").put("x", {})
    with pytest.raises(dse.Conflict, match="'b' holds 1 document;"):
        engine.drop_stores(["a", "b"])
    with pytest.raises(dse.NotFound, match="'zz'"):
        engine.drop_stores(["a", "zz"], confirmed=True)
    assert [i.name for i in engine.stores()] == ["a", "b", "c"]
    ids = engine.drop_stores(["a", "b", "a"], confirmed=True)
    assert len(ids) == 2
    assert [i.name for i in engine.stores()] == ["c"]
    with pytest.raises(dse.ValidationError):
        engine.drop_stores("c")


def test_drop_inside_a_transaction_after_writes_leaves_no_counters(
    engine: dse.Engine, snapshot: Any
) -> None:
    from datastore_engine.keys import sid_bytes

    store = engine.store("t")
    prefix = sid_bytes(store._state.sid)
    with engine.transaction():
        store.put("a", {"n": 1})
        engine.drop_store("t", confirmed=True)
    assert _keys_of(snapshot(engine), prefix) == {}
    with pytest.raises(dse.NotFound), engine.transaction():
        store.put("b", {"n": 1})


def test_a_rolled_back_drop_leaves_the_store_whole(engine: dse.Engine, snapshot: Any) -> None:
    store = engine.store("t")
    store.put("a", {"n": 1})
    before = snapshot(engine)
    with pytest.raises(RuntimeError), engine.transaction():
        engine.drop_store("t", confirmed=True)
        raise RuntimeError("roll back")
    assert snapshot(engine) == before
    assert engine.store("t").get("a") == {"n": 1}


def test_drop_in_a_savepoint_after_outer_writes_commits_cleanly(
    engine: dse.Engine, snapshot: Any
) -> None:
    from datastore_engine.check import check
    from datastore_engine.keys import sid_bytes

    store, other = engine.store("t"), engine.store("o")
    prefix = sid_bytes(store._state.sid)
    with engine.transaction():
        store.put("a", {"n": 1})
        other.put("b", {"n": 2})
        with engine.transaction():
            engine.drop_store("t", confirmed=True)
    assert _keys_of(snapshot(engine), prefix) == {}
    assert check(engine) == []
    assert other.info.count == 1


def test_a_savepoint_drop_rolled_back_keeps_the_outer_writes_and_counts(engine: dse.Engine) -> None:
    from datastore_engine.check import check

    store = engine.store("t")
    store.put("z", {"n": 0})
    with engine.transaction():
        store.put("a", {"n": 1})
        with pytest.raises(RuntimeError), engine.transaction():
            engine.drop_store("t", confirmed=True)
            raise RuntimeError("roll back the savepoint only")
        store.put("b", {"n": 2})
    assert (store.keys(), store.info.count) == (["a", "b", "z"], 3)
    assert check(engine) == []


def test_concurrent_writes_and_drops_leave_a_consistent_file(engine: dse.Engine) -> None:
    from datastore_engine.check import check

    names = [f"s{i}" for i in range(6)]
    for name in names:
        engine.store(name).put("seed", {"n": 0})
    stores = [engine.store(name) for name in names]  # taken before: a late store() would re-create

    def writer(t: int) -> None:
        for i in range(40):
            try:
                stores[t].put(f"k{i}", {"n": i})
            except dse.NotFound:
                return  # dropped under us

    with threads_running(writer, len(stores)):
        engine.drop_stores(names[:3], confirmed=True)
    assert check(engine) == []
    assert [i.name for i in engine.stores()] == names[3:]
