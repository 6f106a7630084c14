"""`datastore-engine sync` against a real CouchDB-protocol peer (pouchdb-server, in memory)."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

from datastore_engine.cli import main

pytest_plugins = ["pouchdb_server"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cli(db: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--path", str(db), *argv], stdout=out, stderr=io.StringIO())
    return code, out.getvalue()


def test_push_then_pull_through_the_command(tmp_path: Path, pouchdb_db: str) -> None:
    for rid in ("a", "b"):
        assert cli(tmp_path / "one", "put", "notes", rid, json.dumps({"text": rid}))[0] == 0
    code, out = cli(tmp_path / "one", "sync", "notes", pouchdb_db, "--push")
    assert code == 0 and json.loads(out)["docs_written"] == 2
    with _OPENER.open(f"{pouchdb_db}/_all_docs", timeout=10) as response:
        assert [row["id"] for row in json.load(response)["rows"]] == ["a", "b"]
    code, out = cli(tmp_path / "two", "sync", "notes", pouchdb_db, "--pull")
    assert code == 0 and json.loads(out)["direction"] == "pull"
    assert json.loads(cli(tmp_path / "two", "get", "notes", "b")[1]) == {"text": "b"}
