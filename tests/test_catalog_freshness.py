"""Queries read a store's catalog state fresh: what another handle committed, never what it aborted.

A store handle remembers which read snapshot last confirmed its catalog state,
so repeated lookups skip that check; these tests prove a commit elsewhere (a
new or dropped index, a dropped store) is still seen at once, and that a
catalog change in a rolled-back transaction is never taken for committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import datastore_engine as dse

PEOPLE = {f"p{i:02d}": {"email": f"u{i}@x.org", "age": 20 + i} for i in range(12)}


def ids(page: Any) -> list[str]:
    return [rid for rid, _ in page.items]


@pytest.fixture
def two_handles(tmp_path: Path) -> Any:
    """The same store through two engines on one directory (as two parts of an app would hold it)."""
    first = dse.open(tmp_path / "db", durable=False)
    second = dse.open(tmp_path / "db", durable=False)
    try:
        first.store("people").put_many(PEOPLE)
        yield first.store("people"), second.store("people")
    finally:
        second.close()
        first.close()


def test_a_lookup_sees_an_index_dropped_by_another_handle_and_documents_changed_after(two_handles: Any) -> None:
    mine, theirs = two_handles
    mine.create_index("email")
    assert ids(mine.find('email eq "u3@x.org"')) == ["p03"]
    assert mine.explain('email eq "u3@x.org"')["scan"] is False  # the index answers
    theirs.drop_index("email")
    # With the index gone, nothing maintains its entries: a stale view would answer from them.
    theirs.put("p03", {"email": "moved@x.org", "age": 23})
    theirs.put("p99", {"email": "u3@x.org"})
    assert ids(mine.find('email eq "u3@x.org"')) == ["p99"]
    assert ids(mine.find('email eq "moved@x.org"')) == ["p03"]
    assert mine.explain('email eq "u3@x.org"')["scan"] is True


def test_a_lookup_uses_an_index_created_by_another_handle_at_once(two_handles: Any) -> None:
    mine, theirs = two_handles
    assert ids(mine.find('email eq "u5@x.org"')) == ["p05"]
    assert mine.explain('email eq "u5@x.org"')["scan"] is True
    theirs.create_index("email")
    assert mine.explain('email eq "u5@x.org"')["scan"] is False
    assert ids(mine.find('email eq "u5@x.org"')) == ["p05"]


def test_a_store_dropped_by_another_handle_is_refused_on_the_next_lookup(two_handles: Any) -> None:
    mine, theirs = two_handles
    mine.create_index("email")
    assert ids(mine.find('email eq "u1@x.org"')) == ["p01"]
    theirs.engine.drop_store("people", confirmed=True)
    with pytest.raises(dse.NotFound):
        mine.find('email eq "u1@x.org"')


def test_an_index_made_in_a_rolled_back_transaction_is_never_used(two_handles: Any) -> None:
    mine, theirs = two_handles
    with pytest.raises(RuntimeError), mine.engine.transaction():
        mine.create_index("email")
        # Inside the transaction its own reads see the index (and its entries).
        assert ids(mine.find('email eq "u2@x.org"')) == ["p02"]
        assert mine.explain('email eq "u2@x.org"')["scan"] is False
        raise RuntimeError("roll back")
    # The next commit reuses the rolled-back transaction's id; the first read
    # after it must still not take the rolled-back catalog for committed.
    theirs.put("p02", {"email": "new@x.org"})
    for store in (mine, theirs):
        assert ids(store.find('email eq "u2@x.org"')) == []
        assert ids(store.find('email eq "new@x.org"')) == ["p02"]
        assert store.explain('email eq "new@x.org"')["scan"] is True
        assert store.indexes() == []


def test_a_catalog_state_from_a_rolled_back_transaction_is_never_taken_for_a_later_commit(
    tmp_path: Path,
) -> None:
    # The rolled-back transaction drops the index and writes, so the store caches the
    # state it saw there. Another store's index then commits: a version counted up
    # from the committed one gave that commit the rolled-back state's number, and the
    # next write skipped the index that still exists. Found by review.
    with dse.open(tmp_path / "db") as engine:
        s, t = engine.store("s"), engine.store("t")
        s.create_index("a")
        s.put("x", {"a": 1})
        with pytest.raises(RuntimeError), engine.transaction():
            s.drop_index("a")
            s.put("q", {"a": 2})
            raise RuntimeError("roll back")
        t.create_index("z")
        s.put("w", {"a": 5})
        assert [d["path"] for d in s.indexes()] == ["a"]
        assert ids(s.find("a eq 5")) == ["w"]
        assert engine.check() == []
    with dse.open(tmp_path / "db") as engine:
        assert ids(engine.store("s").find("a eq 5")) == ["w"]
        assert engine.check() == []


def test_repeated_lookups_in_one_snapshot_agree_with_a_scan(tmp_path: Path) -> None:
    with dse.open(tmp_path / "db", durable=False) as engine:
        store = engine.store("people")
        store.put_many(PEOPLE)
        store.create_index("email")
        with engine.snapshot():
            first = [ids(store.find(f'email eq "u{i}@x.org"')) for i in range(14)]
            again = [ids(store.find(f'email eq "u{i}@x.org"')) for i in range(14)]
        assert first == again == [[f"p{i:02d}"] for i in range(12)] + [[], []]
