"""Sync benchmark: push and pull 10k documents of about 1 KB with a local pouchdb-server.

Measures ``datastore_engine.sync.replicate`` (push: a store -> an empty server
database; pull: that database -> an empty store) and PouchDB's own replication
of the same documents (``bench/pouchdb_replicate.js``: an in-memory PouchDB ->
an empty server database, and back into a new in-memory PouchDB), in the same
run against the same server. Prints documents per second and the ratio
(ours / PouchDB's; >= 1.0 means we are at least as fast).

    .venv/bin/python bench/sync_bench.py                # N=10k, batch 500, best of 1
    .venv/bin/python bench/sync_bench.py --n 2000 --repeat 3 --durable

Needs ``bash .ci/install_pouchdb.sh`` (pouchdb-server and PouchDB 7 in .ci/node).
Our store is ``durable=False`` by default (PouchDB's memory adapter never
flushes either); ``--durable`` flushes every commit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import datastore_engine as dse  # noqa: E402
from datastore_engine.sync import replicate  # noqa: E402

SERVER_BIN = ROOT / ".ci" / "node" / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
POUCH_SCRIPT = ROOT / "bench" / "pouchdb_replicate.js"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def make_doc(i: int) -> dict[str, object]:
    """The same document as pouchdb_replicate.js's makeDoc (without _id)."""
    words = ((_base36(i) + " lorem ipsum dolor sit amet ") * 40)[:900]
    return {"i": i, "name": f"name-{i}", "tags": ["a", "b", str(i % 7)], "text": words}


def _base36(i: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        i, r = divmod(i, 36)
        out = digits[r] + out
        if i == 0:
            return out


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    node = shutil.which("node")
    if node is None or not SERVER_BIN.is_file():
        sys.exit("needs node and pouchdb-server: bash .ci/install_pouchdb.sh")
    log = (workdir / "server.log").open("ab")
    proc = subprocess.Popen(
        [node, str(SERVER_BIN), "--in-memory", "--host", "127.0.0.1", "--port", str(port),
         "--config", str(workdir / "config.json"), "--no-stdout-logs"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with _OPENER.open(url + "/", timeout=1) as answer:
                if json.loads(answer.read()).get("version"):
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("pouchdb-server did not start")


def http(method: str, url: str) -> None:
    _OPENER.open(urllib.request.Request(url, method=method), timeout=30).close()


def run_ours(server: str, n: int, batch: int, durable: bool, tag: str) -> tuple[float, float]:
    db = f"{server}/dse-{tag}"
    http("PUT", db)
    with tempfile.TemporaryDirectory() as tmp, dse.open(tmp, durable=durable) as engine:
        source = engine.store("source")
        with engine.transaction():
            for i in range(n):
                source.put(f"doc{i:06d}", make_doc(i))
        started = time.perf_counter()
        pushed = replicate(source, db, direction="push", batch_size=batch)
        push_seconds = time.perf_counter() - started
        target = engine.store("target")
        started = time.perf_counter()
        pulled = replicate(target, db, direction="pull", batch_size=batch)
        pull_seconds = time.perf_counter() - started
        assert pushed.docs_written == n and pulled.docs_written == n, (pushed, pulled)
        assert len(target) == n
    http("DELETE", db)
    return push_seconds, pull_seconds


def run_pouchdb(server: str, n: int, batch: int) -> tuple[float, float]:
    out = subprocess.run(
        ["node", str(POUCH_SCRIPT), server, str(n), str(batch)],
        capture_output=True,
        check=True,
        timeout=600,
    )
    answer = json.loads(out.stdout.decode().strip().splitlines()[-1])
    assert answer["pushed"] == n and answer["pulled"] == n, answer
    return float(answer["push_seconds"]), float(answer["pull_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="batch size, ours and PouchDB's")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--durable", action="store_true", help="flush our commits (default: no)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        proc, server = start_server(Path(work))
        try:
            ours = [
                run_ours(server, args.n, args.batch, args.durable, f"{r}")
                for r in range(args.repeat)
            ]
            theirs = [run_pouchdb(server, args.n, args.batch) for _ in range(args.repeat)]
        finally:
            proc.terminate()
            proc.wait(10)
    n = args.n
    rows = []
    for i, direction in enumerate(("push", "pull")):
        mine = min(r[i] for r in ours)
        pouch = min(r[i] for r in theirs)
        rows.append((direction, n / mine, n / pouch, pouch / mine))
    print(f"sync: {n} documents of ~1 KB, batch {args.batch}, best of {args.repeat}, "
          f"durable={args.durable}, pouchdb-server 4.2.0 --in-memory")  # fmt: skip
    print("| direction | datastore_engine docs/s | PouchDB 7.3.1 docs/s | ratio |")
    print("|---|---:|---:|---:|")
    for direction, mine, pouch, ratio in rows:
        print(f"| {direction} | {mine:,.0f} | {pouch:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
