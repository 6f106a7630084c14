"""Damaged data: reads name the damaged document, check() finds it, verify=True refuses it.

Damage is done through raw lmdb with the engine closed (the engine is the only
module of the package that imports lmdb; tests may).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

import lmdb
import msgpack
import pytest

import datastore_engine as dse
from datastore_engine.engine import MAX_DBS, verify_problems

APP, ORG = "test-app", "test-org"


def _make(path: pathlib.Path) -> None:
    with dse.open(path, app=APP, org=ORG) as engine:
        s = engine.store("s")
        for rid in ("a", "b", "c"):
            s.put(rid, {"rid": rid, "n": [1, 2, 3]})
        s.put("p", {"secret": 1}, password="pw")
        s.delete("c")


def _raw_edit(path: pathlib.Path, db_name: str, edit: Callable[[Any, Any], None]) -> None:
    env = lmdb.open(str(path), max_dbs=MAX_DBS, subdir=True)
    try:
        # The counters records live in LMDB's main database; their first key sorts before the sub-databases' names.
        db = env.open_db(None if db_name == "counters" else db_name.encode())
        with env.begin(write=True) as txn:
            edit(txn, db)
    finally:
        env.close()


def _doc_key(txn: Any, db: Any, rid: bytes) -> bytes:
    for key, _ in txn.cursor(db=db):
        if key[8:] == rid:
            return bytes(key)
    raise AssertionError(f"no record for {rid!r}")


def _replace_body(path: pathlib.Path, rid: bytes, body: bytes) -> None:
    def edit(txn: Any, db: Any) -> None:
        key = _doc_key(txn, db, rid)
        raw = bytes(txn.get(key, db=db))
        nhist = int.from_bytes(raw[13:15], "big")
        txn.put(key, raw[: 15 + 16 * nhist] + body, db=db)

    _raw_edit(path, "docs", edit)


def _bad_byte(raw: bytes, body_at: int) -> bytes:
    return raw[:body_at] + b"\xc1" + raw[body_at + 1 :]  # 0xc1: a byte msgpack never uses


DAMAGES: dict[str, Callable[[bytes, int], bytes]] = {
    "body-byte-never-used-by-msgpack": _bad_byte,
    "record-cut-inside-its-header": lambda raw, body_at: raw[:20],
    "body-cut-short": lambda raw, body_at: raw[:-3],
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_value_raises_corrupt_data_naming_it_and_the_rest_stays_readable(
    tmp_path: pathlib.Path, damage: str
) -> None:
    _make(tmp_path)

    def edit(txn: Any, db: Any) -> None:
        key = _doc_key(txn, db, b"b")
        raw = bytes(txn.get(key, db=db))
        body_at = 15 + 16 * int.from_bytes(raw[13:15], "big")
        txn.put(key, DAMAGES[damage](raw, body_at), db=db)

    _raw_edit(tmp_path, "docs", edit)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        s = engine.store("s")
        with pytest.raises(dse.CorruptData, match="'b'") as info:
            s.get("b")
        assert info.value.key == "b"
        assert s.get("a") == {"rid": "a", "n": [1, 2, 3]}
        assert s.get("p", password="pw") == {"secret": 1}
        assert "b" in s and len(s) == 3  # the record is there; only its value is bad
        problems = engine.check()
        assert any("document 'b'" in p for p in problems), problems
        # Nothing else is blamed (a shorter record also shows in the size counter).
        assert all("'b'" in p or "counters say" in p for p in problems), problems
        with pytest.raises(dse.CorruptData, match="'b'"):
            list(s.items())  # iteration stops at the damaged document, naming it


def test_check_reports_counters_feed_and_password_flags_that_disagree(
    tmp_path: pathlib.Path,
) -> None:
    _make(tmp_path)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        assert engine.check() == []

    def break_counters(txn: Any, db: Any) -> None:
        key, raw = next(iter(txn.cursor(db=db)))
        txn.put(
            key, (int.from_bytes(raw[:8], "big") + 1).to_bytes(8, "big") + bytes(raw[8:]), db=db
        )

    def drop_first(txn: Any, db: Any) -> None:
        key = next(iter(txn.cursor(db=db)))[0]
        txn.delete(key, db=db)

    def drop_first_tail_entry(txn: Any, db: Any) -> None:
        # A few writes leave the store's feed entries in its counters record's tail.
        key, raw = next(iter(txn.cursor(db=db)))
        raw = bytes(raw)
        size = int.from_bytes(raw[40 + 8 : 40 + 10], "big")  # after 40 bytes of counters
        txn.put(key, raw[:40] + raw[40 + 10 + size :], db=db)

    _raw_edit(tmp_path, "counters", break_counters)
    _raw_edit(tmp_path, "counters", drop_first_tail_entry)
    _raw_edit(tmp_path, "passwords", drop_first)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        problems = "\n".join(engine.check())
    assert "counters say 4 documents" in problems
    assert "has no feed entry" in problems
    assert "flagged protected but has no password entry" in problems


def test_verify_refuses_duplicate_map_keys_and_extension_types_that_plain_open_reads(
    tmp_path: pathlib.Path,
) -> None:
    dup, ext = tmp_path / "dup", tmp_path / "ext"
    _make(dup)
    _make(ext)
    _replace_body(dup, b"a", b"\x82\xa1k\x01\xa1k\x02")  # {"k": 1, "k": 2}
    _replace_body(ext, b"a", msgpack.packb({"k": msgpack.ExtType(5, b"x")}))
    with pytest.raises(dse.CorruptData, match="duplicate map key"):
        dse.open(dup, app=APP, org=ORG, verify=True)
    with pytest.raises(dse.CorruptData, match="extension type"):
        dse.open(ext, app=APP, org=ORG, verify=True)
    # The trusted read path does not pay for the check (see codec): last key wins.
    with dse.open(dup, app=APP, org=ORG) as engine:
        assert engine.store("s").get("a") == {"k": 2}


def test_verify_accepts_a_sound_file_and_opens_it(tmp_path: pathlib.Path) -> None:
    _make(tmp_path)
    with dse.open(tmp_path, app=APP, org=ORG) as engine, engine.transaction():
        # A value shrunk in place inside one transaction: LMDB keeps its overflow
        # extent, which py-lmdb's verifier alone reports as a leak.
        engine.store("s").put("big", {"pad": "x" * 20_000})
        engine.store("s").put("big", {"pad": "y"})
    with dse.open(tmp_path, app=APP, org=ORG, verify=True) as engine:
        assert engine.store("s").get("big") == {"pad": "y"}


def test_verify_refuses_a_file_that_is_not_lmdb_and_a_file_with_damaged_pages(
    tmp_path: pathlib.Path,
) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.mdb").write_bytes(os.urandom(64 * 1024))
    with pytest.raises(
        dse.CorruptData, match=r"not a usable LMDB data file|failed LMDB verification"
    ):
        dse.open(junk, verify=True)

    damaged = tmp_path / "damaged"
    _make(damaged)
    data = damaged / "data.mdb"
    raw = bytearray(data.read_bytes())
    psize = 4096
    hit = 0
    for pgno in range(2, len(raw) // psize):
        at = pgno * psize
        if (
            int.from_bytes(raw[at : at + 8], "little") == pgno
        ):  # a page header: spoil its page number
            raw[at : at + 8] = (pgno + 1000).to_bytes(8, "little")
            hit += 1
    assert hit
    data.write_bytes(bytes(raw))
    assert verify_problems(str(damaged))
    with pytest.raises(dse.CorruptData, match="failed LMDB verification"):
        dse.open(damaged, verify=True)


def test_a_damaged_value_can_be_replaced_or_deleted(tmp_path: pathlib.Path) -> None:
    _make(tmp_path)

    def edit(txn: Any, db: Any) -> None:
        key = _doc_key(txn, db, b"b")
        raw = bytes(txn.get(key, db=db))
        txn.put(key, _bad_byte(raw, 15 + 16 * int.from_bytes(raw[13:15], "big")), db=db)

    _raw_edit(tmp_path, "docs", edit)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        s = engine.store("s")
        with pytest.raises(dse.CorruptData):
            s.merge("b", {"x": 1})  # a merge needs the old value: refused, naming it
        s.put("b", {"repaired": True})  # a put does not: it replaces the damaged record
        assert s.get("b") == {"repaired": True}
        s.delete("b")
        assert "b" not in s
        assert engine.check() == []


def test_a_feed_tail_cut_short_is_reported_and_refused_not_misread(tmp_path: pathlib.Path) -> None:
    _make(tmp_path)

    def cut_tail(txn: Any, db: Any) -> None:
        key, raw = next(iter(txn.cursor(db=db)))
        txn.put(key, bytes(raw)[:-3], db=db)  # the last tail entry loses its end

    _raw_edit(tmp_path, "counters", cut_tail)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        s = engine.store("s")
        assert any("counters record is malformed" in p for p in engine.check())
        with pytest.raises(dse.CorruptData, match="change feed of store 's' is damaged"):
            list(s.changes())
        # A write that must read the tail (a bulk load moves it to the feed tree first) is refused.
        with pytest.raises(dse.CorruptData, match="change feed of store number"):
            s.put_many({"new": {"n": 1}})
        assert "new" not in s and s.get("a") == {"rid": "a", "n": [1, 2, 3]}


def test_a_counters_record_cut_short_refuses_writes_and_leaves_data_untouched(tmp_path: pathlib.Path) -> None:
    _make(tmp_path)

    def cut_header(txn: Any, db: Any) -> None:
        key, raw = next(iter(txn.cursor(db=db)))
        txn.put(key, bytes(raw)[:20], db=db)

    _raw_edit(tmp_path, "counters", cut_header)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        s = engine.store("s")
        assert any("counters record is malformed" in p for p in engine.check())
        with pytest.raises(dse.CorruptData, match="counters record of store number"):
            s.put("new", {"n": 1})
        assert "new" not in s and s.get("a") == {"rid": "a", "n": [1, 2, 3]}


def test_check_reports_a_feed_tail_entry_older_than_the_feed_tree(tmp_path: pathlib.Path) -> None:
    _make(tmp_path)

    def move_first_tail_entry_into_the_tree(path: pathlib.Path) -> None:
        env = lmdb.open(str(path), max_dbs=MAX_DBS, subdir=True)
        try:
            counters, feed = env.open_db(None), env.open_db(b"changes")
            with env.begin(write=True) as txn:
                key, raw = next(iter(txn.cursor(db=counters)))
                key, raw = bytes(key), bytes(raw)
                size = int.from_bytes(raw[40:42], "big")
                # The tree gets a copy of the first tail entry under a sequence past every tail entry.
                txn.put(key + (1 << 40).to_bytes(8, "big"), raw[42 : 42 + size], db=feed)
        finally:
            env.close()

    move_first_tail_entry_into_the_tree(tmp_path)
    with dse.open(tmp_path, app=APP, org=ORG) as engine:
        problems = "\n".join(engine.check())
    assert "is not after the feed's last entry" in problems
