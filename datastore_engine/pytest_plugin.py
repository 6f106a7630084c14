"""pytest fixtures for using datastore_engine as a test backend (registered via ``pytest11``).

Fixtures:

* ``datastore``: a temporary engine per test, closed and removed after. Stores
  named in a ``@pytest.mark.datastore_preload(...)`` marker are loaded first.
* ``datastore_factory``: ``datastore_factory(app=..., org=..., durable=..., path=...)``
  makes more engines (several apps on one directory, say); all are closed after.

Preloading: ``@pytest.mark.datastore_preload("people.ndjson", store="people",
domain="local")`` loads a JSON file (an object of ``{id: document}`` or a list
of documents with ``_id``) or an NDJSON file (one ``{"_id": ..., ...}`` per
line, the format of ``datastore-engine export``: see :mod:`datastore_engine.transfer`);
a relative path is taken from the test file's folder. Files are parsed
strictly (duplicate keys, NaN and non-string ids are refused, naming the file
and line) and loaded in one transaction: all or nothing. Documents without an
id get a new one. The same loader is :func:`preload` for use in your own fixtures.

Example test::

    import pytest

    @pytest.mark.datastore_preload("people.ndjson", store="people")
    def test_people(datastore):
        assert datastore.store("people").get("ada")["name"] == "Ada"
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import transfer
from .engine import Engine, open_temporary
from .engine import open as open_engine
from .errors import ValidationError

__all__ = ["datastore", "datastore_factory", "preload"]


def _documents(path: Path) -> Iterator[tuple[str | None, Any]]:
    """``(id or None, document)`` of a fixture file, parsed as strictly as ``datastore-engine import``."""
    if path.suffix in (".ndjson", ".jsonl"):
        with path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield transfer.from_line(transfer.parse_line(line))
                except ValidationError as exc:
                    raise ValidationError(f"{path}:{number}: {exc}") from None
        return
    raw = path.read_bytes()
    try:
        data = transfer.parse_json(raw) if raw.strip() else {}
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}") from None
    if isinstance(data, dict):
        yield from data.items()
    elif isinstance(data, list):
        for number, doc in enumerate(data):
            if isinstance(doc, dict) and "_id" in doc:
                try:
                    yield transfer.from_line(doc)
                except ValidationError as exc:
                    raise ValidationError(f"{path}: item {number}: {exc}") from None
            else:
                yield None, doc
    else:
        raise ValidationError(f"{path}: expected an object of documents or a list of documents")


def preload(engine: Engine, path: str | os.PathLike[str], *, store: str, domain: str = "local") -> int:
    """Load documents from a JSON or NDJSON file into ``store``; returns how many."""
    target = engine.store(store, domain=domain)
    count = 0
    with engine.transaction():
        for rid, doc in _documents(Path(path)):
            if rid is None:
                target.add(doc)
            else:
                target.put(rid, doc)
            count += 1
    return count


@pytest.fixture
def datastore_factory() -> Iterator[Callable[..., Engine]]:
    """Make engines with options; every one is closed (and temporary ones removed) after the test."""
    made: list[Engine] = []
    dirs: list[str] = []

    def make(
        *,
        app: str = "default",
        org: str = "default",
        durable: bool = False,
        path: str | os.PathLike[str] | None = None,
        map_size: int | None = None,
    ) -> Engine:
        if path is None:
            path = tempfile.mkdtemp(prefix="datastore_engine-fixture-")
            dirs.append(os.fspath(path))
        eng = open_engine(path, app=app, org=org, durable=durable, map_size=map_size)
        made.append(eng)
        return eng

    yield make
    for eng in reversed(made):
        eng.close()
    for folder in dirs:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def datastore(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A temporary engine for one test, with any ``datastore_preload`` markers applied."""
    eng = open_temporary()
    try:
        base = Path(str(request.path)).parent
        for marker in request.node.iter_markers("datastore_preload"):
            store = marker.kwargs.get("store")
            if not store:
                raise ValidationError("datastore_preload needs store=NAME")
            for name in marker.args:
                file_path = Path(name)
                if not file_path.is_absolute():
                    file_path = base / file_path
                preload(eng, file_path, store=store, domain=marker.kwargs.get("domain", "local"))
        yield eng
    finally:
        eng.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "datastore_preload(*files, store, domain='local'): preload JSON/NDJSON files into a store "
        "of the `datastore` fixture",
    )
