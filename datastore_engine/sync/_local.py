"""Our side's replication state, in the ``local`` sub-database (never in the change feed).

Keys are the store prefix (``sid``) and then:

* ``b"\\x00uuid"``: a random id naming this store in replication ids (made on
  first use), so two stores, or two files, never share a checkpoint on a peer;
* ``b"\\x00local/" + replication id``: our copy of a checkpoint document
  (``_local/<id>`` in CouchDB terms), JSON values encoded by the codec.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     s = engine.store("notes")
    ...     save_checkpoint(s, "r1", {"session_id": "x", "source_last_seq": 3})
    ...     (len(store_uuid(s)), load_checkpoint(s, "r1")["source_last_seq"], load_checkpoint(s, "r2"))
    (32, 3, None)
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .. import codec

if TYPE_CHECKING:
    from ..engine import WriteCtx
    from ..store import Store

__all__ = ["load_checkpoint", "save_checkpoint", "store_uuid"]

_UUID = b"\x00uuid"
_CHECKPOINT = b"\x00local/"


def store_uuid(store: Store) -> str:
    """This store's replication identity: 32 hex digits, made once and kept."""
    store._live()
    key = store._state.prefix + _UUID
    db = store._dbs["local"]
    raw = store._env.get_one(key, db)
    if raw is not None:
        return raw.decode()
    fresh = uuid.uuid4().hex.encode()

    def make(ctx: WriteCtx) -> bytes:
        found = ctx.txn.get(key, db=db)
        if found is not None:  # another thread or process made it first
            return bytes(found)
        ctx.txn.put(key, fresh, db=db)
        return fresh

    return store._env.run_write(make).decode()


def load_checkpoint(store: Store, rep_id: str) -> dict[str, Any] | None:
    """Our checkpoint document of replication ``rep_id``, or None."""
    store._live()
    raw = store._env.get_one(
        store._state.prefix + _CHECKPOINT + rep_id.encode(), store._dbs["local"]
    )
    if raw is None:
        return None
    value = codec.decode(raw, key="_local/" + rep_id)
    return value if isinstance(value, dict) else None


def save_checkpoint(store: Store, rep_id: str, doc: dict[str, Any]) -> None:
    """Write our checkpoint document of replication ``rep_id`` (durable when the engine is)."""
    store._live()
    key = store._state.prefix + _CHECKPOINT + rep_id.encode()
    body = codec.encode({k: v for k, v in doc.items() if k != "_rev"}, where="checkpoint")
    db = store._dbs["local"]

    def put(ctx: WriteCtx) -> None:
        ctx.txn.put(key, body, db=db)

    store._env.run_write(put)
