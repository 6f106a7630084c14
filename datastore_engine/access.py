"""Passwords: salted slow hashes, compared in constant time.

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

from .errors import ValidationError

__all__ = ["hash_password", "verify_password"]

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
