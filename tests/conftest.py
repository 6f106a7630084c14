"""Shared fixtures for the datastore_engine test suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import datastore_engine as dse


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[dse.Engine]:
    """A durable engine in a fresh directory, closed after the test."""
    eng = dse.open(tmp_path / "db", app="test-app", org="test-org")
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture
def fast(tmp_path: Any) -> Iterator[dse.Engine]:
    """A non-durable engine: for tests that write tens of MiB."""
    eng = dse.open(tmp_path / "fast", durable=False)
    try:
        yield eng
    finally:
        eng.close()


def dump_all(eng: dse.Engine) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every key and value of every sub-database: a byte-for-byte fingerprint of the file's content."""
    env = eng._env
    out: dict[str, list[tuple[bytes, bytes]]] = {}
    with env.env.begin() as txn:
        for name, db in env.dbs.items():
            out[name] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)]
    return out


@pytest.fixture
def snapshot() -> Any:
    """``snapshot(engine)``: every key and value of every sub-database (see :func:`dump_all`)."""
    return dump_all
