"""Deterministic benchmark documents: the same seed gives every backend the same data.

Each document is ~0.8-1 KB of JSON with a unique email, an age, a city, a tags list,
a nested address and a text blob. Document ``i`` depends only on ``(seed, i)``, so any
slice can be generated on its own (the scale workload generates in batches).

Example:
    >>> d = make_doc(7, seed=1)
    >>> d == make_doc(7, seed=1), d["email"]
    (True, 'user0000007@example.com')
    >>> rid_of(7)
    'd0000007'
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Iterator
from typing import Any

Doc = dict[str, Any]

CITIES = (
    "Oslo",
    "Bergen",
    "Helsinki",
    "Tampere",
    "Stockholm",
    "Uppsala",
    "Copenhagen",
    "Aarhus",
    "Reykjavik",
    "Tallinn",
    "Riga",
    "Vilnius",
)
TAGS = ("vip", "new", "archived", "beta", "staff", "partner", "trial", "legacy", "mobile", "eu")
FIRST = (
    "Ada",
    "Bjorn",
    "Cecilie",
    "Dag",
    "Eva",
    "Frode",
    "Gro",
    "Hans",
    "Ingrid",
    "Jon",
    "Kari",
    "Lars",
    "Mette",
    "Nils",
    "Olav",
    "Pia",
    "Rune",
    "Siri",
    "Tor",
    "Unni",
)
LAST = (
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Berg",
    "Haugen",
    "Lie",
    "Dahl",
)
_LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate "
    "velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident "
    "sunt culpa qui officia deserunt mollit anim id est laborum"
)
WORDS = tuple(_LOREM.split())

AGE_MIN, AGE_MAX = 18, 80


_BIO_POOL = 4096


@functools.cache
def _bios() -> tuple[str, ...]:
    # A fixed pool of text blobs: choosing one is 20x cheaper than composing one per document,
    # which matters when generating 1M documents; no backend compresses, so repeats are fair.
    rng = random.Random(4096)
    return tuple(" ".join(rng.choices(WORDS, k=95)) for _ in range(_BIO_POOL))


def rid_of(i: int) -> str:
    """The record id of document ``i``; zero-padded so key order equals insertion order."""
    return f"d{i:07d}"


def email_of(i: int) -> str:
    """The unique email of document ``i``."""
    return f"user{i:07d}@example.com"


def make_doc(i: int, *, seed: int) -> Doc:
    """Document number ``i`` for ``seed`` (pure function of both)."""
    rng = random.Random(seed * 1_000_003 + i)
    return {
        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "email": email_of(i),
        "age": rng.randint(AGE_MIN, AGE_MAX),
        "city": rng.choice(CITIES),
        "active": rng.random() < 0.8,
        "score": round(rng.random() * 100, 3),
        "visits": rng.randint(0, 500),
        "tags": rng.sample(TAGS, rng.randint(1, 4)),
        "address": {
            "street": f"{rng.choice(LAST)}gata",
            "number": rng.randint(1, 200),
            "postcode": f"{rng.randint(0, 9999):04d}",
            "country": rng.choice(("NO", "SE", "FI", "DK", "IS", "EE")),
        },
        "created": f"20{rng.randint(10, 24):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "bio": _bios()[rng.randrange(_BIO_POOL)],
    }


def make_items(start: int, stop: int, *, seed: int) -> list[tuple[str, Doc]]:
    """``(rid, doc)`` pairs for documents ``start .. stop-1``."""
    return [(rid_of(i), make_doc(i, seed=seed)) for i in range(start, stop)]


def blob_chunks(size: int, *, chunk: int = 1 << 20, seed: int = 0) -> Iterator[bytes]:
    """``size`` bytes as chunks of at most ``chunk`` bytes (one random chunk, repeated).

    The random chunk is made here, when called, not at the first ``next()``: a caller
    that times the put around the iteration times the put, not the generator (making
    1 MiB takes ~6-7 ms here, longer than a 1 MiB put).
    """
    return _repeated(random.Random(seed).randbytes(chunk), size)


def _repeated(block: bytes, size: int) -> Iterator[bytes]:
    left, chunk = size, len(block)
    while left > 0:
        n = min(chunk, left)
        yield block if n == chunk else block[:n]
        left -= n


class IterStream:
    """A read-only file-like object over an iterator of byte chunks (for APIs taking a stream).

    >>> s = IterStream(iter([b"abc", b"de"]))
    >>> s.read(2), s.read(10), s.read(1)
    (b'ab', b'cde', b'')
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all remaining if ``n < 0``); ``b""`` at the end."""
        if n is None or n < 0:
            out, self._buf = self._buf + b"".join(self._it), b""
            return out
        while len(self._buf) < n:
            nxt = next(self._it, None)
            if nxt is None:
                break
            self._buf = nxt if not self._buf else self._buf + nxt
        out, self._buf = self._buf[:n], self._buf[n:]
        return out
