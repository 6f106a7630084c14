"""compat.make: Make's data stores (seed 002), data structures and records endpoints."""

from __future__ import annotations

from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.compat.make import MakeAPI

MB = 1024 * 1024


@pytest.fixture
def make(engine: dse.Engine) -> MakeAPI:
    return MakeAPI(engine)


def new_store(make: MakeAPI, name: str = "Customers", *, team_id: int = 1,
              datastructure_id: int | None = None, max_size_mb: int = 1) -> int:  # fmt: skip
    body = make.data_stores.create(name, team_id, datastructure_id, max_size_mb)
    return int(body["dataStore"]["id"])


# -- data stores (the seed's endpoints) ----------------------------------------------------------


def test_create_returns_every_detail_in_makes_shape(make: MakeAPI) -> None:
    body = make.data_stores.create(
        name="Customers", team_id=1, datastructure_id=None, max_size_mb=2
    )
    assert body == {
        "dataStore": {
            "id": 1, "name": "Customers", "records": 0, "size": "0", "maxSize": str(2 * MB),
            "teamId": 1, "datastructureId": None,
        }
    }  # fmt: skip


def test_ids_are_integers_counting_up_and_never_reused(make: MakeAPI) -> None:
    first, second = new_store(make), new_store(make)
    make.data_stores.delete([second], team_id=1)
    assert (first, second, new_store(make)) == (1, 2, 3)


def test_names_need_not_be_unique_and_may_be_128_characters(make: MakeAPI) -> None:
    a = new_store(make, "Same")
    b = new_store(make, "Same")
    assert a != b
    assert make.data_stores.get(new_store(make, "n" * 128))["dataStore"]["name"] == "n" * 128


@pytest.mark.parametrize("name", ["", "n" * 129, None, 5])
def test_a_bad_name_is_refused_and_nothing_is_created(make: MakeAPI, name: Any) -> None:
    with pytest.raises(dse.ValidationError):
        make.data_stores.create(name, 1, None, 1)
    assert make.data_stores.list(1)["dataStores"] == []


def test_create_with_a_missing_structure_is_not_found_and_creates_nothing(make: MakeAPI) -> None:
    with pytest.raises(dse.NotFound):
        make.data_stores.create("x", 1, 99, 1)
    assert make.data_stores.list(1)["dataStores"] == []


def test_list_is_the_teams_stores_sorted_by_name_ascending(make: MakeAPI) -> None:
    for name, team in (("b", 1), ("c", 2), ("a", 1), ("d", 1)):
        new_store(make, name, team_id=team)
    body = make.data_stores.list(team_id=1)
    assert [s["name"] for s in body["dataStores"]] == ["a", "b", "d"]
    assert {s["teamId"] for s in body["dataStores"]} == {1}
    assert body["pg"] == {"sortBy": "name", "sortDir": "asc", "offset": 0, "limit": 10_000}


def test_list_pages_and_sorts(make: MakeAPI) -> None:
    ids = {name: new_store(make, name) for name in ("b", "a", "c", "e", "d")}
    make.records.create(ids["c"], key="k1", data={"n": 1})
    make.records.create(ids["c"], key="k2", data={"n": 2})
    make.records.create(ids["e"], key="k1", data={"n": 1})
    body = make.data_stores.list(1, sort_by="name", sort_dir="desc", offset=1, limit=2)
    assert [s["name"] for s in body["dataStores"]] == ["d", "c"]
    assert body["pg"] == {"sortBy": "name", "sortDir": "desc", "offset": 1, "limit": 2}
    by_records = make.data_stores.list(1, sort_by="records", sort_dir="desc", limit=2)
    assert [s["name"] for s in by_records["dataStores"]] == ["c", "e"]
    by_id = make.data_stores.list(1, sort_by="id")
    assert [s["id"] for s in by_id["dataStores"]] == sorted(ids.values())


def test_list_with_more_than_one_core_page(make: MakeAPI, engine: dse.Engine) -> None:
    with engine.transaction():
        for i in range(510):
            new_store(make, f"s{i:04d}")
    body = make.data_stores.list(1, offset=5, limit=600)
    assert len(body["dataStores"]) == 505
    assert body["dataStores"][0]["name"] == "s0005"


@pytest.mark.parametrize(
    "kwargs",
    [{"sort_by": "color"}, {"sort_dir": "up"}, {"offset": -1}, {"limit": 10_001}],
    ids=["sort_by", "sort_dir", "offset", "limit"],
)
def test_bad_list_arguments_are_refused(make: MakeAPI, kwargs: dict[str, Any]) -> None:
    with pytest.raises(dse.ValidationError):
        make.data_stores.list(1, **kwargs)


def test_get_missing_is_not_found(make: MakeAPI) -> None:
    with pytest.raises(dse.NotFound, match="137"):
        make.data_stores.get(137)


def test_get_counts_records_and_bytes(make: MakeAPI) -> None:
    sid = new_store(make)
    make.records.create(sid, key="a", data={"name": "Ada"})
    store = make.data_stores.get(sid)["dataStore"]
    assert store["records"] == 1
    assert int(store["size"]) > 0


def test_update_is_a_patch_and_returns_every_field(make: MakeAPI) -> None:
    structure = make.data_structures.create("S", 1, [{"name": "n", "type": "number"}])
    sid = new_store(make, "Old", max_size_mb=3)
    body = make.data_stores.update(sid, name="New")
    assert body["dataStore"] == {**make.data_stores.get(sid)["dataStore"], "name": "New"}
    assert body["dataStore"]["maxSize"] == str(3 * MB)
    body = make.data_stores.update(
        sid, datastructure_id=structure["dataStructure"]["id"], max_size_mb=5
    )
    assert body["dataStore"]["name"] == "New"
    assert body["dataStore"]["datastructureId"] == structure["dataStructure"]["id"]
    assert body["dataStore"]["maxSize"] == str(5 * MB)
    assert (
        make.data_stores.update(sid, datastructure_id=None)["dataStore"]["datastructureId"] is None
    )


def test_update_refuses_unknown_fields_and_missing_stores(make: MakeAPI) -> None:
    sid = new_store(make)
    with pytest.raises(dse.ValidationError, match="teamId"):
        make.data_stores.update(sid, teamId=2)
    with pytest.raises(dse.NotFound):
        make.data_stores.update(999, name="x")


def test_delete_many_returns_their_ids(make: MakeAPI) -> None:
    a, b, c = new_store(make), new_store(make), new_store(make)
    assert make.data_stores.delete([a, c], team_id=1) == {"dataStores": [a, c]}
    assert [s["id"] for s in make.data_stores.list(1)["dataStores"]] == [b]


def test_delete_of_stores_with_records_needs_confirmed_and_deletes_nothing_otherwise(
    make: MakeAPI,
) -> None:
    empty, full = new_store(make), new_store(make)
    make.records.create(full, key="k", data={"n": 1})
    with pytest.raises(dse.Conflict, match="confirmed"):
        make.data_stores.delete([empty, full], team_id=1)
    with pytest.raises(dse.Conflict):
        make.data_stores.delete([full], team_id=1, confirmed=False)
    assert len(make.data_stores.list(1)["dataStores"]) == 2
    assert make.data_stores.delete([empty, full], team_id=1, confirmed=True) == {
        "dataStores": [empty, full]
    }
    assert make.data_stores.list(1)["dataStores"] == []


def test_delete_of_another_teams_or_a_missing_store_is_not_found(make: MakeAPI) -> None:
    mine, theirs = new_store(make, team_id=1), new_store(make, team_id=2)
    with pytest.raises(dse.NotFound):
        make.data_stores.delete([mine, theirs], team_id=1)
    with pytest.raises(dse.NotFound):
        make.data_stores.delete([mine, 999], team_id=1)
    assert len(make.data_stores.list(1)["dataStores"]) == 1


def test_core_stores_that_are_not_make_stores_are_invisible(
    make: MakeAPI, engine: dse.Engine
) -> None:
    engine.create_store("plain", domain="organization", id="5", owner="team:1")
    assert make.data_stores.list(1)["dataStores"] == []
    with pytest.raises(dse.NotFound):
        make.data_stores.get(5)


# -- data structures ---------------------------------------------------------------------------------

SPEC: list[dict[str, Any]] = [
    {"name": "name", "type": "text", "label": "Name", "required": True},
    {"name": "age", "type": "number"},
    {"name": "vip", "type": "boolean", "default": False},
    {"name": "born", "type": "date"},
    {"name": "tags", "type": "array", "spec": {"type": "text"}},
    {"name": "address", "type": "collection", "spec": [{"name": "city", "type": "text"}]},
]


def test_structure_lifecycle(make: MakeAPI) -> None:
    created = make.data_structures.create("People", 1, SPEC, strict=True)["dataStructure"]
    assert (created["name"], created["teamId"], created["strict"]) == ("People", 1, True)
    assert [f["name"] for f in created["spec"]] == ["name", "age", "vip", "born", "tags", "address"]
    assert isinstance(created["id"], int)
    assert make.data_structures.get(created["id"]) == {"dataStructure": created}
    make.data_structures.create("Other team", 2, [])
    assert [s["name"] for s in make.data_structures.list(1)["dataStructures"]] == ["People"]
    updated = make.data_structures.update(created["id"], name="Persons", strict=False)[
        "dataStructure"
    ]
    assert (updated["name"], updated["strict"], updated["spec"]) == (
        "Persons",
        False,
        created["spec"],
    )
    assert make.data_structures.delete(created["id"]) == {"dataStructure": created["id"]}
    with pytest.raises(dse.NotFound):
        make.data_structures.get(created["id"])


def test_a_structure_in_use_cannot_be_deleted(make: MakeAPI) -> None:
    sid = make.data_structures.create("S", 1, SPEC)["dataStructure"]["id"]
    new_store(make, datastructure_id=sid)
    with pytest.raises(dse.Conflict):
        make.data_structures.delete(sid)
    assert make.data_structures.get(sid)["dataStructure"]["teamId"] == 1


def test_a_bad_spec_is_refused(make: MakeAPI) -> None:
    with pytest.raises(dse.ValidationError):
        make.data_structures.create("S", 1, [{"name": "x", "type": "color"}])
    assert make.data_structures.list(1)["dataStructures"] == []


# -- records ------------------------------------------------------------------------------------------


@pytest.fixture
def people(make: MakeAPI) -> int:
    sid = make.data_structures.create("People", 1, SPEC, strict=True)["dataStructure"]["id"]
    return new_store(make, "People", datastructure_id=sid)


def test_records_create_list_replace_update_delete(make: MakeAPI, people: int) -> None:
    made = make.records.create(people, key="ada", data={"name": "Ada", "age": 36})
    assert made == {"key": "ada", "data": {"name": "Ada", "age": 36, "vip": False}}
    auto = make.records.create(people, data={"name": "Bob"})
    assert len(auto["key"]) == 26
    body = make.records.list(people)
    assert body["count"] == 2
    assert body["strict"] is True
    assert [f["name"] for f in body["spec"]] == [f["name"] for f in SPEC]
    assert {"key": "ada", "data": {"name": "Ada", "age": 36, "vip": False}} in body["records"]
    assert body["pg"] == {"limit": 10_000, "offset": 0}
    replaced = make.records.replace(people, "ada", {"name": "Ada L."})
    assert replaced == {"key": "ada", "data": {"name": "Ada L.", "vip": False}}
    patched = make.records.update(people, "ada", {"address": {"city": "London"}})
    assert patched["data"] == {"name": "Ada L.", "vip": False, "address": {"city": "London"}}
    assert make.records.delete(people, keys=["ada"]) == {"keys": ["ada"]}
    assert make.records.list(people)["count"] == 1


def test_records_list_pages(make: MakeAPI) -> None:
    sid = new_store(make)
    for i in range(5):
        make.records.create(sid, key=f"k{i}", data={"i": i})
    body = make.records.list(sid, limit=2, offset=1)
    assert [r["key"] for r in body["records"]] == ["k1", "k2"]
    assert (body["count"], body["spec"], body["strict"]) == (5, [], False)


def test_records_break_the_structure(make: MakeAPI, people: int) -> None:
    with pytest.raises(dse.StructureViolation):
        make.records.create(people, key="x", data={"age": 3})
    with pytest.raises(dse.StructureViolation):
        make.records.create(people, key="x", data={"name": "X", "color": "red"})
    assert make.records.list(people)["count"] == 0


def test_create_of_an_existing_key_is_a_duplicate(make: MakeAPI) -> None:
    sid = new_store(make)
    make.records.create(sid, key="k", data={"n": 1})
    with pytest.raises(dse.DuplicateKey):
        make.records.create(sid, key="k", data={"n": 2})
    assert make.records.list(sid)["records"] == [{"key": "k", "data": {"n": 1}}]


def test_patch_of_a_missing_record_is_not_found_and_creates_nothing(make: MakeAPI) -> None:
    sid = new_store(make)
    with pytest.raises(dse.NotFound):
        make.records.update(sid, "nope", {"n": 1})
    assert make.records.list(sid)["count"] == 0


def test_records_of_a_missing_store_are_not_found(make: MakeAPI) -> None:
    with pytest.raises(dse.NotFound):
        make.records.list(42)
    with pytest.raises(dse.NotFound):
        make.records.create(42, data={"n": 1})


def test_delete_all_needs_confirmed_and_keeps_except_keys(make: MakeAPI) -> None:
    sid = new_store(make)
    for key in ("a", "b", "c"):
        make.records.create(sid, key=key, data={})
    with pytest.raises(dse.Conflict, match="confirmed"):
        make.records.delete(sid, all=True)
    assert make.records.list(sid)["count"] == 3
    assert make.records.delete(sid, all=True, except_keys=["b"], confirmed=True) == {
        "keys": ["a", "c"]
    }
    assert [r["key"] for r in make.records.list(sid)["records"]] == ["b"]


def test_delete_of_a_missing_key_deletes_nothing(make: MakeAPI) -> None:
    sid = new_store(make)
    make.records.create(sid, key="a", data={})
    with pytest.raises(dse.NotFound):
        make.records.delete(sid, keys=["a", "missing"])
    assert make.records.list(sid)["count"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"keys": ["a"], "all": True}, {"keys": ["a"], "except_keys": ["b"]}],
    ids=["neither", "both", "except-without-all"],
)
def test_bad_record_delete_arguments(make: MakeAPI, kwargs: dict[str, Any]) -> None:
    sid = new_store(make)
    with pytest.raises(dse.ValidationError):
        make.records.delete(sid, confirmed=True, **kwargs)


def test_a_write_over_max_size_mb_is_refused_with_nothing_written(make: MakeAPI) -> None:
    sid = new_store(make, max_size_mb=1)
    make.records.create(sid, key="half", data={"blob": "x" * (MB // 2)})
    before = make.data_stores.get(sid)["dataStore"]
    with pytest.raises(dse.LimitExceeded, match="max_size_mb"):
        make.records.create(sid, key="more", data={"blob": "x" * (MB // 2)})
    with pytest.raises(dse.LimitExceeded):
        make.records.replace(sid, "half", {"blob": "x" * MB})
    assert make.data_stores.get(sid)["dataStore"] == before
    assert [r["key"] for r in make.records.list(sid)["records"]] == ["half"]
    make.data_stores.update(sid, max_size_mb=2)
    make.records.create(sid, key="more", data={"blob": "x" * (MB // 2)})
    assert make.data_stores.get(sid)["dataStore"]["records"] == 2
