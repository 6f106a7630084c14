"""Access lists, password hashing and the backoff on wrong passwords.

**Access lists.** A store's ``admin_access``, ``read_access`` and
``write_access`` hold principal or group ids, compared exactly as given.
:func:`allowed` says whether a principal (with its groups) holds a right:
``read`` needs read or admin access, ``write`` needs write or admin,
``admin`` needs admin. Ownership gives nothing (as in Trivore).

    >>> lists = {"admin_access": ["g:ops"], "read_access": ["u:ann"], "write_access": []}
    >>> allowed(lists, "read", principal="u:ann", groups=()), allowed(lists, "write", principal="u:ann", groups=())
    (True, False)
    >>> allowed(lists, "write", principal="u:bob", groups=("g:ops",))
    True

**Passwords** are salted slow hashes, compared in constant time.

A password is stored only as ``scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>``
(``hashlib.scrypt``, N=2^15, r=8, p=1: about 0.1 s here; the parameters are in
the string so they can be raised later without breaking old hashes). The
clear text never reaches the file. Comparison uses ``hmac.compare_digest``.

Example:
    >>> stored = hash_password("s3cret")
    >>> verify_password("s3cret", stored), verify_password("guess", stored)
    (True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import ValidationError

__all__ = ["BACKOFF", "RIGHTS", "Backoff", "allowed", "hash_password", "verify_password"]

#: Right -> the access lists any one of which grants it.
RIGHTS: dict[str, tuple[str, ...]] = {
    "read": ("read_access", "admin_access"),
    "write": ("write_access", "admin_access"),
    "admin": ("admin_access",),
}


def allowed(lists: Mapping[str, Any], right: str, *, principal: str, groups: Collection[str]) -> bool:
    """True if ``principal`` or one of ``groups`` is on a list granting ``right`` (see module doc)."""
    for name in RIGHTS[right]:
        for entry in lists.get(name) or ():
            if entry == principal or entry in groups:
                return True
    return False

_LOG_N, _R, _P = 15, 8, 1
_MAX_PASSWORD_BYTES = 1024


def _secret(password: object) -> bytes:
    if not isinstance(password, str) or not password:
        raise ValidationError("password must be a non-empty str")
    data = password.encode("utf-8")
    if len(data) > _MAX_PASSWORD_BYTES:
        raise ValidationError(f"password is over {_MAX_PASSWORD_BYTES} bytes")
    return data


def _scrypt(secret: bytes, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=1 << log_n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> bytes:
    """A salted scrypt hash of ``password``, as stored."""
    salt = os.urandom(16)
    digest = _scrypt(_secret(password), salt, _LOG_N, _R, _P)
    return f"scrypt${_LOG_N}${_R}${_P}${salt.hex()}${digest.hex()}".encode()


def verify_password(password: object, stored: bytes) -> bool:
    """True if ``password`` matches ``stored`` (constant-time comparison)."""
    if not isinstance(password, str) or not password:
        return False
    try:
        scheme, log_n, r, p, salt_hex, hash_hex = stored.decode().split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        actual = _scrypt(_secret(password), bytes.fromhex(salt_hex), int(log_n), int(r), int(p))
    except (ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(actual, expected)


class Backoff:
    """Per-key delays after wrong passwords: slows online guessing, never refuses the right one.

    After ``free`` (2) wrong attempts in a row on one key, every further attempt
    on that key waits until ``base * 2 ** (wrong - free)`` seconds after the
    last wrong one, capped at ``cap``: 0.25 s, 0.5 s, 1 s, ... 8 s. A correct
    password forgets the key. Waiting happens before the attempt and outside
    any write lock, so other writers never wait for it; it delays the correct
    password too (the caller cannot be told apart from a guesser), but never
    refuses it. State is in-process memory for at most ``max_keys`` keys (the
    oldest are forgotten): a restart or another process starts afresh; scrypt
    remains the defence against offline guessing.

    >>> now = [100.0]
    >>> b = Backoff(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    >>> for _ in range(3):
    ...     b.failed("k")
    >>> round(b.delay("k"), 3)
    0.5
    >>> b.wait("k"); b.succeeded("k"); b.delay("k")
    0.0
    """

    def __init__(
        self,
        *,
        free: int = 2,
        base: float = 0.25,
        cap: float = 8.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.free, self.base, self.cap, self.max_keys = free, base, cap, max_keys
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._wrong: OrderedDict[Any, tuple[int, float]] = OrderedDict()  # key -> (count, last time)

    def delay(self, key: Any) -> float:
        """Seconds an attempt on ``key`` must still wait (0.0 when it may go now)."""
        if not self._wrong:  # the common case: no wrong password anywhere, no lock
            return 0.0
        with self._lock:
            found = self._wrong.get(key)
        if found is None or found[0] < self.free:
            return 0.0
        count, last = found
        step: float = min(self.base * 2.0 ** (count - self.free), self.cap)
        return max(0.0, last + step - self.clock())

    def wait(self, key: Any) -> None:
        """Sleep until an attempt on ``key`` is allowed."""
        pause = self.delay(key)
        if pause > 0:
            self.sleep(pause)

    def failed(self, key: Any) -> None:
        """Record a wrong password on ``key``."""
        with self._lock:
            count = self._wrong.pop(key, (0, 0.0))[0]
            self._wrong[key] = (count + 1, self.clock())
            while len(self._wrong) > self.max_keys:
                self._wrong.popitem(last=False)

    def succeeded(self, key: Any) -> None:
        """Forget ``key`` after a correct password."""
        if self._wrong:
            with self._lock:
                self._wrong.pop(key, None)


#: The process-wide backoff used by :class:`~datastore_engine.store.Store`.
BACKOFF = Backoff()
