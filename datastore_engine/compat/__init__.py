"""Thin adapters that give the engine the shape of five hosted datastore APIs.

One module per source document in ``seeds/``; each translates names, arguments
and response shapes and leaves storage, merge, query, quota and access logic
to the core:

* :mod:`.tcex`: ThreatConnect TcEx ``tcex.datastore(domain, data_type)`` (Elasticsearch-shaped answers).
* :mod:`.cloudstore`: the CloudStore python client (callbacks on threads, response dicts).
* :mod:`.make`: Make's data stores, data structures and records endpoints.
* :mod:`.forepaas`: the ForePaaS datastore and bucket connectors (MinIO-shaped).
* :mod:`.trivore`: Trivore ID Data Storage (``(status, body)`` per endpoint).

These names are not re-exported by ``datastore_engine``; import the module
you need, e.g. ``from datastore_engine.compat import tcex``.

Example:
    >>> import datastore_engine as dse
    >>> from datastore_engine.compat import tcex
    >>> with dse.open_temporary() as engine:
    ...     ds = tcex.TcEx(engine).datastore("local", "myNumbers")
    ...     ds.add(rid="one", data={"one": 1})["result"]
    'created'
"""

from __future__ import annotations

__all__ = ["cloudstore", "default_path", "forepaas", "make", "tcex", "trivore"]

from . import cloudstore, forepaas, make, tcex, trivore
from ._common import default_path
