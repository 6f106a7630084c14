"""Blob attachments of synced documents: how a document names a blob, and the wire form.

A document references attachments with the reserved field ``_attachments``
(CouchDB's name), one entry per attachment name::

    {"title": "cat",
     "_attachments": {"photo.jpg": {"content_type": "image/jpeg",
                                    "digest": "md5-<base64 of the MD5>",
                                    "length": 51234, "revpos": 2,
                                    "bucket": "att-<store uuid>", "object": "md5/<hex MD5>"}}}

The content is a blob object. By default it lives in the store's attachment
bucket ``att-<store uuid>`` (see :func:`bucket_name`) under a name made from
its MD5, so equal content is stored once however many revisions and documents
use it (and a peer's stub, which names only the digest, finds it). An entry
may instead point at any ``bucket``/``object`` the app owns; ``digest`` and
``length`` are then computed when pushed. Objects of the store's bucket stay
when documents are deleted or attachments replaced (a revision may still name
them); :func:`collect_attachments` deletes those no kept revision names, and
never touches other buckets.

On the wire (``_bulk_docs``/``_bulk_get``) an attachment is inline base64 data,
or a *stub* (``"stub": true`` with its digest) when the peer is known to have
it: it holds an ancestor revision at or after the attachment's ``revpos``.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     s = engine.store("pets")
    ...     _ = s.put("cat", {"name": "Tom"})
    ...     _ = put_attachment(s, "cat", "hi.txt", b"hello", content_type="text/plain")
    ...     (get_attachment(s, "cat", "hi.txt"), s.get("cat")["_attachments"]["hi.txt"]["digest"])
    (b'hello', 'md5-XUFAKrxLKna5cZ2REBfFkg==')
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CorruptData, NotFound, ValidationError
from ._local import store_uuid

if TYPE_CHECKING:
    from ..blobs import Bucket
    from ..store import Store

__all__ = ["bucket_name", "from_wire", "get_attachment", "put_attachment", "to_wire"]

FIELD = "_attachments"
#: An existing attachment object reused by a write is touched (its modification time
#: refreshed) when older than this many seconds; see :func:`_reuse`.
TOUCH_AFTER_S = 60.0


def bucket_name(store: Store) -> str:
    """The store's own attachment bucket: ``att-`` and its replication uuid."""
    return "att-" + store_uuid(store)


def _md5_digest(md5: bytes) -> str:
    return "md5-" + base64.b64encode(md5).decode("ascii")


def _object_of(md5: bytes) -> str:
    return "md5/" + md5.hex()


def _save(store: Store, data: bytes, content_type: str) -> dict[str, Any]:
    """Store ``data`` content-addressed in the store's bucket; the entry fields naming it."""
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    bucket = store.engine.bucket(bucket_name(store))
    name = _object_of(md5)
    if not _reuse(bucket, name):
        bucket.put(name, data, content_type=content_type)
    return {
        "content_type": content_type,
        "digest": _md5_digest(md5),
        "length": len(data),
        "bucket": bucket.name,
        "object": name,
    }


def _reuse(bucket: Bucket, name: str) -> bool:
    """True if object ``name`` exists and now counts as just written; False: put it.

    The blob is written before the revision naming it, in another transaction,
    so :func:`~datastore_engine.sync.collect_attachments` spares objects younger than its grace
    period. Reusing an old (maybe unreferenced) object must therefore make it
    young again: its modification time is refreshed by copying it onto itself
    (the content is shared, not copied) unless it is younger than
    ``TOUCH_AFTER_S``, which keeps a burst of writes of one content to one read each.
    """
    try:
        info = bucket.stat(name)
    except NotFound:
        return False
    modified = info.last_modified
    if modified is not None and time.time() - modified.timestamp() < TOUCH_AFTER_S:
        return True
    try:
        bucket.copy_to(bucket.name, name, name)
    except NotFound:  # collected between the stat and the copy: write it again
        return False
    return True


def put_attachment(
    store: Store,
    rid: str,
    name: str,
    data: bytes,
    *,
    content_type: str = "application/octet-stream",
    password: str | None = None,
) -> str:
    """Attach ``data`` to document ``rid`` as ``name`` (creating the document if missing).

    Returns the document's new revision. :class:`Conflict` if the document
    changed between the read and the write (try again).
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(f"attachment name must be a non-empty str, got {name!r}")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"attachment data must be bytes, not {type(data).__name__}")
    found = store.get(rid, None, password=password, with_rev=True)
    doc, rev = found if found is not None else ({}, None)
    if not isinstance(doc, dict):
        raise ValidationError(f"document {rid!r} is not a JSON object; it cannot hold attachments")
    gen = int(rev.split("-", 1)[0]) if rev else 0
    entry = {**_save(store, bytes(data), content_type), "revpos": gen + 1}
    atts = dict(doc.get(FIELD) or {})
    atts[name] = entry
    return store.put(rid, {**doc, FIELD: atts}, if_rev=rev, password=password)


def _bucket(store: Store, entry: Mapping[str, Any]) -> tuple[Bucket, str]:
    bucket, obj = entry.get("bucket"), entry.get("object")
    if not isinstance(bucket, str) or not isinstance(obj, str):
        raise ValidationError(f"attachment entry {dict(entry)!r} names no bucket and object")
    return store.engine.bucket(bucket), obj


def get_attachment(store: Store, rid: str, name: str, *, password: str | None = None) -> bytes:
    """The content of attachment ``name`` of document ``rid``."""
    doc = store.get(rid, password=password)
    entry = (doc.get(FIELD) or {}).get(name) if isinstance(doc, dict) else None
    if not isinstance(entry, dict):
        raise NotFound(f"document {rid!r} of store {store.name!r} has no attachment {name!r}")
    bucket, obj = _bucket(store, entry)
    return bucket.get_bytes(obj)


def to_wire(store: Store, entries: Any, *, peer_has: Callable[[int], bool]) -> dict[str, Any]:
    """Our ``_attachments`` entries as CouchDB sends them: stubs where ``peer_has(revpos)``, else inline."""
    if not isinstance(entries, dict):
        raise ValidationError(f"_attachments must be an object, got {entries!r}")
    out: dict[str, Any] = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ValidationError(f"attachment {name!r} must be an object, got {entry!r}")
        ctype = str(entry.get("content_type") or "application/octet-stream")
        revpos = entry.get("revpos")
        digest = entry.get("digest")
        if isinstance(revpos, int) and isinstance(digest, str) and peer_has(revpos):
            out[name] = {"stub": True, "content_type": ctype, "digest": digest, "revpos": revpos}
            if isinstance(entry.get("length"), int):
                out[name]["length"] = entry["length"]
            continue
        bucket, obj = _bucket(store, entry)
        data = bucket.get_bytes(obj)
        out[name] = {"content_type": ctype, "data": base64.b64encode(data).decode("ascii")}
    return out


def from_wire(
    store: Store, entries: Any, *, fetch: Callable[[str], bytes], where: str = ""
) -> dict[str, Any]:
    """A peer's ``_attachments`` as our entries; inline data is stored in the store's bucket.

    A stub is resolved by its digest from our bucket, or else ``fetch(name)``
    (``GET doc/name?rev=``). Inline data whose MD5 differs from its digest is
    :class:`CorruptData`.
    """
    if not isinstance(entries, dict):
        raise ValidationError(f"_attachments of {where} must be an object, got {entries!r}")
    out: dict[str, Any] = {}
    for name, att in entries.items():
        if not isinstance(att, dict):
            raise ValidationError(f"attachment {name!r} of {where} must be an object")
        ctype = str(att.get("content_type") or "application/octet-stream")
        digest = att.get("digest")
        if isinstance(att.get("data"), str):
            try:
                data = base64.b64decode(att["data"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationError(f"attachment {name!r} of {where} is not base64") from exc
        else:
            copy = _local_copy(store, digest) if isinstance(digest, str) else None
            data = copy if copy is not None else fetch(name)
        entry = _save(store, data, ctype)
        if isinstance(digest, str) and digest.startswith("md5-") and digest != entry["digest"]:
            raise CorruptData(
                f"attachment {name!r} of {where}: content has digest {entry['digest']}, the peer said {digest}",
                key=where,
            )
        if isinstance(att.get("revpos"), int):
            entry["revpos"] = att["revpos"]
        out[name] = entry
    return out


def _local_copy(store: Store, digest: str) -> bytes | None:
    if not digest.startswith("md5-"):
        return None
    try:
        md5 = base64.b64decode(digest[4:], validate=True)
    except (binascii.Error, ValueError):
        return None
    bucket = store.engine.bucket(bucket_name(store))
    name = _object_of(md5)
    return bucket.get_bytes(name) if bucket.exists(name) else None
