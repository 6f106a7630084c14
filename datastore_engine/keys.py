"""Binary key layout and key limits.

Every sub-database key is built here, so the layout lives in one place:

* ``catalog``:  ``scope + name``       -> store record (see ``catalog``)
  where ``scope`` is ``b"L" app \\0`` (local), ``b"O" org \\0`` (organization)
  or ``b"S\\0"`` (system). Names never contain NUL, so the separator is unambiguous.
* ``docs``:     ``sid(8) + rid``        -> document record (see ``codec``)
* ``counters``: ``sid(8)``              -> live count, size, last sequence
* ``changes``:  ``sid(8) + seq(8)``     -> change-feed entry
* ``index``:    ``sid(8) + iid(4) + value + \\0 + rid`` (see ``index``)

``sid`` is a store's internal number, big-endian so one store's keys are one
contiguous range. A rid is a non-empty ``str`` of at most 250 UTF-8 bytes with no
NUL; a store name is 1-128 characters with no NUL or other control character.

Example:
    >>> rid_bytes("one")
    b'one'
    >>> len(new_rid())
    26
"""

from __future__ import annotations

import os
import struct
import threading
import time

from .errors import LimitExceeded, ValidationError

__all__ = [
    "DOMAINS",
    "MAX_RID_BYTES",
    "MAX_STORE_NAME_CHARS",
    "catalog_key",
    "check_domain",
    "check_store_name",
    "new_rid",
    "rid_bytes",
    "scope_prefix",
    "sid_bytes",
]

MAX_RID_BYTES = 250
MAX_STORE_NAME_CHARS = 128
DOMAINS = ("local", "organization", "system")

_SID = struct.Struct(">Q")


def rid_bytes(rid: object) -> bytes:
    """Validate a document id and return its UTF-8 bytes.

    >>> rid_bytes("")
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: document id must be a non-empty str, got ''
    """
    if type(rid) is str and 0 < len(rid) <= MAX_RID_BYTES and rid.isascii() and "\x00" not in rid:
        return rid.encode()  # the common case: short ASCII ids, one pass of checks
    if type(rid) is not str or not rid:
        if isinstance(rid, str) and rid:
            rid = str(rid)
        else:
            raise ValidationError(f"document id must be a non-empty str, got {rid!r}")
    try:
        data = rid.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"document id is not valid Unicode: {rid!r}") from exc
    if len(data) > MAX_RID_BYTES:
        raise LimitExceeded(
            f"document id is {len(data)} UTF-8 bytes, over the limit of {MAX_RID_BYTES}: {rid[:40]!r}...",
            limit="max_rid_bytes",
            value=len(data),
        )
    if b"\x00" in data:
        raise ValidationError(f"document id must not contain NUL: {rid!r}")
    return data


def check_store_name(name: object) -> str:
    """Validate a store (or structure) name: 1-128 characters, no control characters."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"store name must be a non-empty str, got {name!r}")
    if len(name) > MAX_STORE_NAME_CHARS:
        raise LimitExceeded(
            f"store name is {len(name)} characters, over the limit of {MAX_STORE_NAME_CHARS}: "
            f"{name[:40]!r}...",
            limit="max_store_name_chars",
            value=len(name),
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError(f"store name must not contain control characters: {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"store name is not valid Unicode: {name!r}") from exc
    return name


def check_domain(domain: object) -> str:
    """Return ``domain`` if it is one of local, organization, system."""
    if domain not in DOMAINS:
        raise ValidationError(f"domain must be one of {', '.join(DOMAINS)}; got {domain!r}")
    return str(domain)


def scope_prefix(domain: str, *, app: str, org: str) -> bytes:
    """The catalog prefix of a domain as seen by an engine opened with ``app``/``org``."""
    if domain == "local":
        return b"L" + app.encode() + b"\x00"
    if domain == "organization":
        return b"O" + org.encode() + b"\x00"
    if domain == "system":
        return b"S\x00"
    raise ValidationError(f"domain must be one of {', '.join(DOMAINS)}; got {domain!r}")


def catalog_key(domain: str, name: str, *, app: str, org: str) -> bytes:
    """Catalog key of store ``name`` in ``domain``."""
    return scope_prefix(domain, app=app, org=org) + name.encode()


def sid_bytes(sid: int) -> bytes:
    """The 8-byte big-endian prefix of store number ``sid``."""
    return _SID.pack(sid)


# Auto ids: 48-bit millisecond time + 80 random bits, Crockford base32 (like a
# ULID). Within one process the value strictly increases even inside one
# millisecond: the random part is incremented instead of redrawn. Across
# processes, 80 random bits make a clash negligible.
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_rid_lock = threading.Lock()
_last_rid = 0


def new_rid() -> str:
    """A new, time-ordered, unique document id (26 characters)."""
    global _last_rid
    with _rid_lock:
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        if value <= _last_rid:
            value = _last_rid + 1
        _last_rid = value
    chars = []
    for _ in range(26):
        chars.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _reset_rid_after_fork() -> None:
    global _rid_lock
    _rid_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_rid_after_fork)
