"""The store catalog: create, list, inspect, update and drop stores (Make's and Trivore's APIs).

Reached through the engine (``engine.create_store``, ``engine.stores``, ...);
this module holds the logic, the engine methods are thin.

* **Ids and names.** A store's ``id`` is stable (it never changes, not even on
  rename) and unique within its scope (the app's local stores, the org's
  stores, the system stores), as is its name; a clash is :class:`Conflict`.
  Without ``id=`` one is made from the store's internal number and creation time.
* **Listing** (``stores()``): ``filter`` is a SCIM filter over the
  :class:`StoreInfo` fields by their Python names (``owner eq "u1"``,
  ``size gt 100``, ``read_access eq "g:staff"``, ``created ge "2026-01-01T00:00:00Z"``);
  ``data_filter`` keeps stores holding at least one document that matches
  (password-protected documents are not looked at). Sorting is by one field
  (``sort_by``), ``None`` values last both ways, ties by name, domain and id.
  ``count`` is at most 500 (Trivore's limit).
* **Patch.** ``update_store`` changes only the fields given. Lowering
  ``max_size_mb`` below the current size is allowed: writes that do not grow
  the store still succeed. Binding a structure does not re-check existing documents.
* **Drop.** A store holding documents is dropped only with ``confirmed=True``
  (Make's flag). Everything of the store (documents, tombstones, feed,
  conflicts, passwords, index entries, counters, catalog record) goes in one
  transaction. ``Store`` objects of a dropped store raise :class:`NotFound`
  on their next write; a renamed store's old ``Store`` objects likewise.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     info = engine.create_store("crm", description="customers", max_size_mb=5)
    ...     _ = engine.store("crm").put("c1", {"name": "Ada"})
    ...     page = engine.stores(filter='description sw "cust"')
    ...     ([s.name for s in page], page.total, page.items[0].count)
    (['crm'], 1, 1)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import catalog, codec, structures
from .catalog import StoreInfo
from .errors import Conflict, DatastoreError, LimitExceeded, NotFound, ValidationError
from .keys import DOMAINS, catalog_key, check_domain, check_store_name, scope_prefix
from .page import Page

if TYPE_CHECKING:
    from .engine import Engine, WriteCtx

__all__ = [
    "MAX_PAGE_COUNT",
    "SORT_FIELDS",
    "UPDATABLE",
    "create_store",
    "drop_stores",
    "list_stores",
    "store_info",
    "update_store",
]

MAX_PAGE_COUNT = 500
MAX_DESCRIPTION_CHARS = 4096
MAX_ID_CHARS = 128
MAX_PRINCIPAL_CHARS = 256
SORT_FIELDS = (
    "id", "name", "domain", "description", "owner", "created", "last_modified",
    "location", "size", "count", "max_size_mb", "structure",
)  # fmt: skip
_DOMAIN_ORDER = {d: i for i, d in enumerate(DOMAINS)}
#: Databases whose keys start with the store's 8-byte prefix: emptied on drop.
_STORE_DBS = ("docs", "changes", "conflicts", "passwords", "index", "local")

#: A check of the record while listing (sessions pass one that keeps what they may see).
Keep = Callable[[Mapping[str, Any]], bool]


# --- field checks (a table: field -> normalizer) -----------------------------------------------


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"description must be a str, got {value!r}")
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise LimitExceeded(
            f"description is {len(value)} characters, over the limit of {MAX_DESCRIPTION_CHARS}",
            limit="max_description_chars",
            value=len(value),
        )
    return value


def _principal(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_PRINCIPAL_CHARS:
        raise ValidationError(
            f"{what} must be a str of 1-{MAX_PRINCIPAL_CHARS} characters, got {value!r}"
        )
    return value


def _owner(value: Any) -> str | None:
    return None if value is None else _principal(value, "owner")


def _max_size_mb(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1 or value > 1 << 40:
        raise ValidationError(
            f"max_size_mb must be None or a whole number of MB >= 1, got {value!r}"
        )
    return value


def _access_list(what: str) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError(f"{what} must be a list of principal or group ids, got {value!r}")
        out: list[str] = []
        for entry in value:
            _principal(entry, f"an entry of {what}")
            if entry not in out:
                out.append(entry)
        return out

    return check


def _structure_id(value: Any) -> str | None:
    if value is None:
        return None
    found = getattr(value, "id", value)  # a Structure or its id
    if not isinstance(found, str) or not found:
        raise ValidationError(
            f"structure must be None, a structure id or a Structure, got {value!r}"
        )
    return found


def _store_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise ValidationError(
            f"store id must be a str of 1-{MAX_ID_CHARS} characters, got {value!r}"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(f"store id must not contain control characters: {value!r}")
    return value


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "name": check_store_name,
    "description": _description,
    "owner": _owner,
    "max_size_mb": _max_size_mb,
    "structure": _structure_id,
    "admin_access": _access_list("admin_access"),
    "read_access": _access_list("read_access"),
    "write_access": _access_list("write_access"),
}
UPDATABLE = tuple(_FIELDS)


# --- helpers -------------------------------------------------------------------------------------


def _counters(engine: Engine, txn: Any, prefix: bytes) -> tuple[int, int, int, int]:
    """A store's counters as this thread sees them (its open transaction's, if any)."""
    from .engine import unpack_counters

    ctx: WriteCtx | None = engine._env.tls.ctx
    while ctx is not None:
        if prefix in ctx.counters:
            count, size, seq, mtime, _stale = ctx.counters[prefix]
            return count, size, seq, mtime
        ctx = ctx.parent
    raw = txn.get(prefix, db=engine._env.dbs["counters"])
    if raw is None:
        return (0, 0, 0, 0)
    return unpack_counters(raw)


def _info(engine: Engine, txn: Any, record: Mapping[str, Any]) -> StoreInfo:
    from .keys import sid_bytes

    counters = _counters(engine, txn, sid_bytes(int(record["sid"])))
    return catalog.info_from(dict(record), counters, app=engine.app, org=engine.org)


def _embed(ctx: WriteCtx, structure_id: str | None) -> dict[str, Any] | None:
    if structure_id is None:
        return None
    return structures.embedded(structures.read_record(ctx.txn, ctx.dbs, structure_id))


def _delete_prefix(txn: Any, db: Any, prefix: bytes) -> None:
    cur = txn.cursor(db=db)
    more = cur.set_range(prefix)
    while more and cur.key().startswith(prefix):
        more = cur.delete()


def _forget_counters(ctx: WriteCtx, prefix: bytes) -> None:
    """Keep the commit from writing back the counters of a dropped store.

    A group-committed operation pops them from the batch's transaction too: it
    returns normally right after, so its nested transaction commits. Inside a
    savepoint of a user's ``engine.transaction()``, popping the outer copy
    would lose the outer counts should the savepoint roll back; so the outer
    copy stays, and a callback that runs only if the savepoint is committed
    deletes the record it writes back, just after the commit.
    """
    ctx.counters.pop(prefix, None)
    ctx.tails.pop(prefix, None)
    parent = ctx.parent
    if ctx.env.tls.ctx is None:
        while parent is not None:
            parent.counters.pop(prefix, None)
            parent.tails.pop(prefix, None)
            parent = parent.parent
        return
    outer = []
    while parent is not None:
        outer.append(parent)
        parent = parent.parent
    if any(prefix in c.counters for c in outer):
        env = ctx.env
        ctx.after_commit.append(lambda: _delete_counters(env, prefix))


def _delete_counters(env: Any, prefix: bytes) -> None:
    def op(ctx: WriteCtx) -> None:
        ctx.txn.delete(prefix, db=ctx.dbs["counters"])

    with contextlib.suppress(DatastoreError):  # closed meanwhile: a stray record, harmless
        env.run_write(op)


# --- operations -----------------------------------------------------------------------------------


def create_store(
    engine: Engine, name: str, *, domain: str, store_id: str | None, **fields: Any
) -> StoreInfo:
    """Create a store; Conflict if its name or id is taken in its scope."""
    check_store_name(name)
    check_domain(domain)
    if store_id is not None:
        _store_id(store_id)
    values = {key: _FIELDS[key](value) for key, value in fields.items()}
    app, org = engine.app, engine.org
    ckey = catalog_key(domain, name, app=app, org=org)

    def op(ctx: WriteCtx) -> StoreInfo:
        if ctx.txn.get(ckey, db=ctx.dbs["catalog"]) is not None:
            raise Conflict(f"store {name!r} already exists in domain {domain!r}")
        if store_id is not None and ctx.txn.get(catalog.id_key(domain, store_id, app=app, org=org),
                                                db=ctx.dbs["meta"]) is not None:  # fmt: skip
            raise Conflict(f"store id {store_id!r} is taken in domain {domain!r}")
        definition = _embed(ctx, values.get("structure"))
        record = catalog.new_record(
            ctx, engine=engine, domain=domain, name=name, store_id=store_id,
            structure_def=definition, **values,
        )  # fmt: skip
        return catalog.info_from(record, (0, 0, 0, int(record["created"])), app=app, org=org)

    return engine._env.run_write(op)


def store_info(
    engine: Engine, name: str | None, *, domain: str, store_id: str | None = None
) -> StoreInfo:
    """The StoreInfo of store ``name`` (or of id ``store_id``) in ``domain``; NotFound if missing."""
    check_domain(domain)
    env = engine._env
    with env.reading() as txn:
        if store_id is not None:
            ckey = txn.get(catalog.id_key(domain, _store_id(store_id), app=engine.app, org=engine.org),
                           db=env.dbs["meta"])  # fmt: skip
            what = f"store id {store_id!r}"
        else:
            ckey = catalog_key(domain, check_store_name(name), app=engine.app, org=engine.org)
            what = f"store {name!r}"
        raw = txn.get(bytes(ckey), db=env.dbs["catalog"]) if ckey is not None else None
        if raw is None:
            raise NotFound(f"{what} does not exist in domain {domain!r}")
        return _info(engine, txn, codec.decode(raw))


def _check_page(sort_by: str, sort_dir: str, start: int, count: int) -> None:
    if sort_by not in SORT_FIELDS:
        raise ValidationError(f"sort_by must be one of {', '.join(SORT_FIELDS)}; got {sort_by!r}")
    if sort_dir not in ("asc", "desc"):
        raise ValidationError(f"sort_dir must be 'asc' or 'desc', got {sort_dir!r}")
    if type(start) is not int or start < 0:
        raise ValidationError(f"start must be an int >= 0, got {start!r}")
    if type(count) is not int or count < 0:
        raise ValidationError(f"count must be an int >= 0, got {count!r}")
    if count > MAX_PAGE_COUNT:
        raise LimitExceeded(
            f"count {count} is over the page limit of {MAX_PAGE_COUNT}; page with start",
            limit="max_page_count",
            value=count,
        )


def _records(
    engine: Engine, domains: tuple[str, ...], keep: Keep | None
) -> list[tuple[bytes, dict[str, Any], StoreInfo]]:
    env = engine._env
    out = []
    with env.reading() as txn:
        for domain in domains:
            prefix = scope_prefix(domain, app=engine.app, org=engine.org)
            cur = txn.cursor(db=env.dbs["catalog"])
            if not cur.set_range(prefix):
                continue
            for key, raw in cur:
                if not key.startswith(prefix):
                    break
                record = codec.decode(raw)
                if keep is None or keep(record):
                    out.append((bytes(key), record, _info(engine, txn, record)))
    return out


def _has_match(
    engine: Engine, ckey: bytes, record: dict[str, Any], match: Callable[[Any], bool]
) -> bool:
    from .store import Store

    store = Store(engine, catalog.state_from_record(ckey, record, -1))
    return any(isinstance(doc, dict) and match(doc) for _rid, doc in store.items())


def list_stores(
    engine: Engine,
    domain: str | None,
    *,
    filter: str | None,
    data_filter: str | None,
    sort_by: str,
    sort_dir: str,
    start: int,
    count: int,
    keep: Keep | None = None,
) -> Page[StoreInfo]:
    """A page of the stores of ``domain`` (None: local, organization and system); see the module doc."""
    from .query import compile_filter

    domains = DOMAINS if domain is None else (check_domain(domain),)
    _check_page(sort_by, sort_dir, start, count)
    match = compile_filter(filter) if filter is not None else None
    data_match = compile_filter(data_filter) if data_filter is not None else None
    found = _records(engine, domains, keep)
    if match is not None:
        found = [item for item in found if match(item[2].to_dict())]
    if data_match is not None:
        found = [item for item in found if _has_match(engine, item[0], item[1], data_match)]
    infos = sorted(
        (item[2] for item in found), key=lambda i: (i.name, _DOMAIN_ORDER[i.domain], i.id)
    )
    # Stable sorts: the tie order above survives; None values go last both ways.
    present = [i for i in infos if getattr(i, sort_by) is not None]
    present.sort(key=lambda i: getattr(i, sort_by), reverse=sort_dir == "desc")
    present.extend(i for i in infos if getattr(i, sort_by) is None)
    return Page.of(present, start=start, count=count)


def update_store(engine: Engine, name: str, *, domain: str, fields: Mapping[str, Any]) -> StoreInfo:
    """Change the given fields of a store (a patch); returns the new StoreInfo."""
    check_store_name(name)
    check_domain(domain)
    unknown = sorted(set(fields) - set(_FIELDS) - {"id"})
    if unknown:
        raise ValidationError(f"unknown store fields {unknown}; updatable: {', '.join(UPDATABLE)}")
    new_id = fields.get("id")
    values = {key: _FIELDS[key](value) for key, value in fields.items() if key != "id"}
    app, org = engine.app, engine.org
    ckey = catalog_key(domain, name, app=app, org=org)

    def op(ctx: WriteCtx) -> StoreInfo:
        txn, dbs = ctx.txn, ctx.dbs
        raw = txn.get(ckey, db=dbs["catalog"])
        if raw is None:
            raise NotFound(f"store {name!r} does not exist in domain {domain!r}")
        record = codec.decode(raw, key=name)
        if "id" in fields and new_id != record["id"]:
            raise ValidationError(
                f"a store's id never changes (store {name!r} has id {record['id']!r})"
            )
        target = ckey
        new_name = values.get("name", name)
        if new_name != name:
            target = catalog_key(domain, new_name, app=app, org=org)
            if txn.get(target, db=dbs["catalog"]) is not None:
                raise Conflict(f"store {new_name!r} already exists in domain {domain!r}")
        if "structure" in values:
            definition = _embed(ctx, values["structure"])
            if definition is None:
                record.pop("structure_def", None)
            else:
                record["structure_def"] = definition
        record.update(values, modified=catalog.now_ms())
        if target != ckey:
            txn.delete(ckey, db=dbs["catalog"])
            txn.put(catalog.id_key(domain, record["id"], app=app, org=org), target, db=dbs["meta"])
        txn.put(target, codec.encode(record), db=dbs["catalog"])
        catalog.bump_version(ctx)
        return _info(engine, txn, record)

    info = engine._env.run_write(op)
    engine._forget_store(domain, name)
    engine._forget_store(domain, info.name)
    return info


def drop_stores(engine: Engine, names: Iterable[str], *, domain: str, confirmed: bool) -> list[str]:
    """Drop stores ``names`` in one transaction; returns their ids. See the module doc."""
    if isinstance(names, str | bytes):
        raise ValidationError(f"names must be a list of store names, got {names!r}")
    wanted = list(dict.fromkeys(check_store_name(n) for n in names))
    check_domain(domain)
    if type(confirmed) is not bool:
        raise ValidationError(f"confirmed must be True or False, got {confirmed!r}")
    app, org = engine.app, engine.org

    def op(ctx: WriteCtx) -> list[str]:
        from .keys import sid_bytes

        txn, dbs = ctx.txn, ctx.dbs
        found = []
        for name in wanted:
            ckey = catalog_key(domain, name, app=app, org=org)
            raw = txn.get(ckey, db=dbs["catalog"])
            if raw is None:
                raise NotFound(f"store {name!r} does not exist in domain {domain!r}")
            record = codec.decode(raw, key=name)
            prefix = sid_bytes(int(record["sid"]))
            found.append((name, ckey, record, prefix, ctx.counter(prefix)[0]))
        full = [
            f"store {name!r} holds {n} document{'s' if n != 1 else ''}"
            for name, *_r, n in found
            if n
        ]
        if full and not confirmed:
            raise Conflict(f"{'; '.join(full)}; pass confirmed=True to drop it with its documents")
        for _name, ckey, record, prefix, _n in found:
            for db_name in _STORE_DBS:
                _delete_prefix(txn, dbs[db_name], prefix)
            txn.delete(prefix, db=dbs["counters"])
            _forget_counters(ctx, prefix)
            txn.delete(ckey, db=dbs["catalog"])
            txn.delete(catalog.id_key(domain, record["id"], app=app, org=org), db=dbs["meta"])
        catalog.bump_version(ctx)
        return [str(record["id"]) for _n, _c, record, _p, _k in found]

    ids = engine._env.run_write(op)
    for name in wanted:
        engine._forget_store(domain, name)
    return ids
