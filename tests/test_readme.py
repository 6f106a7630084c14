"""The README's Python examples run as written (files and URLs swapped for local ones)."""

from __future__ import annotations

import http.server
import io
import pathlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["pouchdb_server"]

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    # The pytest-plugin example defines a test; the plugin's own tests run it (pytester).
    return [b for b in blocks if "def test_" not in b]


@pytest.fixture
def tiny_http() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"\x89PNG fake image bytes"
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_readme_python_examples_run_in_order(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tiny_http: str, pouchdb_server: str
) -> None:
    blocks = python_blocks()
    assert len(blocks) >= 5
    code = "\n".join(blocks)
    code = code.replace('open("a.jpg", "rb")', "io.BytesIO(b'jpeg bytes')")
    code = code.replace('"https://example.org/a.png"', f'"{tiny_http}/a.png"')
    code = code.replace('"/tmp/out/a.jpg"', repr(str(tmp_path / "out" / "a.jpg")))
    code = code.replace('"http://127.0.0.1:5984/notes"', f'"{pouchdb_server.rstrip("/")}/readme-notes"')
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"io": io}
    exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "out" / "a.jpg").read_bytes() == b"jpeg bytes"
    assert namespace["result"] is not None
    assert namespace["engine"].closed


def test_the_core_api_block_leaves_the_state_its_comments_describe(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = python_blocks()[0]
    monkeypatch.chdir(tmp_path)
    lines = core.splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith("store.delete("))
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines[:cut]), str(README), "exec"), namespace)
    store = namespace["store"]
    assert store.get("one") == {"one": 11}
    namespace["engine"].close()
