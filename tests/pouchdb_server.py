"""Pytest fixtures that run a real CouchDB-protocol peer: pouchdb-server 4.2.0, in memory.

Install it with ``bash .ci/install_pouchdb.sh`` (into the git-ignored ``.ci/node/``).
Import the fixtures into a conftest or test module::

    from pouchdb_server import pouchdb_db, pouchdb_server  # noqa: F401

``pouchdb_server`` (session): base URL ``http://127.0.0.1:<port>`` of one server
for the whole run; ``pouchdb_db`` (function): URL of a fresh, empty database,
deleted afterwards. Tests skip, saying why, only when ``node`` is missing or the
package is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER_BIN = ROOT / ".ci" / "node" / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
START_TIMEOUT = 30.0  # seconds; node takes ~1 s on a quiet machine, CI may be slower
STOP_TIMEOUT = 5.0
# No proxy: an http_proxy in the environment must not capture 127.0.0.1 traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=1.0) as response:
            return bool(json.loads(response.read()).get("version"))
    except (OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)


def _start(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    node = shutil.which("node")
    assert node is not None
    # cwd and --config in a temp dir: the server writes log.txt and config.json there.
    with (workdir / "server.log").open("ab") as log:
        return subprocess.Popen(
            [
                node,
                str(SERVER_BIN),
                "--in-memory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--config",
                str(workdir / "config.json"),
                "--no-color",
            ],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so _stop reaches every child
        )


@pytest.fixture(scope="session")
def pouchdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of an in-memory pouchdb-server on 127.0.0.1, stopped at the end of the run."""
    if shutil.which("node") is None:
        pytest.skip(
            "node is not on PATH; pouchdb-server tests need Node.js (apt-get install nodejs)"
        )
    if not SERVER_BIN.is_file():
        pytest.skip(
            f"pouchdb-server is not installed at {SERVER_BIN}; run: bash .ci/install_pouchdb.sh"
        )
    workdir = tmp_path_factory.mktemp("pouchdb")
    # A port picked free can be taken before node binds it; a second port then.
    for _ in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(workdir, port)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline and not _answers(url + "/"):
                time.sleep(0.1)
            if proc.poll() is None and _answers(url + "/"):
                yield url
                return
        finally:
            _stop(proc)
    log = (workdir / "server.log").read_text(errors="replace")[-2000:]
    pytest.fail(f"pouchdb-server did not answer GET / within {START_TIMEOUT:g}s; log:\n{log}")


@pytest.fixture
def pouchdb_db(pouchdb_server: str) -> Iterator[str]:
    """URL of a fresh empty database on the session server, deleted after the test."""
    url = f"{pouchdb_server}/test-{uuid.uuid4().hex[:12]}"
    _OPENER.open(urllib.request.Request(url, method="PUT"), timeout=10).close()
    try:
        yield url
    finally:
        with contextlib.suppress(urllib.error.URLError, OSError):
            _OPENER.open(urllib.request.Request(url, method="DELETE"), timeout=10).close()
