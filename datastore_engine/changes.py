"""Revisions and the change feed.

**Revisions.** Every document record carries its revision ``N-hash``: ``N`` is
the generation (1 for a new document, +1 per change, continuing across a
delete and re-create as CouchDB does) and ``hash`` is a 128-bit digest
(SHA-256, cut) of the parent digest, the deleted flag and the encoded body, so the same edit of the same
parent gives the same revision everywhere. The record keeps the last
``revs_limit`` (default 1000) digests of the history, newest first, for
replication.

**Change feed.** Each store has a sequence number, raised by one for every
change in the same transaction as the change. The feed (``changes``
sub-database, key ``sid + seq``) shows one entry per document: its latest
change, as CouchDB's ``_changes`` shows one row per document. A delete leaves
a tombstone record and a feed entry with ``deleted=True``. A store's newest
entries wait in its counters record (the feed's *tail*, ``WriteCtx.feed_add``)
and move to the feed tree together; every tail entry is newer than every tree
entry. A document's older entry is taken out of the tail, or left *stale* in
the tree, counted, skipped by readers and swept later (``WriteCtx.feed_drop``).

Example:
    >>> entry = pack_entry(2, 5, b"\\x01" * 16, b"doc-1", deleted=True)
    >>> unpack_entry(entry)
    ('doc-1', '5-01010101010101010101010101010101', True)
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from .codec import accel_function

__all__ = ["REVS_LIMIT", "Change", "digest", "pack_entry", "parse_rev", "rev_string", "seq_key", "unpack_entry"]

REVS_LIMIT = 1000
_ENTRY = struct.Struct(">BI16s")
_SEQ = struct.Struct(">Q")
_FIRST_HEAD = b"\x00" + (1).to_bytes(4, "big")  # codec's record header: flags 0, generation 1
_FIRST_ENTRY = _ENTRY.pack(0, 1, bytes(16))[:5]  # a feed entry's flags 0, generation 1
# The SHA-256 state after a first revision's prefix (no parent, not deleted): copying it and
# feeding the body skips copying the body into a prefixed buffer (~0.3 us of ~2.4 us a document).
_FIRST_SHA = hashlib.sha256(b"\x00")


class Change(NamedTuple):
    """One row of a store's change feed. ``seq`` is opaque: pass it back as ``since``."""

    seq: int
    rid: str
    rev: str
    deleted: bool


def digest(parent: bytes, deleted: bool, body: bytes) -> bytes:
    """The 16-byte revision digest of an edit of ``parent`` (b"" for a first revision).

    SHA-256 cut to 16 bytes (32 hex digits, the size CouchDB peers expect):
    measured here at half the cost of MD5 for a 1 KB document (SHA extensions).
    """
    sha = hashlib.sha256(parent + (b"\x01" if deleted else b"\x00"))
    sha.update(body)  # not parent + flag + body: that copies the body once more
    return sha.digest()[:16]


def first_revision(prefix: bytes, seq: int, rid: bytes, body: bytes) -> tuple[bytes, bytes, bytes, str]:
    """``(record, feed key, feed entry, rev)`` of a document's first revision, in one call.

    The same bytes as :func:`digest`, ``codec.pack_record``, :func:`seq_key`,
    :func:`pack_entry` and :func:`rev_string` give, for the write path's
    hottest case (a new document; five calls cost ~0.6 us of a ~10 us insert).

    >>> from datastore_engine.codec import pack_record
    >>> body, p = b"\\x80", b"\\x00" * 8
    >>> dig = digest(b"", False, body)
    >>> first_revision(p, 7, b"r", body) == (
    ...     pack_record(0, 1, 7, (dig,), body), seq_key(p, 7), pack_entry(0, 1, dig, b"r", deleted=False),
    ...     rev_string(1, dig))
    True
    """
    sha = _FIRST_SHA.copy()
    sha.update(body)
    dig = sha.digest()[:16]
    seq_b = _SEQ.pack(seq)
    record = b"".join((_FIRST_HEAD, seq_b, b"\x00\x01", dig, body))  # one history digest
    return record, prefix + seq_b, _FIRST_ENTRY + dig + rid, f"1-{dig.hex()}"


def _first_revisions_py(
    prefix: bytes, seq: int, chunk: list[tuple[str, bytes, Any, bytes]]
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], list[str]]:
    made = [first_revision(prefix, seq + i, item[1], item[3]) for i, item in enumerate(chunk)]
    records = [(prefix + item[1], m[0]) for item, m in zip(chunk, made, strict=True)]
    return records, [(m[1], m[2]) for m in made], [m[3] for m in made]


def _load_accel() -> tuple[Callable[..., Any] | None, bool]:
    """The compiled :func:`first_revisions` (or None), and whether it hashes with OpenSSL directly.

    It binds SHA-256 from the OpenSSL library Python's ``_hashlib`` already
    loaded, after checking one digest against ``hashlib``'s; otherwise it
    hashes through a ``hashlib`` object (~0.3 us more a document).
    """
    first_revisions, use_openssl = accel_function("first_revisions"), accel_function("use_openssl")
    if first_revisions is None or use_openssl is None:
        return None, False
    # The known answer comes from _FIRST_SHA, the state the Python path and the fallback
    # hash from: the C code's own prefix byte must give the same digest, or it is not used.
    probe = b"datastore_engine revision probe"
    expected = _FIRST_SHA.copy()
    expected.update(probe)
    try:
        import _hashlib

        bound = use_openssl(_hashlib.__file__, probe, expected.digest())
    except (ImportError, AttributeError):  # no _hashlib, or one built into the interpreter
        bound = False
    return first_revisions, bound


_first_revisions_c, _openssl_bound = _load_accel()


def _load_single() -> Callable[[bytes, int, bytes, bytes], tuple[bytes, bytes, bytes, str]]:
    """:func:`first_revision`, compiled if the module loaded (the same bytes, ~0.6 us less)."""
    single = accel_function("first_revision") if _first_revisions_c is not None else None
    if single is None:
        return first_revision
    return functools.partial(single, _FIRST_SHA)


first_revision_fast = _load_single()


def first_revisions(
    prefix: bytes, seq: int, chunk: list[tuple[str, bytes, Any, bytes]]
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], list[str]]:
    """:func:`first_revision` for each ``(rid, rid_b, doc, body)`` of ``chunk``, sequences from ``seq``.

    Returns ``(records, entries, revs)``: ``(key, record)`` pairs for the
    documents tree, ``(feed key, entry)`` pairs for the feed, and the revision
    ids, in the order of ``chunk``. The loading loop of ``put_many``; with the
    optional C module (``_accel.c``) it runs in one compiled call and gives the
    same bytes (``tests/test_accel.py``).

    >>> body, p = b"\\x80", b"\\x00" * 8
    >>> records, entries, revs = first_revisions(p, 7, [("r", b"r", None, body)])
    >>> record, feed_key, entry, rev = first_revision(p, 7, b"r", body)
    >>> (records, entries, revs) == ([(p + b"r", record)], [(feed_key, entry)], [rev])
    True
    """
    if _first_revisions_c is not None:
        out: tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], list[str]] = _first_revisions_c(
            _FIRST_SHA, prefix, seq, chunk
        )
        return out
    return _first_revisions_py(prefix, seq, chunk)


def rev_string(gen: int, dig: bytes) -> str:
    """``"N-hexdigest"``."""
    return f"{gen}-{dig.hex()}"


def parse_rev(rev: str) -> tuple[int, bytes]:
    """Split ``"N-hex"`` into (N, digest bytes); ValueError if malformed."""
    gen_text, _, hex_text = rev.partition("-")
    gen = int(gen_text)
    dig = bytes.fromhex(hex_text)
    if gen < 1 or len(dig) != 16:
        raise ValueError(f"malformed revision {rev!r}")
    return gen, dig


def seq_key(prefix: bytes, seq: int) -> bytes:
    """Key of a feed entry: store prefix + big-endian sequence."""
    return prefix + _SEQ.pack(seq)


def pack_entry(flags: int, gen: int, dig: bytes, rid: bytes, *, deleted: bool) -> bytes:
    """Encode a feed entry (flags carry the deleted bit)."""
    return _ENTRY.pack((flags & ~1) | (1 if deleted else 0), gen, dig) + rid


def unpack_entry(raw: bytes) -> tuple[str, str, bool]:
    """Decode a feed entry into (rid, rev, deleted)."""
    flags, gen, dig = _ENTRY.unpack_from(raw)
    return raw[_ENTRY.size :].decode(), rev_string(gen, dig), bool(flags & 1)
