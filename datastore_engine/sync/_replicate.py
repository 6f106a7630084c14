"""The replicator: a store and a CouchDB-protocol database, push, pull or both.

One *run* of one direction (CouchDB replication protocol, see ``_protocol``):

1. check the peer database (``GET db``; ``create_target=True`` makes it);
2. the replication id names source, target, filter and doc ids; the two
   checkpoints (``_local/<id>`` on the peer, the ``local`` sub-database here)
   give the sequence to resume from;
3. in batches: the source's changes since then (every leaf, as
   ``style=all_docs``), ``_revs_diff`` on the target, the missing revisions with
   their histories (``_bulk_get``, falling back to ``open_revs``), written with
   ``new_edits=false`` semantics (``_bulk_docs`` / ``Store.put_revision``);
4. after each batch is written, the checkpoint on both sides, so an interrupted
   run resumes after the last written batch and re-sends at most one batch.

Sequences of the peer are opaque JSON (echoed, never compared). Documents
must be JSON objects to leave the store (others count as write failures);
password-protected documents are never pushed. Attachments: see
``_attachments``.

Continuous mode keeps following both feeds until ``stop`` is set: local
changes wake the push side at once (``Store.watch`` machinery), the peer's
``_changes?feed=continuous`` wakes the pull side; each side runs in its own
thread with its own connection.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .. import codec, revtree, watch
from ..codec import FLAG_DELETED, FLAG_PROTECTED
from ..errors import DatastoreError, SyncError, ValidationError
from . import _attachments, _local
from . import _protocol as proto
from ._http import DEFAULT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT, HttpClient

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["DIRECTIONS", "ReplicationResult", "replicate"]

DIRECTIONS: Final = ("push", "pull", "both")
DEFAULT_BATCH_SIZE: Final = 500
MAX_ERRORS_KEPT: Final = 100
_RESERVED: Final = frozenset(
    {
        "_id",
        "_rev",
        "_revisions",
        "_deleted",
        "_conflicts",
        "_deleted_conflicts",
        "_revs_info",
        "_local_seq",
    }
)

Filter = Callable[[dict[str, Any]], bool] | str | None


@dataclass
class _Fetched:
    """One pulled batch, handed from the fetching thread to the writing one."""

    last_seq: Any
    docs: list[dict[str, Any]]
    checked: int
    found: int
    errors: list[tuple[str, str, str]]


@dataclass
class ReplicationResult:
    """What a replication did; for ``direction="both"`` the sums, with ``parts`` per direction.

    ``docs_read``: revisions read from the source to send; ``docs_written``:
    revisions the target accepted; ``missing_checked``/``missing_found``: revisions
    asked about / found missing with ``_revs_diff``; ``last_seq``: the source
    sequence reached (opaque); ``errors``: ``(id, rev, message)`` of failures.
    """

    direction: str
    docs_read: int = 0
    docs_written: int = 0
    doc_write_failures: int = 0
    missing_checked: int = 0
    missing_found: int = 0
    start_seq: Any = None
    last_seq: Any = None
    session_id: str = ""
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    parts: dict[str, ReplicationResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (parts included)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "parts"}
        out["errors"] = [list(e) for e in self.errors]
        out["parts"] = {k: v.to_dict() for k, v in self.parts.items()}
        return out

    def _fail(self, doc_id: str, rev: str, message: str) -> None:
        self.doc_write_failures += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((doc_id, rev, message))

    @classmethod
    def combined(cls, parts: Mapping[str, ReplicationResult]) -> ReplicationResult:
        out = cls(direction="both", parts=dict(parts))
        for part in parts.values():
            for name in (
                "docs_read",
                "docs_written",
                "doc_write_failures",
                "missing_checked",
                "missing_found",
            ):
                setattr(out, name, getattr(out, name) + getattr(part, name))
            out.errors.extend(part.errors)
        out.start_seq = {k: v.start_seq for k, v in parts.items()}
        out.last_seq = {k: v.last_seq for k, v in parts.items()}
        return out


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Side:
    """One direction of one replication: the state its batches share."""

    def __init__(
        self,
        store: Store,
        client: HttpClient,
        *,
        direction: str,
        filter: Filter,
        doc_ids: list[str] | None,
        batch_size: int,
        progress: Callable[[ReplicationResult], None] | None,
    ) -> None:
        self.store = store
        self.client = client
        self.direction = direction
        self.filter = filter
        self.doc_ids = doc_ids
        self.doc_id_set = set(doc_ids) if doc_ids is not None else None
        self.batch_size = batch_size
        self.progress = progress
        self.result = ReplicationResult(direction=direction, session_id=proto.new_session_id())
        self.start_time = _now()
        self.bulk_get = True
        local = "datastore_engine:" + _local.store_uuid(store)
        remote = proto.endpoint_identity(client.url)
        source, target = (local, remote) if direction == "push" else (remote, local)
        filter_name = (
            filter
            if isinstance(filter, str) or filter is None
            else f"py:{getattr(filter, '__module__', '')}.{getattr(filter, '__qualname__', repr(filter))}"
        )
        self.rep_id = proto.replication_id(
            source=source, target=target, filter=filter_name, doc_ids=doc_ids
        )
        self.local_doc = _local.load_checkpoint(store, self.rep_id)
        self.remote_doc = client.json(
            "GET", proto.doc_path(proto.checkpoint_doc_id(self.rep_id)), allow={404}
        )
        source_doc, target_doc = (
            (self.local_doc, self.remote_doc)
            if direction == "push"
            else (self.remote_doc, self.local_doc)
        )
        self.since: Any = proto.resume_seq(source_doc, target_doc)
        if direction == "push" and (
            isinstance(self.since, bool) or not isinstance(self.since, int)
        ):
            self.since = proto.LOWEST_SEQ  # our seqs are ints; anything else is not ours
        self.result.start_seq = self.result.last_seq = self.since

    # -- checkpoints --------------------------------------------------------------------
    def checkpoint(self, seq: Any) -> None:
        r = self.result
        stats = {
            "docs_read": r.docs_read,
            "docs_written": r.docs_written,
            "doc_write_failures": r.doc_write_failures,
            "missing_checked": r.missing_checked,
            "missing_found": r.missing_found,
        }
        common = {
            "rep_id": self.rep_id,
            "session_id": r.session_id,
            "start_seq": r.start_seq,
            "recorded_seq": seq,
            "stats": stats,
            "start_time": self.start_time,
            "end_time": _now(),
        }
        remote = proto.checkpoint_doc(self.remote_doc, **common)
        path = proto.doc_path(remote["_id"])
        answer = self.client.request("PUT", path, body=remote, allow={409})
        if answer.status == 409:  # someone else wrote it: take its _rev, try once more
            current = self.client.json("GET", path, allow={404})
            remote = proto.checkpoint_doc(current, **common)
            answer = self.client.request("PUT", path, body=remote)
        rev = answer.json().get("rev") if answer.ok else None
        self.remote_doc = {**remote, "_rev": rev} if isinstance(rev, str) else remote
        self.local_doc = proto.checkpoint_doc(self.local_doc, **common)
        _local.save_checkpoint(self.store, self.rep_id, self.local_doc)
        self.since = r.last_seq = seq
        if self.progress is not None:
            self.progress(r)

    # -- filters ------------------------------------------------------------------------
    def wanted(self, doc_id: str, doc: dict[str, Any] | None) -> bool:
        if self.doc_id_set is not None and doc_id not in self.doc_id_set:
            return False
        if callable(self.filter):
            return bool(self.filter(doc if doc is not None else {"_id": doc_id}))
        return True

    # -- push: our store -> the peer ----------------------------------------------------------
    def push_batch(self) -> bool:
        """Send one batch of local changes; False when there were none."""
        batch = list(self.store.changes(self.since, limit=self.batch_size))
        if not batch:
            return False
        rids = list(dict.fromkeys(c.rid for c in batch))
        found = revtree.read_leaves(self.store, rids)
        asked: dict[str, list[revtree.Leaf]] = {}
        for rid in rids:
            flags, leaves = found.get(rid, (0, []))
            if not leaves or (flags & FLAG_PROTECTED and not flags & FLAG_DELETED):
                continue  # gone meanwhile, or password-protected: never leaves the engine
            if self.filter is not None or self.doc_id_set is not None:
                winner = leaves[0]
                body = None if winner.deleted else codec.decode(winner.body, key=rid)
                shown = {**body, "_id": rid} if isinstance(body, dict) else {"_id": rid}
                if winner.deleted:
                    shown["_deleted"] = True
                if not self.wanted(rid, shown):
                    continue
            asked[rid] = leaves
        r = self.result
        if asked:
            request = {rid: [leaf.rev for leaf in leaves] for rid, leaves in asked.items()}
            r.missing_checked += sum(len(v) for v in request.values())
            answer = self.client.json("POST", "_revs_diff", body=request)
            if not isinstance(answer, dict):
                raise SyncError(
                    f"peer sent a malformed _revs_diff answer: {answer!r:.120}",
                    reason="bad_response",
                )
            docs = []
            for rid, entry in answer.items():
                missing = entry.get("missing", []) if isinstance(entry, dict) else []
                ancestors = entry.get("possible_ancestors", []) if isinstance(entry, dict) else []
                for leaf in asked.get(rid, []):
                    if leaf.rev not in missing:
                        continue
                    r.missing_found += 1
                    wire = self.to_wire(rid, leaf, ancestors)
                    if wire is not None:
                        docs.append(wire)
            r.docs_read += len(docs)
            if docs:
                self.send(docs)
        self.checkpoint(batch[-1].seq)
        return True

    def to_wire(self, rid: str, leaf: revtree.Leaf, ancestors: list[str]) -> dict[str, Any] | None:
        try:
            body = codec.decode(leaf.body, key=rid)
            if leaf.deleted and body is None:
                body = {}
            if not isinstance(body, dict):
                raise ValidationError(
                    f"document {rid!r} is a {type(body).__name__}, not a JSON object"
                )
            doc = {k: v for k, v in body.items() if k not in _RESERVED}
            if _attachments.FIELD in doc:
                known = {leaf.gen - i for i, rev in enumerate(leaf.history()) if rev in ancestors}
                doc[_attachments.FIELD] = _attachments.to_wire(
                    self.store,
                    doc[_attachments.FIELD],
                    peer_has=lambda pos: any(g >= pos for g in known),
                )
        except DatastoreError as exc:
            self.result._fail(rid, leaf.rev, str(exc))
            return None
        doc["_id"] = rid
        doc["_rev"] = leaf.rev
        doc["_revisions"] = {"start": leaf.gen, "ids": [d.hex() for d in leaf.hist]}
        if leaf.deleted:
            doc["_deleted"] = True
        return doc

    def send(self, docs: list[dict[str, Any]]) -> None:
        answer = self.client.json("POST", "_bulk_docs", body={"docs": docs, "new_edits": False})
        failed = 0
        if isinstance(answer, list):
            for item in answer:
                if isinstance(item, dict) and item.get("error"):
                    failed += 1
                    message = f"{item.get('error')}: {item.get('reason', '')}"
                    self.result._fail(str(item.get("id", "")), str(item.get("rev", "")), message)
        self.result.docs_written += len(docs) - failed

    # -- pull: the peer -> our store ----------------------------------------------------------
    def pull_all(self, make_client: Callable[[], HttpClient]) -> bool:
        """Pull until the peer's feed is empty; False if there was nothing.

        A second thread (with its own connection) fetches batch k+1 (changes,
        our revs_diff, ``_bulk_get``) while this one writes batch k and saves
        its checkpoint, so the peer's work and ours overlap. A revision fetched
        twice (the peer changed meanwhile) is simply known the second time.
        """
        fetched: queue.Queue[_Fetched | BaseException | None] = queue.Queue(maxsize=2)
        done = threading.Event()

        def hand_over(item: _Fetched | BaseException | None) -> None:
            while not done.is_set():
                try:
                    fetched.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            client = make_client()
            since = self.since
            try:
                while not done.is_set():
                    batch = self.fetch_batch(client, since)
                    hand_over(batch)
                    if batch is None:
                        return
                    since = batch.last_seq
            except BaseException as exc:  # handed to the writing thread, raised there
                hand_over(exc)
            finally:
                client.close()

        thread = threading.Thread(target=produce, name="sync-pull-fetch", daemon=True)
        thread.start()
        any_rows = False
        r = self.result
        try:
            while True:
                item = fetched.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    return any_rows
                any_rows = True
                r.missing_checked += item.checked
                r.missing_found += item.found
                r.docs_read += len(item.docs)
                self.note_errors(item.errors)
                if item.docs:
                    self.write(item.docs)
                self.checkpoint(item.last_seq)
        finally:
            done.set()
            thread.join()

    def fetch_batch(self, client: HttpClient, since: Any) -> _Fetched | None:
        """One batch of the peer's changes after ``since`` and the revisions we lack; None at the end."""
        params: dict[str, Any] = {"style": "all_docs", "since": since, "limit": self.batch_size}
        if isinstance(self.filter, str):
            params["filter"] = self.filter
        if self.doc_ids is not None:
            params["filter"] = "_doc_ids"
            answer = client.json("POST", "_changes", params=params, body={"doc_ids": self.doc_ids})
        else:
            answer = client.json("GET", "_changes", params=params)
        rows, last_seq = proto.parse_changes(answer)
        if not rows:
            return None
        request = proto.revs_diff_request(rows)
        missing = {rid: e["missing"] for rid, e in self.store.revs_diff(request).items()}
        errors: list[tuple[str, str, str]] = []
        docs = self.fetch(client, missing, errors) if missing else []
        return _Fetched(
            last_seq=last_seq if last_seq is not None else rows[-1].seq,
            docs=docs,
            checked=sum(len(v) for v in request.values()),
            found=sum(len(v) for v in missing.values()),
            errors=errors,
        )

    def fetch(
        self, client: HttpClient, missing: dict[str, list[str]], errors: list[tuple[str, str, str]]
    ) -> list[dict[str, Any]]:
        leaves = revtree.read_leaves(
            self.store, [rid for rid in missing if revtree._valid_rid(rid)]
        )
        if self.bulk_get:
            body = {
                "docs": [
                    {
                        "id": rid,
                        "rev": rev,
                        **(
                            {"atts_since": [lf.rev for lf in leaves[rid][1]]}
                            if rid in leaves
                            else {}
                        ),
                    }
                    for rid, revs in missing.items()
                    for rev in revs
                ]
            }
            answer = client.request(
                "POST",
                "_bulk_get",
                params={"revs": True, "attachments": True},
                body=body,
                allow={400, 404, 405},
            )
            if answer.ok:
                got = proto.parse_bulk_get(answer.json())
                errors.extend(got.errors)
                return got.docs
            self.bulk_get = False  # an older peer: fall back to open_revs, for the rest of the run
        docs: list[dict[str, Any]] = []
        for rid, revs in missing.items():
            params = {"open_revs": revs, "revs": True, "latest": True, "attachments": True}
            got = proto.parse_open_revs(
                client.json("GET", proto.doc_path(rid), params=params), doc_id=rid
            )
            errors.extend(got.errors)
            docs.extend(got.docs)
        return docs

    def note_errors(self, errors: Iterable[tuple[str, str, str]]) -> None:
        for doc_id, rev, error in errors:
            self.result._fail(doc_id, rev, f"the peer could not give it: {error}")

    def write(self, docs: list[dict[str, Any]]) -> None:
        items: list[revtree.Incoming] = []
        for doc in docs:
            rid, rev = doc.get("_id"), doc.get("_rev")
            try:
                if not isinstance(rid, str) or not isinstance(rev, str):
                    raise ValidationError(f"peer document without _id/_rev: {str(doc)[:80]}")
                history = (
                    proto.revisions_to_revs(doc["_revisions"]) if "_revisions" in doc else [rev]
                )
                if history[0] != rev:
                    raise ValidationError(f"_revisions of {rid!r} do not start at its _rev {rev!r}")
                deleted = bool(doc.get("_deleted"))
                body = {k: v for k, v in doc.items() if k not in _RESERVED}
                if _attachments.FIELD in body:
                    body[_attachments.FIELD] = _attachments.from_wire(
                        self.store,
                        body[_attachments.FIELD],
                        fetch=functools.partial(self.fetch_attachment, rid, rev),
                        where=f"document {rid!r} revision {rev!r}",
                    )
                items.append(revtree.incoming(rid, body, history, deleted=deleted))
            except DatastoreError as exc:
                self.result._fail(str(rid), str(rev), str(exc))
        if not items:
            return
        results = revtree.put_revisions(self.store, items)
        for item, error in zip(items, results, strict=True):
            if error is None:
                self.result.docs_written += 1
            else:
                self.result._fail(item.rid, item.leaf.rev, str(error))

    def fetch_attachment(self, rid: str, rev: str, name: str) -> bytes:
        path = f"{proto.doc_path(rid)}/{proto.doc_path(name)}"
        return self.client.request("GET", path, params={"rev": rev}, headers={"Accept": "*/*"}).body

    # -- waiting (continuous mode) -----------------------------------------------------------
    def wait(self, stop: threading.Event, *, seconds: float) -> None:
        """Block until the source may have a change, ``stop`` is set, or ``seconds`` pass."""
        if self.direction == "push":
            deadline = time.monotonic() + seconds
            while not stop.is_set() and time.monotonic() < deadline:
                if watch.wait_for_change(self.store, int(self.since), timeout=min(0.25, seconds)):
                    return
            return
        heartbeat = max(0.1, min(self.client.timeout / 2, 5.0))
        params = {
            "feed": "continuous",
            "since": self.since,
            "heartbeat": int(heartbeat * 1000),
            "limit": 1,
        }
        lines = self.client.stream_lines(
            "_changes", params=params, read_timeout=heartbeat * 2 + 1, max_seconds=min(0.5, seconds)
        )
        try:
            for _line in lines:
                return  # a row (or the end line): go and read the batch
        finally:
            lines.close()  # type: ignore[attr-defined]


def _run(
    side: _Side, *, continuous: bool, stop: threading.Event, make_client: Callable[[], HttpClient]
) -> None:
    def batch() -> bool:
        return side.push_batch() if side.direction == "push" else side.pull_all(make_client)

    while not stop.is_set():
        if batch():
            continue
        if not continuous:
            return
        side.wait(stop, seconds=1.0)


def _open_peer(client: HttpClient, *, create: bool) -> None:
    info = client.request("GET", "", allow={404})
    if info.status == 404:
        if not create:
            raise SyncError(
                f"database {client.url} does not exist; create it or pass create_target=True",
                status=404,
                reason="not_found",
            )
        client.request("PUT", "", allow={412})
    elif not isinstance(info.json(), dict) or "db_name" not in info.json():
        raise SyncError(
            f"{client.url} does not look like a CouchDB database: {info.body[:80]!r}",
            reason="bad_response",
        )


def replicate(
    store: Store,
    url: str,
    *,
    direction: str = "both",
    continuous: bool = False,
    filter: Filter = None,
    doc_ids: Iterable[str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    create_target: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    progress: Callable[[ReplicationResult], None] | None = None,
    stop: threading.Event | None = None,
) -> ReplicationResult:
    """Replicate ``store`` with the CouchDB/PouchDB database at ``url``.

    ``direction``: ``"push"`` (store -> peer), ``"pull"`` (peer -> store) or
    ``"both"`` (push, then pull). ``filter``: a callable ``doc -> bool`` (the doc
    as CouchDB shows it: ``_id``, ``_deleted``, fields), applied on our side, or
    for pull the name of a server filter (``"ddoc/name"``); ``doc_ids`` limits
    both ways to those ids. ``headers``/``auth`` go with every request (auth
    may also be ``user:pass@`` in the URL). ``timeout`` bounds every socket wait
    (feeds included), ``total_timeout`` every call with its retries: 401, 403,
    409 and 412 are not retried, connection errors, timeouts, 429 and 5xx back
    off until then. ``progress(result)`` is called after each batch.
    ``continuous=True`` keeps following changes until ``stop`` is set.

    Raises :class:`SyncError` (``status``, ``reason``) when the peer or the URL
    fails; a single refused document is counted in ``doc_write_failures``.

    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:  # doctest: +SKIP
    ...     replicate(engine.store("notes"), "http://127.0.0.1:5984/notes").docs_written
    0
    """
    if direction not in DIRECTIONS:
        raise ValidationError(
            f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(filter, str) and direction != "pull":
        raise ValidationError(
            f"filter {filter!r} names a server filter, which only pulls can use; give a callable to push"
        )
    if filter is not None and not isinstance(filter, str) and not callable(filter):
        raise ValidationError(
            f"filter must be a callable, a server filter name or None, got {filter!r}"
        )
    ids = None if doc_ids is None else sorted({str(d) for d in doc_ids})
    if continuous and stop is None:
        raise ValidationError("continuous=True needs stop= (a threading.Event) to end it")
    stop_event = stop if stop is not None else threading.Event()

    def client() -> HttpClient:
        try:
            return HttpClient(
                url, auth=auth, headers=headers, timeout=timeout, total_timeout=total_timeout
            )
        except ValidationError as exc:
            raise SyncError(f"bad peer URL: {exc}", reason="bad_url") from exc

    directions = ("push", "pull") if direction == "both" else (direction,)
    sides: dict[str, _Side] = {}
    clients = [client() for _ in directions]
    try:
        _open_peer(clients[0], create=create_target)
        for name, c in zip(directions, clients, strict=True):
            sides[name] = _Side(
                store,
                c,
                direction=name,
                filter=filter,
                doc_ids=ids,
                batch_size=batch_size,
                progress=progress,
            )
        if not continuous or len(sides) == 1:
            for side in sides.values():
                _run(side, continuous=continuous, stop=stop_event, make_client=client)
        else:
            _run_threads(list(sides.values()), stop_event, client)
    finally:
        for c in clients:
            c.close()
    if len(sides) == 1:
        return next(iter(sides.values())).result
    return ReplicationResult.combined({k: v.result for k, v in sides.items()})


def _run_threads(
    sides: list[_Side], stop: threading.Event, make_client: Callable[[], HttpClient]
) -> None:
    """Continuous push and pull at once; the first error stops both and is raised."""
    errors: list[BaseException] = []

    def work(side: _Side) -> None:
        try:
            _run(side, continuous=True, stop=stop, make_client=make_client)
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=work, args=(s,), name=f"sync-{s.direction}", daemon=True)
        for s in sides
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
