"""Blob store names, key layout and record formats (pure: no storage here).

Key layout of the four blob sub-databases:

* ``buckets``: ``bucket name (UTF-8)`` -> msgpack ``{"id": int, "created": ms}``
* ``objects``: ``bucket id(8) + object key`` -> manifest (msgpack, see :func:`pack_manifest`)
* ``chunks``:  ``blob id(8)``           -> blob header ``refs, size, chunk count, chunk size``
               ``blob id(8) + seq(4)``  -> one chunk of content (``CHUNK_SIZE`` bytes, last shorter)
* ``uploads``: ``blob id(8)``           -> msgpack ``{"pid", "start", "boot", "t", "bucket", "name"}``

A *blob* is immutable content; a manifest (an object) points at one blob and a
blob counts the manifests that point at it (``copy_to`` shares the blob instead
of copying it). Blob ids are never reused, so a reader that finds a chunk of its
blob missing knows the object was replaced or deleted under it.

**Object keys.** LMDB keys stop at 511 bytes and object names go to 1024, so a
name of at most ``SHORT_NAME_BYTES`` (448) UTF-8 bytes is its own key; a longer
name is keyed by its first 448 bytes, a NUL and its SHA-256. Names never contain
NUL, so that key sorts after every shorter name with the same first 448 bytes
and before any name that is greater at one of them: key order equals name order
(UTF-8 byte order, which is code point order, as S3 lists), except *within* a
group of long names sharing their first 448 bytes, which is ordered by hash;
listing sorts such a group by full name in memory (the group is read whole).
Rejected: an id table for long names (an extra lookup and write for every
object), or keys of a fixed-size hash (listing order lost).

Example:
    >>> object_key(b"\\x00" * 8, "photos/a.jpg")[8:]
    b'photos/a.jpg'
    >>> len(object_key(b"\\x00" * 8, "x" * 1000))
    489
    >>> guess_content_type("notes/readme.TXT"), guess_content_type("blob")
    ('text/plain', 'application/octet-stream')
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import mimetypes
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack

from .errors import CorruptData, LimitExceeded, ValidationError

__all__ = [
    "CHUNK_SIZE",
    "MAX_METADATA_BYTES",
    "MAX_OBJECT_NAME_BYTES",
    "SHORT_NAME_BYTES",
    "ObjectInfo",
    "blob_key",
    "check_bucket_name",
    "check_metadata",
    "chunk_key",
    "guess_content_type",
    "object_key",
    "object_name_bytes",
    "pack_blob_header",
    "pack_manifest",
    "unpack_blob_header",
    "unpack_manifest",
]

#: Content is stored in chunks of this size (the last one shorter).
CHUNK_SIZE = 1 << 20
MAX_OBJECT_NAME_BYTES = 1024
#: Names up to this many UTF-8 bytes are their own key (8 + 448 + 1 + 32 = 489 <= 511).
SHORT_NAME_BYTES = 448
LONG_KEY_BYTES = 8 + SHORT_NAME_BYTES + 1 + 32
#: User metadata (keys + values, UTF-8) is capped like S3's 2 KB, a little more generously.
MAX_METADATA_BYTES = 8 << 10

_U64 = struct.Struct(">Q")
_SEQ = struct.Struct(">I")
_HEADER = struct.Struct(">QQII")  # refs, size, chunk count, chunk size

# -- bucket names --------------------------------------------------------------------

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
# S3's extra rules, as (test, what it breaks). Underscores are allowed on purpose:
# the ForePaaS connector's examples use ``my_bucket``.
_BUCKET_RULES: tuple[tuple[Any, str], ...] = (
    (lambda n: ".." in n, "must not contain two adjacent dots"),
    (lambda n: ".-" in n or "-." in n, "must not have a dot next to a hyphen"),
    (lambda n: n.startswith("xn--"), "must not start with 'xn--'"),
    (lambda n: n.startswith("sthree-"), "must not start with 'sthree-'"),
    (lambda n: n.endswith("-s3alias"), "must not end with '-s3alias'"),
    (lambda n: n.endswith("--ol-s3"), "must not end with '--ol-s3'"),
    (lambda n: _is_ipv4(n), "must not look like an IP address"),
)


def _is_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_bucket_name(name: object) -> str:
    """Validate a bucket name (S3's rules, underscores allowed) and return it.

    >>> check_bucket_name("my_bucket")
    'my_bucket'
    >>> check_bucket_name("My Bucket")
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: bucket name 'My Bucket' may hold only lowercase letters, digits, '.', '-' and '_', and must start and end with a letter or digit
    """
    if not isinstance(name, str):
        raise ValidationError(f"bucket name must be a str, got {name!r}")
    problem = _bucket_name_problem(name)
    if problem:
        raise ValidationError(f"bucket name {name!r} {problem}")
    return name


@functools.lru_cache(maxsize=256)
def _bucket_name_problem(name: str) -> str:
    """The rule ``name`` breaks, or ``""``: cached, as every ``engine.bucket()`` checks (~3 us)."""
    if not 3 <= len(name) <= 63:
        return f"must be 3-63 characters long, it has {len(name)}"
    if not _BUCKET_CHARS.fullmatch(name):
        return (
            "may hold only lowercase letters, digits, '.', '-' and '_', "
            "and must start and end with a letter or digit"
        )
    for broken, rule in _BUCKET_RULES:
        if broken(name):
            return str(rule)
    return ""


# -- object names and keys ------------------------------------------------------------


def object_name_bytes(name: object) -> bytes:
    """Validate an object name (1-1024 UTF-8 bytes, no NUL) and return its UTF-8 bytes."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"object name must be a non-empty str, got {name!r}")
    try:
        data = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"object name is not valid Unicode: {name!r}") from exc
    if len(data) > MAX_OBJECT_NAME_BYTES:
        raise LimitExceeded(
            f"object name is {len(data)} UTF-8 bytes, over the limit of {MAX_OBJECT_NAME_BYTES}: "
            f"{name[:40]!r}...",
            limit="max_object_name_bytes",
            value=len(data),
        )
    if b"\x00" in data:
        raise ValidationError(f"object name must not contain NUL: {name!r}")
    return data


def object_key(bucket_id: bytes, name: str) -> bytes:
    """The ``objects`` key of ``name`` in the bucket with 8-byte id ``bucket_id``."""
    return name_key(bucket_id, object_name_bytes(name))


def name_key(bucket_id: bytes, data: bytes) -> bytes:
    """:func:`object_key` of a name already checked and encoded by :func:`object_name_bytes`."""
    if len(data) <= SHORT_NAME_BYTES:
        return bucket_id + data
    return bucket_id + data[:SHORT_NAME_BYTES] + b"\x00" + hashlib.sha256(data).digest()


def is_long_key(key: bytes) -> bool:
    """True for the key of a name longer than ``SHORT_NAME_BYTES`` (short keys are at most 456 bytes)."""
    return len(key) == LONG_KEY_BYTES


def seek_key(bucket_id: bytes, name_prefix: bytes) -> bytes:
    """A key at or before every object key whose name starts with (or sorts after) ``name_prefix``."""
    return bucket_id + name_prefix[:SHORT_NAME_BYTES]


def u64(value: int) -> bytes:
    return _U64.pack(value)


def blob_key(blob_id: int) -> bytes:
    """The key of a blob's header (and the prefix of its chunks) in ``chunks``."""
    return _U64.pack(blob_id)


def chunk_key(blob_id: int, seq: int) -> bytes:
    """The key of chunk ``seq`` of blob ``blob_id``."""
    return _U64.pack(blob_id) + _SEQ.pack(seq)


def blob_id_of(key: bytes) -> int:
    return int(_U64.unpack_from(key)[0])


def seq_of(key: bytes) -> int:
    return int(_SEQ.unpack_from(key, 8)[0])


# -- records ---------------------------------------------------------------------------


def pack_blob_header(*, refs: int, size: int, chunks: int, chunk_size: int = CHUNK_SIZE) -> bytes:
    """Encode a blob header."""
    return _HEADER.pack(refs, size, chunks, chunk_size)


def unpack_blob_header(raw: bytes, *, blob_id: int) -> tuple[int, int, int, int]:
    """Decode blob ``blob_id``'s header: ``(refs, size, chunks, chunk_size)``.

    The error label is formatted only on error: this runs on every object get.
    """
    if len(raw) != _HEADER.size:
        what = f"blob {blob_id}"
        raise CorruptData(
            f"blob header {what} has {len(raw)} bytes, expected {_HEADER.size}", key=what
        )
    refs, size, chunks, chunk_size = _HEADER.unpack(raw)
    return refs, size, chunks, chunk_size


def pack_record(record: dict[str, Any]) -> bytes:
    return msgpack.packb(record, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_record(raw: bytes, *, what: str, name: object = None) -> dict[str, Any]:
    """Decode a msgpack record (a dict); :class:`CorruptData` names it ``what`` (and ``name``).

    The label is formatted only on error: a record is decoded on every get.
    """
    try:
        value = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        label = _label(what, name)
        raise CorruptData(f"{label} does not decode: {exc}", key=label) from exc
    if type(value) is not dict:
        label = _label(what, name)
        raise CorruptData(f"{label} is not a record", key=label)
    return value


def _label(what: str, name: object) -> str:
    return what if name is None else f"{what} {name!r}"


def pack_manifest(
    *,
    name: str,
    blob: int,
    size: int,
    etag: str,
    content_type: str,
    mtime_ms: int,
    metadata: dict[str, str],
) -> bytes:
    """Encode an object manifest (the full name is always kept: long keys only hold a hash)."""
    return pack_record(
        {
            "name": name,
            "blob": blob,
            "size": size,
            "etag": etag,
            "ct": content_type,
            "mt": mtime_ms,
            "md": metadata,
        }
    )


def unpack_manifest(raw: bytes, *, what: str = "object manifest", name: object = None) -> dict[str, Any]:
    """Decode an object manifest; :class:`CorruptData` if it does not decode or lacks a field.

    >>> m = pack_manifest(name="a", blob=1, size=0, etag="", content_type="", mtime_ms=0, metadata={})
    >>> unpack_manifest(m, what="object", name="a")["blob"]
    1
    >>> unpack_manifest(b"\\x80", what="object", name="a")
    Traceback (most recent call last):
    ...
    datastore_engine.errors.CorruptData: object 'a' lacks field 'blob'
    """
    record = unpack_record(raw, what=what, name=name)
    if not record.keys() >= _MANIFEST_FIELDS:  # one set operation on the read path
        label = _label(what, name)
        missing = sorted(_MANIFEST_FIELDS - record.keys())
        raise CorruptData(f"{label} lacks field {missing[0]!r}", key=label)
    return record


_MANIFEST_FIELDS = frozenset({"name", "blob", "size", "etag", "ct", "mt", "md"})


# -- metadata and content types --------------------------------------------------------------


def check_metadata(metadata: object) -> dict[str, str]:
    """Validate user metadata: a dict of non-empty str keys to str values, at most 8 KiB in all."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError(
            f"metadata must be a dict of str to str, got {type(metadata).__name__}"
        )
    total = 0
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ValidationError(
                f"metadata must map non-empty str keys to str values, got {key!r}: {value!r}"
            )
        try:
            total += len(key.encode("utf-8")) + len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValidationError(f"metadata entry {key!r} is not valid Unicode") from exc
    if total > MAX_METADATA_BYTES:
        raise LimitExceeded(
            f"metadata is {total} UTF-8 bytes, over the limit of {MAX_METADATA_BYTES}",
            limit="max_metadata_bytes",
            value=total,
        )
    return dict(metadata)


def check_content_type(content_type: object) -> str | None:
    if content_type is None:
        return None
    if not isinstance(content_type, str) or not content_type or len(content_type) > 255:
        raise ValidationError(
            f"content_type must be a non-empty str of at most 255 characters, got {content_type!r}"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in content_type):
        raise ValidationError(f"content_type must not contain control characters: {content_type!r}")
    return content_type


# Python's built-in table only (no /etc/mime.types): the same guess on every machine.
_TYPES = mimetypes.MimeTypes()
_EXTRA_TYPES = {
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".parquet": "application/vnd.apache.parquet",
    ".ndjson": "application/x-ndjson",
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def guess_content_type(name: str) -> str:
    """The content type for an object name's extension, or ``application/octet-stream``.

    Only the last ``/`` segment's suffix counts: names are keys, not URLs.
    """
    base = name.rsplit("/", 1)[-1]
    if "." not in base:
        return DEFAULT_CONTENT_TYPE
    ext = "." + base.rsplit(".", 1)[1].lower()
    found = (
        _TYPES.types_map[True].get(ext) or _TYPES.types_map[False].get(ext) or _EXTRA_TYPES.get(ext)
    )
    return found or DEFAULT_CONTENT_TYPE


# -- the public value object --------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """What ``put``, ``stat`` and ``list`` tell about an object.

    ``etag`` is the MD5 hex of the content (as S3 gives for a single-part upload);
    ``last_modified`` is an aware UTC datetime. ``list(recursive=False)`` also yields
    *folders*: ``ObjectInfo(name="photos/", is_dir=True, size=0, etag="",
    content_type="", last_modified=None)``, like MinIO's ``Object.is_dir``.

    >>> info = ObjectInfo("a.txt", 2, "e", "text/plain", None, {})
    >>> (info.object_name, info.is_dir)
    ('a.txt', False)
    """

    name: str
    size: int
    etag: str
    content_type: str
    last_modified: datetime | None
    metadata: dict[str, str] = field(default_factory=dict)
    is_dir: bool = False
    bucket_name: str = ""

    @property
    def object_name(self) -> str:
        """Alias of ``name`` (MinIO's field name)."""
        return self.name


def info_from_manifest(record: dict[str, Any], *, bucket_name: str) -> ObjectInfo:
    return ObjectInfo(
        name=record["name"],
        size=int(record["size"]),
        etag=record["etag"],
        content_type=record["ct"],
        last_modified=datetime.fromtimestamp(record["mt"] / 1000, tz=UTC),
        metadata=dict(record["md"]),
        bucket_name=bucket_name,
    )


def dir_info(name: str, *, bucket_name: str) -> ObjectInfo:
    return ObjectInfo(
        name=name,
        size=0,
        etag="",
        content_type="",
        last_modified=None,
        metadata={},
        is_dir=True,
        bucket_name=bucket_name,
    )
