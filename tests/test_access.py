"""Access control: sessions checked against store access lists (Trivore's model)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import datastore_engine as dse

PRINCIPALS: dict[str, tuple[str, list[str]]] = {
    "owner": ("u:owner", []),
    "admin": ("u:admin", []),
    "reader": ("u:reader", []),
    "writer": ("u:writer", []),
    "member": ("u:member", ["g:team"]),
    "stranger": ("u:stranger", ["g:other", "G:TEAM"]),
}

STORES: dict[str, dict[str, Any]] = {
    # Individual principals on each list.
    "alpha": {
        "admin_access": ["u:admin"],
        "read_access": ["u:reader"],
        "write_access": ["u:writer"],
    },
    # A group with read and write, no admin.
    "beta": {"read_access": ["g:team", "u:reader"], "write_access": ["g:team", "u:writer"]},
    # A group with admin only (admin implies read and write); nobody else.
    "gamma": {"admin_access": ["g:team", "u:admin"]},
}

OPS = ("get", "find", "put", "merge", "delete", "update", "drop", "list")

# y = allowed, . = Forbidden (for "list": the store is / is not in session.stores()).
EXPECTED_TABLE = """
store  principal  get find put merge delete update drop list
alpha  owner      .   .    .   .     .      .      .    .
alpha  admin      y   y    y   y     y      y      y    y
alpha  reader     y   y    .   .     .      .      .    y
alpha  writer     .   .    y   y     y      .      .    .
alpha  member     .   .    .   .     .      .      .    .
alpha  stranger   .   .    .   .     .      .      .    .
beta   owner      .   .    .   .     .      .      .    .
beta   admin      .   .    .   .     .      .      .    .
beta   reader     y   y    .   .     .      .      .    y
beta   writer     .   .    y   y     y      .      .    .
beta   member     y   y    y   y     y      .      .    y
beta   stranger   .   .    .   .     .      .      .    .
gamma  owner      .   .    .   .     .      .      .    .
gamma  admin      y   y    y   y     y      y      y    y
gamma  reader     .   .    .   .     .      .      .    .
gamma  writer     .   .    .   .     .      .      .    .
gamma  member     y   y    y   y     y      y      y    y
gamma  stranger   .   .    .   .     .      .      .    .
"""


def _parse_table(text: str) -> dict[tuple[str, str, str], bool]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[2:]) == OPS
    table = {}
    for store, principal, *cells in rows:
        assert len(cells) == len(OPS), (store, principal)
        for op, cell in zip(OPS, cells, strict=True):
            table[(store, principal, op)] = {"y": True, ".": False}[cell]
    return table


EXPECTED = _parse_table(EXPECTED_TABLE)


def test_the_expected_table_covers_every_cell() -> None:
    assert set(EXPECTED) == {(s, p, o) for s in STORES for p in PRINCIPALS for o in OPS}


@pytest.fixture
def world() -> Iterator[dse.Engine]:
    with dse.open_temporary(app="acl") as engine:
        for name, lists in STORES.items():
            engine.create_store(name, owner="u:owner", **lists)
            engine.store(name).put("d1", {"n": 1, "tag": "x"})
        yield engine


def _run(session: dse.Session, store: str, op: str) -> Any:
    view = session.store(store)
    actions: dict[str, Callable[[], Any]] = {
        "get": lambda: view.get("d1"),
        "find": lambda: view.find('tag eq "x"'),
        "put": lambda: view.put("d2", {"n": 2}),
        "merge": lambda: view.merge("d1", {"m": 1}),
        "delete": lambda: view.delete("d1"),
        "update": lambda: session.update_store(store, description="changed"),
        "drop": lambda: session.drop_store(store, confirmed=True),
    }
    return actions[op]()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("principal", list(PRINCIPALS))
@pytest.mark.parametrize("store", list(STORES))
def test_access_matrix(world: dse.Engine, store: str, principal: str, op: str) -> None:
    pid, groups = PRINCIPALS[principal]
    session = world.session(principal=pid, groups=groups)
    allowed = EXPECTED[(store, principal, op)]
    before = world.store(store).info
    if op == "list":
        names = [info.name for info in session.stores()]
        assert (store in names) is allowed
        return
    if allowed:
        _run(session, store, op)
        after = {s.name: s for s in world.stores()}
        effects: dict[str, Callable[[], bool]] = {
            "get": lambda: True,
            "find": lambda: True,
            "put": lambda: world.store(store).get("d2") == {"n": 2},
            "merge": lambda: world.store(store).get("d1") == {"n": 1, "tag": "x", "m": 1},
            "delete": lambda: "d1" not in world.store(store),
            "update": lambda: after[store].description == "changed",
            "drop": lambda: store not in after,
        }
        assert effects[op]()
    else:
        with pytest.raises(dse.Forbidden) as refused:
            _run(session, store, op)
        assert refused.value.reason == "Forbidden"
        assert pid in str(refused.value)
        info = world.store_info(store)
        assert (info.count, info.size, info.description) == (
            before.count,
            before.size,
            before.description,
        )
        assert world.store(store).get("d1") == {"n": 1, "tag": "x"}


def test_find_page_through_a_session_holds_the_matches(world: dse.Engine) -> None:
    page = world.session(principal="u:reader").store("alpha").find('tag eq "x"')
    assert (page.total, len(page.items)) == (1, 1)


def test_a_refusal_does_not_reveal_whether_the_document_or_store_exists(world: dse.Engine) -> None:
    stranger = world.session(principal="u:stranger")
    messages = []
    for store, rid in (("alpha", "d1"), ("alpha", "missing"), ("nowhere", "d1")):
        with pytest.raises(dse.Forbidden) as refused:
            stranger.store(store).get(rid)
        messages.append(str(refused.value).replace(store, "<store>"))
    assert len(set(messages)) == 1
    assert "nowhere" not in [s.name for s in world.stores()]  # a view never creates its store


def test_a_reader_gets_not_found_for_a_missing_document(world: dse.Engine) -> None:
    with pytest.raises(dse.NotFound):
        world.session(principal="u:reader").store("alpha").get("missing")


def test_groups_and_principals_are_compared_exactly(world: dse.Engine) -> None:
    for pid, groups in (
        ("U:READER", []),
        ("u:reader ", []),
        ("u:x", ["G:TEAM"]),
        ("u:x", ["g:tea"]),
    ):
        with pytest.raises(dse.Forbidden):
            world.session(principal=pid, groups=groups).store("beta").get("d1")


def test_the_bare_engine_is_the_trusted_administrator(world: dse.Engine) -> None:
    world.store("gamma").put("e", {"ok": True})
    world.update_store("gamma", description="by the engine")
    assert world.drop_store("gamma", confirmed=True)


def test_revoking_access_takes_effect_on_an_existing_view(world: dse.Engine) -> None:
    view = world.session(principal="u:reader").store("alpha")
    assert view.get("d1") == {"n": 1, "tag": "x"}
    world.session(principal="u:admin").update_store("alpha", read_access=[])
    with pytest.raises(dse.Forbidden):
        view.get("d1")


def test_a_view_follows_a_store_dropped_and_made_anew(world: dse.Engine) -> None:
    view = world.session(principal="u:reader").store("alpha")
    assert len(view) == 1
    world.drop_store("alpha", confirmed=True)
    world.create_store("alpha", read_access=["u:reader"])
    assert len(view) == 0 and "d1" not in view and list(view) == []


def test_creating_stores_needs_the_create_right(world: dse.Engine) -> None:
    with pytest.raises(dse.Forbidden, match="can_create_stores"):
        world.session(principal="u:ann").create_store("mine")
    assert "mine" not in [s.name for s in world.stores()]
    ann = world.session(principal="u:ann", can_create_stores=True)
    info = ann.create_store("mine")
    assert info.owner == "u:ann"
    # Ownership gives nothing: the creator sees the store only through the access lists.
    with pytest.raises(dse.Forbidden):
        ann.store("mine").get("x")
    assert "mine" not in [s.name for s in ann.stores()]
    ann.create_store("ours", admin_access=["u:ann"])
    ann.store("ours").put("x", {"v": 1})
    assert [s.name for s in ann.stores()] == ["ours"]


def test_session_listing_counts_only_visible_stores_and_filters_their_data(
    world: dse.Engine,
) -> None:
    writer = world.session(principal="u:writer")
    assert writer.stores().total == 0  # write-only access does not list
    reader = world.session(principal="u:reader")
    page = reader.stores(data_filter='tag eq "x"')
    assert [s.name for s in page] == ["alpha", "beta"] and page.total == 2
    assert reader.stores(filter='name eq "gamma"').total == 0


def test_store_info_in_a_session_needs_read_access(world: dse.Engine) -> None:
    assert world.session(principal="u:reader").store_info("alpha").name == "alpha"
    assert world.session(principal="u:reader").store("alpha").info.count == 1
    with pytest.raises(dse.Forbidden):
        world.session(principal="u:writer").store_info("alpha")


def test_drop_stores_in_a_session_needs_admin_on_every_store(world: dse.Engine) -> None:
    admin = world.session(principal="u:admin")
    with pytest.raises(dse.Forbidden):
        admin.drop_stores(["alpha", "beta"], confirmed=True)
    assert {"alpha", "beta"} <= {s.name for s in world.stores()}
    assert len(admin.drop_stores(["alpha", "gamma"], confirmed=True)) == 2


def test_index_management_needs_admin_and_private_methods_are_unreachable(
    world: dse.Engine,
) -> None:
    view = world.session(principal="u:writer").store("alpha")
    with pytest.raises(dse.Forbidden):
        view.create_index("n")
    for name in ("_apply", "_engine", "_state", "engine", "clear"):
        with pytest.raises(AttributeError):
            getattr(view, name)


def test_structures_in_a_session_need_the_create_right(world: dse.Engine) -> None:
    plain = world.session(principal="u:x")
    with pytest.raises(dse.Forbidden):
        plain.create_structure("s", [{"name": "a", "type": "text"}])
    maker = world.session(principal="u:x", can_create_stores=True)
    st = maker.create_structure("s", [{"name": "a", "type": "text"}])
    assert [s.id for s in plain.structures()] == [st.id]
    with pytest.raises(dse.Forbidden):
        plain.drop_structure(st.id)
    maker.drop_structure(st.id)


def test_buckets_in_a_session_need_the_bucket_right(world: dse.Engine) -> None:
    with pytest.raises(dse.Forbidden, match="can_use_buckets"):
        world.session(principal="u:x").bucket("media")
    bucket = world.session(principal="u:x", can_use_buckets=True).bucket("media")
    assert bucket is not None


def test_session_arguments_are_checked(world: dse.Engine) -> None:
    for kwargs in ({"principal": ""}, {"principal": "u", "groups": "g:team"}, {"principal": "u", "groups": [1]},
                   {"principal": "u", "can_create_stores": 1}):  # fmt: skip
        with pytest.raises(dse.ValidationError):
            world.session(**kwargs)


def test_a_session_transaction_is_atomic(world: dse.Engine) -> None:
    member = world.session(principal="u:member", groups=["g:team"])
    with pytest.raises(dse.Forbidden), member.transaction():
        member.store("beta").put("t1", {"v": 1})
        member.store("alpha").put("t2", {"v": 2})  # not allowed: rolls back t1 too
    assert "t1" not in world.store("beta")
