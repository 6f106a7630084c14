"""Rollback leaves no trace in the engine's in-memory state either (found by the full-disk test)."""

from __future__ import annotations

import pytest

import datastore_engine as dse


def test_a_store_made_in_a_rolled_back_transaction_can_be_made_again(engine: dse.Engine) -> None:
    with pytest.raises(RuntimeError), engine.transaction():
        engine.store("new").put("x", {"n": 1})
        engine.store("new").put("y", {"n": 2})  # the second lookup sees the uncommitted store
        raise RuntimeError("roll back")
    store = engine.store("new")
    assert len(store) == 0
    store.put("z", {"n": 3})
    assert dict(engine.store("new").items()) == {"z": {"n": 3}}
    assert engine.check() == []


def test_a_store_made_in_a_committed_transaction_is_reused(engine: dse.Engine) -> None:
    with engine.transaction():
        engine.store("made").put("x", {"n": 1})
    assert engine.store("made") is engine.store("made")
    assert engine.store("made").get("x") == {"n": 1}
