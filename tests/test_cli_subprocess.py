"""The installed datastore-engine console script and ``python -m datastore_engine``, as real processes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("datastore-engine")


def cli(*argv: str, path: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(SCRIPT), "--path", str(path), *argv], input=stdin, capture_output=True, timeout=120
    )


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists(), "pip install -e . declares datastore-engine = datastore_engine.cli:main"


def test_put_and_get_through_the_console_script(tmp_path: Path) -> None:
    put = cli("put", "people", "ada", '{"name": "Ada"}', path=tmp_path)
    assert put.returncode == 0 and json.loads(put.stdout)["_id"] == "ada"
    got = cli("get", "people", "ada", path=tmp_path)
    assert (got.returncode, json.loads(got.stdout), got.stderr) == (0, {"name": "Ada"}, b"")


@pytest.mark.parametrize(
    "argv,code",
    [(("get", "people", "nobody"), 1), (("put", "people", "x", "{bad"), 2), (("put",), 2),
     (("stores", "create", "people"), 3)],
    ids=["not-found", "bad-json", "usage", "conflict"],
)  # fmt: skip
def test_error_exits_print_one_line_and_no_traceback(
    tmp_path: Path, argv: tuple[str, ...], code: int
) -> None:
    assert cli("put", "people", "ada", "{}", path=tmp_path).returncode == 0
    result = cli(*argv, path=tmp_path)
    assert result.returncode == code
    assert b"Traceback" not in result.stderr and result.stdout == b""
    if code != 2 or argv != ("put",):
        assert result.stderr.decode().count("\n") == 1


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datastore_engine", "--path", str(tmp_path), "put", "s", "a", "1"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and json.loads(result.stdout)["_id"] == "a"
    helped = subprocess.run(
        [sys.executable, "-m", "datastore_engine", "--help"], capture_output=True, timeout=60
    )
    assert helped.returncode == 0 and b"usage: datastore-engine" in helped.stdout


def test_env_var_gives_the_default_path(tmp_path: Path) -> None:
    env = {**os.environ, "DATASTORE_ENGINE_PATH": str(tmp_path / "fromenv")}
    result = subprocess.run(
        [str(SCRIPT), "put", "s", "a", "1"], capture_output=True, env=env, timeout=120
    )
    assert result.returncode == 0 and (tmp_path / "fromenv" / "data.mdb").exists()


def test_blob_bytes_pass_through_stdin_and_stdout_unchanged(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000 + b"\r\n\x00"
    assert cli("blob", "put", "media", "raw.bin", "-", path=tmp_path, stdin=data).returncode == 0
    got = cli("blob", "get", "media", "raw.bin", path=tmp_path)
    assert got.returncode == 0 and got.stdout == data


def test_import_from_a_pipe_and_export_to_a_pipe(tmp_path: Path) -> None:
    lines = b"".join(b'{"_id":"d%05d","n":%d}\n' % (i, i) for i in range(5000))
    imported = cli("import", "s", "-", path=tmp_path, stdin=lines)
    assert imported.returncode == 0 and imported.stderr == b""  # no progress bar when piped
    exported = cli("export", "s", "-", path=tmp_path)
    assert (exported.returncode, exported.stdout, exported.stderr) == (0, lines, b"")


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path) -> None:
    lines = b"".join(b'{"_id":"d%05d","pad":"%s"}\n' % (i, b"x" * 200) for i in range(20000))
    assert cli("import", "s", "-", path=tmp_path, stdin=lines).returncode == 0
    with subprocess.Popen(
        [str(SCRIPT), "--path", str(tmp_path), "export", "s", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b'{"_id":"d00000"')
        proc.stdout.close()  # like `| head -1`
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0
    assert err == b""


def test_a_terminal_gets_a_table(tmp_path: Path) -> None:
    assert (
        cli("stores", "create", "crm", "--description", "customers", path=tmp_path).returncode == 0
    )
    main_fd, child_fd = pty.openpty()
    try:
        proc = subprocess.run(
            [str(SCRIPT), "--path", str(tmp_path), "stores", "list"],
            stdout=child_fd, stderr=subprocess.PIPE, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0
        text = os.read(main_fd, 65536).decode()
    finally:
        os.close(main_fd)
        os.close(child_fd)
    rows = text.splitlines()
    assert rows[0].split()[:2] == ["name", "domain"] and rows[2].split()[:2] == ["crm", "local"]
