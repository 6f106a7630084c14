"""Store metadata: the catalog record of each store, and the state the write path needs.

A store's catalog record (msgpack, in the ``catalog`` sub-database, keyed by
``scope + name``) holds its public :class:`StoreInfo` fields, its internal
number ``sid`` and its index definitions. Live counters (count, size, last
sequence, last write time) live apart, in ``counters``, so a document write
never rewrites the catalog record.

Every change to any catalog record gives ``catalog_version`` (in ``meta``) a
new random value; each write transaction compares it with the version its
:class:`StoreState` was loaded at and reloads on a difference, so settings
changed by another engine or process (quota, structure, indexes, a drop) are
seen at once. Random rather than counted, so that the version of a rolled-back
change never comes back with another change.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import codec, structures
from .errors import NotFound
from .keys import catalog_key, scope_prefix, sid_bytes

if TYPE_CHECKING:
    from .engine import Engine, WriteCtx

__all__ = ["StoreInfo", "StoreState", "bump_version", "ensure_store", "iso_ms", "load_state"]

#: The catalog's 8-byte big-endian numbers (the catalog version, the next store number).
U64 = struct.Struct(">Q")


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-11-30T07:44:39.123Z``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class StoreInfo:
    """The public description of a store (see issue: catalog)."""

    id: str
    name: str
    domain: str
    description: str
    owner: str | None
    created: str
    last_modified: str
    location: str
    size: int
    count: int
    max_size_mb: int | None
    structure: str | None
    admin_access: tuple[str, ...]
    read_access: tuple[str, ...]
    write_access: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("admin_access", "read_access", "write_access"):
            out[k] = list(out[k])
        return out


@dataclass
class StoreState:
    """What the write path needs of one store, loaded from its catalog record."""

    ckey: bytes
    sid: int
    prefix: bytes
    record: dict[str, Any]
    version: int
    indexes: tuple[Any, ...] = ()
    max_bytes: int | None = None
    validator: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.record["name"])

    @property
    def domain(self) -> str:
        return str(self.record["domain"])


def read_version(txn: Any, dbs: dict[str, Any]) -> int:
    raw = txn.get(b"catalog_version", db=dbs["meta"])
    return U64.unpack(raw)[0] if raw else 0


def version(ctx: WriteCtx) -> int:
    """The catalog version as this write transaction sees it (cached per transaction)."""
    cached = ctx.versions.get("catalog")
    if cached is None:
        cached = read_version(ctx.txn, ctx.dbs)
        ctx.versions["catalog"] = cached
    return cached


def bump_version(ctx: WriteCtx) -> int:
    """Record that a catalog record changed (every catalog write must call this).

    The new version is random, not the old one plus one: a transaction that is rolled
    back may leave a :class:`StoreState` loaded at its version cached on a ``Store``, and
    a counter would give the next commit's different catalog that same number.
    """
    old = read_version(ctx.txn, ctx.dbs)
    new = old
    while new in (old, 0):
        new = int.from_bytes(os.urandom(8), "big")
    ctx.txn.put(b"catalog_version", U64.pack(new), db=ctx.dbs["meta"])
    c: WriteCtx | None = ctx
    while c is not None:
        c.versions.pop("catalog", None)
        c = c.parent
    ctx.versions["catalog"] = new
    return new


def next_sid(ctx: WriteCtx) -> int:
    raw = ctx.txn.get(b"next_sid", db=ctx.dbs["meta"])
    sid = U64.unpack(raw)[0] if raw else 1
    ctx.txn.put(b"next_sid", U64.pack(sid + 1), db=ctx.dbs["meta"])
    return sid


def state_from_record(ckey: bytes, record: dict[str, Any], ver: int) -> StoreState:
    """Build the write-path state of a store from its catalog record."""
    sid = int(record["sid"])
    max_mb = record.get("max_size_mb")
    state = StoreState(
        ckey=ckey,
        sid=sid,
        prefix=sid_bytes(sid),
        record=record,
        version=ver,
        max_bytes=int(max_mb) * 1024 * 1024 if max_mb is not None else None,
        indexes=tuple(record.get("indexes") or ()),
        # The structure definition is embedded in the record: no extra read per write.
        validator=structures.validator_of(record.get("structure_def")),
    )
    return state


def load_state(engine: Engine, domain: str, name: str) -> StoreState | None:
    """The state of store ``name`` in ``domain`` as the engine sees it, or None if missing."""
    ckey = catalog_key(domain, name, app=engine.app, org=engine.org)
    env = engine._env
    with env.reading() as txn:
        raw = txn.get(ckey, db=env.dbs["catalog"])
        if raw is None:
            return None
        return state_from_record(ckey, codec.decode(raw, key=name), read_version(txn, env.dbs))


def refresh(ctx: WriteCtx, state: StoreState) -> StoreState:
    """``state`` if still current in this transaction, else reloaded; NotFound if dropped."""
    ver = version(ctx)
    if ver == state.version:
        return state
    raw = ctx.txn.get(state.ckey, db=ctx.dbs["catalog"])
    if raw is None:
        raise NotFound(f"store {state.name!r} in domain {state.domain!r} was dropped")
    record = codec.decode(raw, key=state.name)
    if int(record["sid"]) != state.sid:
        raise NotFound(f"store {state.name!r} in domain {state.domain!r} was dropped and made anew")
    return state_from_record(state.ckey, record, ver)


def refresh_read(txn: Any, dbs: dict[str, Any], state: StoreState) -> StoreState:
    """Like :func:`refresh`, inside a read transaction."""
    ver = read_version(txn, dbs)
    if ver == state.version:
        return state
    raw = txn.get(state.ckey, db=dbs["catalog"])
    if raw is None:
        raise NotFound(f"store {state.name!r} in domain {state.domain!r} was dropped")
    record = codec.decode(raw, key=state.name)
    if int(record["sid"]) != state.sid:
        raise NotFound(f"store {state.name!r} in domain {state.domain!r} was dropped and made anew")
    return state_from_record(state.ckey, record, ver)


def new_record(
    ctx: WriteCtx,
    *,
    engine: Engine,
    domain: str,
    name: str,
    store_id: str | None = None,
    description: str = "",
    owner: str | None = None,
    max_size_mb: int | None = None,
    structure: str | None = None,
    admin_access: tuple[str, ...] | list[str] = (),
    read_access: tuple[str, ...] | list[str] = (),
    write_access: tuple[str, ...] | list[str] = (),
    structure_def: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a new catalog record, its id entry and zeroed counters; returns the record."""
    from .engine import pack_counters

    sid = next_sid(ctx)
    created = now_ms()
    record: dict[str, Any] = {
        "sid": sid,
        "id": store_id if store_id is not None else f"{sid:x}-{created:x}",
        "name": name,
        "domain": domain,
        "app": engine.app if domain == "local" else None,
        "org": engine.org if domain == "organization" else None,
        "description": description,
        "owner": owner,
        "created": created,
        "max_size_mb": max_size_mb,
        "structure": structure,
        "admin_access": list(admin_access),
        "read_access": list(read_access),
        "write_access": list(write_access),
        "indexes": [],
    }
    if structure_def is not None:
        record["structure_def"] = structure_def
    ckey = catalog_key(domain, name, app=engine.app, org=engine.org)
    ctx.txn.put(ckey, codec.encode(record), db=ctx.dbs["catalog"])
    ctx.txn.put(id_key(domain, record["id"], app=engine.app, org=engine.org), ckey, db=ctx.dbs["meta"])
    ctx.txn.put(sid_bytes(sid), pack_counters(0, 0, 0, created), db=ctx.dbs["counters"])
    bump_version(ctx)
    return record


def id_key(domain: str, store_id: str, *, app: str, org: str) -> bytes:
    """Key (in ``meta``) of the entry mapping a store id to its catalog key; ids are unique per scope."""
    return b"storeid\x00" + scope_prefix(domain, app=app, org=org) + store_id.encode()


def ensure_store(ctx: WriteCtx, engine: Engine, domain: str, name: str) -> None:
    """Create store ``name`` in ``domain`` unless it exists (``engine.store()``'s get-or-create)."""
    ckey = catalog_key(domain, name, app=engine.app, org=engine.org)
    if ctx.txn.get(ckey, db=ctx.dbs["catalog"]) is None:
        new_record(ctx, engine=engine, domain=domain, name=name)


def location(domain: str, name: str, *, app: str, org: str) -> str:
    """A URI naming a store: ``datastore://local/<app>/<name>`` and the like."""
    from urllib.parse import quote

    scope = {"local": f"local/{quote(app, safe='')}", "organization": f"organization/{quote(org, safe='')}"}
    return f"datastore://{scope.get(domain, 'system')}/{quote(name, safe='')}"


def info_from(record: dict[str, Any], counters: tuple[int, int, int, int], *, app: str, org: str) -> StoreInfo:
    """Assemble the public StoreInfo of a store from its record and counters."""
    count, size, _seq, mtime = counters
    return StoreInfo(
        id=str(record["id"]),
        name=str(record["name"]),
        domain=str(record["domain"]),
        description=str(record.get("description") or ""),
        owner=record.get("owner"),
        created=iso_ms(int(record["created"])),
        last_modified=iso_ms(max(int(mtime), int(record.get("modified", 0)), int(record["created"]))),
        location=location(
            str(record["domain"]),
            str(record["name"]),
            app=str(record.get("app") or app),
            org=str(record.get("org") or org),
        ),
        size=int(size),
        count=int(count),
        max_size_mb=record.get("max_size_mb"),
        structure=record.get("structure"),
        admin_access=tuple(record.get("admin_access") or ()),
        read_access=tuple(record.get("read_access") or ()),
        write_access=tuple(record.get("write_access") or ()),
    )
