"""JSON values <-> msgpack bytes, with validation, limits and the document record.

Values are JSON: ``dict`` (str keys), ``list``, ``str``, ``int`` (signed 64-bit),
``float`` (finite), ``bool``, ``None``. Anything else (tuples, bytes, sets, NaN,
Infinity, ints out of range, non-str keys) is a :class:`ValidationError` whose
message names the path of the offending value. Nesting deeper than
``max_depth`` (64) or an encoding over ``max_bytes`` (16 MB) is
:class:`LimitExceeded`.

Decoding trusts our own encoder (no duplicate-key check on the hot path: that
costs +75% per read); :func:`decode_untrusted` is for data from elsewhere and
refuses duplicate map keys and extension types.

A stored document is a *record*: a small header, then the msgpack body::

    flags(1) gen(4) seq(8) nhist(2) hist(16 * nhist) body

``flags`` bit 0 = deleted (tombstone), bit 1 = password-protected, bit 2 = has
conflicts; ``gen`` is the revision generation; ``hist`` the revision digests,
newest first (the revision id is ``f"{gen}-{hist[0].hex()}"``).

Example:
    >>> decode(encode({"a": [1, 2.5, None]}))
    {'a': [1, 2.5, None]}
    >>> encode({"a": float("nan")})
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: value at 'a' is not finite: nan
"""

from __future__ import annotations

import importlib
import math
import os
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import msgpack

from .errors import CorruptData, LimitExceeded, ValidationError

__all__ = [
    "COPY_BELOW",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "FLAG_CONFLICTS",
    "FLAG_DELETED",
    "FLAG_PROTECTED",
    "Header",
    "accelerated",
    "check_value",
    "decode",
    "decode_untrusted",
    "encode",
    "pack_record",
    "read_header",
    "record_body",
]

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1

FLAG_DELETED = 1
FLAG_PROTECTED = 2
FLAG_CONFLICTS = 4


def accel_function(name: str) -> Callable[..., Any] | None:
    """Function ``name`` of the optional compiled module, or None: not built (no C compiler
    at install, or an older build without it) or turned off.

    ``DATASTORE_ENGINE_PURE=1`` in the environment turns the module off (pure
    Python, as on a machine without a compiler); set it before importing.
    """
    if os.environ.get("DATASTORE_ENGINE_PURE", "") not in ("", "0"):
        return None
    try:
        module = importlib.import_module("._accel", __package__)
    except ImportError:
        return None
    found: Callable[..., Any] | None = getattr(module, name, None)
    return found


def _load_accel() -> Callable[[Any, int], bool] | None:
    """The compiled fast check, or None (see :func:`accel_function`)."""
    return accel_function("plain_json")


#: ``plain_json(value, max_depth) -> bool`` from the optional C module
#: ``_accel.c``: True only for storable JSON made of exact built-in types; False
#: means "not sure" and :func:`_check` decides (and words the error). A document
#: check drops from ~3 us to ~0.3 us with it.
_plain_json = _load_accel()


def accelerated() -> bool:
    """Whether document validation runs its compiled fast path (see ``_accel.c``).

    >>> accelerated() in (True, False)
    True
    """
    return _plain_json is not None


class _Bad(Exception):
    """Internal: carries the path of a bad value up the recursion (cheap on success)."""

    def __init__(self, problem: str, path: list[str], *, limit: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path
        self.limit = limit


def _check(value: Any, depth: int, max_depth: int) -> None:
    # Exact type() checks first: they are the common case and much cheaper
    # than isinstance chains. Subclasses of dict/list/str are accepted on the
    # slow path; tuples are not (JSON has one array type; a tuple would not
    # come back as a tuple, which surprises more than a clear error).
    t = type(value)
    if t is str or t is bool or value is None:
        return
    if t is int:
        if _INT_MIN <= value <= _INT_MAX:
            return
        raise _Bad(f"is an int outside signed 64-bit: {value}", [])
    if t is float:
        if math.isfinite(value):
            return
        raise _Bad(f"is not finite: {value}", [])
    if t is dict or (t is not list and isinstance(value, dict)):
        if depth >= max_depth:
            raise _Bad(f"nests deeper than {max_depth}", [], limit="max_depth")
        for k, v in value.items():
            if type(k) is not str:
                raise _Bad(f"has a non-str key {k!r}", [])
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            # Inline the common scalars: a call per number is most of the cost.
            if tv is int and _INT_MIN <= v <= _INT_MAX:
                continue
            if tv is float and v - v == 0.0:  # finite (inf - inf and nan - nan are nan)
                continue
            try:
                _check(v, depth + 1, max_depth)
            except _Bad as bad:
                bad.path.append(k)
                raise
        return
    if t is list or isinstance(value, list):
        if depth >= max_depth:
            raise _Bad(f"nests deeper than {max_depth}", [], limit="max_depth")
        for i, v in enumerate(value):
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is int and _INT_MIN <= v <= _INT_MAX:
                continue
            if tv is float and v - v == 0.0:
                continue
            try:
                _check(v, depth + 1, max_depth)
            except _Bad as bad:
                bad.path.append(str(i))
                raise
        return
    if isinstance(value, str):
        return
    if isinstance(value, int) and not isinstance(value, bool):
        _check(int(value), depth, max_depth)
        return
    if isinstance(value, float):
        _check(float(value), depth, max_depth)
        return
    raise _Bad(f"is not a JSON value (type {t.__name__}): {_short(value)}", [])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH, where: str = "") -> None:
    """Raise ValidationError/LimitExceeded naming the path if ``value`` is not storable JSON."""
    fast = _plain_json
    if fast is not None and fast(value, max_depth):
        return
    try:
        _check(value, 0, max_depth)
    except _Bad as bad:
        path = ".".join(reversed(bad.path))
        place = f"value at {path!r}" if path else "value"
        if where:
            place = f"{place} of {where}"
        message = f"{place} {bad.problem}"
        if bad.limit:
            raise LimitExceeded(message, limit=bad.limit, value=max_depth) from None
        raise ValidationError(message) from None
    except RecursionError:
        raise LimitExceeded(
            f"value nests deeper than Python can check (limit {max_depth})",
            limit="max_depth",
            value=max_depth,
        ) from None


# One shared Packer is measurably cheaper than msgpack.packb (no per-call
# Packer construction). Packer is not thread-safe, so each thread gets one.
import threading  # noqa: E402

_tls = threading.local()


def _packer() -> Callable[[Any], bytes]:
    try:
        return _tls.pack  # type: ignore[no-any-return]
    except AttributeError:
        pack: Callable[[Any], bytes] = msgpack.Packer(use_bin_type=True).pack
        _tls.pack = pack
        return pack


def encode(
    value: Any,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
    where: str = "",
) -> bytes:
    """Validate ``value`` and return its msgpack encoding."""
    check_value(value, max_depth=max_depth, where=where)
    try:
        data = _packer()(value)
    except Exception as exc:  # pragma: no cover - check_value refuses what msgpack cannot pack
        _tls.__dict__.pop("pack", None)
        raise ValidationError(f"value cannot be encoded: {exc}") from exc
    if len(data) > max_bytes:
        what = f"document {where}" if where else "document"
        raise LimitExceeded(
            f"{what} encodes to {len(data)} bytes, over the limit of {max_bytes} bytes",
            limit="max_document_bytes",
            value=len(data),
        )
    return data


def encode_plain(value: Any, max_depth: int, max_bytes: int) -> bytes | None:
    """:func:`encode`'s common case, or None: the bytes when the compiled check accepts ``value``
    as plain JSON and it fits in ``max_bytes``. None otherwise (not sure, too big, no compiled
    module): :func:`encode` then checks it and words the error.

    >>> encode_plain({"a": 1}, 8, 100) == (encode({"a": 1}) if accelerated() else None)
    True
    """
    fast = _plain_json
    if fast is None or not fast(value, max_depth):
        return None
    try:
        data = _packer()(value)
    except Exception:  # pragma: no cover - plain JSON always packs; encode() resets the packer
        return None
    return data if len(data) <= max_bytes else None


def encoder(*, max_depth: int = DEFAULT_MAX_DEPTH, max_bytes: int = DEFAULT_MAX_BYTES) -> Callable[[Any, str], bytes]:
    """:func:`encode` with its limits bound, for a loop over many documents (one thread).

    The second argument is the document's id: errors name it (``repr`` is
    taken only then, not for every document).

    >>> enc = encoder(max_bytes=8)
    >>> enc({"a": 1}, "x")
    b'\\x81\\xa1a\\x01'
    >>> enc({"a": "long text"}, "x")
    Traceback (most recent call last):
    datastore_engine.errors.LimitExceeded: document 'x' encodes to 13 bytes, over the limit of 8 bytes
    """
    pack = _packer()
    fast = _plain_json

    def encode_one(value: Any, rid: str) -> bytes:
        try:
            if fast is None or not fast(value, max_depth):
                _check(value, 0, max_depth)
            data = pack(value)
        except Exception:  # _Bad, RecursionError, or what msgpack refuses: encode() words the error
            return encode(value, max_depth=max_depth, max_bytes=max_bytes, where=repr(rid))
        if len(data) > max_bytes:
            return encode(value, max_depth=max_depth, max_bytes=max_bytes, where=repr(rid))  # raises the error
        return data

    return encode_one


def decode(data: bytes | memoryview, *, key: str = "") -> Any:
    """Decode a value written by :func:`encode`; :class:`CorruptData` if it does not decode."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:
        name = f" of document {key!r}" if key else ""
        raise CorruptData(f"stored value{name} does not decode: {exc}", key=key) from exc


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not JSON")


def _pairs_no_dupes(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[Any] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"duplicate map key {k!r}")
            seen.add(k)
    return result


def decode_untrusted(data: bytes | memoryview, *, key: str = "", max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode bytes from elsewhere: refuse duplicate map keys, ext types, bytes, non-JSON values."""
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            object_pairs_hook=_pairs_no_dupes,
            ext_hook=_no_ext,
        )
    except Exception as exc:
        name = f" of document {key!r}" if key else ""
        raise CorruptData(f"value{name} does not decode: {exc}", key=key) from exc
    try:
        check_value(value, max_depth=max_depth, where=repr(key) if key else "")
    except ValidationError as exc:
        raise CorruptData(f"value of document {key!r} is not valid JSON data: {exc}", key=key) from exc
    return value


# --- the document record ------------------------------------------------------

_HEAD = struct.Struct(">BIQH")
HEAD_SIZE = _HEAD.size
DIGEST = 16
#: Record bodies shorter than this are sliced (a copy) to decode; a memoryview costs more below it.
COPY_BELOW = 65536


class Header(NamedTuple):
    """A stored record's header. ``history`` is the digests as stored: 16 bytes each, newest first.

    A document edited often carries up to ``changes.REVS_LIMIT`` (1,000)
    digests, 16 KB; the write path slices and prepends them as bytes, and
    only code that walks the history asks for ``hist``, one ``bytes`` per
    digest (~100 us for a full history).
    """

    flags: int
    gen: int
    seq: int
    history: bytes
    body_offset: int

    @property
    def hist(self) -> tuple[bytes, ...]:
        h = self.history
        return tuple(h[i : i + DIGEST] for i in range(0, len(h), DIGEST))

    @property
    def rev(self) -> str:
        return f"{self.gen}-{self.history[:DIGEST].hex()}"

    @property
    def deleted(self) -> bool:
        return bool(self.flags & FLAG_DELETED)


def pack_record(flags: int, gen: int, seq: int, hist: tuple[bytes, ...] | list[bytes] | bytes, body: bytes) -> bytes:
    """Build a stored record from its header fields, history (digests, or their bytes) and msgpack body."""
    if isinstance(hist, bytes):
        return _HEAD.pack(flags, gen, seq, len(hist) // DIGEST) + hist + body
    return _HEAD.pack(flags, gen, seq, len(hist)) + b"".join(hist) + body


def read_header(raw: bytes, *, key: str = "") -> Header:
    """Parse a record's header; :class:`CorruptData` if it is malformed."""
    try:
        flags, gen, seq, n = _HEAD.unpack_from(raw)
    except struct.error as exc:
        raise CorruptData(f"stored record of document {key!r} is truncated", key=key) from exc
    end = HEAD_SIZE + n * DIGEST
    if end > len(raw):
        raise CorruptData(f"stored record of document {key!r} is truncated", key=key)
    history = raw[HEAD_SIZE:end]
    return Header(flags, gen, seq, history if type(history) is bytes else bytes(history), end)


def record_body(raw: bytes, *, key: str = "") -> Any:
    """Decode the document of a stored record (None for a tombstone is the caller's business)."""
    if len(raw) < HEAD_SIZE:
        raise CorruptData(f"stored record of document {key!r} is truncated", key=key)
    start = HEAD_SIZE + (raw[13] << 8 | raw[14]) * DIGEST  # nhist: the header's last 2 bytes
    # A bytes slice copies the body, yet for a usual document it is cheaper
    # than a memoryview (msgpack's buffer-protocol path): ~1.3k instructions
    # of a ~28k decode. Big bodies are not copied.
    body = raw[start:] if len(raw) < COPY_BELOW else memoryview(raw)[start:]
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:
        raise CorruptData(f"stored value of document {key!r} does not decode: {exc}", key=key) from exc
