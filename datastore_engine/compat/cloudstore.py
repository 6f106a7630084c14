"""The CloudStore python client over the engine (seed 001).

``CloudStore(api_key, path=None)`` keeps the seed's calls and argument order::

    cloud.save(key, value, callback, password)      cloud.load(key, callback, password)
    cloud.merge(key, value, callback, password)     cloud.list(filter, callback)
    cloud.delete(key, callback, password)           cloud.upload(data, filename, type, callback, password)

**Threads.** Every call runs on a new worker thread, which calls ``callback``
with the response dict and returns at once a :class:`concurrent.futures.Future`
that resolves to the same dict *after* the callback has returned (so callers
and tests need no sleeps; if the callback raises, the future holds that
exception, and an error that is not a ``DatastoreError``, i.e. a bug, fails
the future without a callback); ``cloud.wait()`` waits for every pending call, those started by
callbacks too. ``CloudStore.lock`` is the one shared lock of the seed, for
critical sections in callbacks and main code; the library never holds it
while calling a callback (the core is thread-safe and needs no lock of ours).

**Response dict**: ``error`` (None or an error name), ``message``, ``data``,
``response``, ``exception``. There is no HTTP: ``response`` is a
:class:`LocalResponse` with ``status_code``, ``reason``, ``ok`` and ``json()``.
Error names and statuses:

=================  ======  ==========================================================
error              status  when
=================  ======  ==========================================================
``NoFile``         404     load or delete of a key that does not exist
``BadPassword``    403     a protected key without, or with a wrong, password
``InvalidRequest`` 400     a bad key, value or filename (:class:`ValidationError`)
``LimitExceeded``  413     a value or file over a limit
other class name   500     any other :class:`DatastoreError` (e.g. ``StorageFull``)
=================  ======  ==========================================================

**Scoping.** Each api key has its own store ``cloudstore/<api_key>`` in the
``system`` domain (so one engine can serve many keys and apps), and its media
go to the bucket ``cloudstore-<sha256(api_key)[:32]>`` (bucket names must be
lowercase). ``path=None`` opens the engine in
:func:`~datastore_engine.compat.default_path` (``$DATASTORE_ENGINE_PATH`` or
``./datastore``); ``engine=`` shares an open one.

**Passwords** (the hosted service set them in a dashboard) are set by the
first ``save``/``merge`` with ``password``; later calls must give it
(``BadPassword``); ``delete`` removes it with the key. Checking is the core's
(per-document salted hashes, a backoff on wrong guesses). Uploads accept a
password the same way: it protects the file's record in the store
``cloudstore/<api_key>/media``, written in the same transaction as the file,
so a wrong password leaves the old file in place.

**Messages.** ``list`` answers the comma-separated, case-sensitive substring
matches, in key order (``"steve1,steve2"``); the others a short sentence.
``load`` puts the value in ``data``; ``upload`` puts
``{"name", "folder", "id", "mimetype", "size"}`` in ``data`` (``folder`` is the
bucket, ``id`` is ``folder/name``).

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     cloud = CloudStore("ZFA5mAkxjVznvSsXOUxE", engine=engine)
    ...     cloud.save("Shopping_List", {"Apples": 8}).result()["message"]
    ...     cloud.load("Shopping_List").result()["data"]
    'Data saved'
    {'Apples': 8}
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from typing import Any

from ..engine import Engine
from ..errors import DatastoreError, Forbidden, LimitExceeded, NotFound, ValidationError
from ._common import default_path

__all__ = ["CloudStore", "LocalResponse", "Response"]

#: A response dict: error, message, data, response, exception.
Response = dict[str, Any]
Callback = Callable[[Response], Any]


@dataclass(frozen=True)
class LocalResponse:
    """What stands in for ``requests.Response``: ``status_code``, ``reason``, ``ok``, ``json()``."""

    status_code: int
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> dict[str, Any]:
        """The body the hosted service would have sent: ``{"error", "message", "data"}``."""
        return dict(self.payload)


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            413: "Payload Too Large", 500: "Internal Server Error"}  # fmt: skip


def _error_of(exc: DatastoreError) -> tuple[str, int]:
    """(error name, status) for a core error; see the module table."""
    if isinstance(exc, NotFound):
        return "NoFile", 404
    if isinstance(exc, Forbidden):
        return exc.reason, 403
    if isinstance(exc, LimitExceeded):
        return "LimitExceeded", 413
    if isinstance(exc, ValidationError):
        return "InvalidRequest", 400
    return type(exc).__name__, 500


def _respond(error: str | None, message: str, data: Any, status: int,
             exception: BaseException | None = None) -> Response:  # fmt: skip
    payload = {"error": error, "message": message, "data": data}
    return {
        "error": error,
        "message": message,
        "data": data,
        "response": LocalResponse(status, _REASONS.get(status, ""), payload),
        "exception": exception,
    }


def _media_bytes(data: Any) -> Any:
    """A str is stored as UTF-8; a text-mode file is read and encoded; bytes and binary files pass."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, io.TextIOBase):
        return data.read().encode("utf-8")
    return data


class CloudStore:
    """A CloudStore client for one api key; see the module docstring."""

    #: The shared lock of the seed (``cloud.lock.acquire()`` / ``release()``); never held around callbacks.
    lock = threading.Lock()

    def __init__(
        self, api_key: str, path: str | None = None, *, engine: Engine | None = None
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValidationError(f"api_key must be a non-empty str, got {api_key!r}")
        self.api_key = api_key
        self._own = engine is None
        self.engine = engine if engine is not None else Engine(path or default_path())
        self._store = self.engine.store(f"cloudstore/{api_key}", domain="system")
        self._media = self.engine.store(f"cloudstore/{api_key}/media", domain="system")
        self.folder = "cloudstore-" + hashlib.sha256(api_key.encode()).hexdigest()[:32]
        self._pending: set[Future[Response]] = set()
        self._pending_lock = threading.Lock()  # ours alone: CloudStore.lock belongs to the callers

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every call of this client is done, calls made by callbacks meanwhile too.

        Not in the seed: it lets a caller (or a test) wait for a chain such as
        the merge example's, whose callback starts a ``load``. False on timeout.
        """
        while True:
            with self._pending_lock:
                pending = list(self._pending)
            if not pending:
                return True
            _done, not_done = futures_wait(pending, timeout=timeout)
            if not_done:
                return False

    def close(self) -> None:
        """Close the engine if this client opened it."""
        if self._own:
            self.engine.close()

    def __enter__(self) -> CloudStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread per call ---------------------------------------------------------------
    def _run(
        self, work: Callable[[], tuple[str, Any]], callback: Callback | None
    ) -> Future[Response]:
        future: Future[Response] = Future()

        def body() -> None:
            try:
                message, data = work()
                response = _respond(None, message, data, 200)
            except DatastoreError as exc:
                name, status = _error_of(exc)
                response = _respond(name, str(exc), None, status, exc)
            except BaseException as exc:  # a bug or bad input type: report it, as the client did
                future.set_exception(exc)
                return
            try:
                if callback is not None:
                    callback(response)
            except BaseException as exc:
                future.set_exception(exc)
                return
            future.set_result(response)

        future.set_running_or_notify_cancel()
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        threading.Thread(target=body, name="cloudstore", daemon=True).start()
        return future

    def _forget(self, future: Future[Response]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    # -- data ------------------------------------------------------------------------------
    def save(self, key: str, value: Any, callback: Callback | None = None,
             password: str | None = None) -> Future[Response]:  # fmt: skip
        """Store ``value`` under ``key`` (replacing it); ``password`` protects a new key."""

        def work() -> tuple[str, Any]:
            self._store.put(key, value, password=password)
            return "Data saved", None

        return self._run(work, callback)

    def load(self, key: str, callback: Callback | None = None,
             password: str | None = None) -> Future[Response]:  # fmt: skip
        """The value of ``key`` in ``data`` (``NoFile`` if missing)."""

        def work() -> tuple[str, Any]:
            return "Data loaded", self._store.get(key, password=password)

        return self._run(work, callback)

    def merge(self, key: str, value: Any, callback: Callback | None = None,
              password: str | None = None) -> Future[Response]:  # fmt: skip
        """Deep-merge ``value`` (dicts and arrays, recursively) into ``key``; creates it if missing."""

        def work() -> tuple[str, Any]:
            self._store.merge(key, value, password=password)
            return "Data merged", None

        return self._run(work, callback)

    def list(self, filter: str = "", callback: Callback | None = None) -> Future[Response]:
        """The keys containing ``filter`` (case-sensitive), comma-separated, in ``message``."""

        def work() -> tuple[str, Any]:
            if not isinstance(filter, str):
                raise ValidationError(f"filter must be a str, got {filter!r}")
            return ",".join(self._store.keys(contains=filter)), None

        return self._run(work, callback)

    def delete(self, key: str, callback: Callback | None = None,
               password: str | None = None) -> Future[Response]:  # fmt: skip
        """Delete ``key`` (``NoFile`` if missing)."""

        def work() -> tuple[str, Any]:
            self._store.delete(key, password=password)
            return "Data deleted", None

        return self._run(work, callback)

    # -- media -----------------------------------------------------------------------------
    def upload(self, data: Any, filename: str, type: str | None = None,
               callback: Callback | None = None, password: str | None = None) -> Future[Response]:  # fmt: skip
        """Store ``data`` (str, bytes or an open file) as media file ``filename`` of this api key."""

        def work() -> tuple[str, Any]:
            engine = self.engine
            with engine.transaction():
                info = engine.bucket(self.folder).put(
                    filename, _media_bytes(data), content_type=type
                )
                record = {
                    "name": filename,
                    "folder": self.folder,
                    "id": f"{self.folder}/{filename}",
                    "mimetype": info.content_type,
                    "size": info.size,
                }
                # The core checks the file's password here; a refusal rolls the upload back.
                self._media.put(filename, record, password=password)
            return "File uploaded", record

        return self._run(work, callback)
