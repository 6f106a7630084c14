"""compat.tcex: the TcEx datastore (seed 000) over the engine, with Elasticsearch-shaped answers."""

from __future__ import annotations

from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.compat.tcex import TcEx, TcExDatastore

SHARDS = {"total": 1, "successful": 1, "failed": 0}


class TestSeedExamples:
    """Every code example of the seed, as written (``self.tcex`` is the app context)."""

    @pytest.fixture(autouse=True)
    def _app(self, engine: dse.Engine) -> None:
        self.tcex = TcEx(engine)
        self.engine = engine

    def test_datastore_instance(self) -> None:
        ds = self.tcex.datastore("local", "myDnsData")
        assert isinstance(ds, TcExDatastore)
        assert (ds.domain, ds.data_type) == ("local", "myDnsData")
        assert self.engine.store_info("myDnsData", domain="local").name == "myDnsData"

    def test_add_record(self) -> None:
        ds = self.tcex.datastore("local", "myNumbers")
        response = ds.add(rid="one", data={"one": 1})
        assert response == {
            "_index": "local", "_type": "myNumbers", "_id": "one", "_version": 1,
            "result": "created", "_shards": SHARDS, "_seq_no": 0, "_primary_term": 1,
        }  # fmt: skip
        assert self.engine.store("myNumbers").get("one") == {"one": 1}

    def test_delete_record(self) -> None:
        self.tcex.datastore("local", "myNumbers").add(rid="one", data={"one": 1})
        ds = self.tcex.datastore("local", "myNumbers")
        response = ds.delete(rid="one")
        assert response["result"] == "deleted"
        assert (response["_id"], response["_version"], response["_seq_no"]) == ("one", 2, 1)
        assert "one" not in self.engine.store("myNumbers")

    def test_get_record(self) -> None:
        self.tcex.datastore("local", "myNumbers").add(rid="one", data={"one": 1})
        ds = self.tcex.datastore("local", "myNumbers")
        response = ds.get(rid="one")
        assert response == {
            "_index": "local", "_type": "myNumbers", "_id": "one", "_version": 1,
            "found": True, "_source": {"one": 1},
        }  # fmt: skip

    def test_search(self) -> None:
        seed = self.tcex.datastore("local", "myNumbers")
        seed.add(rid="one", data={"one": 1})
        seed.add(rid="two", data={"two": 2})
        ds = self.tcex.datastore("local", "myNumbers")
        search: dict[str, Any] = {"query": {"match_all": {}}}
        response = ds.get(rid="_search", data=search)
        assert response["timed_out"] is False
        assert isinstance(response["took"], int)
        assert response["hits"]["total"] == {"value": 2, "relation": "eq"}
        assert response["hits"]["max_score"] == 1.0
        assert response["hits"]["hits"] == [
            {
                "_index": "local",
                "_type": "myNumbers",
                "_id": "one",
                "_score": 1.0,
                "_source": {"one": 1},
            },
            {
                "_index": "local",
                "_type": "myNumbers",
                "_id": "two",
                "_score": 1.0,
                "_source": {"two": 2},
            },
        ]

    def test_update_record(self) -> None:
        self.tcex.datastore("local", "myNumbers").add(rid="one", data={"one": 0, "old": True})
        ds = self.tcex.datastore("local", "myNumbers")
        response = ds.put(rid="one", data={"one": 1})
        assert (response["result"], response["_version"]) == ("updated", 2)
        assert ds.get(rid="one")["_source"] == {"one": 1}


@pytest.fixture
def ds(engine: dse.Engine) -> TcExDatastore:
    return TcEx(engine).datastore("local", "people")


def test_add_without_rid_gets_a_new_id_that_get_finds(ds: TcExDatastore) -> None:
    response = ds.add(data={"name": "ada"})
    assert response["result"] == "created"
    assert len(response["_id"]) == 26
    assert ds.get(response["_id"])["_source"] == {"name": "ada"}


def test_post_is_add_and_update_is_put(ds: TcExDatastore) -> None:
    assert ds.post(rid="a", data={"n": 1})["result"] == "created"
    assert ds.update(rid="a", data={"n": 2})["result"] == "updated"
    assert ds.get("a")["_source"] == {"n": 2}


def test_add_on_an_existing_rid_overwrites_and_counts_the_version_up(ds: TcExDatastore) -> None:
    versions = [ds.add(rid="a", data={"n": n})["_version"] for n in range(3)]
    assert versions == [1, 2, 3]
    assert ds.add(rid="a", data={"n": 9})["result"] == "updated"
    assert ds.get("a") == {**ds.get("a"), "_version": 4, "_source": {"n": 9}}


def test_put_creates_a_missing_record(ds: TcExDatastore) -> None:
    response = ds.put("new", {"n": 1})
    assert (response["result"], response["_version"], response["_seq_no"]) == ("created", 1, 0)


def test_put_needs_a_rid(ds: TcExDatastore) -> None:
    with pytest.raises(dse.ValidationError):
        ds.put(None, {"n": 1})  # type: ignore[arg-type]


def test_the_version_keeps_counting_across_delete_and_recreate(ds: TcExDatastore) -> None:
    ds.add(rid="a", data={})
    ds.delete("a")
    response = ds.add(rid="a", data={})
    assert (response["result"], response["_version"]) == ("created", 3)


def test_get_of_a_missing_record_says_not_found(ds: TcExDatastore) -> None:
    assert ds.get("nope") == {
        "_index": "local", "_type": "people", "_id": "nope", "_version": 0, "found": False,
    }  # fmt: skip


def test_delete_of_a_missing_record_raises_or_answers_not_found(ds: TcExDatastore) -> None:
    with pytest.raises(dse.NotFound):
        ds.delete("nope")
    assert ds.delete("nope", raise_on_error=False)["result"] == "not_found"


@pytest.mark.parametrize("domain", ["global", "Local", "", "app"])
def test_other_domains_are_refused(engine: dse.Engine, domain: str) -> None:
    with pytest.raises(dse.ValidationError, match="domain"):
        TcEx(engine).datastore(domain, "myNumbers")


def test_domains_scope_data_by_app_and_org(tmp_path: Any) -> None:
    with (
        dse.open(tmp_path, app="app-a", org="acme") as a,
        dse.open(tmp_path, app="app-b", org="acme") as b,
        dse.open(tmp_path, app="app-c", org="other") as c,
    ):
        for domain in ("local", "organization", "system"):
            TcEx(a).datastore(domain, "t").add(rid="x", data={"domain": domain})
        seen_b = {
            d: TcEx(b).datastore(d, "t").get("x")["found"]
            for d in ("local", "organization", "system")
        }
        seen_c = {
            d: TcEx(c).datastore(d, "t").get("x")["found"]
            for d in ("local", "organization", "system")
        }
    assert seen_b == {"local": False, "organization": True, "system": True}
    assert seen_c == {"local": False, "organization": False, "system": True}


@pytest.fixture
def people(ds: TcExDatastore) -> TcExDatastore:
    rows = {
        "ada": {"name": "Ada", "age": 36, "tags": ["math"], "email": "ada@x"},
        "bob": {"name": "Bob", "age": 25, "tags": ["ops", "math"]},
        "cy": {"name": "Cy", "age": 52, "tags": []},
        "dee": {"name": "Dee", "age": 41, "tags": ["ops"], "email": None},
    }
    for rid, doc in rows.items():
        ds.add(rid=rid, data=doc)
    return ds


def _ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"term": {"name": "Bob"}}, ["bob"]),
        ({"terms": {"tags": ["ops"]}}, ["bob", "dee"]),
        ({"range": {"age": {"gte": 36, "lt": 50}}}, ["ada", "dee"]),
        ({"prefix": {"name": "D"}}, ["dee"]),
        ({"exists": {"field": "email"}}, ["ada"]),
        ({"ids": {"values": ["cy", "nope", "ada"]}}, ["ada", "cy"]),
        (
            {
                "bool": {
                    "must": {"term": {"tags": "math"}},
                    "must_not": {"range": {"age": {"lt": 30}}},
                }
            },
            ["ada"],
        ),
        (
            {"bool": {"should": [{"term": {"name": "Cy"}}, {"term": {"name": "Dee"}}]}},
            ["cy", "dee"],
        ),
    ],
    ids=["term", "terms", "range", "prefix", "exists", "ids", "bool-must-not", "bool-should"],
)
def test_search_supports_the_core_subset(
    people: TcExDatastore, query: dict[str, Any], expected: list[str]
) -> None:
    response = people.get(rid="_search", data={"query": query})
    assert _ids(response) == expected
    assert response["hits"]["total"]["value"] == len(expected)


def test_search_pages_and_sorts(people: TcExDatastore) -> None:
    body = {"query": {"match_all": {}}, "sort": [{"age": "desc"}], "from": 1, "size": 2}
    response = people.get(rid="_search", data=body)
    assert _ids(response) == ["dee", "ada"]
    assert response["hits"]["total"]["value"] == 4


def test_get_without_rid_searches_everything(people: TcExDatastore) -> None:
    assert _ids(people.get()) == ["ada", "bob", "cy", "dee"]


def test_an_unsupported_query_is_invalid_query(people: TcExDatastore) -> None:
    with pytest.raises(dse.InvalidQuery):
        people.get(rid="_search", data={"query": {"fuzzy": {"name": "ada"}}})
