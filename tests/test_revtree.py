"""Revision trees: replicated writes keep every branch, CouchDB's winner, conflicts, watch."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datastore_engine as dse
from datastore_engine import revtree
from datastore_engine.codec import read_header
from datastore_engine.revtree import Leaf


def dig(label: str) -> bytes:
    return hashlib.md5(label.encode()).digest()


def rev(gen: int, label: str) -> str:
    return f"{gen}-{dig(label).hex()}"


def history(*labels: str) -> list[str]:
    """Rev ids for a chain root..leaf given as labels oldest first; returned newest first."""
    return [rev(i + 1, label) for i, label in enumerate(labels)][::-1]


# -- the pure core against references -----------------------------------------------------


def reference_winner(leaves: list[Leaf]) -> Leaf:
    """PouchDB's winningRev loop, written out: live beats deleted, then pos, then id string."""
    best: Leaf | None = None
    for leaf in leaves:
        if best is None:
            best = leaf
            continue
        if best.deleted != leaf.deleted:
            if not leaf.deleted:
                best = leaf
            continue
        if leaf.gen > best.gen or (
            leaf.gen == best.gen and leaf.hist[0].hex() > best.hist[0].hex()
        ):
            best = leaf
    assert best is not None
    return best


leaf_st = st.builds(
    lambda gen, label, deleted: Leaf(gen, (dig(label),), deleted, b""),
    st.integers(1, 6),
    st.text("abcdef", min_size=1, max_size=3),
    st.booleans(),
)


@settings(deadline=None, max_examples=300)
@given(st.lists(leaf_st, min_size=1, max_size=8, unique_by=lambda lf: (lf.gen, lf.hist[0])))
def test_winner_is_the_one_couchdb_and_pouchdb_pick(leaves: list[Leaf]) -> None:
    assert leaves[revtree.pick_winner(leaves)] == reference_winner(leaves)


# A random tree: node i > 0 has parent parents[i] < i; node 0 is the root.
tree_st = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.just(n), st.lists(st.integers(0, 10_000), min_size=n - 1, max_size=n - 1)
    )
)


def build(n: int, picks: list[int]) -> list[int]:
    return [-1] + [picks[i - 1] % i for i in range(1, n)]


def path(parents: list[int], node: int) -> list[int]:
    out = [node]
    while parents[out[-1]] >= 0:
        out.append(parents[out[-1]])
    return out  # newest first


@settings(deadline=None, max_examples=200)
@given(tree_st, st.data())
def test_grafting_paths_in_any_order_leaves_the_maximal_nodes(
    tree: Any, data: st.DataObject
) -> None:
    n, picks = tree
    parents = build(n, picks)
    inserted = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))

    def leaf_of(node: int) -> Leaf:
        nodes = path(parents, node)
        return Leaf(len(nodes), tuple(dig(f"n{x}") for x in nodes), False, b"")

    leaves: list[Leaf] = []
    for node in inserted:
        merged = revtree.merge_leaves(leaves, leaf_of(node))
        if merged is not None:
            leaves = merged
    ancestors = {a for node in inserted for a in path(parents, node)[1:]}
    expected = {leaf_of(node).rev for node in inserted if node not in ancestors}
    assert {leaf.rev for leaf in leaves} == expected
    for node in inserted:  # everything inserted is now known
        assert revtree.merge_leaves(leaves, leaf_of(node)) is None


def test_a_peer_with_a_stemmed_history_still_extends_the_leaf() -> None:
    full = Leaf(3, (dig("c"), dig("b"), dig("a")), False, b"")
    stemmed_child = Leaf(4, (dig("d"), dig("c")), False, b"")
    merged = revtree.merge_leaves([full], stemmed_child)
    assert merged is not None and len(merged) == 1
    assert merged[0].hist == (dig("d"), dig("c"), dig("b"), dig("a"))


def test_conflicts_record_round_trips() -> None:
    losers = [
        Leaf(2, (dig("x"), dig("a")), False, b"\x81\xa1a\x01"),
        Leaf(5, (dig("y"),), True, b"\xc0"),
    ]
    assert revtree.unpack_losers(revtree.pack_losers(losers)) == losers


# -- through the Store ------------------------------------------------------------------


@pytest.fixture
def store(engine: dse.Engine) -> dse.Store:
    return engine.store("sync")


def record_sizes(s: dse.Store) -> tuple[int, int]:
    """(live count, size) recomputed from the stored records."""
    count = size = 0
    for rid in s:
        count += 1
        _key, raw = s._raw(rid)
        assert raw is not None
        size += len(rid.encode()) + len(raw) - read_header(raw).body_offset
    return count, size


def test_concurrent_branches_are_kept_and_the_couchdb_winner_is_read(store: dse.Store) -> None:
    store.put_revision("d", {"v": "root"}, history=history("a"))
    store.put_revision("d", {"v": "left"}, history=history("a", "b"))
    store.put_revision("d", {"v": "right"}, history=history("a", "c"))
    left, right = rev(2, "b"), rev(2, "c")
    winner, loser = (left, right) if left > right else (right, left)
    _doc, current = store.get("d", with_rev=True)
    assert current == winner
    assert store.conflicts("d") == [loser]
    assert store.get_revision("d", loser)[1] == [loser, rev(1, "a")]
    assert len(store) == 1
    assert [(c.rid, c.rev) for c in store.changes()] == [("d", winner)]


def test_a_known_revision_is_ignored(store: dse.Store) -> None:
    store.put_revision("d", {"v": 2}, history=history("a", "b"))
    seq = list(store.changes())[-1].seq
    store.put_revision("d", {"v": "other body"}, history=history("a", "b"))
    store.put_revision("d", {"v": "ancestor"}, history=history("a"))
    assert store.get("d") == {"v": 2}
    assert list(store.changes())[-1].seq == seq
    assert store.conflicts("d") == []


def test_deleting_the_winner_lets_the_live_loser_win(store: dse.Store) -> None:
    store.put_revision("d", {"v": "b"}, history=history("a", "b"))
    store.put_revision("d", {"v": "c"}, history=history("a", "c"))
    first = store.get("d")
    store.delete("d")
    assert store.get("d") != first
    assert store.conflicts("d") == []
    assert len(store) == 1
    store.delete("d")
    assert "d" not in store and len(store) == 0


def test_resolving_deletes_the_losers_and_keeps_the_winner(store: dse.Store) -> None:
    store.put_revision("d", {"v": "b"}, history=history("a", "b"))
    store.put_revision("d", {"v": "c"}, history=history("a", "c"))
    doc, winner = store.get("d", with_rev=True)
    (loser,) = store.conflicts("d")
    stone = store.delete_conflict("d", loser)
    assert stone.startswith("3-")
    assert store.conflicts("d") == []
    assert store.get("d", with_rev=True) == (doc, winner)
    assert store.get_revision("d", stone) == (None, [stone, loser, rev(1, "a")], True)
    with pytest.raises(dse.Conflict):
        store.delete_conflict("d", winner)
    with pytest.raises(dse.NotFound):
        store.delete_conflict("d", loser)


def test_local_edits_of_a_conflicted_document_keep_the_losers(store: dse.Store) -> None:
    store.put_revision("d", {"v": "b"}, history=history("a", "b"))
    store.put_revision("d", {"v": "c"}, history=history("a", "c"))
    (loser,) = store.conflicts("d")
    _doc, winner = store.get("d", with_rev=True)
    new = store.put("d", {"v": "edited"}, if_rev=winner)
    assert store.get("d", with_rev=True) == ({"v": "edited"}, new)
    assert store.conflicts("d") == [loser]
    with pytest.raises(dse.Conflict):
        store.put("d", {"v": "stale"}, if_rev=winner)


def test_counters_match_the_records_after_replicated_writes(store: dse.Store) -> None:
    store.put("plain", {"x": 1})
    store.put_revision("d", {"v": "b" * 50}, history=history("a", "b"))
    store.put_revision("d", {"v": "c"}, history=history("a", "c"))
    store.put_revision("e", {}, history=history("z"), deleted=True)
    store.put_revision("f", {"v": 1}, history=history("f"))
    store.put_revision("f", {}, history=history("f", "g"), deleted=True)
    store.delete("d")
    info = store.info
    assert (info.count, info.size) == record_sizes(store) == (2, info.size)
    assert sorted(c.rid for c in store.changes()) == ["d", "e", "f", "plain"]
    assert {c.rid for c in store.changes() if c.deleted} == {"e", "f"}


def test_revs_diff_names_what_is_missing(store: dse.Store) -> None:
    store.put_revision("d", {"v": 3}, history=history("a", "b", "c"))
    answer = store.revs_diff(
        {"d": [rev(2, "b"), rev(3, "x"), rev(4, "y")], "new": [rev(1, "n")], "bad": ["zz"]}
    )
    assert answer == {
        "d": {"missing": [rev(3, "x"), rev(4, "y")], "possible_ancestors": [rev(3, "c")]},
        "new": {"missing": [rev(1, "n")]},
        "bad": {"missing": ["zz"]},
    }


@pytest.mark.parametrize(
    ("hist", "problem"),
    [([], "non-empty"), (["2-abc"], "32 hex"), ([rev(3, "c"), rev(1, "a")], "consecutive")],
)
def test_malformed_histories_are_refused(store: dse.Store, hist: list[str], problem: str) -> None:
    with pytest.raises(dse.ValidationError, match=problem):
        store.put_revision("d", {}, history=hist)
    assert "d" not in store


def test_a_protected_document_needs_its_password_for_replicated_writes(store: dse.Store) -> None:
    first = store.put("p", {"secret": 1}, password="pw")
    with pytest.raises(dse.Forbidden):
        store.put_revision("p", {"secret": 2}, history=["2-" + "f" * 32, first])
    store.put_revision("p", {"secret": 2}, history=["2-" + "f" * 32, first], password="pw")
    assert store.get("p", password="pw") == {"secret": 2}


def test_watch_wakes_on_a_commit_from_another_thread(store: dse.Store) -> None:
    store.put("a", {})
    seen: list[str] = []
    ready = threading.Event()

    def follow() -> None:
        for change in store.watch(0, timeout=30):
            seen.append(change.rid)
            ready.set()
            if change.rid == "b":
                return

    thread = threading.Thread(target=follow)
    thread.start()
    assert ready.wait(30)
    store.put("b", {})
    thread.join(30)
    assert not thread.is_alive()
    assert seen == ["a", "b"]


def test_watch_ends_after_its_timeout_without_changes(store: dse.Store) -> None:
    store.put("a", {})
    assert [c.rid for c in store.watch(0, timeout=0.05)] == ["a"]


def test_replicated_writes_keep_index_entries_in_step(store: dse.Store) -> None:
    store.create_index("color")
    store.put_revision("d", {"color": "red"}, history=history("a", "b"))
    store.put_revision("d", {"color": "blue"}, history=history("a", "c"))
    shown = store.get("d")["color"]
    assert store.find(f'color eq "{shown}"').total == 1
    store.delete("d")  # the losing leaf wins now
    other = store.get("d")["color"]
    assert other != shown
    assert store.find(f'color eq "{shown}"').total == 0
    assert store.find(f'color eq "{other}"').total == 1


def test_a_commit_wakes_a_waiting_watcher_without_its_poll_timer(
    store: dse.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datastore_engine import watch

    # With a one-minute poll, only the commit's notify can end the wait within the join below.
    monkeypatch.setattr(watch, "POLL_MIN", 60.0)
    monkeypatch.setattr(watch, "POLL_MAX", 60.0)
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(watch.wait_for_change(store, 0, timeout=120)))
    thread.start()
    while store._env.watching == 0 and thread.is_alive():  # the waiter is counted before it waits
        time.sleep(0.001)
    store.put("a", {})
    thread.join(20)
    assert not thread.is_alive() and woke == [True]
    assert store._env.watching == 0


def test_revision_ids_are_pinned_so_peers_and_old_files_agree() -> None:
    """Revision ids are SHA-256 of (parent digest, deleted flag, msgpack body), cut to 16 bytes.

    Identical edits on two replicas must get identical ids, across versions of
    this engine: a change to how the digest is computed (a faster path, say)
    must not change these values, which were made by the first release's code.
    """
    with dse.open_temporary() as engine:
        s = engine.store("pinned")
        assert s.put("d", {"a": 1}) == "1-7141a514e7898f6cdf0e9d72772c0606"
        assert s.put("d", {"a": 2}) == "2-2a56ebcb62f2461838e675dc426a141a"
        assert s.delete("d") == "3-ccdcec11fb6cc5dda1049812142162dc"
        assert s.put("x", {"b": [1, 2.5, None]}) == "1-6233708f81f65c3129835a1a2ea7280d"
        assert s.put_many([("m", {"n": "x"})]) == ["1-e21c254475ed015aedd17ee87b2f27ac"]
        assert s.add({"n": "x"}, rid="m2") == "m2"
        assert s.rev("m2") == "1-e21c254475ed015aedd17ee87b2f27ac"  # same body, same first revision
