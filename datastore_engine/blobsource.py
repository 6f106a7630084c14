"""Turn what a caller hands to ``Bucket.put`` into fixed-size chunks, lazily.

``data`` may be ``bytes``-like, a readable binary file object, or an iterable of
``bytes``; whatever it is, it is read one chunk at a time so that putting an object
never holds it whole in memory.

``length`` means "store exactly this many bytes": a file object is read up to
``length`` bytes (the rest stays unread, so a part of a file can be stored);
``bytes`` and iterables must hold exactly ``length`` bytes. Too little data (or
too much, for bytes and iterables) is a :class:`ValidationError` and nothing is stored.

Example:
    >>> [len(c) for c in chunked(b"x" * 5, length=None, chunk_size=2)]
    [2, 2, 1]
    >>> [len(c) for c in chunked(iter([b"abc", b"defg"]), length=None, chunk_size=3)]
    [3, 3, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .errors import ValidationError

__all__ = ["chunked"]

_BYTES = (bytes, bytearray, memoryview)


def chunked(data: object, *, length: int | None, chunk_size: int) -> Iterator[bytes | memoryview]:
    """Chunks of exactly ``chunk_size`` bytes (the last one shorter, never empty).

    A chunk is ``bytes``, or a read-only view of ``data`` when that is ``bytes``.
    """
    if length is not None and (type(length) is not int or length < 0):
        raise ValidationError(f"length must be an int >= 0 or None, got {length!r}")
    if isinstance(data, str):
        raise ValidationError(
            "data must be bytes, a binary file object or an iterable of bytes, not str"
        )
    if isinstance(data, _BYTES):
        return _from_bytes(data, length, chunk_size)
    if callable(getattr(data, "read", None)):
        return _from_file(data, length, chunk_size)
    if isinstance(data, Iterable):
        return _limit(_rechunk(data, chunk_size), length)
    raise ValidationError(
        f"data must be bytes, a binary file object or an iterable of bytes, got {type(data).__name__}"
    )


def _from_bytes(
    data: bytes | bytearray | memoryview, length: int | None, chunk_size: int
) -> Iterator[bytes | memoryview]:
    view = memoryview(data).cast("B")
    if length is not None and length != len(view):
        raise ValidationError(f"data holds {len(view)} bytes but length says {length}")
    if type(data) is bytes:
        # Immutable: hand out views of it rather than copies (a 1 MiB copy is ~0.1 ms).
        if len(view) <= chunk_size:
            if view:
                yield data
            return
        for start in range(0, len(view), chunk_size):
            yield view[start : start + chunk_size]
        return
    # A bytearray or a view may change under us (another thread): copy each chunk.
    for start in range(0, len(view), chunk_size):
        yield bytes(view[start : start + chunk_size])


def _from_file(fh: Any, length: int | None, chunk_size: int) -> Iterator[bytes]:
    remaining = length
    buf = bytearray()
    while remaining is None or remaining > 0:
        want = chunk_size - len(buf) if remaining is None else min(chunk_size - len(buf), remaining)
        piece = fh.read(want)
        if piece is None:  # a non-blocking raw stream with nothing ready: keep asking
            continue
        if not isinstance(piece, _BYTES):
            raise ValidationError(
                f"the file object returned {type(piece).__name__}, not bytes: open it in binary mode"
            )
        if not piece:
            break
        if remaining is not None:
            remaining -= len(piece)
        if not buf and len(piece) == chunk_size:
            yield bytes(piece)
            continue
        buf += piece
        if len(buf) >= chunk_size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)
    if remaining:
        raise ValidationError(f"the file object ended {remaining} bytes before length={length}")


def _rechunk(pieces: Iterable[Any], chunk_size: int) -> Iterator[bytes]:
    buf = bytearray()
    for piece in pieces:
        if not isinstance(piece, _BYTES):
            raise ValidationError(f"the data iterable yielded {type(piece).__name__}, not bytes")
        if not buf and len(piece) == chunk_size:
            yield bytes(piece)
            continue
        buf += piece
        while len(buf) >= chunk_size:
            yield bytes(buf[:chunk_size])
            del buf[:chunk_size]
    if buf:
        yield bytes(buf)


def _limit(chunks: Iterator[bytes], length: int | None) -> Iterator[bytes]:
    if length is None:
        yield from chunks
        return
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > length:
            raise ValidationError(f"data holds more than length={length} bytes")
        yield chunk
    if seen != length:
        raise ValidationError(f"data holds {seen} bytes but length says {length}")
