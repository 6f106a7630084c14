"""datastore_engine: an embedded JSON document and blob datastore on LMDB.

>>> import datastore_engine as dse
>>> with dse.open_temporary() as engine:
...     store = engine.store("myNumbers")
...     store.add({"one": 1}, rid="one")
...     store.get("one")
'one'
{'one': 1}
"""

from __future__ import annotations

from .blobs import Bucket, ObjectInfo
from .catalog import StoreInfo
from .changes import Change
from .engine import Engine, open, open_temporary
from .errors import (
    Conflict,
    CorruptData,
    DatastoreError,
    DuplicateKey,
    EngineClosed,
    Forbidden,
    ForkedEngine,
    InvalidFilter,
    InvalidQuery,
    LimitExceeded,
    MapGrown,
    NotFound,
    StorageError,
    StorageFull,
    StructureViolation,
    SyncError,
    ValidationError,
)
from .merge import deep_merge
from .page import Page
from .session import Session, StoreView
from .store import Store
from .structures import Structure

__version__ = "0.1.0"

__all__ = [
    "Bucket",
    "Change",
    "Conflict",
    "CorruptData",
    "DatastoreError",
    "DuplicateKey",
    "Engine",
    "EngineClosed",
    "Forbidden",
    "ForkedEngine",
    "InvalidFilter",
    "InvalidQuery",
    "LimitExceeded",
    "MapGrown",
    "NotFound",
    "ObjectInfo",
    "Page",
    "Session",
    "StorageError",
    "StorageFull",
    "Store",
    "StoreInfo",
    "StoreView",
    "Structure",
    "StructureViolation",
    "SyncError",
    "ValidationError",
    "deep_merge",
    "open",
    "open_temporary",
]


def __getattr__(name: str) -> object:
    # ``dse.aio`` (the asyncio API) is a submodule, imported on first use so that
    # synchronous users never pay for importing asyncio; it is not in __all__.
    if name == "aio":
        import importlib

        return importlib.import_module(".aio", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
