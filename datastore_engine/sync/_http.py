"""A small HTTP/JSON client for replication peers, on the standard library only.

One keep-alive connection per client (not thread-safe), a socket timeout on
every request, retries with exponential backoff for transient failures
(connection errors, timeouts, 429 and 5xx) inside a bounded total time, and
errors typed as :class:`~datastore_engine.errors.SyncError`. Statuses that a
caller expects (say 404 for a missing ``_local`` checkpoint) are returned, not
raised, when listed in ``allow=``. ``stream_lines`` reads continuous and
longpoll ``_changes`` feeds line by line on a connection of its own.

Example:
    >>> client = HttpClient("http://admin:secret@127.0.0.1:5984/mydb/", total_timeout=5)
    >>> client.url, client.target("_changes", params={"since": 0, "style": "all_docs"})
    ('http://admin@127.0.0.1:5984/mydb', '/mydb/_changes?since=0&style=all_docs')
    >>> client.close()
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlencode, urlsplit

from ..errors import SyncError, ValidationError

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "Endpoint",
    "HttpClient",
    "Response",
    "encode_params",
    "is_retryable_status",
    "parse_url",
]

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds one socket operation (connect, send, each read) may block."""

DEFAULT_TOTAL_TIMEOUT: Final = 30.0
"""Seconds one call may spend in all its attempts and backoff sleeps together."""

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_T = TypeVar("_T")


class _Nothing:
    """Marks "no JSON body" (``None`` is a valid JSON body: ``null``)."""


_NOTHING: Final = _Nothing()


def is_retryable_status(status: int) -> bool:
    """True for statuses worth another try: 429 and 5xx but 501/505.

    501 and 505 say what the server cannot do; asking again does not help.

    >>> [s for s in (200, 401, 404, 409, 429, 500, 501, 503) if is_retryable_status(s)]
    [429, 500, 503]
    """
    return status == 429 or (500 <= status <= 599 and status not in (501, 505))


@dataclass(frozen=True)
class Endpoint:
    """A parsed peer URL; ``path`` has no trailing slash (``""`` for the server root)."""

    scheme: str
    host: str
    port: int
    path: str
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        """The URL without the password (safe for messages and logs)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{host}:{self.port}{self.path}"


def parse_url(url: str, *, auth: tuple[str, str] | None = None) -> Endpoint:
    """Parse an ``http``/``https`` peer URL; credentials come from the URL or ``auth``.

    >>> parse_url("https://bob:p%40ss@Example.com/db/")
    Endpoint(scheme='https', host='example.com', port=443, path='/db', username='bob', password='p@ss')
    >>> parse_url("ftp://example.com/db")
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: peer URL 'ftp://example.com/db' has scheme 'ftp'; use http or https
    """
    if not isinstance(url, str):
        raise ValidationError(f"peer URL must be a str, not {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"peer URL {_redact(url)!r} does not parse: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValidationError(
            f"peer URL {_redact(url)!r} has scheme {parts.scheme!r}; use http or https"
        )
    if not parts.hostname:
        raise ValidationError(f"peer URL {_redact(url)!r} has no host")
    if parts.query:
        raise ValidationError(
            f"peer URL {_redact(url)!r} has a query string; pass options as params instead"
        )
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if auth is not None:
        if username is not None:
            raise ValidationError(
                f"peer URL {_redact(url)!r} has credentials and auth= is given too; use one"
            )
        if not (
            isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(a, str) for a in auth)
        ):
            raise ValidationError("auth must be a (username, password) tuple of str")
        username, password = auth
    return Endpoint(
        scheme=scheme,
        host=parts.hostname,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        path=parts.path.rstrip("/"),
        username=username,
        password=password,
    )


def _redact(url: str) -> str:
    """Drop the password from a URL for messages; keep everything else as given."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hostport}{slash}{tail}"


def encode_params(params: Mapping[str, object] | None) -> str:
    """Encode query parameters the way CouchDB reads them.

    Booleans become ``true``/``false``, numbers and strings go as they are, lists
    and dicts as JSON (``open_revs=["1-a"]``); ``None`` values are left out.

    >>> encode_params({"revs": True, "open_revs": ["1-a"], "since": 3, "filter": None})
    'revs=true&open_revs=%5B%221-a%22%5D&since=3'
    """
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            text = _dumps(value).decode("utf-8")
        pairs.append((key, text))
    return urlencode(pairs)


def _dumps(value: object) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
            "utf-8"
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"request body is not JSON: {exc}") from exc


@dataclass(frozen=True)
class Response:
    """A complete answer: status, lower-cased headers and the raw body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status <= 299

    def json(self) -> Any:
        """The body decoded as JSON, whatever the Content-Type says.

        PouchDB Server answers JSON as ``text/plain`` unless asked for
        ``application/json``, so the header is not trusted either way.

        >>> Response(200, "OK", {}, b'{"ok":true}').json()
        {'ok': True}
        """
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SyncError(
                f"peer answered {self.status} with a body that is not JSON: {self.body[:80]!r}",
                status=self.status,
                reason="bad_json",
            ) from exc


class _Transient(Exception):
    """One attempt failed in a way another attempt may fix; carries the error to raise."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(str(error))
        self.error = error


# Errors that mean the peer closed an idle keep-alive connection before reading our
# request; a fresh connection is tried at once, without counting it as a retry.
_STALE_CONNECTION: Final = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class HttpClient:
    """JSON over HTTP to one peer database (or server) URL.

    ``timeout`` bounds each socket operation; ``total_timeout`` bounds one call:
    no retry starts after it, and each attempt's timeout is cut to what is left.
    Retries: connection errors, timeouts, 429 and 5xx, with delays ``backoff``,
    ``2*backoff``, ... up to ``backoff_max`` (or the peer's ``Retry-After``).
    Other non-2xx statuses raise :class:`SyncError` at once unless in ``allow``.

    Paths are relative to the URL's path (``"_changes"`` -> ``/db/_changes``);
    a path starting with ``/`` is relative to the server root.

    >>> with HttpClient("http://127.0.0.1:5984/db", auth=("u", "p")) as c:
    ...     c.target("/"), c.target(""), c.target("_local/x")
    ('/', '/db', '/db/_local/x')
    """

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        backoff: float = 0.1,
        backoff_max: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        for name, value in (
            ("timeout", timeout),
            ("total_timeout", total_timeout),
            ("backoff_max", backoff_max),
        ):
            _check_positive(name, value)
        if not (isinstance(backoff, int | float) and math.isfinite(backoff) and backoff >= 0):
            raise ValidationError(f"backoff must be a finite number >= 0, not {backoff!r}")
        self.endpoint = parse_url(url, auth=auth)
        self.timeout = float(timeout)
        self.total_timeout = float(total_timeout)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self._ssl_context = ssl_context
        self._headers = {"Accept": "application/json", "User-Agent": "datastore_engine-sync"}
        if self.endpoint.username is not None:
            token = f"{self.endpoint.username}:{self.endpoint.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        self._headers.update(headers or {})
        self._conn: http.client.HTTPConnection | None = None
        self._conn_used = False
        # Injected for tests of the retry schedule; not a public setting.
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    @property
    def url(self) -> str:
        """The peer URL without its password."""
        return self.endpoint.url

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connection (a later request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._conn_used = False

    def target(self, path: str = "", *, params: Mapping[str, object] | None = None) -> str:
        """The request target (path and query) for ``path`` under this URL."""
        if path.startswith("/"):
            full = path
        elif path:
            full = f"{self.endpoint.path}/{path}"
        else:
            full = self.endpoint.path or "/"
        query = encode_params(params)
        return f"{full}?{query}" if query else full

    # -- requests -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, object] | None = None,
        body: object = _NOTHING,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        allow: Collection[int] = (),
    ) -> Response:
        """Send one request (with retries); return a 2xx or allowed :class:`Response`.

        ``body`` is sent as JSON, ``data`` as raw bytes. Raises :class:`SyncError`
        (``status`` 0 when no answer came) for any other outcome.
        """
        target = self.target(path, params=params)
        payload, sent_headers = self._prepare(body, data, headers)

        def attempt(timeout: float) -> Response:
            return self._exchange(method, target, payload, sent_headers, timeout)

        return self._retrying(method, target, attempt, allow)

    def json(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, object] | None = None,
        body: object = _NOTHING,
        allow: Collection[int] = (),
    ) -> Any:
        """Send a request and decode the JSON answer; ``None`` for an allowed non-2xx status.

        ``client.json("GET", "_local/" + rep_id, allow={404})`` is ``None`` when
        there is no checkpoint yet.
        """
        response = self.request(method, path, params=params, body=body, allow=allow)
        return response.json() if response.ok else None

    def stream_lines(
        self,
        path: str,
        *,
        method: str = "GET",
        params: Mapping[str, object] | None = None,
        body: object = _NOTHING,
        read_timeout: float | None = None,
        max_seconds: float | None = None,
    ) -> Iterator[str]:
        """Yield the non-empty lines of a streamed answer (continuous/longpoll ``_changes``).

        Runs on a connection of its own, closed when the generator ends or is
        closed. ``read_timeout`` (default ``timeout``) is the longest silence
        allowed between bytes: ask the peer for a shorter ``heartbeat``. After
        ``max_seconds`` the stream ends quietly, because some peers (PouchDB
        Server) ignore ``timeout=`` and would hold a longpoll open for ever.
        Opening the stream is retried like :meth:`request`; reading is not.
        """
        read_timeout = self.timeout if read_timeout is None else read_timeout
        _check_positive("read_timeout", read_timeout)
        if max_seconds is not None:
            _check_positive("max_seconds", max_seconds)
        target = self.target(path, params=params)
        payload, sent_headers = self._prepare(body, None, None)

        def attempt(timeout: float) -> Response | tuple[http.client.HTTPConnection, Any, Any]:
            conn = self._new_connection(timeout)
            try:
                conn.request(method, target, body=payload, headers=sent_headers)
                # Keep the socket: http.client drops conn.sock when the answer says
                # "Connection: close", but the response still reads from it.
                sock = conn.sock
                raw = conn.getresponse()
                if 200 <= raw.status <= 299:
                    return conn, sock, raw
                answer = _response(raw, raw.read())
            except Exception as exc:
                conn.close()
                raise self._transport_error(method, target, exc) from exc
            conn.close()
            return answer

        opened = self._retrying(method, target, attempt, ())
        if isinstance(opened, Response):  # an error status, already raised unless allowed
            return
        conn, sock, raw = opened
        started = self._clock()
        try:
            while True:
                wait = read_timeout
                if max_seconds is not None:
                    left = started + max_seconds - self._clock()
                    if left <= 0:
                        return
                    wait = min(wait, left)
                sock.settimeout(wait)
                try:
                    line = raw.readline()
                except TimeoutError as exc:
                    if max_seconds is not None and self._clock() - started >= max_seconds:
                        return
                    raise SyncError(
                        f"{method} {self.endpoint.url}{target}: no data for {wait:g}s "
                        "(read_timeout); ask the peer for a shorter heartbeat",
                        reason="timeout",
                    ) from exc
                except (OSError, http.client.HTTPException) as exc:
                    raise SyncError(
                        f"{method} {self.endpoint.url}{target}: stream broke: {exc!r}",
                        reason="connection",
                    ) from exc
                if not line:
                    return
                text = line.decode("utf-8").strip()
                if text:
                    yield text
        finally:
            raw.close()
            conn.close()

    # -- internals ----------------------------------------------------------------

    def _prepare(
        self, body: object, data: bytes | None, headers: Mapping[str, str] | None
    ) -> tuple[bytes | None, dict[str, str]]:
        sent = dict(self._headers)
        payload = data
        if not isinstance(body, _Nothing):
            if data is not None:
                raise ValidationError("give body= (JSON) or data= (bytes), not both")
            payload = _dumps(body)
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return payload, sent

    def _retrying(
        self,
        method: str,
        target: str,
        attempt: Callable[[float], Response | _T],
        allow: Collection[int],
    ) -> Response | _T:
        start = self._clock()
        deadline = start + self.total_timeout
        tries = 0
        while True:
            tries += 1
            delay = min(self.backoff_max, self.backoff * 2 ** (tries - 1))
            try:
                outcome = attempt(min(self.timeout, max(deadline - self._clock(), 0.01)))
            except _Transient as exc:
                failure = exc.error
            else:
                if not isinstance(outcome, Response) or outcome.ok or outcome.status in allow:
                    return outcome
                failure = self._status_error(method, target, outcome)
                if not is_retryable_status(outcome.status):
                    raise failure
                delay = max(delay, _retry_after(outcome))
            if self._clock() + delay >= deadline:
                elapsed = self._clock() - start
                raise SyncError(
                    f"{failure}; gave up after {tries} attempt(s) in {elapsed:.1f}s "
                    f"(total_timeout={self.total_timeout:g}s)",
                    status=failure.status,
                    reason=failure.reason,
                ) from failure
            self._sleep(delay)

    def _exchange(
        self,
        method: str,
        target: str,
        payload: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Response:
        while True:
            reused = self._conn is not None and self._conn_used
            conn = self._connection(timeout)
            try:
                conn.request(method, target, body=payload, headers=dict(headers))
                raw = conn.getresponse()
                answer = _response(raw, raw.read())
            except _STALE_CONNECTION as exc:
                self.close()
                if reused:
                    continue
                raise self._transport_error(method, target, exc) from exc
            except Exception as exc:
                self.close()
                raise self._transport_error(method, target, exc) from exc
            if raw.will_close:
                self.close()
            else:
                self._conn_used = True
            return answer

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = self._new_connection(timeout)
            self._conn_used = False
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self.endpoint.host, self.endpoint.port
        if self.endpoint.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _transport_error(self, method: str, target: str, exc: Exception) -> Exception:
        """Map a transport exception to SyncError; transient ones wrapped for a retry."""
        where = f"{method} {self.endpoint.url}{target}"
        if isinstance(exc, SyncError | ValidationError):
            return exc
        if isinstance(exc, ssl.SSLError):  # a certificate problem does not heal by waiting
            return SyncError(f"{where}: TLS failed: {exc}", reason="tls")
        if isinstance(exc, TimeoutError):
            return _Transient(SyncError(f"{where}: timed out ({exc})", reason="timeout"))
        if isinstance(exc, OSError | http.client.HTTPException):
            return _Transient(SyncError(f"{where}: no answer: {exc!r}", reason="connection"))
        return exc

    def _status_error(self, method: str, target: str, response: Response) -> SyncError:
        error = response.reason.lower().replace(" ", "_") or "http_error"
        detail = ""
        try:
            decoded = json.loads(response.body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            error = str(decoded.get("error") or error)
            detail = str(decoded.get("reason") or "")
        message = f"{method} {self.endpoint.url}{target} answered {response.status} {error}"
        return SyncError(
            f"{message}: {detail}" if detail else message, status=response.status, reason=error
        )


def _response(raw: http.client.HTTPResponse, body: bytes) -> Response:
    headers = {name.lower(): value for name, value in raw.getheaders()}
    return Response(status=raw.status, reason=raw.reason or "", headers=headers, body=body)


def _retry_after(response: Response) -> float:
    """Seconds from a numeric ``Retry-After`` header (HTTP dates are ignored), else 0."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


def _check_positive(name: str, value: object) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValidationError(f"{name} must be a finite number > 0, not {value!r}")
