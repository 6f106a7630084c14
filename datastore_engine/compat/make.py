"""Make's data stores, data structures and records endpoints over the engine (seed 002).

``MakeAPI(engine)`` has three endpoint groups: ``data_stores``,
``data_structures`` and ``records``. Keyword names are Python's snake_case
(``team_id``, ``datastructure_id``, ``max_size_mb``, ``sort_by``); response
bodies are Make's camelCase. Errors are the core's typed exceptions
(:class:`~datastore_engine.errors.NotFound`, ``Conflict``, ``DuplicateKey``,
``ValidationError``, ``LimitExceeded``, ``StructureViolation``).

**Mapping.** Make ids are integers and Make names need not be unique, while
core store names must be. Each Make data store ``N`` is the core store
``make:<N, 12 digits>`` (so sorting by name sorts by id) with id ``"N"`` in the
engine's ``organization`` domain; Make's fields sit in core fields:

=====================  ================================================
Make                   core StoreInfo
=====================  ================================================
``id``                 ``int(id)``
``name``               ``description`` (1-128 characters, not unique)
``teamId``             ``owner`` = ``"team:<teamId>"``
``datastructureId``    ``structure`` (a core structure id, ``None`` allowed)
``maxSize``            ``max_size_mb`` (the core refuses writes over it)
``records``/``size``   ``count``/``size`` (bytes)
=====================  ================================================

``size`` and ``maxSize`` are strings of bytes, as Make sends them. Data
structures are core structures (their core ids are digit strings, Make's id
is their int); a structure's team is kept in the small mapping store ``make``
(system domain, document ``structure:<id>``), which also holds the data store
id counter (document ``ids``); ids are never reused.

**Deleting.** ``data_stores.delete`` refuses stores that hold records unless
``confirmed=True`` (``Conflict``; nothing deleted). ``records.delete`` with
``all=True`` needs ``confirmed=True`` too; deleting listed ``keys`` does not.
A missing key or store is ``NotFound`` and nothing is deleted.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     make = MakeAPI(engine)
    ...     store = make.data_stores.create("Customers", team_id=1, datastructure_id=None, max_size_mb=1)
    ...     _ = make.records.create(store["dataStore"]["id"], key="c1", data={"name": "Ada"})
    ...     make.data_stores.get(store["dataStore"]["id"])["dataStore"]["records"]
    1
"""

from __future__ import annotations

import builtins
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, LimitExceeded, NotFound, ValidationError

if TYPE_CHECKING:
    from ..catalog import StoreInfo
    from ..engine import Engine
    from ..store import Store
    from ..structures import Structure

__all__ = ["DataStores", "DataStructures", "MakeAPI", "Records"]

DOMAIN = "organization"
MAX_LIMIT = 10_000
MAX_NAME_CHARS = 128
_MB = 1024 * 1024
_CORE_PAGE = 500  # the core's page limit; longer Make pages are read in several
#: Make sortBy -> StoreInfo field.
SORT_FIELDS = {"name": "description", "id": "name", "records": "count", "size": "size",
               "maxSize": "max_size_mb"}  # fmt: skip


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 1:
        raise ValidationError(f"{what} must be a positive int, got {value!r}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"name must be a non-empty str, got {value!r}")
    if len(value) > MAX_NAME_CHARS:
        raise LimitExceeded(
            f"name is {len(value)} characters, over Make's limit of {MAX_NAME_CHARS}",
            limit="max_name_chars",
            value=len(value),
        )
    return value


def _page(offset: Any, limit: Any) -> tuple[int, int]:
    if type(offset) is not int or offset < 0:
        raise ValidationError(f"offset must be an int >= 0, got {offset!r}")
    if type(limit) is not int or not 0 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be an int from 0 to {MAX_LIMIT}, got {limit!r}")
    return offset, limit


def _core_name(store_id: int) -> str:
    return f"make:{store_id:012d}"


def _team_owner(team_id: int) -> str:
    return f"team:{team_id}"


def _structure_ref(datastructure_id: Any) -> str | None:
    return None if datastructure_id is None else str(_int(datastructure_id, "datastructure_id"))


class _Base:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _meta(self) -> Store:
        return self.engine.store("make", domain="system")

    def _info(self, data_store_id: Any) -> StoreInfo:
        """The StoreInfo of Make data store ``data_store_id``; NotFound if it is not one."""
        sid = _int(data_store_id, "data_store_id")
        try:
            info = self.engine.store_info(id=str(sid), domain=DOMAIN)
        except NotFound:
            info = None
        if info is None or info.name != _core_name(sid):
            raise NotFound(f"data store {sid} does not exist")
        return info

    def _store(self, data_store_id: Any) -> tuple[Store, StoreInfo]:
        info = self._info(data_store_id)
        return self.engine.store(info.name, domain=DOMAIN), info


def _data_store(info: StoreInfo) -> dict[str, Any]:
    owner = info.owner or ""
    return {
        "id": int(info.id),
        "name": info.description,
        "records": info.count,
        "size": str(info.size),
        "maxSize": None if info.max_size_mb is None else str(info.max_size_mb * _MB),
        "teamId": int(owner[5:]) if owner.startswith("team:") else None,
        "datastructureId": None if info.structure is None else int(info.structure),
    }


class DataStores(_Base):
    """``/data-stores``: list, create, get, update (patch), delete."""

    def list(self, team_id: int, *, sort_by: str = "name", sort_dir: str = "asc", offset: int = 0,
             limit: int = MAX_LIMIT) -> dict[str, Any]:  # fmt: skip
        """``{"dataStores": [...], "pg": {...}}`` of team ``team_id``, sorted by ``sort_by``."""
        team = _int(team_id, "team_id")
        if sort_by not in SORT_FIELDS:
            raise ValidationError(
                f"sort_by must be one of {', '.join(SORT_FIELDS)}; got {sort_by!r}"
            )
        offset, limit = _page(offset, limit)
        query = f'owner eq "{_team_owner(team)}" and name sw "make:"'
        found: list[StoreInfo] = []
        while len(found) < limit:
            want = min(_CORE_PAGE, limit - len(found))
            page = self.engine.stores(DOMAIN, filter=query, sort_by=SORT_FIELDS[sort_by],
                                      sort_dir=sort_dir, start=offset + len(found), count=want)  # fmt: skip
            found.extend(page.items)
            if len(page.items) < want:
                break
        return {
            "dataStores": [_data_store(i) for i in found],
            "pg": {"sortBy": sort_by, "sortDir": sort_dir, "offset": offset, "limit": limit},
        }

    def create(self, name: str, team_id: int, datastructure_id: int | None,
               max_size_mb: int) -> dict[str, Any]:  # fmt: skip
        """A new data store (names need not be unique): ``{"dataStore": {...}}``."""
        name = _name(name)
        team = _int(team_id, "team_id")
        structure = _structure_ref(datastructure_id)
        size = _int(max_size_mb, "max_size_mb")
        engine = self.engine
        with engine.transaction():
            meta = self._meta()
            ids = meta.get("ids", {})
            new_id = int(ids.get("dataStore", 0)) + 1
            meta.put("ids", {**ids, "dataStore": new_id})
            info = engine.create_store(_core_name(new_id), domain=DOMAIN, id=str(new_id), description=name,
                                       owner=_team_owner(team), max_size_mb=size, structure=structure)  # fmt: skip
        return {"dataStore": _data_store(info)}

    def get(self, data_store_id: int) -> dict[str, Any]:
        """``{"dataStore": {...}}``; NotFound if missing."""
        return {"dataStore": _data_store(self._info(data_store_id))}

    def update(self, data_store_id: int, **fields: Any) -> dict[str, Any]:
        """Patch ``name``, ``datastructure_id`` and/or ``max_size_mb``; the rest stays."""
        table = {"name": ("description", _name), "datastructure_id": ("structure", _structure_ref),
                 "max_size_mb": ("max_size_mb", lambda v: _int(v, "max_size_mb"))}  # fmt: skip
        unknown = sorted(set(fields) - set(table))
        if unknown:
            raise ValidationError(
                f"unknown data store fields {unknown}; updatable: {', '.join(table)}"
            )
        core = {table[k][0]: table[k][1](v) for k, v in fields.items()}
        info = self._info(data_store_id)
        return {
            "dataStore": _data_store(self.engine.update_store(info.name, domain=DOMAIN, **core))
        }

    def delete(
        self, ids: builtins.list[int], team_id: int, confirmed: bool = False
    ) -> dict[str, Any]:
        """Delete data stores ``ids`` of team ``team_id`` at once: ``{"dataStores": ids}``.

        Stores that hold records need ``confirmed=True`` (``Conflict``; nothing is deleted).
        """
        team = _int(team_id, "team_id")
        if isinstance(ids, int):
            ids = [ids]
        infos = [self._info(i) for i in ids]
        for info in infos:
            if info.owner != _team_owner(team):
                raise NotFound(f"data store {info.id} does not exist in team {team}")
        self.engine.drop_stores([i.name for i in infos], domain=DOMAIN, confirmed=confirmed)
        return {"dataStores": [int(i.id) for i in infos]}


class DataStructures(_Base):
    """``/data-structures``: list, create, get, update, delete."""

    def _team_of(self, structure_id: str) -> int | None:
        found = self._meta().get(f"structure:{structure_id}", None)
        return None if found is None else int(found["teamId"])

    def _body(self, structure: Structure) -> dict[str, Any]:
        return {
            "id": int(structure.id),
            "name": structure.name,
            "teamId": self._team_of(structure.id),
            "spec": structure.fields,
            "strict": structure.strict,
        }

    def list(self, team_id: int) -> dict[str, Any]:
        """``{"dataStructures": [...]}`` of team ``team_id``, by name."""
        team = _int(team_id, "team_id")
        found = [s for s in self.engine.structures() if s.id.isdigit()]
        return {"dataStructures": [b for b in map(self._body, found) if b["teamId"] == team]}

    def create(self, name: str, team_id: int, spec: Any, strict: bool = False) -> dict[str, Any]:
        """A new data structure: ``spec`` is a list of fields (text, number, boolean, date, array, collection)."""
        name = _name(name)
        team = _int(team_id, "team_id")
        with self.engine.transaction():
            structure = self.engine.create_structure(name, spec, strict=strict)
            self._meta().put(f"structure:{structure.id}", {"teamId": team})
        return {"dataStructure": self._body(structure)}

    def get(self, datastructure_id: int) -> dict[str, Any]:
        """``{"dataStructure": {...}}``; NotFound if missing."""
        sid = str(_int(datastructure_id, "datastructure_id"))
        return {"dataStructure": self._body(self.engine.structure(sid))}

    def update(self, datastructure_id: int, **fields: Any) -> dict[str, Any]:
        """Patch ``name``, ``spec`` and/or ``strict``; stores bound to it validate by the new one."""
        table = {"name": "name", "spec": "fields", "strict": "strict"}
        unknown = sorted(set(fields) - set(table))
        if unknown:
            raise ValidationError(
                f"unknown data structure fields {unknown}; updatable: {', '.join(table)}"
            )
        if "name" in fields:
            _name(fields["name"])
        sid = str(_int(datastructure_id, "datastructure_id"))
        structure = self.engine.update_structure(sid, **{table[k]: v for k, v in fields.items()})
        return {"dataStructure": self._body(structure)}

    def delete(self, datastructure_id: int) -> dict[str, Any]:
        """Delete a data structure: ``{"dataStructure": id}``; Conflict while a data store uses it."""
        sid = str(_int(datastructure_id, "datastructure_id"))
        with self.engine.transaction():
            self.engine.drop_structure(sid)
            meta = self._meta()
            if f"structure:{sid}" in meta:
                meta.delete(f"structure:{sid}")
        return {"dataStructure": int(sid)}


class Records(_Base):
    """``/data-stores/{id}/data``: list, create, replace (PUT), update (PATCH), delete."""

    def list(
        self, data_store_id: int, *, limit: int = MAX_LIMIT, offset: int = 0
    ) -> dict[str, Any]:
        """``{"records": [{"key", "data"}], "spec", "strict", "count", "pg"}``, in key order."""
        offset, limit = _page(offset, limit)
        store, info = self._store(data_store_id)
        spec: list[dict[str, Any]] = []
        strict = False
        if info.structure is not None:
            structure = self.engine.structure(info.structure)
            spec, strict = structure.fields, structure.strict
        records = [{"key": k, "data": v} for k, v in islice(store.items(), offset, offset + limit)]
        return {"records": records, "spec": spec, "strict": strict, "count": len(store),
                "pg": {"limit": limit, "offset": offset}}  # fmt: skip

    def create(self, data_store_id: int, *, key: str | None = None, data: Any) -> dict[str, Any]:
        """Add a record (``key`` generated when None): ``{"key", "data"}``; DuplicateKey if it exists."""
        store, _info = self._store(data_store_id)
        with self.engine.transaction():
            key = store.add(data, rid=key)
            return {"key": key, "data": store.get(key)}  # as stored: structure defaults filled in

    def replace(self, data_store_id: int, key: str, data: Any) -> dict[str, Any]:
        """Create or replace record ``key`` (PUT): ``{"key", "data"}``."""
        store, _info = self._store(data_store_id)
        with self.engine.transaction():
            store.put(key, data)
            return {"key": key, "data": store.get(key)}

    def update(self, data_store_id: int, key: str, data: Any) -> dict[str, Any]:
        """Deep-merge ``data`` into existing record ``key`` (PATCH): ``{"key", "data"}``; NotFound if missing."""
        store, _info = self._store(data_store_id)
        with self.engine.transaction():
            store.rev(key)  # NotFound: PATCH does not create
            store.merge(key, data)
            return {"key": key, "data": store.get(key)}

    def delete(self, data_store_id: int, *, keys: builtins.list[str] | None = None, all: bool = False,
               except_keys: builtins.list[str] | None = None, confirmed: bool = False) -> dict[str, Any]:  # fmt: skip
        """Delete ``keys``, or ``all`` records but ``except_keys``: ``{"keys": [deleted]}``."""
        if (keys is None) == (not all):
            raise ValidationError(
                "records.delete takes keys=[...] or all=True, not both or neither"
            )
        if except_keys is not None and not all:
            raise ValidationError("except_keys goes with all=True")
        if all and not confirmed:
            raise Conflict(
                f"deleting all records of data store {data_store_id} needs confirmed=True"
            )
        store, _info = self._store(data_store_id)
        keep: set[str] = set(except_keys or ())
        with self.engine.transaction():
            wanted = [k for k in store if k not in keep] if all else [*dict.fromkeys(keys or ())]
            for key in wanted:
                store.delete(key)
        return {"keys": wanted}


class MakeAPI:
    """Make's data store API on one engine: ``data_stores``, ``data_structures``, ``records``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.data_stores = DataStores(engine)
        self.data_structures = DataStructures(engine)
        self.records = Records(engine)
