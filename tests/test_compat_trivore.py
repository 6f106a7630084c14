"""compat.trivore: Trivore ID Data Storage (seed 004): endpoints, statuses, access lists, filters, 16 MB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.compat.trivore import DataStorageAPI

CLIENT = "client-1"
true = True  # the seed's replace-data example is written with JSON's ``true``


@pytest.fixture
def api(engine: dse.Engine) -> DataStorageAPI:
    return DataStorageAPI(engine, caller=CLIENT, permissions=["DATA_STORAGE_CREATE"])


def make_storage(api: DataStorageAPI, ds_id: str = "exampleID", **extra: Any) -> dict[str, Any]:
    body = {
        "id": ds_id,
        "name": extra.pop("name", ds_id + "Name"),
        "adminAccess": [CLIENT],
        **extra,
    }
    created: dict[str, Any]
    status, created = api.create(body)
    assert status == 201, created
    return created


# -- the seed's examples, as written (requests.<verb>(url, json=...) -> api.<endpoint>(...)) --------


def test_seed_add_new_data_storage(api: DataStorageAPI) -> None:
    data_storage = {
        "id": "exampleID",
        "name": "exampleName",
        "description": "onePortal example data storage",
    }

    status, body = api.create(data_storage)
    assert status == 201
    assert body["id"] == "exampleID"
    assert body["name"] == "exampleName"
    assert body["description"] == "onePortal example data storage"
    assert body["ownerId"] == CLIENT
    assert (body["size"], body["adminAccess"], body["readAccess"], body["writeAccess"]) == (
        0,
        [],
        [],
        [],
    )
    assert set(body["meta"]) == {"created", "lastModified", "location"}
    assert body["meta"]["location"] == "/api/rest/v1/datastorage/exampleID"
    assert body["meta"]["created"].endswith("Z")


def test_seed_update_datastorage_configurations(api: DataStorageAPI) -> None:
    make_storage(api, "exampleID", name="oldName")
    data_storage = {
        "id": "exampleID",
        "name": "exampleName",
        "description": "onePortal example data storage",
    }

    status, body = api.update(data_storage["id"], data_storage)
    assert status == 200
    assert (body["name"], body["description"], body["adminAccess"]) == (
        "exampleName", "onePortal example data storage", [CLIENT],
    )  # fmt: skip


def test_seed_replace_datastorage_data(api: DataStorageAPI) -> None:
    make_storage(api, "exampleId")
    api.put_value("exampleId", "stale", {"value": 1})
    exampleData = {
        "exampleStringKey": "some value",
        "exampleNumberKey": 0,
        "exampleBooleanKey": true,
        "exampleStringKey2": "second value",
    }

    # replaces the data in the data storage with the ID 'example id' with the exampleData content
    assert api.replace_data("exampleId", exampleData) == (204, None)
    assert api.get_data("exampleId") == (200, exampleData)


def test_seed_replace_single_data_key_value(api: DataStorageAPI) -> None:
    make_storage(api, "exampleId")
    exampleData = {
        "value": "value to replace with",
    }

    assert api.put_value("exampleId", "exampleKey", exampleData) == (204, None)
    assert api.get_value("exampleId", "exampleKey") == (200, {"value": "value to replace with"})


def test_seed_get_all_data_response_body(api: DataStorageAPI) -> None:
    make_storage(api)
    example = {"exampleStringKey": "string", "exampleNumberKey": 0, "exampleBooleanKey": True}
    api.replace_data("exampleID", example)
    assert api.get_data("exampleID") == (200, example)


def test_seed_get_value_response_body(api: DataStorageAPI) -> None:
    make_storage(api)
    api.put_value("exampleID", "k", {"value": "example value"})
    assert api.get_value("exampleID", "k") == (200, {"value": "example value"})


def test_seed_dsfilter_owner_eq_unquoted(api: DataStorageAPI, engine: dse.Engine) -> None:
    make_storage(api, "mine")
    make_storage(api, "theirs", ownerId="someoneElse")
    make_storage(api, "exampleOwned", ownerId="exampleID")
    status, body = api.list(dsfilter="ownerId eq exampleID")
    assert status == 200
    assert [s["id"] for s in body["resources"]] == ["exampleOwned"]
    assert [s["id"] for s in api.list(dsfilter=f"ownerId eq {CLIENT}")[1]["resources"]] == ["mine"]


def test_seed_datafilter_examples(api: DataStorageAPI) -> None:
    make_storage(api, "a")
    make_storage(api, "b")
    make_storage(api, "c")
    api.replace_data(
        "a", {"objectKey": {"subKey": "exampleValue"}, "created": "2018-01-01T00:00:00Z"}
    )
    api.replace_data("b", {"objectKey": {"subKey": "other"}, "created": "2016-01-01T00:00:00Z"})
    ids: Callable[[tuple[int, Any]], list[str]] = lambda result: [  # noqa: E731
        s["id"] for s in result[1]["resources"]
    ]
    assert ids(api.list(datafilter="objectKey.subKey eq exampleValue")) == ["a"]
    assert ids(api.list(datafilter="created ge 2017-10-20T07:17:17.606Z")) == ["a"]
    assert ids(api.list(datafilter="objectKey pr")) == ["a", "b"]


@pytest.mark.parametrize(
    ("dsfilter", "expected"),
    [
        ('name eq "exampleName"', ["one"]),
        ('name ne "exampleName"', ["two"]),
        ('description co "katu"', ["two"]),
        ('name sw "ex"', ["one"]),
        ("id pr", ["one", "two"]),
        ('createDate ge "2016-10-20T07:17:17.606Z"', ["one", "two"]),
        ('meta.lastModified ge "2016-10-20T07:17:17.606Z"', ["one", "two"]),
        ('adminAccess eq "client-1" and readAccess eq "g:staff"', ["two"]),
        ("size gt 0", ["one"]),
    ],
    ids=["eq", "ne", "co", "sw", "pr", "createDate", "meta.lastModified", "access-lists", "size"],
)
def test_seed_filter_examples_on_storage_attributes(
    api: DataStorageAPI, dsfilter: str, expected: list[str]
) -> None:
    make_storage(api, "one", name="exampleName")
    make_storage(
        api, "two", name="otherName", description="Mannerheimintie katu", readAccess=["g:staff"]
    )
    api.put_value("one", "k", {"value": "v"})
    status, body = api.list(dsfilter=dsfilter)
    assert status == 200
    assert [s["id"] for s in body["resources"]] == expected


# -- list --------------------------------------------------------------------------------------------


def test_list_pages_with_start_index_and_count(api: DataStorageAPI) -> None:
    for i in range(5):
        make_storage(api, f"s{i}")
    status, body = api.list(startIndex=1, count=2)
    assert status == 200
    assert body["totalResults"] == 5
    assert (body["startIndex"], body["itemsPerPage"]) == (1, 2)
    assert [s["id"] for s in body["resources"]] == ["s1", "s2"]
    assert api.list(count=500)[0] == 200


@pytest.mark.parametrize(
    "kwargs",
    [{"count": 501}, {"count": -1}, {"startIndex": -1}, {"dsfilter": "name eq"},
     {"datafilter": 'a eq "unterminated'}, {"dsfilter": "name zz 1"}],
    ids=["count-501", "count-negative", "start-negative", "dsfilter", "datafilter", "operator"],
)  # fmt: skip
def test_list_refuses_bad_paging_and_filters_with_400(
    api: DataStorageAPI, kwargs: dict[str, Any]
) -> None:
    status, body = api.list(**kwargs)
    assert status == 400
    assert body["status"] == 400 and body["message"]


def test_list_shows_only_accessible_storages(engine: dse.Engine, api: DataStorageAPI) -> None:
    make_storage(api, "admin-only")
    make_storage(api, "readable", readAccess=["u:reader"])
    make_storage(api, "group", readAccess=["g:team"])
    reader = DataStorageAPI(engine, caller="u:reader", groups=["g:team"])
    stranger = DataStorageAPI(engine, caller="u:stranger")
    assert [s["id"] for s in reader.list()[1]["resources"]] == ["group", "readable"]
    assert stranger.list() == (
        200,
        {"totalResults": 0, "startIndex": 0, "itemsPerPage": 0, "resources": []},
    )


# -- create / get / update / delete ------------------------------------------------------------------


def test_create_conflicts_on_id_or_name(api: DataStorageAPI) -> None:
    make_storage(api, "x", name="X")
    assert api.create({"id": "x", "name": "Y"})[0] == 409
    assert api.create({"id": "y", "name": "X"})[0] == 409
    assert [s["id"] for s in api.list()[1]["resources"]] == ["x"]


def test_create_needs_the_data_storage_create_permission(engine: dse.Engine) -> None:
    plain = DataStorageAPI(engine, caller="u:plain", permissions=["OTHER"])
    status, body = plain.create({"id": "x", "name": "X"})
    assert status == 403
    assert "can_create_stores" in body["message"]
    with pytest.raises(dse.NotFound):
        engine.store_info(id="x", domain="organization")


def test_create_without_name_or_id(api: DataStorageAPI) -> None:
    status, body = api.create({"id": "only-id", "adminAccess": [CLIENT]})
    assert (status, body["name"]) == (201, "only-id")
    status, body = api.create({"adminAccess": [CLIENT]})
    assert status == 201 and body["id"] and body["name"]


def test_create_refuses_unknown_fields_and_ignores_read_only_ones(api: DataStorageAPI) -> None:
    assert api.create({"id": "x", "color": "red"})[0] == 400
    status, body = api.create(
        {"id": "x", "size": 99, "meta": {"created": "x"}, "adminAccess": [CLIENT]}
    )
    assert (status, body["size"]) == (201, 0)


def test_get_is_200_or_404_for_missing_and_not_accessible(
    engine: dse.Engine, api: DataStorageAPI
) -> None:
    make_storage(api, "x")
    assert api.get("x")[0] == 200
    assert api.get("missing")[0] == 404
    stranger = DataStorageAPI(engine, caller="u:stranger")
    status, body = stranger.get("x")
    assert status == 404 and body["error"] == "Not Found"


def test_update_conflicts_on_name_or_id_change(api: DataStorageAPI) -> None:
    make_storage(api, "a", name="A")
    make_storage(api, "b", name="B")
    assert api.update("a", {"name": "B"})[0] == 409
    assert api.update("a", {"id": "b"})[0] == 409
    assert api.get("a")[1]["name"] == "A"


def test_update_is_a_patch_and_needs_admin_access(engine: dse.Engine, api: DataStorageAPI) -> None:
    make_storage(api, "a", description="keep", readAccess=["u:reader"])
    status, body = api.update("a", {"writeAccess": ["u:writer"]})
    assert status == 200
    assert (body["description"], body["readAccess"], body["writeAccess"]) == (
        "keep",
        ["u:reader"],
        ["u:writer"],
    )
    reader = DataStorageAPI(engine, caller="u:reader")
    assert reader.update("a", {"description": "hijack"})[0] == 404
    assert api.update("missing", {"description": "x"})[0] == 404
    assert api.update("a", {"bogus": 1})[0] == 400


def test_delete_is_200_then_404(engine: dse.Engine, api: DataStorageAPI) -> None:
    make_storage(api, "a", readAccess=["u:reader"])
    api.put_value("a", "k", {"value": 1})
    assert DataStorageAPI(engine, caller="u:reader").delete("a")[0] == 404
    assert api.delete("a") == (200, None)
    assert api.delete("a")[0] == 404
    assert api.get("a")[0] == 404


# -- data ----------------------------------------------------------------------------------------------


def test_data_endpoints_answer_404_for_a_missing_storage(api: DataStorageAPI) -> None:
    assert api.get_data("nope")[0] == 404
    assert api.replace_data("nope", {"a": 1})[0] == 404
    assert api.get_value("nope", "k")[0] == 404
    assert api.put_value("nope", "k", {"value": 1})[0] == 404
    assert api.delete_value("nope", "k")[0] == 404


def test_single_keys(api: DataStorageAPI) -> None:
    make_storage(api)
    assert api.get_value("exampleID", "k")[0] == 404
    assert api.put_value("exampleID", "dotted.key", {"value": {"deep": [1, 2]}}) == (204, None)
    assert api.get_value("exampleID", "dotted.key") == (200, {"value": {"deep": [1, 2]}})
    assert api.put_value("exampleID", "k", {"wrong": 1})[0] == 400
    assert api.delete_value("exampleID", "dotted.key") == (204, None)
    assert api.delete_value("exampleID", "dotted.key")[0] == 404
    assert api.delete_value("exampleID", "")[0] == 400
    assert api.get_data("exampleID") == (200, {})


def test_replace_data_refuses_a_non_object(api: DataStorageAPI) -> None:
    make_storage(api)
    assert api.replace_data("exampleID", ["a"])[0] == 400  # type: ignore[arg-type]  # a list on purpose


def test_data_access_lists_are_enforced(engine: dse.Engine, api: DataStorageAPI) -> None:
    make_storage(api, "s", readAccess=["u:reader"], writeAccess=["g:writers"])
    api.put_value("s", "k", {"value": 1})
    reader = DataStorageAPI(engine, caller="u:reader")
    writer = DataStorageAPI(engine, caller="u:w", groups=["g:writers"])
    stranger = DataStorageAPI(engine, caller="u:stranger")
    assert reader.get_value("s", "k") == (200, {"value": 1})
    assert reader.put_value("s", "k", {"value": 2})[0] == 404
    assert reader.replace_data("s", {})[0] == 404
    assert writer.put_value("s", "k", {"value": 3}) == (204, None)
    assert writer.get_data("s")[0] == 404  # write access does not grant reading
    assert stranger.get_data("s")[0] == 404
    assert stranger.delete_value("s", "k")[0] == 404
    assert api.get_data("s") == (200, {"k": 3})


def test_size_counts_the_data(api: DataStorageAPI) -> None:
    make_storage(api)
    api.replace_data("exampleID", {"k": "x" * 1000})
    assert api.get("exampleID")[1]["size"] > 1000


def test_16_mb_per_storage_and_nothing_written_past_it(api: DataStorageAPI) -> None:
    make_storage(api)
    chunk = "x" * (4 * 1024 * 1024)
    assert api.replace_data("exampleID", {"a": chunk, "b": chunk, "c": chunk}) == (204, None)
    before = api.get_data("exampleID")[1]
    status, body = api.put_value("exampleID", "d", {"value": chunk + "more"})
    assert status == 413 and "max_size_mb" in body["message"]
    status, _body = api.replace_data("exampleID", {k: chunk for k in "abcde"})
    assert status == 413
    assert api.get_data("exampleID")[1] == before
