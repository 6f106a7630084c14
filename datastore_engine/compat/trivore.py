"""Trivore ID Data Storage over the engine (seed 004).

``DataStorageAPI(engine, caller=..., groups=(), permissions=())`` has one method
per endpoint, each returning ``(status, body)``:

==============================================  ==================================  =================
endpoint                                        method                              statuses
==============================================  ==================================  =================
``GET /datastorage``                            ``list(dsfilter, datafilter,        200, 400
                                                startIndex, count)``
``POST /datastorage``                           ``create(body)``                    201, 400, 403, 409
``GET /datastorage/{id}``                       ``get(ds_id)``                      200, 404
``PUT /datastorage/{id}``                       ``update(ds_id, body)``             200, 400, 404, 409
``DELETE /datastorage/{id}``                    ``delete(ds_id)``                   200, 404
``GET /datastorage/{id}/data``                  ``get_data(ds_id)``                 200, 404
``PUT /datastorage/{id}/data``                  ``replace_data(ds_id, data)``       204, 400, 404, 413
``GET /datastorage/{id}/data/{key}``            ``get_value(ds_id, key)``           200, 404
``PUT /datastorage/{id}/data/{key}``            ``put_value(ds_id, key, body)``     204, 400, 404, 413
``DELETE /datastorage/{id}/data/{key}``         ``delete_value(ds_id, key)``        204, 400, 404
==============================================  ==================================  =================

**Mapping.** A data storage is a core store in the engine's ``organization``
domain (``domain=`` to change): Trivore ``id``/``name`` are the store's id and
name (each unique: a clash is 409), ``ownerId`` its ``owner``, the access lists
its ``admin_access``/``read_access``/``write_access``, ``size`` its size in
bytes, ``meta.created``/``meta.lastModified`` its timestamps and
``meta.location`` the endpoint path ``/api/rest/v1/datastorage/<id>``. Every
storage is created with ``max_size_mb=16`` (Trivore's limit): a write past it
is refused, nothing written, 413. Each data key is a document whose value is
the key's value, so keys may hold dots; a key is 1-250 UTF-8 bytes (400 else).
``create`` without ``name`` uses the ``id`` (or a new id) as the name. ``update``
changes only the fields given (a body ``id`` other than the path's is 409);
``meta`` and ``size`` in a body are read-only and ignored.

**Access** is the core's, through ``engine.session(principal=caller,
groups=groups)``: reading needs read or admin access, writing data write or
admin access, update/delete admin access, and ``create`` the
``DATA_STORAGE_CREATE`` permission (403 without it). A storage the caller may
not use answers 404, as a missing one does ("not found or not accessible").
``list`` shows only the storages the caller may read.

**Filters** are SCIM (RFC 7644) and accept the seed's unquoted values
(``ownerId eq exampleID``, ``created ge 2017-10-20T07:17:17.606Z``): they are
compiled with ``bare_values=True`` here, while the core parser stays strict.
``dsfilter`` is evaluated over the Trivore-shaped storage objects (so it uses
Trivore names: ``ownerId``, ``adminAccess``, ``meta.lastModified``; also
``createDate``/``lastModifiedDate``, the seed's advice); ``datafilter`` over
each storage's whole data section. A filter that does not parse is 400.
``count`` is at most 500 (400 beyond). The list body is a Trivore page:
``{"totalResults", "startIndex", "itemsPerPage", "resources"}``. An error body
is ``{"status", "error", "message"}``.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     api = DataStorageAPI(engine, caller="client-1", permissions=["DATA_STORAGE_CREATE"])
    ...     api.create({"id": "exampleID", "name": "exampleName", "adminAccess": ["client-1"]})[0]
    ...     api.put_value("exampleID", "exampleKey", {"value": "v"})
    ...     api.get_value("exampleID", "exampleKey")
    201
    (204, None)
    (200, {'value': 'v'})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec
from urllib.parse import quote

from ..errors import (
    Conflict,
    DatastoreError,
    DuplicateKey,
    Forbidden,
    LimitExceeded,
    NotFound,
    ValidationError,
)
from ..keys import new_rid
from ..query import compile_filter

if TYPE_CHECKING:
    from ..catalog import StoreInfo
    from ..engine import Engine
    from ..session import StoreView

__all__ = ["CREATE_PERMISSION", "MAX_COUNT", "MAX_SIZE_MB", "DataStorageAPI"]

CREATE_PERMISSION = "DATA_STORAGE_CREATE"
MAX_COUNT = 500
MAX_SIZE_MB = 16
LOCATION = "/api/rest/v1/datastorage"
Result = tuple[int, Any]
P = ParamSpec("P")

_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            413: "Payload Too Large", 500: "Internal Server Error"}  # fmt: skip
#: Trivore body field -> (StoreInfo / create_store keyword).
_FIELDS = {"name": "name", "description": "description", "ownerId": "owner",
           "adminAccess": "admin_access", "readAccess": "read_access", "writeAccess": "write_access"}  # fmt: skip
_READ_ONLY = frozenset({"id", "meta", "size"})
_TOO_LARGE = frozenset({"max_size_mb", "max_document_bytes"})


def _error(status: int, exc: BaseException | str) -> Result:
    return status, {"status": status, "error": _REASONS[status], "message": str(exc)}


def _status_of(exc: DatastoreError, *, forbidden: int) -> int:
    """The HTTP status of a core error (Forbidden: ``forbidden``, see the module doc)."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return forbidden
    if isinstance(exc, Conflict | DuplicateKey):
        return 409
    if isinstance(exc, LimitExceeded) and exc.limit in _TOO_LARGE:
        return 413
    if isinstance(exc, ValidationError):
        return 400
    return 500


def _endpoint(
    ok: int, *, forbidden: int = 404
) -> Callable[[Callable[P, Any]], Callable[P, Result]]:
    """Run the method; ``(ok, its return value)``, or the status and body of the core's error."""

    def wrap(method: Callable[P, Any]) -> Callable[P, Result]:
        def run(*args: P.args, **kwargs: P.kwargs) -> Result:
            try:
                return ok, method(*args, **kwargs)
            except DatastoreError as exc:
                return _error(_status_of(exc, forbidden=forbidden), exc)

        run.__name__ = method.__name__
        run.__doc__ = method.__doc__
        return run

    return wrap


def storage_object(info: StoreInfo) -> dict[str, Any]:
    """The Trivore storage object of a store."""
    return {
        "id": info.id,
        "meta": {
            "created": info.created,
            "lastModified": info.last_modified,
            "location": f"{LOCATION}/{quote(info.id, safe='')}",
        },
        "name": info.name,
        "description": info.description,
        "size": info.size,
        "ownerId": info.owner,
        "adminAccess": list(info.admin_access),
        "readAccess": list(info.read_access),
        "writeAccess": list(info.write_access),
    }


def _filterable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A storage object plus the seed's ``createDate``/``lastModifiedDate`` aliases."""
    return {
        **obj,
        "createDate": obj["meta"]["created"],
        "lastModifiedDate": obj["meta"]["lastModified"],
    }


def _config(body: Any, *, allowed: Iterable[str]) -> dict[str, Any]:
    """Core keywords for the Trivore fields of ``body`` (read-only ones ignored)."""
    if not isinstance(body, Mapping):
        raise ValidationError(f"the body must be a JSON object, got {body!r}")
    unknown = sorted(set(body) - set(_FIELDS) - _READ_ONLY)
    if unknown:
        raise ValidationError(f"unknown data storage fields {unknown}")
    return {_FIELDS[k]: v for k, v in body.items() if k in _FIELDS and k in allowed}


class DataStorageAPI:
    """Trivore's Data Storage endpoints acting for ``caller``; see the module docstring."""

    def __init__(self, engine: Engine, *, caller: str, groups: Iterable[str] = (),
                 permissions: Iterable[str] = (), domain: str = "organization") -> None:  # fmt: skip
        self.engine = engine
        self.domain = domain
        self.session = engine.session(principal=caller, groups=groups,
                                      can_create_stores=CREATE_PERMISSION in set(permissions))  # fmt: skip

    # -- helpers -----------------------------------------------------------------------------
    def _name(self, ds_id: Any) -> str:
        """The store name of storage ``ds_id`` (NotFound if there is none)."""
        if not isinstance(ds_id, str) or not ds_id:
            raise NotFound(f"data storage {ds_id!r} not found")
        return self.engine.store_info(id=ds_id, domain=self.domain).name

    def _view(self, ds_id: Any) -> StoreView:
        return self.session.store(self._name(ds_id), domain=self.domain)

    def _data(self, view: StoreView) -> dict[str, Any]:
        return dict(view.items())

    # -- storages ----------------------------------------------------------------------------
    def list(self, dsfilter: str | None = None, datafilter: str | None = None, startIndex: int = 0,
             count: int = 100) -> Result:  # fmt: skip
        """The storages the caller may read, filtered and paged (200; 400 for a bad filter or count)."""
        return self._list(dsfilter, datafilter, startIndex, count)

    @_endpoint(200)
    def _list(self, dsfilter: str | None, datafilter: str | None, start: Any, count: Any) -> Any:
        if type(start) is not int or start < 0:
            raise ValidationError(f"startIndex must be an int >= 0, got {start!r}")
        if type(count) is not int or not 0 <= count <= MAX_COUNT:
            raise ValidationError(f"count must be an int from 0 to {MAX_COUNT}, got {count!r}")
        ds_match = None if dsfilter is None else compile_filter(dsfilter, bare_values=True)
        data_match = None if datafilter is None else compile_filter(datafilter, bare_values=True)
        infos: list[StoreInfo] = []
        while True:
            page = self.session.stores(self.domain, start=len(infos), count=MAX_COUNT)
            infos.extend(page.items)
            if len(page.items) < MAX_COUNT:
                break
        found = [storage_object(i) for i in infos]
        if ds_match is not None:
            found = [o for o in found if ds_match(_filterable(o))]
        if data_match is not None:
            found = [
                o
                for o in found
                if data_match(self._data(self.session.store(o["name"], self.domain)))
            ]
        items = found[start : start + count]
        return {"totalResults": len(found), "startIndex": start, "itemsPerPage": len(items),
                "resources": items}  # fmt: skip

    @_endpoint(201, forbidden=403)
    def create(self, body: Mapping[str, Any]) -> Any:
        """Create a storage (201; 409 on an id or name clash; 403 without DATA_STORAGE_CREATE)."""
        fields = _config(body, allowed=_FIELDS)
        store_id = body.get("id")
        name = fields.pop("name", None) or store_id or new_rid()
        if fields.get("owner", ...) is None:
            fields.pop("owner")  # the session makes the caller the owner
        info = self.session.create_store(name, domain=self.domain, id=store_id, max_size_mb=MAX_SIZE_MB,
                                         **fields)  # fmt: skip
        return storage_object(info)

    @_endpoint(200)
    def get(self, ds_id: str) -> Any:
        """The storage's configuration (200; 404 if missing or not readable)."""
        return storage_object(self.session.store_info(self._name(ds_id), domain=self.domain))

    @_endpoint(200)
    def update(self, ds_id: str, body: Mapping[str, Any]) -> Any:
        """Change the given fields (200; 409 on a name clash or an id change; 404 if not administrable)."""
        fields = _config(body, allowed=_FIELDS)
        name = self._name(ds_id)
        if body.get("id", ds_id) != ds_id:
            raise Conflict(f"data storage id {ds_id!r} cannot change to {body['id']!r}")
        return storage_object(self.session.update_store(name, domain=self.domain, **fields))

    @_endpoint(200)
    def delete(self, ds_id: str) -> Any:
        """Delete the storage with its data (200; 404 if missing or not administrable)."""
        self.session.drop_store(self._name(ds_id), domain=self.domain, confirmed=True)
        return None

    # -- data --------------------------------------------------------------------------------
    @_endpoint(200)
    def get_data(self, ds_id: str) -> Any:
        """The whole data section (200; 404)."""
        return self._data(self._view(ds_id))

    @_endpoint(204)
    def replace_data(self, ds_id: str, data: Mapping[str, Any]) -> Any:
        """Replace the whole data section with ``data`` in one transaction (204; 404; 413 over 16 MB)."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"the data section must be a JSON object, got {data!r}")
        view = self._view(ds_id)
        with self.session.transaction():
            for key in view:
                if key not in data:
                    view.delete(key)
            for key, value in data.items():
                view.put(key, value)
        return None

    @_endpoint(200)
    def get_value(self, ds_id: str, key: str) -> Any:
        """``{"value": ...}`` of one key (200; 404 if the storage or key is missing)."""
        return {"value": self._view(ds_id).get(key)}

    @_endpoint(204)
    def put_value(self, ds_id: str, key: str, body: Mapping[str, Any]) -> Any:
        """Set one key from ``{"value": ...}`` (204; 404; 400 for another body)."""
        if not isinstance(body, Mapping) or set(body) != {"value"}:
            raise ValidationError(f'the body must be {{"value": ...}}, got {body!r}')
        view = self._view(ds_id)
        view.put(key, body["value"])
        return None

    @_endpoint(204)
    def delete_value(self, ds_id: str, key: str) -> Any:
        """Clear one key (204; 400 for an invalid key; 404 if the storage or key is missing)."""
        self._view(ds_id).delete(key)
        return None
