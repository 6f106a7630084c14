"""ThreatConnect TcEx ``tcex.datastore(domain, data_type)`` over the engine (seed 000).

``TcEx(engine).datastore(domain, data_type)`` is a :class:`TcExDatastore` on
the core store ``data_type`` in ``domain`` (``local`` is the engine's ``app``,
``organization`` its ``org``, ``system`` everyone on the file). Any other domain
is refused with :class:`~datastore_engine.errors.ValidationError`, as the
service refuses it. Answers have the shape of the Elasticsearch-backed service:

* writes (``add``/``post``, ``put``/``update``, ``delete``)::

    {"_index": domain, "_type": data_type, "_id": rid, "_version": N,
     "result": "created" | "updated" | "deleted" | "not_found",
     "_shards": {"total": 1, "successful": 1, "failed": 0},
     "_seq_no": N - 1, "_primary_term": 1}

  ``add`` on an existing rid overwrites it and says ``updated`` (as a POST to
  Elasticsearch with an id does); ``rid=None`` gets a new id from the core.
* ``get(rid)``: ``{"_index", "_type", "_id", "_version", "found", "_source"}``
  (``found: False`` and no ``_source`` when missing; no error).
* ``get(rid="_search", data=body)`` (or ``rid=None``): the core's
  Elasticsearch subset (``store.search``), each hit with ``_index``/``_type`` added.

``_version`` is the document's revision generation (``N`` of the core's
``"N-hash"`` revision; it keeps counting across a delete and re-create);
``_seq_no`` is ``_version - 1`` (Elasticsearch counts from 0) and
``_primary_term`` is always 1: there are no shards to order. ``delete`` of a
missing rid raises :class:`~datastore_engine.errors.NotFound` (the service
answers 404 and TcEx raises), or with ``raise_on_error=False`` returns the
``not_found`` answer.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     ds = TcEx(engine).datastore("local", "myNumbers")
    ...     r = ds.add(rid="one", data={"one": 1})
    ...     (r["result"], r["_version"], ds.get(rid="one")["_source"])
    ('created', 1, {'one': 1})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import DuplicateKey, NotFound
from ..keys import check_domain, rid_bytes

if TYPE_CHECKING:
    from ..engine import Engine
    from ..store import Store

__all__ = ["SEARCH_RID", "TcEx", "TcExDatastore"]

SEARCH_RID = "_search"
_SHARDS = {"total": 1, "successful": 1, "failed": 0}


def _generation(rev: str) -> int:
    return int(rev.split("-", 1)[0])


class TcEx:
    """The part of the TcEx app context that hands out datastores: ``TcEx(engine).datastore(...)``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def datastore(self, domain: str, data_type: str) -> TcExDatastore:
        """A :class:`TcExDatastore` on ``data_type`` in ``domain`` (local, organization, system)."""
        return TcExDatastore(self.engine, domain, data_type)


class TcExDatastore:
    """One TcEx datastore (domain + data type); see the module docstring for the answers."""

    def __init__(self, engine: Engine, domain: str, data_type: str) -> None:
        self.domain = check_domain(domain)
        self.data_type = data_type
        self._store: Store = engine.store(data_type, domain=domain)

    def _head(self, rid: str, version: int) -> dict[str, Any]:
        return {"_index": self.domain, "_type": self.data_type, "_id": rid, "_version": version}

    def _written(self, rid: str, rev: str, result: str) -> dict[str, Any]:
        version = _generation(rev)
        return {
            **self._head(rid, version),
            "result": result,
            "_shards": dict(_SHARDS),
            "_seq_no": version - 1,
            "_primary_term": 1,
        }

    # -- writes ---------------------------------------------------------------------------
    def post(
        self, rid: str | None = None, data: Any = None, raise_on_error: bool = True
    ) -> dict[str, Any]:
        """Create record ``rid`` (a new id when None), or overwrite it if it exists."""
        store = self._store
        try:
            rid = store.add(data, rid=rid)
        except DuplicateKey:
            assert rid is not None
            return self._written(rid, store.put(rid, data), "updated")
        # add() returns the id; the revision is one read later (a concurrent write may bump it).
        return self._written(rid, store.rev(rid), "created")

    add = post

    def put(self, rid: str, data: Any, raise_on_error: bool = True) -> dict[str, Any]:
        """Create or replace record ``rid``; ``result`` says which (the same write as :meth:`post`)."""
        rid_bytes(rid)  # unlike post, put needs an id
        return self.post(rid, data, raise_on_error)

    update = put

    def delete(self, rid: str, raise_on_error: bool = True) -> dict[str, Any]:
        """Delete record ``rid``; NotFound if missing (unless ``raise_on_error=False``)."""
        try:
            rev = self._store.delete(rid)
        except NotFound:
            if raise_on_error:
                raise
            return self._written(rid, "1-", "not_found")
        return self._written(rid, rev, "deleted")

    # -- reads ----------------------------------------------------------------------------
    def get(self, rid: str | None = None, data: Mapping[str, Any] | None = None,
            raise_on_error: bool = True) -> dict[str, Any]:  # fmt: skip
        """Record ``rid`` (``found`` says whether it exists), or a search when ``rid`` is ``_search``/None."""
        if rid is None or rid == SEARCH_RID:
            return self.search(data)
        found = self._store.get(rid, None, with_rev=True)
        if found is None:
            return {**self._head(rid, 0), "found": False}
        doc, rev = found
        return {**self._head(rid, _generation(rev)), "found": True, "_source": doc}

    def search(self, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``store.search(body)`` with ``_index``/``_type`` on every hit."""
        answer = self._store.search(body)
        answer["hits"]["hits"] = [
            {"_index": self.domain, "_type": self.data_type, **hit}
            for hit in answer["hits"]["hits"]
        ]
        return answer
