"""The public API is exactly what __init__ declares (httpx's test_exported_members, in spirit)."""

from __future__ import annotations

import datastore_engine as dse

INTENDED = [
    "Bucket", "Change", "Conflict", "CorruptData", "DatastoreError", "DuplicateKey", "Engine",
    "EngineClosed", "Forbidden", "ForkedEngine", "InvalidFilter", "InvalidQuery", "LimitExceeded",
    "MapGrown", "NotFound", "ObjectInfo", "Page", "Session", "StorageError", "StorageFull", "Store",
    "StoreInfo", "StoreView", "Structure", "StructureViolation", "SyncError", "ValidationError",
    "deep_merge", "open", "open_temporary",
]  # fmt: skip


def test_all_is_the_intended_sorted_list() -> None:
    assert dse.__all__ == INTENDED
    assert sorted(dse.__all__) == dse.__all__


def test_every_exported_name_exists_and_errors_share_one_root() -> None:
    for name in dse.__all__:
        assert hasattr(dse, name), name
    errors = [getattr(dse, n) for n in dse.__all__ if isinstance(getattr(dse, n), type)
              and issubclass(getattr(dse, n), Exception)]  # fmt: skip
    assert len(errors) >= 15
    assert all(issubclass(e, dse.DatastoreError) for e in errors)
    assert issubclass(dse.NotFound, KeyError) and issubclass(dse.ValidationError, ValueError)
    assert all(issubclass(e, dse.ValidationError) for e in (dse.LimitExceeded, dse.InvalidFilter, dse.InvalidQuery))
