"""The datastore-engine command, run in-process through cli.main(argv) as a user would type it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.cli import main


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def run(db: Path) -> Run:
    def go(*argv: str, stdin: str = "", tty: bool = False, err_tty: bool = False) -> Result:
        out = Tty() if tty else io.StringIO()
        err = Tty() if err_tty else io.StringIO()
        stdin_file = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
        code = main(["--path", str(db), *argv], stdin=stdin_file, stdout=out, stderr=err)
        return Result(code, out.getvalue(), err.getvalue())

    return go


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    assert result.err == ""
    return result


def error(result: Result, code: int, needle: str) -> None:
    assert result.code == code
    assert result.out == ""
    assert result.err.startswith("datastore-engine: error: ") and needle in result.err
    assert result.err.count("\n") == 1  # one line, no traceback


# --- documents ---------------------------------------------------------------------------------


def test_put_get_merge_delete_keys(run: Run) -> None:
    put = ok(run("put", "people", "ada", '{"name": "Ada", "tags": ["a"]}')).json
    assert put["_id"] == "ada" and put["rev"].startswith("1-")
    assert ok(run("get", "people", "ada")).json == {"name": "Ada", "tags": ["a"]}
    ok(run("merge", "people", "ada", '{"age": 36}'))
    assert ok(run("get", "people", "ada")).json == {"name": "Ada", "tags": ["a"], "age": 36}
    ok(run("put", "people", "bob", "[1, 2]"))
    assert ok(run("keys", "people")).json == ["ada", "bob"]
    assert ok(run("keys", "people", "--prefix", "b")).json == ["bob"]
    assert ok(run("delete", "people", "bob")).json["deleted"] is True
    assert ok(run("keys", "people")).json == ["ada"]


def test_values_can_come_from_stdin(run: Run) -> None:
    ok(run("put", "s", "a", "-", stdin='{"from": "stdin"}'))
    ok(run("merge", "s", "a", "-", stdin='{"more": 1}'))
    assert ok(run("get", "s", "a")).json == {"from": "stdin", "more": 1}


def test_json_is_accepted_before_or_after_the_command(run: Run) -> None:
    ok(run("put", "s", "a", '{"n": 1}'))
    assert json.loads(ok(run("--json", "get", "s", "a", tty=True)).out) == {"n": 1}
    assert json.loads(ok(run("get", "s", "a", "--json", tty=True)).out) == {"n": 1}


def test_options_after_the_command_override_the_defaults(run: Run, tmp_path: Path) -> None:
    other = tmp_path / "other"
    code = main(["put", "s", "a", "1", "--path", str(other), "--app", "x"], stdout=io.StringIO())
    assert code == 0
    with dse.open(other, app="x") as engine:
        assert engine.store("s").get("a") == 1


def test_domain_and_app_select_the_store(run: Run, db: Path) -> None:
    ok(run("--domain", "system", "--app", "one", "put", "flags", "f", "true"))
    assert ok(run("--domain", "system", "--app", "two", "get", "flags", "f")).json is True
    error(run("--app", "two", "get", "flags", "f"), 1, "store 'flags' does not exist")


def test_missing_document_store_and_datastore_exit_1(run: Run, db: Path) -> None:
    error(run("get", "people", "ada"), 1, "no datastore at")
    assert not db.exists()  # a read never creates a datastore
    ok(run("put", "people", "ada", "{}"))
    error(run("get", "people", "nobody"), 1, "document 'nobody' not found")
    error(run("get", "ghosts", "x"), 1, "store 'ghosts' does not exist")
    error(run("delete", "people", "nobody"), 1, "not found")


BAD_VALUES = {
    "duplicate-keys": ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    "nan": ('{"a": NaN}', "NaN is not JSON"),
    "not-json": ("{a: 1}", "not JSON"),
    "too-big-int": ("18446744073709551616", "64-bit"),
}


@pytest.mark.parametrize("value,needle", BAD_VALUES.values(), ids=list(BAD_VALUES))
def test_bad_values_are_usage_errors(run: Run, value: str, needle: str) -> None:
    error(run("put", "s", "a", value), 2, needle)


def test_argparse_usage_errors_exit_2(run: Run) -> None:
    result = run("put", "s")
    assert result.code == 2 and "usage:" in result.err
    assert run("nonsense").code == 2
    result = run()
    assert result.code == 2 and "commands:" in result.err
    result = run("stores")
    assert result.code == 2 and "list" in result.err


# --- stores ---------------------------------------------------------------------------------------


def test_stores_create_list_info_update_drop(run: Run) -> None:
    info = ok(run("stores", "create", "crm", "--description", "customers", "--max-size-mb", "5",
                  "--id", "crm-1", "--read-access", "g:staff")).json  # fmt: skip
    assert (info["id"], info["max_size_mb"], info["read_access"]) == ("crm-1", 5, ["g:staff"])
    ok(run("--domain", "system", "stores", "create", "flags"))
    listed = ok(run("stores", "list")).json
    assert [s["name"] for s in listed["items"]] == ["crm", "flags"] and listed["total"] == 2
    assert [s["name"] for s in ok(run("stores", "list", "--domain", "system")).json["items"]] == [
        "flags"
    ]
    assert ok(run("stores", "list", "--filter", 'name sw "cr"')).json["total"] == 1
    assert ok(run("stores", "info", "crm")).json["description"] == "customers"
    updated = ok(run("stores", "update", "crm", '{"description": "new", "max_size_mb": null}')).json
    assert (updated["description"], updated["max_size_mb"]) == ("new", None)
    ok(run("put", "crm", "c1", "{}"))
    error(run("stores", "drop", "crm"), 3, "add --yes")
    assert ok(run("stores", "drop", "crm", "--yes")).json["ids"] == ["crm-1"]
    error(run("stores", "info", "crm"), 1, "does not exist")


def test_store_errors(run: Run) -> None:
    ok(run("stores", "create", "crm"))
    error(run("stores", "create", "crm"), 3, "already exists")
    error(run("stores", "update", "crm", "[1]"), 2, "must be a JSON object")
    error(run("stores", "update", "crm", '{"colour": 1}'), 2, "unknown store fields")
    error(run("stores", "list", "--filter", "name eq"), 2, "")
    error(run("stores", "update", "nope", '{"description": "x"}'), 1, "does not exist")


# --- queries and indexes -------------------------------------------------------------------------


@pytest.fixture
def people(run: Run) -> Run:
    for rid, doc in {"ada": {"name": "Ada", "age": 36, "city": "London"},
                     "alan": {"name": "Alan", "age": 41, "city": "Manchester"},
                     "linus": {"name": "Linus", "age": 29, "city": "Helsinki"}}.items():  # fmt: skip
        ok(run("put", "people", rid, json.dumps(doc)))
    return run


def test_find_with_sort_window_and_fields(people: Run) -> None:
    page = ok(people("find", "people", "age ge 30", "--sort=-age")).json
    assert (page["total"], [d["_id"] for d in page["items"]]) == (2, ["alan", "ada"])
    page = ok(
        people("find", "people", "age pr", "--sort", "age", "--start", "1", "--count", "1")
    ).json
    assert (page["total"], page["start"], page["count"], page["items"][0]["_id"]) == (
        3,
        1,
        1,
        "ada",
    )
    page = ok(people("find", "people", 'city eq "london"', "-i", "--fields", "$.name")).json
    assert page["items"] == [{"_id": "ada", "$.name": "Ada"}]


def test_find_bad_filter_is_a_usage_error(people: Run) -> None:
    error(people("find", "people", "age gtt 3"), 2, "column")


def test_search_with_an_elasticsearch_body(people: Run) -> None:
    body = {"query": {"range": {"age": {"lt": 40}}}, "sort": ["age"]}
    hits = ok(people("search", "people", json.dumps(body))).json["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["linus", "ada"]
    error(people("search", "people", '{"query": {"nope": {}}}'), 2, "nope")
    error(people("search", "people", "[]"), 2, "must be a JSON object")


def test_index_create_list_drop(people: Run) -> None:
    ok(people("index", "create", "people", "age"))
    ok(people("index", "create", "people", "name", "--unique"))
    assert ok(people("index", "list", "people")).json == [
        {"path": "age", "unique": False}, {"path": "name", "unique": True},
    ]  # fmt: skip
    assert ok(people("find", "people", "age gt 40")).json["items"][0]["_id"] == "alan"
    error(people("put", "people", "ada2", '{"name": "Ada"}'), 3, "")
    ok(people("index", "drop", "people", "age"))
    assert [i["path"] for i in ok(people("index", "list", "people")).json] == ["name"]
    error(people("index", "drop", "people", "age"), 1, "")


# --- blobs -----------------------------------------------------------------------------------------


def test_blob_put_ls_stat_get_cp_rm(run: Run, tmp_path: Path) -> None:
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello blob\n")
    info = ok(
        run("blob", "put", "media", "docs/hello.txt", str(source), "--metadata", '{"k": "v"}')
    ).json
    assert (info["size"], info["content_type"], info["metadata"]) == (11, "text/plain", {"k": "v"})
    ok(
        run(
            "blob",
            "put",
            "media",
            "top.bin",
            "-",
            "--content-type",
            "application/x-test",
            stdin="x",
        )
    )
    assert [b["name"] for b in ok(run("blob", "ls")).json] == ["media"]
    assert [o["name"] for o in ok(run("blob", "ls", "media")).json] == ["docs/hello.txt", "top.bin"]
    folders = ok(run("blob", "ls", "media", "--folders")).json
    assert [(o["name"], o["is_dir"]) for o in folders] == [("docs/", True), ("top.bin", False)]
    assert ok(run("blob", "stat", "media", "top.bin")).json["content_type"] == "application/x-test"
    target = tmp_path / "out" / "copy.txt"
    ok(run("blob", "get", "media", "docs/hello.txt", str(target)))
    assert target.read_bytes() == b"hello blob\n"
    assert ok(run("blob", "get", "media", "docs/hello.txt")).out == "hello blob\n"
    ok(run("blob", "cp", "media", "docs/hello.txt", "again.txt"))
    ok(run("stores", "list"))  # buckets do not show up as stores
    assert ok(run("blob", "rm", "media", "again.txt", "ghost")).json["deleted"] == {
        "again.txt": True, "ghost": False,
    }  # fmt: skip
    ok(run("blob", "rm", "media", "top.bin"))
    assert [o["name"] for o in ok(run("blob", "ls", "media")).json] == ["docs/hello.txt"]


def test_blob_errors(run: Run, tmp_path: Path) -> None:
    ok(run("put", "s", "a", "1"))  # a datastore exists
    error(run("blob", "ls", "nope"), 1, "bucket 'nope' does not exist")
    error(run("blob", "put", "media", "a", str(tmp_path / "missing")), 1, "No such file")
    ok(run("blob", "put", "media", "a", "-", stdin="x"))
    error(run("blob", "stat", "media", "b"), 1, "not found")
    error(run("blob", "get", "media", "b"), 1, "not found")
    error(run("blob", "rm", "media", "b"), 1, "not found")
    error(run("blob", "cp", "media", "a", "b", "--to", "other"), 1, "bucket 'other' does not exist")
    error(run("blob", "put", "Bad Bucket!", "a", "-"), 2, "")


# --- import / export ------------------------------------------------------------------------------


def test_import_export_round_trip(run: Run, tmp_path: Path) -> None:
    lines = "".join(json.dumps({"_id": f"d{i:04d}", "n": i}) + "\n" for i in range(2500))
    (tmp_path / "in.ndjson").write_text(lines)
    result = ok(run("import", "s", str(tmp_path / "in.ndjson"), "--batch", "1000")).json
    assert result == {"store": "s", "documents": 2500, "lines": 2500}
    assert ok(run("export", "s", str(tmp_path / "out.ndjson"))).json["documents"] == 2500
    assert (tmp_path / "out.ndjson").read_text().replace(" ", "") == lines.replace(" ", "")
    exported = ok(run("export", "s", "-"))
    assert exported.out.replace(" ", "") == lines.replace(" ", "")  # stdout holds only the data


def test_import_from_stdin_and_add_mode(run: Run) -> None:
    ok(run("import", "s", "-", stdin='{"_id": "a", "v": 1}\n'))
    error(
        run("import", "s", "-", "--add", stdin='{"_id": "b"}\n{"_id": "a"}\n'),
        3,
        "line 2: document 'a' already exists",
    )
    assert ok(run("keys", "s")).json == ["a"]


def test_a_bad_import_line_names_its_line_and_what_was_committed(run: Run) -> None:
    text = '{"_id": "1"}\n{"_id": "2"}\n{"_id": "3"}\n{"_id": "4", "a": 1, "a": 2}\n'
    error(run("import", "s", "-", "--batch", "2", stdin=text), 2,
          "line 4: duplicate key 'a' in one object; nothing of lines 3-4 was written; "
          "lines 1-2 (2 documents) were committed before")  # fmt: skip
    assert ok(run("keys", "s")).json == ["1", "2"]


def test_import_and_export_errors(run: Run, tmp_path: Path) -> None:
    error(run("import", "s", str(tmp_path / "missing.ndjson")), 1, "No such file")
    error(run("import", "s", "-", "--batch", "0", stdin="{}\n"), 2, "batch")
    error(run("export", "ghost", "-"), 1, "does not exist")


def test_progress_bar_only_on_a_terminal(run: Run, tmp_path: Path) -> None:
    (tmp_path / "in.ndjson").write_text("".join(f'{{"_id": "{i}"}}\n' for i in range(3000)))
    quiet = ok(run("import", "s", str(tmp_path / "in.ndjson")))
    assert quiet.err == ""
    shown = run("import", "t", str(tmp_path / "in.ndjson"), err_tty=True)
    assert shown.code == 0 and "import t [" in shown.err and "100%" in shown.err
    assert run("import", "u", str(tmp_path / "in.ndjson"), "-q", err_tty=True).err == ""
    exported = run("export", "s", str(tmp_path / "out.ndjson"), err_tty=True)
    assert "export s [" in exported.err and "3000/3000" in exported.err


# --- maintenance ----------------------------------------------------------------------------------


def test_backup_then_check_the_copy(run: Run, tmp_path: Path) -> None:
    ok(run("put", "s", "a", '{"n": 1}'))
    dest = tmp_path / "copy"
    assert ok(run("backup", str(dest))).json["compact"] is True
    assert main(["--path", str(dest), "get", "s", "a"], stdout=io.StringIO()) == 0
    error(run("backup", str(dest)), 2, "already holds a database")
    ok(run("backup", str(tmp_path / "full"), "--no-compact"))
    with dse.open(tmp_path / "full") as copy:
        assert copy.store("s").get("a") == {"n": 1} and copy.check() == []


def test_stats_counts_stores_documents_and_buckets(run: Run) -> None:
    ok(run("put", "a", "1", "{}"))
    ok(run("put", "a", "2", "{}"))
    ok(run("--domain", "organization", "put", "b", "1", "{}"))
    ok(run("blob", "put", "media", "x", "-", stdin="abc"))
    stats = ok(run("stats")).json
    assert (stats["stores"], stats["documents"]) == (2, 3)
    assert stats["domains"]["organization"]["documents"] == 1
    assert stats["buckets"] == [{"name": "media", "objects": 1, "bytes": 3}]
    assert 0 < stats["map"]["used_bytes"] <= stats["map"]["map_size"]


def test_check_passes_on_a_sound_file_and_exits_1_on_problems(run: Run, db: Path) -> None:
    ok(run("put", "s", "a", '{"n": 1}'))
    assert ok(run("check")).json == {"ok": True, "problems": []}
    with dse.open(db) as engine:  # break a counter behind the engine's back
        env = engine._env
        store = engine.store("s")
        with env.env.begin(write=True) as txn:
            txn.put(store._state.prefix, b"\x00" * 32, db=env.dbs["counters"])
    result = run("check")
    assert result.code == 1 and result.json["ok"] is False and result.json["problems"]
    assert "problems:" in run("check", tty=True).out


def test_demo_runs_the_readme_tour(run: Run) -> None:
    result = ok(run("demo"))
    assert result.json["added people (one transaction)"] == ["ada", "alan", "grace", "linus"]
    again = ok(run("demo", tty=True))  # re-runnable; prints its steps on a terminal
    assert "done: run it again" in again.out


def test_sync_to_an_unreachable_peer_is_a_clear_error(run: Run) -> None:
    ok(run("put", "s", "a", "{}"))
    error(run("sync", "s", "http://127.0.0.1:9/db", "--push", "--timeout", "0.3"), 3, "127.0.0.1:9")
    assert run("sync", "s", "http://x/db", "--push", "--pull").code == 2


def test_collect_attachments_reports_then_deletes_unreferenced_blobs(run: Run, db: Path) -> None:
    from datastore_engine.sync import get_attachment, put_attachment

    ok(run("put", "s", "a", "{}"))
    with dse.open(db) as engine:
        store = engine.store("s")
        put_attachment(store, "a", "old.txt", b"old")
        put_attachment(store, "b", "kept.txt", b"kept")
        store.delete("a")
    pending = ok(run("collect-attachments", "s")).json  # within the default hour of grace
    assert (len(pending["pending"]), len(pending["kept"]), pending["removed"]) == (1, 1, [])
    dry = ok(run("collect-attachments", "s", "--grace", "0", "--dry-run")).json
    assert dry["dry_run"] and dry["removed"] == pending["pending"] and dry["bytes_freed"] == 3
    shown = ok(run("collect-attachments", "s", "--grace", "0", tty=True)).out
    assert "would remove:" not in shown and f"removed:\n{dry['removed'][0]}" in shown
    assert ok(run("collect-attachments", "s", "--grace", "0")).json["removed"] == []
    with dse.open(db) as engine:
        assert get_attachment(engine.store("s"), "b", "kept.txt") == b"kept"
    error(run("collect-attachments", "nope"), 1, "nope")
    error(run("collect-attachments", "s", "--grace", "-1"), 2, "grace")


# --- terminal output -------------------------------------------------------------------------------


def test_tables_on_a_terminal(people: Run) -> None:
    listed = ok(people("stores", "list", tty=True)).out
    assert listed.splitlines()[0].split() == [
        "name",
        "domain",
        "id",
        "count",
        "size",
        "max_size_mb",
        "description",
    ]
    assert "people" in listed and "(1 shown of 1, from 0)" in listed
    found = ok(people("find", "people", "age gt 30", "--sort", "age", tty=True)).out.splitlines()
    assert found[0].split() == ["_id", "document"] and found[2].startswith("ada ")
    assert ok(people("keys", "people", tty=True)).out == "ada\nalan\nlinus\n"
    info = ok(people("stores", "info", "people", tty=True)).out
    assert any(line.split() == ["count", "3"] for line in info.splitlines())
    doc = ok(people("get", "people", "ada", tty=True)).out
    assert doc.startswith("{\n  ") and json.loads(doc)["name"] == "Ada"
    stats = ok(people("stats", tty=True)).out
    assert "documents" in stats and "domain" in stats
    assert ok(people("check", tty=True)).out == "ok: no problems found\n"
    search = ok(people("search", "people", '{"query": {"match_all": {}}}', tty=True)).out
    assert search.strip().endswith("(total 3)")
