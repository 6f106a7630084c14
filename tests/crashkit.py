"""Kill -9 harness: a writer process acknowledges operations, the parent kills it and checks.

The writer (``python tests/crashkit.py writer PATH SEED LOG``) opens the engine,
then loops over random mixed operations: put, add, merge, set_path, delete,
password puts, multi-store transactions, blob puts that span several
transactions (``blobs.CHUNKS_PER_TXN`` is lowered to 1 in the writer) and blob
deletes. The writer also shortens the feed tail and sweeps stale feed entries in
steps of three as soon as there are four, so kills land inside sweep passes. Before each one it appends ``B <n> <op json>`` to LOG, after it
returns ``A <n> ok`` (or ``A <n> refused`` for a NotFound or DuplicateKey); each line is one
``write()``, so a SIGKILL leaves whole lines plus at most one torn one.

The parent (:func:`run_round`) kills the writer at a random moment (most
rounds shortly after it is ready, some while it is still opening), then:

* replays every acknowledged operation on a pure model, which must predict
  the same ok/refused outcome;
* reopens the file and requires its content to equal the model, or the model
  plus the one operation that had begun but was not acknowledged (at most one
  unacknowledged commit may land, and only whole);
* requires each store's change feed to list documents in the order of their
  last acknowledged write (ordering), with the right deleted flags;
* runs ``engine.check()`` (counters, sizes, feed, passwords, indexes, blobs)
  and, with the file closed, py-lmdb's offline verifier.

Kill tests prove atomicity and acknowledgement order, not fsync: the page cache
survives a process kill (see docs/reliability.md).

Entry points: ``tests/test_crash.py`` (CI, 50 kills) and ``python -m tests.stress``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
if str(HERE.parent.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent.parent))

import datastore_engine as dse  # noqa: E402
from datastore_engine.merge import deep_merge  # noqa: E402
from datastore_engine.paths import set_in  # noqa: E402

STORES = (("s0", "local"), ("s1", "local"), ("s2", "organization"))
PLAIN_STORE = "s1"  # no index: its adds take the single-insert lane
GENERAL_STORE = "s2"  # a unique index: its adds take the general write path
APP, ORG = "crash-app", "crash-org"
BUCKET = "media"
PASSWORD = "pw-secret"
RIDS = [f"d{i}" for i in range(16)]
SECRET_RIDS = ["secret0", "secret1"]
BLOB_NAMES = ["b/one", "b/two", "b/three"]
MAX_BLOB = 5 << 19  # 2.5 MiB: three 1 MiB chunks, three transactions with CHUNKS_PER_TXN = 1


class Refused(Exception):
    """The model says the operation raises NotFound or DuplicateKey (and so changes nothing)."""


# --- operations ----------------------------------------------------------------------


def _doc(rng: random.Random) -> dict[str, Any]:
    pad = rng.choice([0, 10, 300, 3000, 20000]) if rng.random() < 0.97 else 150_000
    return {
        "n": rng.randrange(1000),
        "pad": "x" * pad,
        "tags": [rng.randrange(5) for _ in range(rng.randrange(4))],
    }


def _doc_op(rng: random.Random) -> dict[str, Any]:
    s, r = rng.randrange(len(STORES)), rng.choice(RIDS)
    kind = rng.choices(["put", "merge", "set_path", "delete", "add"], weights=[40, 25, 15, 20, 15])[0]
    if kind in ("put", "add"):  # add: refused (DuplicateKey) when the document exists
        return {"k": kind, "s": s, "r": r, "doc": _doc(rng)}
    if kind == "merge":
        return {
            "k": "merge",
            "s": s,
            "r": r,
            "patch": {"n": rng.randrange(1000), "m": {f"k{rng.randrange(4)}": rng.randrange(9)}},
        }
    if kind == "set_path":
        return {
            "k": "set_path",
            "s": s,
            "r": r,
            "path": f"a.b{rng.randrange(3)}",
            "v": rng.randrange(100),
        }
    return {"k": "delete", "s": s, "r": r}


def gen_op(rng: random.Random) -> dict[str, Any]:
    """One random operation, as JSON-able data both processes understand."""
    roll = rng.random()
    if roll < 0.60:
        return _doc_op(rng)
    if roll < 0.76:
        return {"k": "txn", "ops": [_doc_op(rng) for _ in range(rng.randrange(2, 6))]}
    if roll < 0.80:  # ids may repeat within one call
        items = [[rng.choice(RIDS), _doc(rng)] for _ in range(rng.randrange(1, 30))]
        return {"k": "put_many", "s": rng.randrange(len(STORES)), "items": items}
    if roll < 0.90:
        return {
            "k": "blob",
            "name": rng.choice(BLOB_NAMES),
            "seed": rng.randrange(1 << 30),
            "size": rng.randrange(MAX_BLOB),
        }
    if roll < 0.93:
        return {"k": "blob_del", "name": rng.choice(BLOB_NAMES)}
    if roll < 0.97:
        return {
            "k": "put_pw",
            "s": 1,
            "r": rng.choice(SECRET_RIDS),
            "doc": {"secret": rng.randrange(1000)},
        }
    return {"k": "delete_pw", "s": 1, "r": rng.choice(SECRET_RIDS)}


def blob_content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def run_op(engine: dse.Engine, op: dict[str, Any]) -> None:
    """Perform ``op`` on the engine (in the writer)."""
    kind = op["k"]
    if kind == "txn":
        with engine.transaction():
            for sub in op["ops"]:
                run_op(engine, sub)
        return
    if kind in ("blob", "blob_del"):
        bucket = engine.bucket(BUCKET)
        if kind == "blob":
            bucket.put(op["name"], blob_content(op["seed"], op["size"]))
        else:
            bucket.delete(op["name"])
        return
    name, domain = STORES[op["s"]]
    store = engine.store(name, domain=domain)
    if kind == "put_many":
        store.put_many([(rid, doc) for rid, doc in op["items"]])
        return
    rid = op["r"]
    if kind == "put":
        store.put(rid, op["doc"])
    elif kind == "merge":
        store.merge(rid, op["patch"])
    elif kind == "set_path":
        store.set_path(rid, op["path"], op["v"])
    elif kind == "delete":
        store.delete(rid)
    elif kind == "add":
        store.add(op["doc"], rid=rid)
    elif kind == "put_pw":
        store.put(rid, op["doc"], password=PASSWORD)
    elif kind == "delete_pw":
        store.delete(rid, password=PASSWORD)
    else:  # pragma: no cover
        raise ValueError(kind)


# --- the model --------------------------------------------------------------------------


@dataclass
class Model:
    docs: list[dict[str, Any]] = field(default_factory=lambda: [{} for _ in STORES])
    stamps: list[dict[str, int]] = field(
        default_factory=lambda: [{} for _ in STORES]
    )  # rid -> last write
    blobs: dict[str, str] = field(default_factory=dict)  # name -> sha256
    clock: int = 0

    def copy(self) -> Model:
        return copy.deepcopy(self)


def apply(model: Model, op: dict[str, Any]) -> Model:
    """The model after ``op``; :class:`Refused` if the engine must refuse it (nothing changes)."""
    new = model.copy()
    _apply(new, op)
    return new


def _apply(m: Model, op: dict[str, Any]) -> None:
    kind = op["k"]
    if kind == "txn":
        for sub in op["ops"]:
            _apply(m, sub)
        return
    if kind == "blob":
        m.blobs[op["name"]] = hashlib.sha256(blob_content(op["seed"], op["size"])).hexdigest()
        return
    if kind == "blob_del":
        if op["name"] not in m.blobs:
            raise Refused(op["name"])
        del m.blobs[op["name"]]
        return
    if kind == "put_many":
        for rid, doc in op["items"]:
            _apply(m, {"k": "put", "s": op["s"], "r": rid, "doc": doc})
        return
    docs, rid = m.docs[op["s"]], op["r"]
    if kind in ("put", "put_pw"):
        docs[rid] = op["doc"]
    elif kind == "add":
        if rid in docs:
            raise Refused(rid)
        docs[rid] = op["doc"]
    elif kind == "merge":
        docs[rid] = op["patch"] if rid not in docs else deep_merge(docs[rid], op["patch"])
    elif kind == "set_path":
        docs[rid] = set_in(docs.get(rid, {}), op["path"], op["v"])
    elif kind in ("delete", "delete_pw"):
        if rid not in docs:
            raise Refused(rid)
        del docs[rid]
    m.clock += 1
    m.stamps[op["s"]][rid] = m.clock


# --- the writer ------------------------------------------------------------------------


def writer(path: str, seed: int, log: str) -> None:
    from datastore_engine import blobs
    from datastore_engine import engine as _engine

    blobs.CHUNKS_PER_TXN = 1  # make every blob over 1 MiB span several transactions
    # Feed entries reach the feed tree after one or two writes, and stale ones are swept
    # three a commit once they pass four and the store's documents: kills land mid-pass.
    _engine.TAIL_BYTES, _engine.STALE_SWEEP, _engine.SWEEP_STEP = 64, 4, 3
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def emit(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    engine = dse.open(path, app=APP, org=ORG)
    rng = random.Random(seed)
    emit("R")
    n = 0
    while True:
        op = gen_op(rng)
        emit(f"B {n} {json.dumps(op, separators=(',', ':'))}")
        try:
            run_op(engine, op)
        except (dse.NotFound, dse.DuplicateKey):
            emit(f"A {n} refused")
        else:
            emit(f"A {n} ok")
        n += 1


# --- the parent ------------------------------------------------------------------------


def setup(path: str) -> None:
    """Create the stores before the first round: s0 and s2 with an index on ``n``, s1 plain,
    and s2 also with a unique index on ``uid``, a field no document has.

    ``add`` into s1 takes the single-insert lane (``Store._insert_alone``), into s0
    the lane with its index entries, into s2 the general write path (a unique index
    is checked there before anything is written): the kills reach all three.
    """
    with dse.open(path, app=APP, org=ORG) as engine:
        for name, domain in STORES:
            store = engine.store(name, domain=domain)
            if name != PLAIN_STORE and not store.indexes():
                store.create_index("n")
                if name == GENERAL_STORE:
                    store.create_index("uid", unique=True)
        engine.bucket(BUCKET)


@dataclass
class RoundResult:
    acked: int = 0
    pending: str = ""  # "" none begun; "landed" / "lost" / "refused"
    problems: list[str] = field(default_factory=list)


def parse_log(text: str) -> tuple[list[tuple[dict[str, Any], str]], dict[str, Any] | None]:
    """Acknowledged (op, outcome) pairs in order, and the op begun but not acknowledged."""
    begun: dict[int, dict[str, Any]] = {}
    acked: list[tuple[dict[str, Any], str]] = []
    for line in text.split("\n")[:-1]:  # the last piece is "" or a torn line
        if line.startswith("B "):
            _, n, body = line.split(" ", 2)
            begun[int(n)] = json.loads(body)
        elif line.startswith("A "):
            _, n, outcome = line.split(" ")
            acked.append((begun.pop(int(n)), outcome))
    assert len(begun) <= 1, f"more than one operation in flight: {sorted(begun)}"
    return acked, next(iter(begun.values()), None)


def read_actual(engine: dse.Engine) -> tuple[Model, list[list[tuple[str, bool]]]]:
    """The file's content as a model (stamps left empty) and each store's feed (rid, deleted) by seq."""
    actual = Model()
    feeds = []
    for i, (name, domain) in enumerate(STORES):
        store = engine.store(name, domain=domain)
        docs = dict(store.items())
        for rid in store:
            if rid not in docs:  # password-protected: left out of items()
                docs[rid] = store.get(rid, password=PASSWORD)
        actual.docs[i] = docs
        if len(store) != len(docs):
            raise AssertionError(f"len({name}) = {len(store)} but it holds {len(docs)} documents")
        feeds.append([(c.rid, c.deleted) for c in store.changes()])
    bucket = engine.bucket(BUCKET)
    for info in bucket.list():
        actual.blobs[info.name] = hashlib.sha256(bucket.get_bytes(info.name)).hexdigest()
    return actual, feeds


def _diff(want: Model, got: Model) -> str:
    out = []
    for i, (name, _d) in enumerate(STORES):
        for rid in sorted(set(want.docs[i]) | set(got.docs[i])):
            a, b = want.docs[i].get(rid), got.docs[i].get(rid)
            if a != b:
                out.append(f"{name}/{rid}: model {str(a)[:80]} file {str(b)[:80]}")
    for name in sorted(set(want.blobs) | set(got.blobs)):
        if want.blobs.get(name) != got.blobs.get(name):
            out.append(f"blob {name}: model {want.blobs.get(name)} file {got.blobs.get(name)}")
    return "; ".join(out[:6])


def _feed_problems(model: Model, feeds: list[list[tuple[str, bool]]]) -> list[str]:
    problems = []
    for i, (name, _d) in enumerate(STORES):
        stamps = model.stamps[i]
        want = [(rid, rid not in model.docs[i]) for rid in sorted(stamps, key=stamps.__getitem__)]
        if feeds[i] != want:
            problems.append(
                f"feed of {name} is {feeds[i][:8]}..., the acknowledged order gives {want[:8]}..."
            )
    return problems


def run_round(
    path: str, model: Model, rng: random.Random, workdir: str, number: int
) -> tuple[Model, RoundResult]:
    """One writer run, one SIGKILL, one verification. Returns the model as the file now is."""
    # lmdb.verify minus one known false positive
    from datastore_engine.engine import verify_problems

    log = os.path.join(workdir, f"round-{number}.log")
    seed = rng.randrange(1 << 31)
    proc = subprocess.Popen(
        [sys.executable, str(HERE), "writer", path, str(seed), log],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if rng.random() < 0.1:  # sometimes while it is still opening (recovery of the last kill)
            time.sleep(rng.uniform(0.0, 0.4))
        else:
            deadline = time.monotonic() + 60
            while not (os.path.exists(log) and Path(log).read_bytes().startswith(b"R\n")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"writer did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                    )
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
    result = RoundResult()
    if proc.returncode != -signal.SIGKILL:
        result.problems.append(
            f"writer exited with {proc.returncode} before the kill: {err.decode()[-2000:]}"
        )
        return model, result
    text = Path(log).read_text() if os.path.exists(log) else ""
    acked, pending = parse_log(text)
    for op, outcome in acked:
        try:
            model = apply(model, op)
            predicted = "ok"
        except Refused:
            predicted = "refused"
        if predicted != outcome:
            result.problems.append(f"writer saw {outcome}, the model predicts {predicted} for {op}")
        result.acked += 1
    candidates = [("lost", model)]
    if pending is not None:
        try:
            candidates.append(("landed", apply(model, pending)))
        except Refused:
            candidates = [("refused", model)]
    with dse.open(path, app=APP, org=ORG) as engine:
        actual, feeds = read_actual(engine)
        for label, candidate in candidates:
            if actual.docs == candidate.docs and actual.blobs == candidate.blobs:
                model, result.pending = candidate, label if pending is not None else ""
                break
        else:
            result.problems.append(
                f"the file matches neither the acknowledged state nor it plus the pending op "
                f"{json.dumps(pending)[:200]}: {_diff(candidates[-1][1], actual)}"
            )
            return model, result
        result.problems.extend(_feed_problems(model, feeds))
        result.problems.extend(f"check: {p}" for p in engine.check())
    result.problems.extend(f"lmdb.verify: {p}" for p in verify_problems(path))
    return model, result


def run_kills(
    path: str, *, kills: int, seed: int, workdir: str, report: Any = None
) -> dict[str, int]:
    """``kills`` rounds on one file; raise AssertionError (with the seed) on the first problem."""
    rng = random.Random(seed)
    setup(path)
    model = Model()
    totals = {"kills": 0, "acked": 0, "landed": 0, "lost": 0, "refused": 0}
    for number in range(kills):
        model, result = run_round(path, model, rng, workdir, number)
        if result.problems:
            raise AssertionError(f"seed {seed}, round {number}: " + "\n".join(result.problems[:10]))
        totals["kills"] += 1
        totals["acked"] += result.acked
        if result.pending:
            totals[result.pending] += 1
        if report is not None:
            report(number, result)
    return totals


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "writer":
        writer(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("usage: crashkit.py writer PATH SEED LOG  (see tests/stress.py for the harness)")
