"""Store.find / search / explain and secondary indexes, through the public API."""

from __future__ import annotations

from typing import Any

import pytest

import datastore_engine as dse

PEOPLE = {
    "ada": {"name": "Ada", "age": 36, "city": "London", "emails": [{"type": "work", "value": "ada@x.org"}]},
    "alan": {"name": "Alan", "age": 41, "city": "Manchester", "emails": [{"type": "home", "value": "alan@y.uk"}]},
    "grace": {"name": "Grace", "age": 85, "city": "New York"},
    "linus": {"name": "Linus", "age": 29, "city": "Helsinki", "tags": ["kernel", "git"]},
    "nobody": {"name": "Nobody"},
}


@pytest.fixture
def people(engine: dse.Engine) -> dse.Store:
    store = engine.store("people")
    for rid, doc in PEOPLE.items():
        store.put(rid, doc)
    return store


def ids(page: Any) -> list[str]:
    return [rid for rid, _ in page.items]


def test_find_returns_a_page_of_rid_document_pairs_in_id_order(people: dse.Store) -> None:
    page = people.find("age ge 36")
    assert ids(page) == ["ada", "alan", "grace"]
    assert page.items[0] == ("ada", PEOPLE["ada"])
    assert (page.total, page.start, page.count) == (3, 0, 3)


def test_find_sorts_by_several_keys_with_missing_values_last(people: dse.Store) -> None:
    assert ids(people.find("name pr", sort="-age")) == ["grace", "alan", "ada", "linus", "nobody"]
    assert ids(people.find("name pr", sort="age")) == ["linus", "ada", "alan", "grace", "nobody"]
    assert ids(people.find("name pr", sort=["city", "-name"])) == ["linus", "ada", "alan", "grace", "nobody"]


def test_find_pages_with_start_and_count_and_total_counts_every_match(people: dse.Store) -> None:
    page = people.find("name pr", sort="name", start=1, count=2)
    assert ids(page) == ["Alan".lower(), "grace"]
    assert page.total == 5 and page.start == 1 and page.count == 2
    assert people.find("name pr", start=10).items == []


def test_find_projects_fields_with_jsonpath(people: dse.Store) -> None:
    page = people.find('emails[type eq "work"]', fields=["$.name", "emails[*].value"])
    assert page.items == [("ada", {"$.name": "Ada", "emails[*].value": "ada@x.org"})]
    with pytest.raises(dse.InvalidQuery):
        people.find("name pr", fields=["$..[?(@.x ==="])


def test_find_value_paths_and_case_insensitive_option(people: dse.Store) -> None:
    assert ids(people.find('emails[type eq "home" and value co "@y"]')) == ["alan"]
    assert ids(people.find('city eq "london"')) == []
    assert ids(people.find('city eq "london"', case_insensitive=True)) == ["ada"]


def test_find_refuses_bad_filters_and_windows(people: dse.Store) -> None:
    with pytest.raises(dse.InvalidFilter, match="column"):
        people.find("age gt")
    with pytest.raises(dse.InvalidFilter):
        people.find("age gt true")
    with pytest.raises(dse.ValidationError):
        people.find("age pr", start=-1)
    with pytest.raises(dse.LimitExceeded):
        people.find("age pr", count=10_001)
    with pytest.raises(dse.ValidationError):
        people.find(42)  # type: ignore[arg-type]


def test_search_answers_in_elasticsearch_shape(people: dse.Store) -> None:
    res = people.search({"query": {"bool": {"must": [{"range": {"age": {"gte": 30}}}],
                                            "must_not": [{"term": {"city": "London"}}]}},
                         "sort": [{"age": "desc"}], "size": 1, "_source": ["name"]})  # fmt: skip
    assert res["timed_out"] is False
    assert res["hits"]["total"] == {"value": 2, "relation": "eq"}
    assert res["hits"]["hits"] == [{"_id": "grace", "_score": 1.0, "_source": {"name": "Grace"}}]
    assert people.search({"query": {"match_all": {}}})["hits"]["total"]["value"] == 5
    with pytest.raises(dse.InvalidQuery, match="fuzzy"):
        people.search({"query": {"fuzzy": {"name": "ad"}}})


def test_an_index_is_built_over_existing_documents_and_used(people: dse.Store) -> None:
    assert people.explain("age ge 40")["scan"] is True
    people.create_index("age")
    plan = people.explain("age ge 40")
    assert plan == {"plan": "index age [ge 40]", "indexes": ["age"], "candidates": 2, "scan": False}
    assert ids(people.find("age ge 40")) == ["alan", "grace"]
    assert people.indexes() == [{"path": "age", "unique": False}]


def test_indexes_follow_every_write(people: dse.Store, engine: dse.Engine) -> None:
    people.create_index("city")
    people.merge("grace", {"city": "London"})
    people.delete("ada")
    with engine.transaction():
        people.put("new", {"city": "London"})
    assert ids(people.find('city eq "London"')) == ["grace", "new"]
    assert people.explain('city eq "London"')["candidates"] == 2


def test_a_unique_index_refuses_duplicates_and_writes_nothing(people: dse.Store, engine: dse.Engine,
                                                              snapshot: Any) -> None:  # fmt: skip
    people.create_index("name", unique=True)
    before = snapshot(engine)
    with pytest.raises(dse.DuplicateKey, match="'ada'"):
        people.put("other", {"name": "Ada"})
    with pytest.raises(dse.DuplicateKey):
        people.merge("alan", {"name": "Ada"})
    assert snapshot(engine) == before
    people.put("ada", {"name": "Ada", "age": 37})  # the holder itself may rewrite it


def test_creating_a_unique_index_over_duplicates_is_refused(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("a", {"k": 1})
    s.put("b", {"k": 1.0})
    with pytest.raises(dse.DuplicateKey):
        s.create_index("k", unique=True)
    assert s.indexes() == []


def test_index_management_errors(people: dse.Store) -> None:
    people.create_index("age")
    with pytest.raises(dse.Conflict):
        people.create_index("age")
    with pytest.raises(dse.NotFound):
        people.drop_index("nope")
    with pytest.raises(dse.ValidationError):
        people.create_index("emails[type eq 1]")
    people.drop_index("age")
    assert people.indexes() == []
    assert people.explain("age ge 40")["scan"] is True


def test_protected_documents_never_match_a_query(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.put("open", {"v": 1})
    s.put("locked", {"v": 1}, password="pw-1234")
    assert ids(s.find("v eq 1")) == ["open"]
    assert [h["_id"] for h in s.search({})["hits"]["hits"]] == ["open"]


def test_two_bounds_on_a_single_valued_index_read_one_range(engine: dse.Engine) -> None:
    s = engine.store("ages")
    for i in range(200):
        s.put(f"p{i:03d}", {"age": i % 100})
    s.create_index("age")
    assert s.explain("age ge 40 and age le 41")["candidates"] == 4  # one bounded range, not two halves
    assert ids(s.find("age ge 40 and age le 41")) == ["p040", "p041", "p140", "p141"]


def test_a_list_value_makes_the_index_multi_valued_and_bounds_stay_correct(engine: dse.Engine) -> None:
    s = engine.store("ages")
    for i in range(100):
        s.put(f"p{i:03d}", {"age": i})
    s.create_index("age")
    # 50 >= 40 and 10 <= 41: each bound is met by a different element, so this matches.
    s.put("list", {"age": [50, 10]})
    assert "list" in ids(s.find("age ge 40 and age le 41"))
    assert ids(s.find("age ge 40 and age le 41")) == ["list", "p040", "p041"]
    assert s.explain("age ge 40 and age le 41")["candidates"] == 3


def test_exact_index_answers_count_and_page_and_skip_protected_documents(engine: dse.Engine) -> None:
    s = engine.store("s")
    for i in range(30):
        s.put(f"d{i:02d}", {"k": i % 3})
    s.create_index("k")
    page = s.find("k eq 1", start=2, count=3)
    assert page.total == 10
    assert ids(page) == ["d07", "d10", "d13"]
    assert page.items[0][1] == {"k": 1}
    s.put("d04", {"k": 1}, password="pw-1234")  # d04 held k=1 already: now hidden from queries
    page = s.find("k eq 1", count=100)
    assert page.total == 9
    assert "d04" not in ids(page)
    assert ids(s.find("k ge 1 and k le 1", count=2)) == ["d01", "d07"]


def test_an_indexed_string_lookup_pages_counts_and_sees_every_kind_of_holder(engine: dse.Engine) -> None:
    s = engine.store("s")
    for i in range(12):
        s.put(f"d{i:02d}", {"email": "shared@x.org" if i % 2 else f"own{i}@x.org", "n": i})
    s.put("list", {"email": ["other@x.org", "shared@x.org"]})  # a list element matches
    s.put("nested", {"email": {"value": "shared@x.org"}})  # a dict at the path does not
    s.create_index("email")
    page = s.find('email eq "shared@x.org"', start=2, count=3, fields=["$.n"])
    assert (page.total, ids(page)) == (7, ["d05", "d07", "d09"])
    assert page.items[0][1] == {"$.n": 5}
    assert ids(s.find('email eq "shared@x.org"', count=100))[-1] == "list"
    assert ids(s.find('email eq "own4@x.org"')) == ["d04"]
    assert s.find('email eq "nobody@x.org"').total == 0
    s.put("d01", {"email": "shared@x.org"}, password="pw-1234")  # protected: never matches
    assert "d01" not in ids(s.find('email eq "shared@x.org"', count=100))
    with engine.transaction():  # a lookup inside a transaction sees its own writes
        s.put("d99", {"email": "new@x.org"})
        assert ids(s.find('email eq "new@x.org"')) == ["d99"]
        s.delete("d04")
        assert s.find('email eq "own4@x.org"').total == 0
    assert ids(s.find('email eq "new@x.org"')) == ["d99"]


def test_an_indexed_lookup_of_a_date_time_or_long_string_answers_like_a_scan(engine: dse.Engine) -> None:
    plain, indexed = engine.store("plain"), engine.store("indexed")
    values = ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "x" * 300, "x" * 300 + "y", "2024"]
    for store in (plain, indexed):
        for i, value in enumerate(values):
            store.put(f"d{i}", {"v": value})
    indexed.create_index("v")
    for value in values:
        text = f'v eq "{value}"'
        assert ids(indexed.find(text)) == ids(plain.find(text)), text
    # The two date-times name one instant: equal as SCIM compares them, though their text differs.
    assert ids(indexed.find('v eq "2024-01-01T00:00:00Z"')) == ["d0", "d1"]
