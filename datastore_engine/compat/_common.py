"""Helpers shared by the compat adapters: the default engine location.

Adapters whose hosted original needs no path (CloudStore, ForePaaS) open the
engine in :func:`default_path`: ``$DATASTORE_ENGINE_PATH`` if set, else
``./datastore`` in the current directory.

Example:
    >>> default_path({"DATASTORE_ENGINE_PATH": "/tmp/x"})
    '/tmp/x'
    >>> default_path({})
    'datastore'
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["DEFAULT_DIR", "ENV_VAR", "default_path"]

ENV_VAR = "DATASTORE_ENGINE_PATH"
DEFAULT_DIR = "datastore"


def default_path(environ: Mapping[str, str] | None = None) -> str:
    """``$DATASTORE_ENGINE_PATH``, else ``datastore`` (relative to the current directory)."""
    env = os.environ if environ is None else environ
    return env.get(ENV_VAR) or DEFAULT_DIR
