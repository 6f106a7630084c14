"""Pure helpers of the CouchDB replication protocol: no I/O, plain dicts in and out.

Revision ids are ``N-hash`` (``N`` >= 1, the edit depth). ``_revisions`` is the
compact history ``{"start": N, "ids": [newest hash, ..., oldest]}``. A
replication keeps its progress in a checkpoint document ``_local/<replication
id>`` on both peers; ``_revs_diff`` says which revisions a target lacks, and
``_bulk_get`` (or ``GET doc?open_revs=[...]``) fetches them with ``revs=true``.

Malformed values given by a caller raise ``ValidationError``; malformed peer
answers (``parse_*``) raise ``SyncError(reason="bad_response")``.

Example:
    >>> parse_rev("3-abc")
    (3, 'abc')
    >>> revisions_to_revs({"start": 3, "ids": ["c", "b", "a"]})
    ['3-c', '2-b', '1-a']
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from ..errors import SyncError, ValidationError

__all__ = [
    "CHECKPOINT_HISTORY_LIMIT",
    "LOWEST_SEQ",
    "REPLICATION_ID_VERSION",
    "BulkGetResult",
    "Change",
    "attachment_digest",
    "bulk_get_request",
    "checkpoint_doc",
    "checkpoint_doc_id",
    "decode_attachment",
    "doc_path",
    "encode_attachment",
    "endpoint_identity",
    "format_rev",
    "new_session_id",
    "parse_bulk_get",
    "parse_change",
    "parse_changes",
    "parse_open_revs",
    "parse_rev",
    "parse_revs_diff",
    "replication_id",
    "resume_seq",
    "revisions_to_revs",
    "revs_diff_request",
    "revs_to_revisions",
]

LOWEST_SEQ: Final = 0
"""The ``since`` of a replication that starts from scratch."""

REPLICATION_ID_VERSION: Final = 1
"""Bump when the replication id recipe changes: old checkpoints are then ignored."""

CHECKPOINT_HISTORY_LIMIT: Final = 50
"""Sessions kept in a checkpoint's ``history`` (CouchDB keeps 50 too)."""

_SPECIAL_PREFIXES: Final = ("_design/", "_local/")


# -- revision ids ---------------------------------------------------------------------


def parse_rev(rev: str) -> tuple[int, str]:
    """Split ``"N-hash"`` into ``(N, "hash")``; ``N`` must be >= 1.

    ``_local`` documents have opaque revs (``"0-1"``) and are not parsed.

    >>> parse_rev("12-0f3a")
    (12, '0f3a')
    >>> parse_rev("x-1")
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: revision 'x-1' is not of the form N-hash with N >= 1
    """
    if isinstance(rev, str):
        pos, sep, digest = rev.partition("-")
        if sep and digest and pos.isascii() and pos.isdigit() and int(pos) >= 1:
            return int(pos), digest
    raise ValidationError(f"revision {rev!r} is not of the form N-hash with N >= 1")


def format_rev(pos: int, digest: str) -> str:
    """Join ``(N, "hash")`` into ``"N-hash"``.

    >>> format_rev(2, "ab")
    '2-ab'
    """
    if isinstance(pos, bool) or not isinstance(pos, int) or pos < 1:
        raise ValidationError(f"revision position {pos!r} must be an int >= 1")
    if not isinstance(digest, str) or not digest:
        raise ValidationError(f"revision hash {digest!r} must be a non-empty str")
    return f"{pos}-{digest}"


def revisions_to_revs(revisions: Mapping[str, Any]) -> list[str]:
    """``{"start": N, "ids": [...]}`` to rev ids, newest first.

    >>> revisions_to_revs({"start": 5, "ids": ["e", "d"]})
    ['5-e', '4-d']
    """
    start = revisions.get("start") if isinstance(revisions, Mapping) else None
    ids = revisions.get("ids") if isinstance(revisions, Mapping) else None
    if (
        isinstance(start, bool)
        or not isinstance(start, int)
        or not isinstance(ids, list)
        or not ids
        or start < len(ids)
        or not all(isinstance(i, str) and i for i in ids)
    ):
        raise ValidationError(
            f"_revisions {revisions!r} must be {{'start': N, 'ids': [hash, ...]}} "
            "with 1 <= len(ids) <= N"
        )
    return [f"{start - offset}-{digest}" for offset, digest in enumerate(ids)]


def revs_to_revisions(revs: Sequence[str]) -> dict[str, Any]:
    """Rev ids, newest first and consecutive, to ``{"start": N, "ids": [...]}``.

    >>> revs_to_revisions(["3-c", "2-b", "1-a"])
    {'start': 3, 'ids': ['c', 'b', 'a']}
    >>> revs_to_revisions(["3-c", "1-a"])
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: revision '1-a' follows '3-c'; a history must step down by 1
    """
    if not revs:
        raise ValidationError("a revision history needs at least one revision")
    parsed = [parse_rev(rev) for rev in revs]
    for (prev_pos, _), (pos, _), prev, rev in zip(parsed, parsed[1:], revs, revs[1:], strict=False):
        if pos != prev_pos - 1:
            raise ValidationError(
                f"revision {rev!r} follows {prev!r}; a history must step down by 1"
            )
    return {"start": parsed[0][0], "ids": [digest for _, digest in parsed]}


# -- documents and attachments ---------------------------------------------------------


def doc_path(doc_id: str) -> str:
    """URL path segment for a document id (``_design/`` and ``_local/`` keep their slash).

    >>> doc_path("a/b c"), doc_path("_local/rep 1")
    ('a%2Fb%20c', '_local/rep%201')
    """
    if not isinstance(doc_id, str) or not doc_id:
        raise ValidationError(f"document id {doc_id!r} must be a non-empty str")
    for prefix in _SPECIAL_PREFIXES:
        if doc_id.startswith(prefix) and len(doc_id) > len(prefix):
            return prefix + quote(doc_id[len(prefix) :], safe="")
    return quote(doc_id, safe="")


def encode_attachment(
    data: bytes, *, content_type: str = "application/octet-stream"
) -> dict[str, str]:
    """An inline attachment for ``_bulk_docs``: content type and base64 data.

    >>> encode_attachment(b"hello", content_type="text/plain")
    {'content_type': 'text/plain', 'data': 'aGVsbG8='}
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"attachment data must be bytes, not {type(data).__name__}")
    return {"content_type": content_type, "data": base64.b64encode(data).decode("ascii")}


def decode_attachment(attachment: Mapping[str, Any]) -> bytes:
    """The bytes of an inline attachment (``attachments=true``); stubs have none.

    >>> decode_attachment({"content_type": "text/plain", "data": "aGVsbG8="})
    b'hello'
    """
    data = attachment.get("data") if isinstance(attachment, Mapping) else None
    if not isinstance(data, str):
        stub = isinstance(attachment, Mapping) and attachment.get("stub")
        hint = "; fetch with attachments=true" if stub else ""
        raise ValidationError(f"attachment {attachment!r} has no inline data{hint}")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"attachment data is not base64: {data[:40]!r}") from exc


def attachment_digest(data: bytes) -> str:
    """The digest peers put in attachment stubs: ``"md5-"`` + base64 of the MD5.

    >>> attachment_digest(b"hello")
    'md5-XUFAKrxLKna5cZ2REBfFkg=='
    """
    md5 = hashlib.md5(bytes(data), usedforsecurity=False).digest()
    return "md5-" + base64.b64encode(md5).decode("ascii")


# -- replication id and checkpoints ----------------------------------------------------


def endpoint_identity(url: str) -> str:
    """A stable name for a peer database URL: lower-case scheme and host, explicit port,
    user name kept (two users may see different documents), password dropped.

    >>> endpoint_identity("HTTP://bob:secret@Example.COM/db/")
    'http://bob@example.com:80/db'
    """
    # Imported here: _http is the only module of the two that does I/O.
    from ._http import parse_url

    return parse_url(url).url


def replication_id(
    *,
    source: str,
    target: str,
    filter: str | None = None,
    query_params: Mapping[str, Any] | None = None,
    doc_ids: Iterable[str] | None = None,
) -> str:
    """A deterministic id for one replication: 32 hex chars.

    ``source`` and ``target`` name the two ends; use :func:`endpoint_identity`
    for a URL, and a per-database uuid (not a path) for a local store, so two
    local databases syncing with one server never share a checkpoint.

    >>> rid = replication_id(source="local:3f2a", target="http://u@h:5984/db")
    >>> len(rid), rid == replication_id(source="local:3f2a", target="http://u@h:5984/db")
    (32, True)
    >>> rid == replication_id(source="http://u@h:5984/db", target="local:3f2a")
    False
    """
    for name, value in (("source", source), ("target", target)):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"replication {name} {value!r} must be a non-empty str")
    recipe = [
        REPLICATION_ID_VERSION,
        source,
        target,
        filter,
        dict(sorted((query_params or {}).items())),
        sorted(set(doc_ids)) if doc_ids is not None else None,
    ]
    try:
        text = json.dumps(recipe, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"query_params are not JSON: {exc}") from exc
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def checkpoint_doc_id(rep_id: str) -> str:
    """The checkpoint document id for a replication id.

    >>> checkpoint_doc_id("0123abcd")
    '_local/0123abcd'
    """
    return "_local/" + rep_id


def new_session_id() -> str:
    """A fresh session id: one per replication run, recorded in the checkpoint."""
    return uuid.uuid4().hex


def checkpoint_doc(
    previous: Mapping[str, Any] | None,
    *,
    rep_id: str,
    session_id: str,
    start_seq: Any,
    recorded_seq: Any,
    stats: Mapping[str, int] | None = None,
    start_time: str = "",
    end_time: str = "",
) -> dict[str, Any]:
    """The checkpoint to PUT on both peers after a batch is safely written.

    Keeps ``previous``'s ``_rev`` (needed to update a ``_local`` doc) and
    prepends this session to its ``history``, one entry per session, at most
    ``CHECKPOINT_HISTORY_LIMIT`` entries. Sequences are opaque JSON values.

    >>> doc = checkpoint_doc(None, rep_id="r1", session_id="s1", start_seq=0, recorded_seq=7)
    >>> doc["_id"], doc["source_last_seq"], doc["history"][0]["recorded_seq"]
    ('_local/r1', 7, 7)
    >>> again = checkpoint_doc({**doc, "_rev": "0-1"}, rep_id="r1", session_id="s1",
    ...                        start_seq=0, recorded_seq=9)
    >>> again["_rev"], [h["recorded_seq"] for h in again["history"]]
    ('0-1', [9])
    """
    entry: dict[str, Any] = {
        "session_id": session_id,
        "start_time": start_time,
        "end_time": end_time,
        "start_last_seq": start_seq,
        "end_last_seq": recorded_seq,
        "recorded_seq": recorded_seq,
        **(stats or {}),
    }
    old_history = previous.get("history", []) if previous else []
    if not isinstance(old_history, list):
        old_history = []
    kept = [h for h in old_history if isinstance(h, dict) and h.get("session_id") != session_id]
    doc: dict[str, Any] = {
        "_id": checkpoint_doc_id(rep_id),
        "session_id": session_id,
        "source_last_seq": recorded_seq,
        "replication_id_version": REPLICATION_ID_VERSION,
        "history": [entry, *kept][:CHECKPOINT_HISTORY_LIMIT],
    }
    if previous and isinstance(previous.get("_rev"), str):
        doc["_rev"] = previous["_rev"]
    return doc


def resume_seq(source_doc: Mapping[str, Any] | None, target_doc: Mapping[str, Any] | None) -> Any:
    """Where to resume: the last sequence both checkpoints agree on, else ``LOWEST_SEQ``.

    Same ``session_id`` on both: its ``source_last_seq``. Otherwise the newest
    session found in both histories (one side may have saved a checkpoint the
    other lost), scanning the two histories in step as CouchDB does.

    >>> a = {"session_id": "s2", "source_last_seq": 9,
    ...      "history": [{"session_id": "s2", "recorded_seq": 9},
    ...                  {"session_id": "s1", "recorded_seq": 4}]}
    >>> b = {"session_id": "s1", "source_last_seq": 4,
    ...      "history": [{"session_id": "s1", "recorded_seq": 4}]}
    >>> resume_seq(a, a), resume_seq(a, b), resume_seq(a, None)
    (9, 4, 0)
    """
    if not source_doc or not target_doc:
        return LOWEST_SEQ
    if source_doc.get("session_id") is not None and source_doc.get("session_id") == target_doc.get(
        "session_id"
    ):
        return source_doc.get("source_last_seq", LOWEST_SEQ)
    source_history = _history(source_doc)
    target_history = _history(target_doc)
    while source_history and target_history:
        head_s, head_t = source_history[0], target_history[0]
        if any(h.get("session_id") == head_s.get("session_id") for h in target_history):
            return head_s.get("recorded_seq", LOWEST_SEQ)
        if any(h.get("session_id") == head_t.get("session_id") for h in source_history[1:]):
            return head_t.get("recorded_seq", LOWEST_SEQ)
        source_history, target_history = source_history[1:], target_history[1:]
    return LOWEST_SEQ


def _history(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    history = doc.get("history")
    if not isinstance(history, list):
        return []
    return [h for h in history if isinstance(h, dict) and h.get("session_id") is not None]


# -- changes, revs_diff, bulk_get ------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One ``_changes`` row: its ``seq`` (opaque), doc id, leaf revs, deleted flag."""

    seq: Any
    id: str
    revs: tuple[str, ...]
    deleted: bool = False
    doc: dict[str, Any] | None = None


def parse_change(row: Any) -> Change:
    """One row of ``_changes`` (normal results item, or a continuous-feed line decoded).

    >>> parse_change({"seq": 3, "id": "d", "changes": [{"rev": "3-c"}, {"rev": "3-d"}]})
    Change(seq=3, id='d', revs=('3-c', '3-d'), deleted=False, doc=None)
    """
    if (
        not isinstance(row, dict)
        or "seq" not in row
        or not isinstance(row.get("id"), str)
        or not isinstance(row.get("changes"), list)
        or not all(isinstance(c, dict) and isinstance(c.get("rev"), str) for c in row["changes"])
    ):
        raise _bad_response("_changes row", row)
    doc = row.get("doc")
    return Change(
        seq=row["seq"],
        id=row["id"],
        revs=tuple(c["rev"] for c in row["changes"]),
        deleted=bool(row.get("deleted", False)),
        doc=doc if isinstance(doc, dict) else None,
    )


def parse_changes(answer: Any) -> tuple[list[Change], Any]:
    """A normal or longpoll ``_changes`` answer: ``(rows, last_seq)``.

    >>> parse_changes({"results": [{"seq": 1, "id": "a", "changes": [{"rev": "1-x"}]}],
    ...                "last_seq": 1})
    ([Change(seq=1, id='a', revs=('1-x',), deleted=False, doc=None)], 1)
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise _bad_response("_changes answer", answer)
    rows = [parse_change(row) for row in answer["results"]]
    last_seq = answer.get("last_seq", rows[-1].seq if rows else None)
    return rows, last_seq


def revs_diff_request(changes: Iterable[Change]) -> dict[str, list[str]]:
    """The ``_revs_diff`` body for a batch of changes: doc id -> its leaf revs.

    >>> revs_diff_request([Change(1, "a", ("1-x",)), Change(2, "a", ("2-y", "2-z"))])
    {'a': ['1-x', '2-y', '2-z']}
    """
    body: dict[str, list[str]] = {}
    for change in changes:
        revs = body.setdefault(change.id, [])
        revs.extend(rev for rev in change.revs if rev not in revs)
    return body


def parse_revs_diff(answer: Any) -> dict[str, list[str]]:
    """The ``_revs_diff`` answer as doc id -> missing revs (ids with none are left out).

    ``possible_ancestors`` is dropped: fetching with ``revs=true`` sends the
    whole history anyway and the target merges it.

    >>> parse_revs_diff({"a": {"missing": ["2-y"], "possible_ancestors": ["1-x"]}, "b": {}})
    {'a': ['2-y']}
    """
    if not isinstance(answer, dict):
        raise _bad_response("_revs_diff answer", answer)
    missing: dict[str, list[str]] = {}
    for doc_id, entry in answer.items():
        revs = entry.get("missing", []) if isinstance(entry, dict) else None
        if not isinstance(revs, list) or not all(isinstance(r, str) for r in revs):
            raise _bad_response(f"_revs_diff entry for {doc_id!r}", entry)
        if revs:
            missing[doc_id] = revs
    return missing


def bulk_get_request(missing: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """The ``_bulk_get`` body asking for each missing rev (send with ``revs=true``).

    >>> bulk_get_request({"a": ["2-y", "2-z"]})
    {'docs': [{'id': 'a', 'rev': '2-y'}, {'id': 'a', 'rev': '2-z'}]}
    """
    return {
        "docs": [{"id": doc_id, "rev": rev} for doc_id, revs in missing.items() for rev in revs]
    }


@dataclass(frozen=True)
class BulkGetResult:
    """Documents fetched, and ``(id, rev, error)`` for each one the peer could not give."""

    docs: list[dict[str, Any]]
    errors: list[tuple[str, str, str]]


def parse_bulk_get(answer: Any) -> BulkGetResult:
    """A ``_bulk_get`` answer: ``{"results": [{"id", "docs": [{"ok"|"error"|"missing"}]}]}``.

    >>> r = parse_bulk_get({"results": [{"id": "a", "docs": [{"ok": {"_id": "a", "_rev": "1-x"}},
    ...                                                      {"missing": "2-q"}]}]})
    >>> r.docs, r.errors
    ([{'_id': 'a', '_rev': '1-x'}], [('a', '2-q', 'missing')])
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise _bad_response("_bulk_get answer", answer)
    docs: list[dict[str, Any]] = []
    errors: list[tuple[str, str, str]] = []
    for result in answer["results"]:
        if not isinstance(result, dict) or not isinstance(result.get("docs"), list):
            raise _bad_response("_bulk_get result", result)
        part = parse_open_revs(result["docs"], doc_id=str(result.get("id", "")))
        docs.extend(part.docs)
        errors.extend(part.errors)
    return BulkGetResult(docs=docs, errors=errors)


def parse_open_revs(answer: Any, *, doc_id: str = "") -> BulkGetResult:
    """A ``GET doc?open_revs=...`` JSON answer (ask with ``Accept: application/json``;
    CouchDB sends multipart/mixed otherwise): ``[{"ok": doc} | {"missing": rev}]``.

    >>> parse_open_revs([{"ok": {"_id": "a", "_rev": "1-x"}}, {"missing": "1-y"}], doc_id="a").errors
    [('a', '1-y', 'missing')]
    """
    if not isinstance(answer, list):
        raise _bad_response("open_revs answer", answer)
    docs: list[dict[str, Any]] = []
    errors: list[tuple[str, str, str]] = []
    for item in answer:
        if isinstance(item, dict) and isinstance(item.get("ok"), dict):
            docs.append(item["ok"])
        elif isinstance(item, dict) and isinstance(item.get("missing"), str):
            errors.append((doc_id, item["missing"], "missing"))
        elif isinstance(item, dict) and isinstance(item.get("error"), dict):
            err = item["error"]
            errors.append(
                (str(err.get("id", doc_id)), str(err.get("rev", "")), str(err.get("error", "")))
            )
        else:
            raise _bad_response("open_revs item", item)
    return BulkGetResult(docs=docs, errors=errors)


def _bad_response(what: str, value: Any) -> SyncError:
    text = repr(value)
    return SyncError(
        f"peer sent a malformed {what}: {text[:120]}{'...' if len(text) > 120 else ''}",
        reason="bad_response",
    )
