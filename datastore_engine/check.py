"""A full consistency check: everything that must agree, recomputed from the documents.

:func:`check` reads the whole file in one read transaction (one snapshot, so
concurrent writers cannot make it report a half-seen commit) and returns a
list of problems, each a sentence naming the store and document; an empty
list means the file is consistent. It never raises for bad data: a record
that does not decode is a problem in the list (``CorruptData`` is caught).

What it checks, per store of the catalog (every domain, every app and org):

* every document record parses and its body decodes;
* the live count and size recomputed from the records equal the counters,
  and no record has a sequence past the store's last sequence;
* the change feed has exactly one live entry per document record (tombstones
  included), at the record's sequence, with its revision and deleted flag;
  the feed tree's other entries are stale (their document changed since) and
  number what the store's counters say;
* a record is flagged password-protected exactly when ``passwords`` holds
  an entry for it;
* index entries equal what recomputing them from the documents gives (when
  :mod:`.index` provides ``expected_entries``; see :func:`_index_problems`);
* no document, feed, counter or password entry belongs to a store number
  the catalog does not know.

Then the blob store (:func:`datastore_engine.blobs.check`). With
``untrusted=True`` (``open(path, verify=True)``), bodies and catalog records
are decoded by :func:`.codec.decode_untrusted`: duplicate map keys, extension
types and non-JSON values are problems too.

Memory grows with the number of documents (a few hundred bytes each): this is
a maintenance routine, not a hot path.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     _ = engine.store("s").put("a", {"n": 1})
    ...     check(engine)
    []
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import changes, codec
from .codec import FLAG_DELETED, FLAG_PROTECTED
from .errors import CorruptData

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["check"]

_SID = 8
_MISSING: Any = object()


@dataclass
class _Seen:
    """What the walk over one store's records found."""

    label: str
    count: int = 0
    size: int = 0
    max_seq: int = 0
    records: dict[bytes, tuple[int, str, bool]] = field(
        default_factory=dict
    )  # rid -> seq, rev, deleted
    protected: set[bytes] = field(default_factory=set)
    bodies: dict[bytes, Any] = field(default_factory=dict)  # rid -> live document (for indexes)
    damaged: set[bytes] = field(default_factory=set)  # rids whose record header is unreadable
    stale: int | None = None  # stale feed entries, as the counters record says (None: unreadable)


def check(engine: Engine, *, untrusted: bool = False) -> list[str]:
    """Problems found in ``engine``'s file (an empty list: none). See the module doc."""
    env = engine._check()
    problems: list[str] = []
    # One snapshot for everything, the blob check's batched reads included.
    with env.snapshot(), env.reading() as txn:
        dbs = env.dbs
        stores, states = _catalog(txn, dbs, problems, untrusted=untrusted)
        _documents(
            txn, dbs, stores, problems, untrusted=untrusted, keep_bodies=_wants_bodies(states)
        )
        tails = _counters(txn, dbs, stores, problems)
        _feed(txn, dbs, stores, tails, problems)
        _passwords(txn, dbs, stores, problems)
        problems.extend(_index_problems(txn, dbs, stores, states))
        problems.extend(_blob_problems(engine))
    return problems


def _rows(txn: Any, db: Any) -> Iterator[tuple[bytes, bytes]]:
    for key, value in txn.cursor(db=db):
        yield bytes(key), bytes(value)


def _catalog(
    txn: Any, dbs: dict[str, Any], problems: list[str], *, untrusted: bool
) -> tuple[dict[bytes, _Seen], dict[bytes, Any]]:
    """Store prefix -> _Seen, and prefix -> StoreState (for index checks)."""
    from .catalog import state_from_record

    stores: dict[bytes, _Seen] = {}
    states: dict[bytes, Any] = {}
    decode: Callable[..., Any] = codec.decode_untrusted if untrusted else codec.decode
    for ckey, raw in _rows(txn, dbs["catalog"]):
        name = ckey.decode("utf-8", "replace")
        try:
            record = decode(raw, key=name)
            state = state_from_record(ckey, record, 0)
        except CorruptData as exc:
            problems.append(f"catalog record {name!r}: {exc}")
            continue
        except Exception as exc:  # a record that decodes but lacks fields is damage too
            problems.append(f"catalog record {name!r} is malformed: {type(exc).__name__}: {exc}")
            continue
        label = f"store {state.name!r} ({state.domain}, key {name!r})"
        if state.prefix in stores:
            problems.append(
                f"{label}: store number {state.sid} is also used by {stores[state.prefix].label}"
            )
            continue
        stores[state.prefix] = _Seen(label)
        states[state.prefix] = state
    return stores, states


def _orphan(what: str, key: bytes) -> str:
    return f"{what} {key[_SID:]!r} belongs to store number {int.from_bytes(key[:_SID], 'big')}, which the catalog does not hold"


def _documents(
    txn: Any,
    dbs: dict[str, Any],
    stores: dict[bytes, _Seen],
    problems: list[str],
    *,
    untrusted: bool,
    keep_bodies: set[bytes],
) -> None:
    decode: Callable[..., Any] = codec.decode_untrusted if untrusted else codec.decode
    for key, raw in _rows(txn, dbs["docs"]):
        seen = stores.get(key[:_SID])
        if seen is None:
            problems.append(_orphan("document", key))
            continue
        rid_b = key[_SID:]
        rid = rid_b.decode("utf-8", "replace")
        try:
            header = codec.read_header(raw, key=rid)
        except CorruptData as exc:
            # Its seq, flags and size are unknown: the counters and feed of
            # this store cannot be checked against it (reported once, here).
            problems.append(f"{seen.label}: document {rid!r}: {exc}")
            seen.damaged.add(rid_b)
            continue
        body = _MISSING
        if not header.flags & FLAG_DELETED:
            try:
                body = decode(memoryview(raw)[header.body_offset :], key=rid)
            except CorruptData as exc:
                problems.append(f"{seen.label}: document {rid!r}: {exc}")
        if not header.history:
            problems.append(f"{seen.label}: document {rid!r} has no revision history")
            continue
        seen.records[rid_b] = (header.seq, header.rev, header.deleted)
        seen.max_seq = max(seen.max_seq, header.seq)
        if header.flags & FLAG_PROTECTED:
            seen.protected.add(rid_b)
        if header.flags & FLAG_DELETED:
            if header.flags & FLAG_PROTECTED:
                problems.append(
                    f"{seen.label}: tombstone {rid!r} is still flagged password-protected"
                )
            continue
        seen.count += 1
        seen.size += len(rid_b) + len(raw) - header.body_offset
        if key[:_SID] in keep_bodies and body is not _MISSING:
            seen.bodies[rid_b] = body


def _counters(
    txn: Any, dbs: dict[str, Any], stores: dict[bytes, _Seen], problems: list[str]
) -> dict[bytes, list[tuple[bytes, bytes]]]:
    """Check each store's counters against its documents; its feed tail, read from the same record."""
    from .engine import (
        SUBDATABASE_KEYS,
        counters_stale,
        counters_tail,
        unpack_counters,
        unpack_tail,
    )

    found: set[bytes] = set()
    tails: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for key, raw in _rows(txn, dbs["counters"]):
        if key in SUBDATABASE_KEYS:
            continue  # the main database also holds the sub-databases' records
        seen = stores.get(key)
        if seen is None:
            problems.append(
                f"counters of store number {int.from_bytes(key[:_SID], 'big')}: no such store in the catalog"
            )
            continue
        found.add(key)
        try:
            count, size, seq, _mtime = unpack_counters(raw)
            seen.stale = counters_stale(raw)
            tails[key] = unpack_tail(key, counters_tail(raw))
        except Exception:
            problems.append(f"{seen.label}: its counters record is malformed ({len(raw)} bytes)")
            continue
        if seen.damaged:
            continue  # the damaged records were reported; their share of the counters is unknown
        if (count, size) != (seen.count, seen.size):
            problems.append(
                f"{seen.label}: counters say {count} documents / {size} bytes, "
                f"the documents add up to {seen.count} / {seen.size}"
            )
        if seq < seen.max_seq:
            problems.append(
                f"{seen.label}: last sequence {seq} is behind a document at sequence {seen.max_seq}"
            )
    for prefix, seen in stores.items():
        if prefix not in found:
            problems.append(f"{seen.label}: has no counters record")
    return tails


def _feed(
    txn: Any,
    dbs: dict[str, Any],
    stores: dict[bytes, _Seen],
    tails: dict[bytes, list[tuple[bytes, bytes]]],
    problems: list[str],
) -> None:
    fed: dict[bytes, set[bytes]] = {prefix: set() for prefix in stores}
    stale: dict[bytes, int] = dict.fromkeys(stores, 0)  # feed-tree entries a newer change retired
    last: dict[bytes, int] = {}  # each store's newest sequence in the feed tree
    tree = ((key, raw, False) for key, raw in _rows(txn, dbs["changes"]))
    tail = ((key, raw, True) for rows in tails.values() for key, raw in rows)
    for key, raw, in_tail in itertools.chain(tree, tail):
        prefix = key[:_SID]
        seen = stores.get(prefix)
        if seen is None:
            problems.append(_orphan("feed entry", key))
            continue
        seq = int.from_bytes(key[_SID:], "big")
        if not in_tail:
            last[prefix] = seq
        elif seq <= last.get(prefix, 0):
            problems.append(
                f"{seen.label}: feed tail entry at sequence {seq} is not after the feed's "
                f"last entry at {last[prefix]}"
            )
        else:
            last[prefix] = seq
        try:
            rid, rev, deleted = changes.unpack_entry(raw)
        except Exception:
            problems.append(f"{seen.label}: feed entry at sequence {seq} is malformed")
            continue
        rid_b = rid.encode()
        record = seen.records.get(rid_b)
        if record is None and rid_b in seen.damaged:
            continue
        if not in_tail and record is not None and record[0] > seq:
            stale[prefix] += 1  # retired by a later change of its document (WriteCtx.feed_drop)
            continue
        if rid_b in fed[prefix]:
            problems.append(
                f"{seen.label}: document {rid!r} has more than one feed entry (one at {seq})"
            )
        fed[prefix].add(rid_b)
        if record is None:
            problems.append(
                f"{seen.label}: feed entry at sequence {seq} names {rid!r}, which has no record"
            )
        elif record != (seq, rev, deleted):
            problems.append(
                f"{seen.label}: feed entry of {rid!r} says seq {seq} rev {rev} deleted={deleted}, "
                f"the record says seq {record[0]} rev {record[1]} deleted={record[2]}"
            )
    for prefix, seen in stores.items():
        for rid_b in sorted(set(seen.records) - fed[prefix] - seen.damaged):
            problems.append(
                f"{seen.label}: document {rid_b.decode('utf-8', 'replace')!r} has no feed entry"
            )
        if seen.stale is not None and not seen.damaged and seen.stale != stale[prefix]:
            problems.append(
                f"{seen.label}: counters say {seen.stale} stale feed entries, the feed tree holds {stale[prefix]}"
            )


def _passwords(
    txn: Any, dbs: dict[str, Any], stores: dict[bytes, _Seen], problems: list[str]
) -> None:
    held: dict[bytes, set[bytes]] = {prefix: set() for prefix in stores}
    for key, raw in _rows(txn, dbs["passwords"]):
        seen = stores.get(key[:_SID])
        if seen is None:
            problems.append(_orphan("password of document", key))
            continue
        held[key[:_SID]].add(key[_SID:])
        if not raw:
            problems.append(f"{seen.label}: password entry of {key[_SID:]!r} is empty")
    for prefix, seen in stores.items():
        for rid_b in sorted(seen.protected - held[prefix]):
            problems.append(
                f"{seen.label}: document {rid_b!r} is flagged protected but has no password entry"
            )
        for rid_b in sorted(held[prefix] - seen.protected):
            problems.append(
                f"{seen.label}: document {rid_b!r} has a password entry but is not flagged protected"
            )


# --- extension points -------------------------------------------------------------


def _wants_bodies(states: dict[bytes, Any]) -> set[bytes]:
    """Store prefixes whose documents the index check needs in memory."""
    return (
        {prefix for prefix, state in states.items() if state.indexes} if _index_module() else set()
    )


def _index_module() -> Any:
    """The index module if it offers ``expected_entries`` (the hook this check uses), else None."""
    try:
        from . import index  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    return index if hasattr(index, "expected_entries") else None


def _index_problems(
    txn: Any, dbs: dict[str, Any], stores: dict[bytes, _Seen], states: dict[bytes, Any]
) -> list[str]:
    """Index entries against a recomputation from the documents.

    The hook: ``index.expected_entries(state, rid_bytes, document)`` returns the
    ``(key, value)`` pairs that document should have in the ``index``
    sub-database; every entry of a store starts with its 8-byte prefix.
    """
    index = _index_module()
    problems: list[str] = []
    expected: dict[bytes, bytes] = {}
    if index is not None:
        for prefix, state in states.items():
            if not state.indexes:
                continue
            for rid_b, doc in stores[prefix].bodies.items():
                for key, value in index.expected_entries(state, rid_b, doc):
                    expected[bytes(key)] = bytes(value)
    for key, value in _rows(txn, dbs["index"]):
        prefix = key[:_SID]
        if prefix not in stores:
            problems.append(_orphan("index entry", key))
            continue
        if index is None:
            continue
        want = expected.pop(key, None)
        if want is None:
            problems.append(
                f"{stores[prefix].label}: index entry {key[_SID:]!r} matches no document"
            )
        elif want != value:
            problems.append(
                f"{stores[prefix].label}: index entry {key[_SID:]!r} holds a stale value"
            )
    for key in sorted(expected):
        problems.append(f"{stores[key[:_SID]].label}: index entry {key[_SID:]!r} is missing")
    return problems


def _blob_problems(engine: Engine) -> list[str]:
    from . import blobs

    try:
        return [f"blobs: {p}" for p in blobs.check(engine)]
    except CorruptData as exc:
        return [f"blobs: {exc}"]
