"""A new document of a store with indexes takes the insert fast path (``Store._add_new``).

Its record goes in with one conditional put and its index entries after it
(``index.add_entries``), instead of the general path's read, header and
``index.maintain`` diff. These tests prove that the fast path is taken, that it
writes exactly the entries the general path writes (``check()`` recomputes them,
queries use them), and that it is not taken where the general path must decide
first: a unique index, a structure, an existing or deleted id.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import index as index_module


@pytest.fixture
def engine(tmp_path: pathlib.Path) -> Iterator[dse.Engine]:
    with dse.open(tmp_path) as eng:
        yield eng


def _ids(page: Any) -> list[str]:
    return [rid for rid, _doc in page.items]


def _no_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the general path's index upkeep fail: only the fast path can write a new document."""

    def refuse(*_args: Any, **_kw: Any) -> None:
        raise AssertionError("index.maintain ran for a new document")

    monkeypatch.setattr(index_module, "maintain", refuse)


DOCS = [
    {"email": "ada@x.org", "age": 36, "tags": ["math", "poetry"]},
    {"email": "alan@x.org", "age": 41, "tags": "logic"},
    {"email": "grace@x.org", "age": None},
    {"name": "no indexed field"},
    {"email": "kurt@x.org", "age": 41.5, "tags": []},
]


def test_new_documents_of_an_indexed_store_take_the_fast_path_and_are_found(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = engine.store("people")
    for path in ("email", "age", "tags"):
        s.create_index(path)
    _no_diff(monkeypatch)
    s.add(DOCS[0], rid="ada")
    s.put("alan", DOCS[1])
    s.put_many([("grace", DOCS[2]), ("nobody", DOCS[3])])
    with engine.transaction():
        s.add(DOCS[4], rid="kurt")
    assert engine.check() == []  # every index entry the documents call for, and no other
    assert _ids(s.find('email eq "alan@x.org"')) == ["alan"]
    assert _ids(s.find("age ge 40")) == ["alan", "kurt"]
    assert _ids(s.find('tags eq "poetry"')) == ["ada"]
    assert _ids(s.find("age eq null")) == ["grace"]
    assert s.explain('tags eq "logic"')["candidates"] == 1
    # The list value made the tags index multi-valued (a catalog write inside the fast path).
    assert _ids(s.find('tags eq "math" and tags eq "poetry"')) == ["ada"]


def test_the_fast_path_writes_what_the_general_path_writes(engine: dse.Engine) -> None:
    fast, general = engine.store("fast"), engine.store("general")
    for store in (fast, general):
        for path in ("email", "age", "tags"):
            store.create_index(path)
    for i, doc in enumerate(DOCS):
        fast.add(doc, rid=f"d{i}")
        general.put(f"d{i}", {"placeholder": True})  # an existing id: the general path replaces it
        general.put(f"d{i}", doc)
    assert engine.check() == []
    for query in ('email sw "a"', "age gt 36", 'tags eq "logic"', "age pr", "not (email pr)"):
        assert _ids(fast.find(query)) == _ids(general.find(query)), query
        assert fast.explain(query)["candidates"] == general.explain(query)["candidates"], query


def test_a_unique_index_keeps_new_documents_on_the_general_path(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = engine.store("accounts")
    s.create_index("email", unique=True)
    s.create_index("age")
    s.add({"email": "a@x.org", "age": 1}, rid="a")
    with pytest.raises(dse.DuplicateKey, match="unique index 'email'"):
        s.add({"email": "a@x.org", "age": 2}, rid="b")
    assert "b" not in s and len(s) == 1 and _ids(s.find("age eq 2")) == []
    _no_diff(monkeypatch)
    with pytest.raises(AssertionError, match=r"index\.maintain ran"):  # proof it is the general path
        s.add({"email": "c@x.org"}, rid="c")
    assert "c" not in s
    assert engine.check() == []


def test_a_structure_keeps_new_documents_on_the_general_path(engine: dse.Engine) -> None:
    structure = engine.create_structure("st", [{"name": "age", "type": "number", "required": True}])
    engine.create_store("typed", structure=structure)
    s = engine.store("typed")
    s.create_index("age")
    with pytest.raises(dse.StructureViolation):
        s.add({"name": "no age"}, rid="x")
    s.add({"age": 3}, rid="y")
    assert "x" not in s and _ids(s.find("age eq 3")) == ["y"]
    assert engine.check() == []


def test_an_existing_or_deleted_id_goes_to_the_general_path(engine: dse.Engine) -> None:
    s = engine.store("s")
    s.create_index("age")
    s.add({"age": 1}, rid="a")
    with pytest.raises(dse.DuplicateKey):
        s.add({"age": 2}, rid="a")
    s.delete("a")
    s.put("a", {"age": 3})  # over a tombstone: the general path, with the revision history
    assert s.rev("a").startswith("3-")
    assert _ids(s.find("age eq 3")) == ["a"] and _ids(s.find("age lt 3")) == []
    assert engine.check() == []


def test_a_failing_index_write_leaves_nothing_of_the_document_inside_a_transaction(
    engine: dse.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = engine.store("s")
    s.create_index("age")
    real = index_module.put_entries

    def fail_for_bad(put: Any, db: Any, state: Any, rid_b: bytes, doc: Any) -> Any:
        if rid_b == b"bad":
            raise RuntimeError("index write failed")
        return real(put, db, state, rid_b, doc)

    monkeypatch.setattr(index_module, "put_entries", fail_for_bad)
    with engine.transaction():
        with pytest.raises(RuntimeError, match="index write failed"):
            s.add({"age": 7}, rid="bad")
        s.add({"age": 8}, rid="good")  # the transaction goes on after the caught error
    assert "bad" not in s and s.get("good") == {"age": 8} and len(s) == 1
    assert [c.rid for c in s.changes()] == ["good"]
    assert engine.check() == []
    with pytest.raises(RuntimeError):  # outside a transaction (the insert lane): rolled back whole
        s.add({"age": 9}, rid="bad")
    assert "bad" not in s and engine.check() == []
