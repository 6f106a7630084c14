"""The one exception tree of datastore_engine.

Every error the engine raises on purpose is a :class:`DatastoreError`. Backend
errors (``lmdb.Error``) are translated in one place (``engine._translate``) and
chained with ``raise ... from exc``; they never reach a caller raw.

::

    DatastoreError
    ├── NotFound                (also KeyError)      missing document, store, bucket, object
    ├── DuplicateKey                                 add() of an existing rid; unique index clash
    ├── Conflict                                     name/id clash, stale revision, non-empty drop
    ├── ValidationError         (also ValueError)    bad input of any kind
    │   ├── LimitExceeded                            key/name length, nesting, document size, quota
    │   ├── InvalidFilter                            SCIM filter that does not parse
    │   ├── InvalidQuery                             Elasticsearch body / JSONPath that is not supported
    │   └── StructureViolation                       a write that breaks the store's data structure
    ├── Forbidden               (also PermissionError) access list or password refused
    ├── StorageError                                 the disk or the file let us down
    │   ├── StorageFull                              no space (or file-size limit) for the write
    │   ├── CorruptData                              a stored value that does not decode
    │   └── MapGrown                                 the map filled inside engine.transaction(): retry it
    ├── EngineClosed                                 use after close()
    ├── ForkedEngine                                 use of an engine inherited across fork()
    └── SyncError                                    a replication peer failed (status, reason)

Example:
    >>> import datastore_engine as dse
    >>> issubclass(dse.NotFound, KeyError), issubclass(dse.LimitExceeded, ValueError)
    (True, True)
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "CorruptData",
    "DatastoreError",
    "DuplicateKey",
    "EngineClosed",
    "Forbidden",
    "ForkedEngine",
    "InvalidFilter",
    "InvalidQuery",
    "LimitExceeded",
    "MapGrown",
    "NotFound",
    "StorageError",
    "StorageFull",
    "StructureViolation",
    "SyncError",
    "ValidationError",
]


class DatastoreError(Exception):
    """Root of every error raised by datastore_engine."""

    def __str__(self) -> str:
        # KeyError.__str__ quotes its argument; keep our messages readable.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class NotFound(DatastoreError, KeyError):
    """A document, store, bucket, object or structure that does not exist."""


class DuplicateKey(DatastoreError):
    """``add()`` of a rid that exists, or a value a unique index already holds."""


class Conflict(DatastoreError):
    """A clash with the current state: a taken name or id, a stale ``if_rev``, a non-empty drop."""


class ValidationError(DatastoreError, ValueError):
    """Input that the engine refuses: wrong type, bad name, bad path, bad value."""


class LimitExceeded(ValidationError):
    """A limit was crossed; ``limit`` names it (e.g. ``"max_document_bytes"``)."""

    def __init__(self, message: str, *, limit: str = "", value: object = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class InvalidFilter(ValidationError):
    """A SCIM filter that does not parse; ``column`` is where (1-based)."""

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class InvalidQuery(ValidationError):
    """An Elasticsearch body, clause or JSONPath expression the engine does not support."""


class StructureViolation(ValidationError):
    """A write that breaks the store's data structure; ``violations`` lists (path, problem)."""

    def __init__(self, message: str, *, violations: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.violations = violations or []


class Forbidden(DatastoreError, PermissionError):
    """Refused by an access list or a password; ``reason`` is e.g. ``"BadPassword"``."""

    def __init__(self, message: str, *, reason: str = "Forbidden") -> None:
        super().__init__(message)
        self.reason = reason


class StorageError(DatastoreError):
    """The storage layer failed (I/O error, unusable file)."""


class StorageFull(StorageError):
    """The disk (or a file-size limit) has no room for the write; nothing was written."""


class CorruptData(StorageError):
    """A stored value does not decode; ``key`` names the document."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class MapGrown(StorageError):
    """The map filled inside ``engine.transaction()``: nothing was committed; run it again."""


class EngineClosed(DatastoreError):
    """The engine (or the store/bucket taken from it) was used after ``close()``."""


class ForkedEngine(DatastoreError):
    """An engine opened before ``fork()`` was used in the child; open a new one there."""


class SyncError(DatastoreError):
    """A replication peer failed; ``status`` is the HTTP status (0 for no answer)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
