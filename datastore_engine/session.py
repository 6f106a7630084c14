"""Sessions: the engine's API checked against store access lists (Trivore's access control).

``engine.session(principal=..., groups=[...])`` is a view of the same engine
acting for one principal. The bare engine is the trusted administrator; a
session is checked on every call:

================================  =========================================
operation                         needs
================================  =========================================
read documents (get, keys,        read or admin access
items, find, search, changes,
len, in, info, indexes)
write documents (add, put,        write or admin access
merge, set_path, delete_path,
delete)
update_store, drop_store(s),      admin access
create_index, drop_index
create_store, create/update/      the session's ``can_create_stores`` right
drop_structure                    (Trivore's DATA_STORAGE_CREATE)
stores()                          lists only stores it may read (or administer)
================================  =========================================

Access-list entries are principal or group ids compared exactly as given. The
owner gets nothing implicitly. ``session.store(name)`` returns a view without
checking and never creates the store; each operation checks first, before
looking at any document, and a refusal is the same :class:`Forbidden`
whether or not the store or the document exists. ``create_store`` in a session
sets ``owner`` to the principal unless given, and grants nothing: pass
``admin_access=[principal]`` to manage the new store.

The check reads the access lists at the start of each call: a call already
running when its right is revoked finishes.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     _ = engine.create_store("crm", read_access=["g:sales"])
    ...     _ = engine.store("crm").put("c1", {"n": 1})
    ...     alice = engine.session(principal="u:alice", groups=["g:sales"])
    ...     alice.store("crm").get("c1")
    ...     alice.store("crm").put("c2", {"n": 2})
    Traceback (most recent call last):
    ...
    datastore_engine.errors.Forbidden: 'u:alice' may not write store 'crm' in domain 'local'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import access, catalog, codec
from .errors import Forbidden, ValidationError
from .keys import catalog_key, check_domain, check_store_name

if TYPE_CHECKING:
    from .blobs import Bucket
    from .catalog import StoreInfo
    from .engine import Engine
    from .page import Page
    from .store import Store
    from .structures import Structure

__all__ = ["Session", "StoreView"]

#: Store method -> the right it needs. Methods not listed are not reachable through a view.
METHOD_RIGHTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "get",
            "get_path",
            "rev",
            "keys",
            "items",
            "values",
            "changes",
            "find",
            "search",
            "indexes",
        ),
        "read",
    ),
    **dict.fromkeys(("add", "put", "merge", "set_path", "delete_path", "delete"), "write"),
    **dict.fromkeys(("create_index", "drop_index"), "admin"),
}


class Session:
    """The engine's API acting for one principal; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        *,
        principal: str,
        groups: Iterable[str] = (),
        can_create_stores: bool = False,
        can_use_buckets: bool = False,
    ) -> None:
        if not isinstance(principal, str) or not principal:
            raise ValidationError(f"principal must be a non-empty str, got {principal!r}")
        if isinstance(groups, str | bytes):
            raise ValidationError(f"groups must be a list of group ids, got {groups!r}")
        group_set = frozenset(groups)
        if not all(isinstance(g, str) and g for g in group_set):
            raise ValidationError(
                f"groups must be non-empty strs, got {sorted(map(repr, group_set))}"
            )
        for label, flag in (
            ("can_create_stores", can_create_stores),
            ("can_use_buckets", can_use_buckets),
        ):
            if type(flag) is not bool:
                raise ValidationError(f"{label} must be True or False, got {flag!r}")
        self.engine = engine
        self.principal = principal
        self.groups = group_set
        self.can_create_stores = can_create_stores
        self.can_use_buckets = can_use_buckets

    def __repr__(self) -> str:
        return f"<Session {self.principal!r} groups={sorted(self.groups)!r}>"

    # -- checks ------------------------------------------------------------------------------
    def may(self, record: Mapping[str, Any], right: str) -> bool:
        """True if this session holds ``right`` (read, write, admin) on the store of ``record``."""
        return access.allowed(record, right, principal=self.principal, groups=self.groups)

    def _refuse(self, right: str, name: str, domain: str) -> Forbidden:
        return Forbidden(f"{self.principal!r} may not {right} store {name!r} in domain {domain!r}")

    def _record(self, name: str, domain: str) -> dict[str, Any] | None:
        engine = self.engine
        env = engine._check()
        ckey = catalog_key(domain, name, app=engine.app, org=engine.org)
        with env.reading() as txn:
            raw = txn.get(ckey, db=env.dbs["catalog"])
        return None if raw is None else dict(codec.decode(raw, key=name))

    def require(self, right: str, name: str, domain: str) -> dict[str, Any]:
        """The catalog record of the store if this session holds ``right`` on it, else Forbidden."""
        check_store_name(name)
        check_domain(domain)
        record = self._record(name, domain)
        if record is None or not self.may(record, right):
            raise self._refuse(right, name, domain)
        return record

    def _require_create(self, what: str) -> None:
        if not self.can_create_stores:
            raise Forbidden(
                f"{self.principal!r} may not {what}: the session lacks the can_create_stores right"
            )

    # -- stores ------------------------------------------------------------------------------
    def store(self, name: str, domain: str = "local") -> StoreView:
        """A checked view of store ``name`` (not checked, nor created, until used)."""
        check_store_name(name)
        check_domain(domain)
        return StoreView(self, name, domain)

    def stores(
        self,
        domain: str | None = None,
        *,
        filter: str | None = None,
        data_filter: str | None = None,
        sort_by: str = "name",
        sort_dir: str = "asc",
        start: int = 0,
        count: int = 100,
    ) -> Page[StoreInfo]:
        """Like ``engine.stores()``, over the stores this session may read or administer."""
        from . import manage

        self.engine._check()
        return manage.list_stores(
            self.engine, domain, filter=filter, data_filter=data_filter, sort_by=sort_by,
            sort_dir=sort_dir, start=start, count=count, keep=lambda record: self.may(record, "read"),
        )  # fmt: skip

    def store_info(self, name: str, *, domain: str = "local") -> StoreInfo:
        """The StoreInfo of a store this session may read or administer."""
        from . import manage

        self.require("read", name, domain)
        return manage.store_info(self.engine, name, domain=domain)

    def create_store(self, name: str, **kwargs: Any) -> StoreInfo:
        """``engine.create_store`` with the ``can_create_stores`` right; owner defaults to the principal."""
        self._require_create("create stores")
        kwargs.setdefault("owner", self.principal)
        return self.engine.create_store(name, **kwargs)

    def update_store(self, name: str, /, *, domain: str = "local", **fields: Any) -> StoreInfo:
        """``engine.update_store`` on a store this session administers."""
        self.require("admin", name, domain)
        return self.engine.update_store(name, domain=domain, **fields)

    def drop_store(self, name: str, *, domain: str = "local", confirmed: bool = False) -> str:
        """``engine.drop_store`` on a store this session administers."""
        self.require("admin", name, domain)
        return self.engine.drop_store(name, domain=domain, confirmed=confirmed)

    def drop_stores(
        self, names: Iterable[str], *, domain: str = "local", confirmed: bool = False
    ) -> list[str]:
        """``engine.drop_stores``; every store must be one this session administers (checked first)."""
        if isinstance(names, str | bytes):
            raise ValidationError(f"names must be a list of store names, got {names!r}")
        wanted = list(names)
        for name in wanted:
            self.require("admin", name, domain)
        return self.engine.drop_stores(wanted, domain=domain, confirmed=confirmed)

    # -- structures ------------------------------------------------------------------------------
    def structures(self) -> list[Structure]:
        """Every data structure (definitions are not secret)."""
        return self.engine.structures()

    def structure(self, structure_id: str) -> Structure:
        """One data structure by id."""
        return self.engine.structure(structure_id)

    def create_structure(self, name: str, fields: Any = (), *, strict: bool = False,
                         id: str | None = None) -> Structure:  # fmt: skip
        """``engine.create_structure`` with the ``can_create_stores`` right."""
        self._require_create("create structures")
        return self.engine.create_structure(name, fields, strict=strict, id=id)

    def update_structure(self, structure_id: str, **changes: Any) -> Structure:
        """``engine.update_structure`` with the ``can_create_stores`` right."""
        self._require_create("change structures")
        return self.engine.update_structure(structure_id, **changes)

    def drop_structure(self, structure_id: str) -> None:
        """``engine.drop_structure`` with the ``can_create_stores`` right."""
        self._require_create("drop structures")
        self.engine.drop_structure(structure_id)

    # -- buckets and transactions ------------------------------------------------------------
    def bucket(self, name: str) -> Bucket:
        """``engine.bucket`` for a session opened with ``can_use_buckets=True``.

        Buckets have no access lists: the flag grants every bucket, or none.
        """
        if not self.can_use_buckets:
            raise Forbidden(
                f"{self.principal!r} may not use buckets: the session lacks the can_use_buckets right"
            )
        return self.engine.bucket(name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """``engine.transaction()``, yielding this session."""
        with self.engine.transaction():
            yield self


class StoreView:
    """A store as a session sees it: every operation is checked against the access lists first."""

    def __init__(self, session: Session, name: str, domain: str) -> None:
        self._session = session
        self._name = name
        self._domain = domain
        self._store: Store | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def domain(self) -> str:
        return self._domain

    def __repr__(self) -> str:
        return f"<StoreView {self._domain}/{self._name} as {self._session.principal!r}>"

    def _checked(self, right: str) -> Store:
        """The store, once ``right`` is granted (Forbidden otherwise, whether it exists or not)."""
        from .store import Store

        record = self._session.require(right, self._name, self._domain)
        store = self._store
        if store is None or store._state.sid != int(record["sid"]):
            engine = self._session.engine
            state = catalog.load_state(engine, self._domain, self._name)
            if state is None:  # dropped between the check and here
                raise self._session._refuse(right, self._name, self._domain)
            store = self._store = Store(engine, state)
        return store

    def __getattr__(self, method: str) -> Callable[..., Any]:
        right = METHOD_RIGHTS.get(method)
        if right is None:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {method!r}")

        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._checked(right), method)(*args, **kwargs)

        call.__name__ = method
        return call

    @property
    def info(self) -> StoreInfo:
        """The store's StoreInfo (read or admin access)."""
        return self._checked("read").info

    def __len__(self) -> int:
        return len(self._checked("read"))

    def __contains__(self, rid: object) -> bool:
        return rid in self._checked("read")

    def __iter__(self) -> Iterator[str]:
        return iter(self._checked("read"))
