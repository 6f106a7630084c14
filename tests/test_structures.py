"""Data structures (Make's): typed fields validating every write to a bound store."""

from __future__ import annotations

from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import codec


def bound(engine: dse.Engine, fields: list[dict[str, Any]], *, strict: bool = False) -> dse.Store:
    """A new store bound to a new structure of ``fields``."""
    structure = engine.create_structure("st", fields, strict=strict)
    name = f"s{len(engine.structures())}"
    engine.create_store(name, structure=structure)
    return engine.store(name)


def violations(excinfo: pytest.ExceptionInfo[dse.StructureViolation]) -> list[tuple[str, str]]:
    return list(excinfo.value.violations)


def check_type(
    engine: dse.Engine, ftype: str, good: list[Any], bad: list[Any], spec: Any = None
) -> None:
    """Valid values are stored as given; invalid ones refused with the field's path; null allowed."""
    field: dict[str, Any] = {"name": "f", "type": ftype}
    if spec is not None:
        field["spec"] = spec
    store = bound(engine, [field])
    for i, value in enumerate(good):
        store.put(f"ok{i}", {"f": value})
        assert store.get(f"ok{i}") == {"f": value}
    store.put("null", {"f": None})
    store.put("absent", {})
    for value in bad:
        with pytest.raises(dse.StructureViolation) as refused:
            store.put("bad", {"f": value})
        assert refused.value.violations and refused.value.violations[0][0].startswith("f")
    assert "bad" not in store


def test_text_field(engine: dse.Engine) -> None:
    check_type(engine, "text", ["", "hello", "ünïcode"], [1, 1.5, True, [], {}])


def test_number_field(engine: dse.Engine) -> None:
    check_type(engine, "number", [0, -3, 2.5, 2**62], ["1", True, False, [1], {}])


def test_boolean_field(engine: dse.Engine) -> None:
    check_type(engine, "boolean", [True, False], [0, 1, "true", [], {}])


def test_date_field(engine: dse.Engine) -> None:
    good = [
        "2026-11-30",
        "2026-11-30T07:44:39.123Z",
        "2026-11-30T07:44:39+02:00",
        "2026-11-30T07:44",
    ]
    bad = ["yesterday", "2026-13-01", "2026-11-31", "30.11.2026", "", 20261130, True]
    check_type(engine, "date", good, bad)


def test_array_field_with_typed_items(engine: dse.Engine) -> None:
    check_type(engine, "array", [[], ["a", "b"]], ["a", {"0": "a"}, 3], spec={"type": "text"})
    store = bound(engine, [{"name": "tags", "type": "array", "spec": {"type": "text"}}])
    with pytest.raises(dse.StructureViolation) as refused:
        store.put("x", {"tags": ["a", 2, None, "d", False]})
    assert [p for p, _ in violations(refused)] == ["tags.1", "tags.2", "tags.4"]


def test_array_field_of_any_items_and_of_collections(engine: dse.Engine) -> None:
    check_type(engine, "array", [[1, "a", None, [2]]], [{}, "x"])
    store = bound(
        engine,
        [{"name": "rows", "type": "array",
          "spec": {"type": "collection", "spec": [{"name": "n", "type": "number", "required": True}]}}],
    )  # fmt: skip
    store.put("ok", {"rows": [{"n": 1}, {"n": 2, "extra": "kept"}]})
    with pytest.raises(dse.StructureViolation) as refused:
        store.put("bad", {"rows": [{"n": 1}, {"n": "2"}, {}, 5]})
    assert [p for p, _ in violations(refused)] == ["rows.1.n", "rows.2.n", "rows.3"]


def test_collection_field_with_nested_fields(engine: dse.Engine) -> None:
    spec = [{"name": "city", "type": "text", "required": True}, {"name": "zip", "type": "number"}]
    check_type(
        engine,
        "collection",
        [{"city": "Oslo"}, {"city": "Oslo", "zip": 150}],
        [[], "Oslo", 3],
        spec=spec,
    )
    store = bound(engine, [{"name": "address", "type": "collection", "spec": spec}])
    with pytest.raises(dse.StructureViolation) as refused:
        store.put("x", {"address": {"zip": "0150"}})
    assert violations(refused) == [
        ("address.city", "is required"),
        ("address.zip", "must be a number, got str"),
    ]


def test_any_field(engine: dse.Engine) -> None:
    check_type(engine, "any", [1, "a", [1], {"a": {}}, True], [])
    store = bound(engine, [{"name": "f", "type": "any", "required": True}])
    with pytest.raises(dse.StructureViolation, match="f: is required"):
        store.put("x", {"f": None})


def test_every_violation_is_listed_with_its_path(engine: dse.Engine) -> None:
    store = bound(
        engine,
        [
            {"name": "name", "type": "text", "required": True},
            {"name": "age", "type": "number"},
            {"name": "tags", "type": "array", "spec": {"type": "text"}},
        ],
    )
    with pytest.raises(dse.StructureViolation) as refused:
        store.put("x", {"age": "old", "tags": [1]})
    assert violations(refused) == [
        ("name", "is required"),
        ("age", "must be a number, got str"),
        ("tags.0", "must be text, got int"),
    ]
    assert isinstance(refused.value, dse.ValidationError)
    assert "name: is required; age: must be a number" in str(refused.value)
    with pytest.raises(dse.StructureViolation) as root:
        store.put("y", [1, 2])
    assert violations(root) == [("", "must be a collection (object), got list")]


def test_defaults_are_filled_in_on_write(engine: dse.Engine) -> None:
    store = bound(
        engine,
        [
            {"name": "status", "type": "text", "required": True, "default": "new"},
            {"name": "tags", "type": "array", "default": []},
            {"name": "meta", "type": "collection", "default": {},
             "spec": [{"name": "v", "type": "number", "default": 1}]},
        ],
    )  # fmt: skip
    store.put("a", {})
    assert store.get("a") == {"status": "new", "tags": [], "meta": {"v": 1}}
    store.put("b", {"status": "done", "meta": {"v": 7}, "tags": ["x"]})
    assert store.get("b") == {"status": "done", "meta": {"v": 7}, "tags": ["x"]}
    doc: dict[str, Any] = {"meta": {}}
    store.put("c", doc)
    assert doc == {"meta": {}}  # the caller's document is not changed
    assert store.get("c")["meta"] == {"v": 1}
    store.merge("a", {"tags": ["y"]})
    assert store.get("a")["tags"] == ["y"]
    assert store.info.size == sum(len(k) + len(codec.encode(v)) for k, v in store.items())


def test_strict_refuses_unknown_fields_at_every_level(engine: dse.Engine) -> None:
    fields = [{"name": "a", "type": "collection", "spec": [{"name": "b", "type": "number"}]}]
    loose = bound(engine, fields)
    loose.put("x", {"a": {"b": 1, "c": 2}, "d": 3})
    strict = bound(engine, fields, strict=True)
    with pytest.raises(dse.StructureViolation) as refused:
        strict.put("x", {"a": {"b": 1, "c": 2}, "d": 3})
    assert violations(refused) == [
        ("a.c", "is not in the structure"),
        ("d", "is not in the structure"),
    ]
    strict.put("y", {"a": {"b": 1}})


def test_merge_and_set_path_are_checked_on_the_result_and_delete_is_not(
    engine: dse.Engine, snapshot: Any
) -> None:
    store = bound(engine, [{"name": "n", "type": "number", "required": True}])
    store.put("x", {"n": 1})
    before = snapshot(engine)
    with pytest.raises(dse.StructureViolation):
        store.merge("x", {"n": "one"})
    with pytest.raises(dse.StructureViolation):
        store.set_path("x", "n", None)
    with pytest.raises(dse.StructureViolation):
        store.delete_path("x", "n")
    with pytest.raises(dse.StructureViolation):
        store.merge("new", {"m": 1})
    assert snapshot(engine) == before
    store.delete("x")
    assert "x" not in store


@pytest.mark.parametrize(
    "fields",
    [
        [{"name": "a", "type": "texts"}],
        [{"name": "a"}],
        [{"type": "text"}],
        [{"name": "a.b", "type": "text"}],
        [{"name": "a", "type": "text", "spec": {"type": "text"}}],
        [{"name": "a", "type": "array", "spec": "text"}],
        [{"name": "a", "type": "array", "spec": {"type": "nope"}}],
        [{"name": "a", "type": "collection", "spec": {"name": "b"}}],
        [{"name": "a", "type": "number", "default": "1"}],
        [{"name": "a", "type": "text", "required": "yes"}],
        [{"name": "a", "type": "text", "colour": "red"}],
        [{"name": "a", "type": "text"}, {"name": "a", "type": "number"}],
        {"name": "a", "type": "text"},
        "a:text",
    ],
    ids=lambda f: str(f)[:40],
)
def test_bad_definitions_are_refused(engine: dse.Engine, fields: Any) -> None:
    with pytest.raises(dse.ValidationError):
        engine.create_structure("bad", fields)
    assert engine.structures() == []


def test_structures_are_listed_updated_and_dropped(engine: dse.Engine) -> None:
    a = engine.create_structure("people", [{"name": "name", "type": "text"}])
    b = engine.create_structure("items", id="items-v1")
    assert b.id == "items-v1" and a.id != b.id
    with pytest.raises(dse.Conflict):
        engine.create_structure("again", id="items-v1")
    assert [s.name for s in engine.structures()] == ["items", "people"]
    assert engine.structure(a.id).fields == [
        {"name": "name", "type": "text", "required": False, "default": None, "spec": None}
    ]
    updated = engine.update_structure(a.id, name="persons", strict=True)
    assert (updated.name, updated.strict, updated.fields) == ("persons", True, a.fields)
    engine.drop_structure(b.id)
    with pytest.raises(dse.NotFound):
        engine.structure(b.id)
    with pytest.raises(dse.NotFound):
        engine.drop_structure(b.id)


def test_updating_a_structure_changes_validation_of_bound_stores_at_once(
    engine: dse.Engine,
) -> None:
    st = engine.create_structure("s", [{"name": "n", "type": "number"}])
    engine.create_store("bound", structure=st.id)
    store = engine.store("bound")
    store.put("x", {"n": 1})
    engine.update_structure(st.id, fields=[{"name": "n", "type": "text"}])
    with pytest.raises(dse.StructureViolation):
        store.put("y", {"n": 2})
    store.put("y", {"n": "2"})
    assert store.get("x") == {"n": 1}  # existing documents are not re-checked


def test_a_structure_in_use_cannot_be_dropped(tmp_path: Any) -> None:
    path = tmp_path / "db"
    with dse.open(path, app="one") as one, dse.open(path, app="two") as two:
        st = one.create_structure("s", [{"name": "n", "type": "number"}])
        two.create_store("theirs", structure=st)
        with pytest.raises(dse.Conflict, match="'theirs'"):
            one.drop_structure(st.id)
        two.update_store("theirs", structure=None)
        two.store("theirs").put("x", {"n": "anything"})
        one.drop_structure(st.id)
        assert one.structures() == []


def test_binding_and_unbinding_a_store(engine: dse.Engine) -> None:
    st = engine.create_structure("s", [{"name": "n", "type": "number"}])
    store = engine.store("plain")
    store.put("old", {"n": "not a number"})
    assert engine.update_store("plain", structure=st.id).structure == st.id
    assert store.get("old") == {"n": "not a number"}
    with pytest.raises(dse.StructureViolation):
        store.put("new", {"n": "x"})
    engine.update_store("plain", structure=None)
    store.put("new", {"n": "x"})
    with pytest.raises(dse.NotFound):
        engine.update_store("plain", structure="missing")
