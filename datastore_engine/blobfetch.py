"""``Bucket.put_from_url``: stream an http(s) response body into an object (stdlib only).

Only ``http`` and ``https`` URLs are fetched, and redirects are followed only to
them: ``file:``, ``ftp:``, ``data:`` and the rest are a :class:`ValidationError`.
Proxies from the environment are not used (the opener has no ProxyHandler), so
a URL is fetched from exactly the host it names.

Errors (nothing is stored in any of these cases, an existing object is kept):

* a bad URL, scheme, method, header or argument: :class:`ValidationError`;
* a body over ``max_bytes`` (by ``Content-Length`` up front, or while reading):
  :class:`LimitExceeded` with ``limit="max_bytes"``;
* an HTTP error status (4xx/5xx), a connection failure, a timeout or a body cut
  short: :class:`StorageError`, chained (``__cause__``) from urllib's exception,
  so ``err.__cause__.code`` is the status of an HTTP error. StorageError was
  chosen over SyncError, which means a *replication* peer failed.

The content type is the argument, else the response's ``Content-Type``, else a
guess from the object name.

Example (not run: needs a server):
    bucket.put_from_url("http://127.0.0.1:8000/report.csv", "reports/r.csv", max_bytes=1 << 20)
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import blobkeys as bk
from .blobkeys import CHUNK_SIZE, ObjectInfo
from .errors import LimitExceeded, StorageError, ValidationError

if TYPE_CHECKING:
    from .blobs import Bucket

__all__ = ["DEFAULT_MAX_BYTES", "put_from_url"]

#: S3's limit for a single PUT.
DEFAULT_MAX_BYTES = 5 << 30
_SCHEMES = ("http", "https")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise ValidationError(f"url must be a non-empty str, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES:
        raise ValidationError(
            f"only http and https URLs can be fetched, not {parts.scheme or 'no scheme'!r}: {url!r}"
        )
    if not parts.netloc:
        raise ValidationError(f"url has no host: {url!r}")
    if any(ord(c) < 33 for c in url):
        raise ValidationError(f"url must not contain spaces or control characters: {url!r}")
    return url


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only; anything else is a ValidationError (urllib allows ftp)."""

    def http_error_302(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any
    ) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            _check_url(urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    handlers: list[Any] = [
        urllib.request.HTTPHandler(),
        _HttpOnlyRedirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    https = getattr(urllib.request, "HTTPSHandler", None)
    if https is not None:
        handlers.append(https())
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def _body(data: object, headers: dict[str, str]) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, dict | list | tuple):
        # As requests' ``data=dict``: a form body.
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            return urllib.parse.urlencode(data).encode("ascii")
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"data could not be form-encoded: {exc}") from exc
    raise ValidationError(
        f"data must be bytes, str, a dict or a list of pairs, got {type(data).__name__}"
    )


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ValidationError(f"headers must be a dict of str to str, got {type(headers).__name__}")
    for key, value in headers.items():
        if (
            not isinstance(key, str)
            or not isinstance(value, str)
            or any(c in key + value for c in "\r\n\x00")
        ):
            raise ValidationError(f"header {key!r}: {value!r} must be str without CR, LF or NUL")
    return dict(headers)


def _read(resp: Any, *, url: str, max_bytes: int, declared: int | None) -> Iterator[bytes]:
    seen = 0
    while True:
        try:
            piece = resp.read(CHUNK_SIZE)
        except (OSError, http.client.HTTPException) as exc:
            raise StorageError(
                f"reading the body of {url} failed after {seen} bytes; nothing was stored: {exc}"
            ) from exc
        if not piece:
            # http.client's read(n) ends quietly when the peer closes early: compare ourselves.
            if declared is not None and seen != declared:
                raise StorageError(
                    f"the body of {url} ended after {seen} of its {declared} bytes; nothing was stored"
                )
            return
        seen += len(piece)
        if seen > max_bytes:
            raise LimitExceeded(
                f"the body of {url} is over max_bytes={max_bytes}; nothing was stored",
                limit="max_bytes",
                value=seen,
            )
        yield piece


def put_from_url(
    bucket: Bucket,
    url: str,
    name: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: Any = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 30.0,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> ObjectInfo:
    """Fetch ``url`` and store its body as object ``name`` of ``bucket``; see the module notes."""
    _check_url(url)
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise ValidationError(
            f"method must be one of {', '.join(sorted(_METHODS))}, got {method!r}"
        )
    if type(max_bytes) is not int or max_bytes < 0:
        raise ValidationError(f"max_bytes must be an int >= 0, got {max_bytes!r}")
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise ValidationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    bk.object_name_bytes(name)
    bk.check_content_type(content_type)
    bk.check_metadata(metadata)
    sent = _check_headers(headers)
    body = _body(data, sent)
    request = urllib.request.Request(url, data=body, headers=sent, method=method.upper())
    try:
        resp = _opener().open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise StorageError(
            f"{method.upper()} {url} answered {exc.code} {exc.reason}; nothing was stored"
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise StorageError(f"{method.upper()} {url} failed; nothing was stored: {exc}") from exc
    with resp:
        raw_length = resp.headers.get("Content-Length")
        declared = int(raw_length) if raw_length and raw_length.strip().isdigit() else None
        if declared is not None and declared > max_bytes:
            raise LimitExceeded(
                f"{url} declares {declared} bytes, over max_bytes={max_bytes}; nothing was stored",
                limit="max_bytes",
                value=declared,
            )
        ctype = content_type or resp.headers.get("Content-Type") or None
        chunks = _read(resp, url=url, max_bytes=max_bytes, declared=declared)
        return bucket.put(name, chunks, content_type=ctype, metadata=metadata)
