"""Revision trees: replicated writes that keep every branch, and CouchDB's winner rule.

A document's revision tree is kept as its *leaves*. The winning leaf is the
document record in ``docs`` (so ordinary reads are unchanged); the losing
leaves (revision, history digests, body, deleted flag) are one record in the
``conflicts`` sub-database (key ``sid + rid``), and ``codec.FLAG_CONFLICTS`` is
set on the document record while that record exists. Each leaf carries its own
history (digests newest first, at most ``changes.REVS_LIMIT``), which is what
replication sends as ``_revisions``.

Rules (as CouchDB's, ``couch_key_tree``):

* A replicated revision already known (a leaf, or an ancestor in a leaf's
  history) is ignored.
* One whose history contains a leaf extends that leaf: it replaces it.
* Otherwise it starts a new branch (a new leaf).
* The winner: non-deleted before deleted, then the highest generation, then
  the highest revision hash (compared as strings; lower-case hex).

Local writes (``Store.put``/``delete``/...) always edit the winner; on a
document with conflicts they come here (:func:`local_edit`) so that deleting
the winner lets a live losing leaf win, as in CouchDB. A losing leaf is
resolved by deleting it (:func:`delete_leaf`): a tombstone child of that leaf,
which replicates like any change. Revision hashes must be 32 hex digits
(CouchDB and PouchDB both make them so); others are refused.

Example:
    >>> a = Leaf(2, (b"\\x0a" * 16, b"\\x01" * 16), False, b"")
    >>> b = Leaf(2, (b"\\x0b" * 16, b"\\x01" * 16), False, b"")
    >>> pick_winner([a, b]) == 1, merge_leaves([a, b], a) is None
    (True, True)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from . import changes, codec
from .codec import FLAG_CONFLICTS, FLAG_DELETED, FLAG_PROTECTED, pack_record, read_header
from .errors import Conflict, DatastoreError, LimitExceeded, NotFound, ValidationError

if TYPE_CHECKING:
    from .catalog import StoreState
    from .engine import WriteCtx
    from .store import Store

__all__ = [
    "Incoming",
    "Leaf",
    "delete_leaf",
    "incoming",
    "is_known",
    "leaves_of",
    "local_edit",
    "merge_leaves",
    "pack_losers",
    "pick_winner",
    "put_revisions",
    "read_leaves",
    "revs_diff",
    "unpack_losers",
    "winner_key",
]

_TOMBSTONE_BODY = b"\xc0"  # msgpack nil, as Store writes for a delete
_LEN = struct.Struct(">I")


class Leaf(NamedTuple):
    """One leaf of a revision tree: generation, history digests (newest first), deleted, body."""

    gen: int
    hist: tuple[bytes, ...]
    deleted: bool
    body: bytes

    @property
    def rev(self) -> str:
        return changes.rev_string(self.gen, self.hist[0])

    def history(self) -> list[str]:
        """Rev ids of this leaf and its known ancestors, newest first."""
        return [changes.rev_string(self.gen - i, dig) for i, dig in enumerate(self.hist)]


# -- the pure core ---------------------------------------------------------------------


def winner_key(leaf: Leaf) -> tuple[bool, int, bytes]:
    """Sort key of CouchDB's winner rule (largest wins): live, generation, hash."""
    return (not leaf.deleted, leaf.gen, leaf.hist[0])


def pick_winner(leaves: Sequence[Leaf]) -> int:
    """Index of the winning leaf."""
    return max(range(len(leaves)), key=lambda i: winner_key(leaves[i]))


def is_known(leaves: Iterable[Leaf], gen: int, dig: bytes) -> bool:
    """True if revision ``gen-dig`` is a leaf or a recorded ancestor of one."""
    for leaf in leaves:
        offset = leaf.gen - gen
        if 0 <= offset < len(leaf.hist) and leaf.hist[offset] == dig:
            return True
    return False


def merge_leaves(
    leaves: Sequence[Leaf], new: Leaf, *, limit: int = changes.REVS_LIMIT
) -> list[Leaf] | None:
    """The leaves after grafting ``new`` (with its history) in; None if it is already known.

    >>> root = Leaf(1, (b"\\x01" * 16,), False, b"")
    >>> child = Leaf(2, (b"\\x02" * 16, b"\\x01" * 16), False, b"")
    >>> [leaf.gen for leaf in merge_leaves([root], child)]
    [2]
    """
    if is_known(leaves, new.gen, new.hist[0]):
        return None
    out = list(leaves)
    for i, leaf in enumerate(leaves):
        offset = new.gen - leaf.gen
        if 0 < offset < len(new.hist) and new.hist[offset] == leaf.hist[0]:
            # new extends this leaf: splice the histories (the peer may have stemmed its copy).
            out[i] = new._replace(hist=(*new.hist[:offset], *leaf.hist)[:limit])
            return out
    out.append(new._replace(hist=new.hist[:limit]))
    return out


def pack_losers(losers: Sequence[Leaf]) -> bytes:
    """The ``conflicts`` record: each losing leaf as a length-prefixed document record."""
    parts = []
    for leaf in losers:
        rec = pack_record(FLAG_DELETED if leaf.deleted else 0, leaf.gen, 0, leaf.hist, leaf.body)
        parts.append(_LEN.pack(len(rec)) + rec)
    return b"".join(parts)


def unpack_losers(raw: bytes, *, key: str = "") -> list[Leaf]:
    """Decode a ``conflicts`` record."""
    out = []
    pos = 0
    while pos < len(raw):
        (size,) = _LEN.unpack_from(raw, pos)
        rec = raw[pos + 4 : pos + 4 + size]
        pos += 4 + size
        out.append(_leaf_of(rec, key=key))
    return out


def _leaf_of(raw: bytes, *, key: str = "") -> Leaf:
    header = read_header(raw, key=key)
    return Leaf(header.gen, header.hist, header.deleted, bytes(raw[header.body_offset :]))


# -- reading ---------------------------------------------------------------------------


def leaves_of(
    txn: Any, dbs: Mapping[str, Any], key: bytes, *, rid: str = ""
) -> tuple[bytes | None, list[Leaf]]:
    """(document record, leaves with the winner first) of one document inside ``txn``."""
    raw = txn.get(key, db=dbs["docs"])
    if raw is None:
        return None, []
    leaves = [_leaf_of(raw, key=rid)]
    if raw[0] & FLAG_CONFLICTS:
        extra = txn.get(key, db=dbs["conflicts"])
        if extra is not None:
            leaves.extend(unpack_losers(extra, key=rid))
    return raw, leaves


def read_leaves(store: Store, rids: Sequence[str]) -> dict[str, tuple[int, list[Leaf]]]:
    """For each existing rid: (document record flags, leaves with the winner first), one snapshot."""
    store._live()
    prefix = store._state.prefix
    out: dict[str, tuple[int, list[Leaf]]] = {}
    with store._env.reading() as txn:
        for rid in rids:
            raw, leaves = leaves_of(txn, store._dbs, prefix + rid.encode(), rid=rid)
            if raw is not None:
                out[rid] = (raw[0], leaves)
    return out


def revs_diff(store: Store, revs: Mapping[str, Iterable[str]]) -> dict[str, dict[str, list[str]]]:
    """``_revs_diff``: for each rid, the given revisions this store does not know.

    Answers ``{rid: {"missing": [...], "possible_ancestors": [...]}}`` for rids
    with something missing; possible ancestors are the leaves of lower generation.
    """
    asked = {rid: list(rs) for rid, rs in revs.items()}
    found = read_leaves(store, [rid for rid in asked if _valid_rid(rid)])
    out: dict[str, dict[str, list[str]]] = {}
    for rid, rs in asked.items():
        leaves = found.get(rid, (0, []))[1]
        missing = []
        for rev in rs:
            try:
                gen, dig = changes.parse_rev(rev)
            except ValueError:
                missing.append(rev)  # never stored: a rev we could not accept is not "known"
                continue
            if not is_known(leaves, gen, dig):
                missing.append(rev)
        if missing:
            top = max(changes.parse_rev(r)[0] if _parses(r) else 0 for r in missing)
            ancestors = [leaf.rev for leaf in leaves if leaf.gen < top]
            entry = {"missing": missing}
            if ancestors:
                entry["possible_ancestors"] = ancestors
            out[rid] = entry
    return out


def _valid_rid(rid: object) -> bool:
    return (
        isinstance(rid, str)
        and 0 < len(rid.encode("utf-8", "replace")) <= 250
        and "\x00" not in rid
    )


def _parses(rev: str) -> bool:
    try:
        changes.parse_rev(rev)
    except ValueError:
        return False
    return True


# -- replicated writes (new_edits=false) ---------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A replicated revision ready to write: body encoded, history parsed (outside the lock)."""

    rid: str
    rid_b: bytes
    leaf: Leaf
    doc: Any  # the decoded body (None for a deletion), for the validator and indexes


def incoming(rid: str, doc: Any, history: Sequence[str], *, deleted: bool = False) -> Incoming:
    """Check and encode one replicated revision; ``history`` is rev ids newest first.

    >>> inc = incoming("d", {"a": 1}, ["2-" + "b" * 32, "1-" + "a" * 32])
    >>> inc.leaf.gen, inc.leaf.rev == "2-" + "b" * 32
    (2, True)
    """
    from .keys import rid_bytes

    rid_b = rid_bytes(rid)
    if isinstance(history, str) or not history:
        raise ValidationError(f"history of document {rid!r} must be a non-empty list of revisions")
    digs = []
    gen = 0
    for i, rev in enumerate(history):
        try:
            g, dig = changes.parse_rev(rev) if isinstance(rev, str) else (0, b"")
        except ValueError:
            g, dig = 0, b""
        if not dig:
            raise ValidationError(
                f"revision {rev!r} of document {rid!r} is not N-<32 hex digits>; this engine stores only those"
            )
        if i == 0:
            gen = g
        elif g != gen - i:
            raise ValidationError(f"history of document {rid!r} is not consecutive at {rev!r}")
        digs.append(dig)
    body = _TOMBSTONE_BODY if deleted and doc in (None, {}) else codec.encode(doc, where=repr(rid))
    return Incoming(
        rid,
        rid_b,
        Leaf(gen, tuple(digs[: changes.REVS_LIMIT]), deleted, body),
        None if deleted else doc,
    )


def put_revisions(
    store: Store, items: Sequence[Incoming], *, password: str | None = None
) -> list[Exception | None]:
    """Write replicated revisions in one transaction; per item None (written or known) or its error.

    Each item runs in a nested transaction, so a refused one (quota, structure,
    password, unique index) is left out alone.
    """
    store._live()
    if len(items) == 1:  # no savepoint needed: a refused item raises before it writes anything
        try:
            store._env.run_write(lambda ctx: _put_one(ctx, store, items[0], password))
        except DatastoreError as exc:
            return [exc]
        return [None]

    def op(ctx: WriteCtx) -> list[Exception | None]:
        results: list[Exception | None] = []
        # Without indexes a refused item raises before writing anything, so no
        # savepoint is needed (a nested transaction per item costs ~40 us);
        # index maintenance may refuse (unique) after writing some entries.
        savepoints = bool(store._write_state(ctx).indexes)
        for item in items:
            child = ctx.child() if savepoints else ctx
            try:
                _put_one(child, store, item, password)
            except DatastoreError as exc:
                if child is not ctx:
                    child.abort()
                results.append(exc)
            else:
                if child is not ctx:
                    child.commit()
                results.append(None)
        return results

    return store._env.run_write(op)


def _put_one(ctx: WriteCtx, store: Store, item: Incoming, password: str | None) -> bool:
    state = store._write_state(ctx)
    key = state.prefix + item.rid_b
    old, leaves = leaves_of(ctx.txn, ctx.dbs, key, rid=item.rid)
    merged = merge_leaves(leaves, item.leaf)
    if merged is None:
        return False
    if old is not None and old[0] & FLAG_PROTECTED and not old[0] & FLAG_DELETED:
        store._check_password(ctx.txn, key, item.rid, password)
    if state.validator is not None and not item.leaf.deleted:
        # Checked, never rewritten: the body must stay the one its revision names.
        state.validator(item.doc, store=state.name)
    commit_leaves(ctx, store, state, key, item.rid, item.rid_b, old, merged)
    return True


def commit_leaves(
    ctx: WriteCtx,
    store: Store,
    state: StoreState,
    key: bytes,
    rid: str,
    rid_b: bytes,
    old: bytes | None,
    leaves: list[Leaf],
    *,
    new_hash: bytes | None = None,
) -> Leaf:
    """Write a document's leaves: the winner as its record, the rest as its conflicts.

    Keeps what ``Store._apply`` keeps: quota, index entries, password record and
    flag, one feed entry per document, count/size/seq counters.
    """
    txn = ctx.txn
    dbs = ctx.dbs
    counters = ctx.counter(state.prefix)
    win = leaves[pick_winner(leaves)]
    losers = [leaf for leaf in leaves if leaf is not win]
    old_header = read_header(old, key=rid) if old is not None else None
    was_alive = old_header is not None and not old_header.deleted
    old_size = (
        len(rid_b) + len(old) - old_header.body_offset if was_alive and old and old_header else 0
    )
    new_size = 0 if win.deleted else len(rid_b) + len(win.body)
    total = counters[1] - old_size + new_size
    if state.max_bytes is not None and new_size > old_size and total > state.max_bytes:
        raise LimitExceeded(
            f"store {state.name!r} would hold {total} bytes, over its max_size_mb limit of "
            f"{state.record.get('max_size_mb')} MB ({state.max_bytes} bytes); nothing was written",
            limit="max_size_mb",
            value=total,
        )
    old_body = old[old_header.body_offset :] if was_alive and old and old_header else None
    new_body = None if win.deleted else win.body
    if state.indexes and old_body != new_body:
        from . import index

        old_doc = None if old_body is None else codec.decode(old_body, key=rid)
        new_doc = None if new_body is None else codec.decode(new_body, key=rid)
        index.maintain(ctx, state, rid_b, old_doc, new_doc)
    flags = FLAG_DELETED if win.deleted else 0
    if losers:
        flags |= FLAG_CONFLICTS
        txn.put(key, pack_losers(losers), db=dbs["conflicts"])
    elif old_header is not None and old_header.flags & FLAG_CONFLICTS:
        txn.delete(key, db=dbs["conflicts"])
    protected = old_header is not None and bool(old_header.flags & FLAG_PROTECTED)
    if win.deleted:
        if protected:
            txn.delete(key, db=dbs["passwords"])
    elif protected:
        flags |= FLAG_PROTECTED
    elif new_hash is not None:
        txn.put(key, new_hash, db=dbs["passwords"])
        flags |= FLAG_PROTECTED
    seq = counters[2] + 1
    txn.put(key, pack_record(flags, win.gen, seq, win.hist, win.body), db=dbs["docs"])
    if old_header is not None:
        ctx.feed_drop(state.prefix, changes.seq_key(state.prefix, old_header.seq))
    ctx.feed_add(
        state.prefix,
        changes.seq_key(state.prefix, seq),
        changes.pack_entry(flags, win.gen, win.hist[0], rid_b, deleted=win.deleted),
    )
    counters[0] += (0 if win.deleted else 1) - (1 if was_alive else 0)
    counters[1] = total
    counters[2] = seq
    return win


# -- local edits of documents with conflicts ------------------------------------------------


def local_edit(
    ctx: WriteCtx,
    store: Store,
    state: StoreState,
    key: bytes,
    rid: str,
    rid_b: bytes,
    old: bytes,
    body: bytes,
    deleting: bool,
    new_hash: bytes | None,
) -> str:
    """``Store._apply`` on a document with conflicts: edit the winner, then re-pick the winner.

    Called after ``_apply``'s checks (existence, password, if_rev, validator,
    quota). Returns the new revision (of the edited leaf, which may now lose).
    """
    _raw, leaves = leaves_of(ctx.txn, ctx.dbs, key, rid=rid)
    head = leaves[0]
    dig = changes.digest(head.hist[0], deleting, body)
    edited = Leaf(head.gen + 1, (dig, *head.hist[: changes.REVS_LIMIT - 1]), deleting, body)
    commit_leaves(ctx, store, state, key, rid, rid_b, old, [edited, *leaves[1:]], new_hash=new_hash)
    return edited.rev


def delete_leaf(store: Store, rid: str, rev: str, *, password: str | None = None) -> str:
    """Delete the losing leaf ``rev`` of ``rid`` (resolving a conflict); returns the tombstone's rev.

    Deleting the winning revision is ``store.delete(rid)``. :class:`NotFound` if
    ``rev`` is not a live leaf of ``rid``.
    """
    from .keys import rid_bytes

    rid_b = rid_bytes(rid)
    store._live()

    def op(ctx: WriteCtx) -> str:
        state = store._write_state(ctx)
        key = state.prefix + rid_b
        old, leaves = leaves_of(ctx.txn, ctx.dbs, key, rid=rid)
        if old is not None and old[0] & FLAG_PROTECTED and not old[0] & FLAG_DELETED:
            store._check_password(ctx.txn, key, rid, password)
        for i, leaf in enumerate(leaves):
            if leaf.rev == rev and not leaf.deleted:
                if i == 0:
                    raise Conflict(
                        f"revision {rev!r} is the winner of document {rid!r} in store {store.name!r}; "
                        "use store.delete(rid) to delete it"
                    )
                dig = changes.digest(leaf.hist[0], True, _TOMBSTONE_BODY)
                stone = Leaf(
                    leaf.gen + 1, (dig, *leaf.hist[: changes.REVS_LIMIT - 1]), True, _TOMBSTONE_BODY
                )
                commit_leaves(
                    ctx, store, state, key, rid, rid_b, old, [*leaves[:i], stone, *leaves[i + 1 :]]
                )
                return stone.rev
        raise NotFound(
            f"revision {rev!r} is not a live leaf of document {rid!r} in store {store.name!r}"
        )

    return store._env.run_write(op)
