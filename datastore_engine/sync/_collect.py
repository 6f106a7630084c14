"""Garbage collection of attachment blobs: the objects of a store's own bucket no revision names.

Attachment content is kept content-addressed in the store's bucket
``att-<store uuid>`` and shared by every revision and document that names it
(see ``_attachments``), so deleting a document or replacing an attachment
cannot drop its blob there and then. :func:`collect_attachments` is the
explicit, occasional step that does, as CouchDB's compaction (``POST
/{db}/_compact``) drops what no kept revision needs.

What is still referenced: every revision body the store keeps. As in CouchDB,
whose compaction "removes the bodies of any non-leaf revisions", only *leaf*
revisions keep bodies here (``revtree`` stores leaves, and only history
digests of their ancestors), so that is every leaf: the winner of each
document, live or deleted (a replicated tombstone may carry ``_attachments``),
and every losing leaf of a conflict, live or deleted. An attachment of a
superseded revision is no longer needed, as in CouchDB after compaction.

Race safety ("mark" in one snapshot, "sweep" with a re-check): a blob is
written before the revision that names it, in an earlier transaction
(``put_attachment``: ``bucket.put`` then ``store.put``; a pull: every blob of
a batch, then ``put_revisions``), so no snapshot can tell a blob about to be
referenced from garbage. Objects modified less than ``grace`` seconds before
the collection began are therefore spared, and a write that reuses an
existing object refreshes its modification time (``_attachments._reuse``).
The references, the bucket listing and the modification times are read in
one snapshot; each object is then deleted in a write transaction only if its
modification time is still before the cutoff, so an object reused after the
snapshot survives. A write is safe if its blob-to-revision gap is shorter
than ``grace - TOUCH_AFTER_S`` (default: about 59 minutes).

Not seen: documents of *other* stores that name this store's bucket (copy the
content with ``put_attachment`` instead), and ``_attachments`` entries copied
by hand (``store.put(b, store.get(a))``) after the snapshot from a document
deleted before it: such a write does not refresh the blob.

Example:
    >>> import datastore_engine as dse
    >>> from datastore_engine.sync import put_attachment
    >>> with dse.open_temporary() as engine:
    ...     s = engine.store("pets")
    ...     _ = put_attachment(s, "cat", "hi.txt", b"hello")
    ...     _ = s.delete("cat")
    ...     kept = collect_attachments(s)  # within the grace period: nothing goes yet
    ...     done = collect_attachments(s, grace=0)
    ...     (kept.pending, done.removed, done.bytes_freed)
    (('md5/5d41402abc4b2a76b9719d911017c592',), ('md5/5d41402abc4b2a76b9719d911017c592',), 5)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from .. import codec, revtree
from ..errors import NotFound, ValidationError
from ._attachments import FIELD, bucket_name

if TYPE_CHECKING:
    from ..blobs import Bucket
    from ..engine import Engine
    from ..store import Store

__all__ = ["DEFAULT_GRACE", "CollectResult", "collect_attachments"]

#: Seconds an unreferenced attachment object is kept after its last write (one hour).
DEFAULT_GRACE: Final = 3600.0
#: Documents whose leaves are read at a time (the snapshot stays one; memory is bounded).
_READ_BATCH: Final = 500
#: Objects re-checked and deleted per write transaction.
_SWEEP_BATCH: Final = 256


@dataclass(frozen=True)
class CollectResult:
    """What :func:`collect_attachments` found in the store's attachment bucket ``bucket``.

    ``removed``: objects deleted (with ``dry_run``: that would be); ``kept``:
    objects some kept revision names; ``pending``: unreferenced objects spared
    because they were written within the grace period (a later run collects
    them); ``bytes_freed``: the sizes of the removed objects. Names are sorted.
    """

    bucket: str
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    bytes_freed: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists for the name tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def collect_attachments(
    store: Store, *, grace: float = DEFAULT_GRACE, dry_run: bool = False
) -> CollectResult:
    """Delete the objects of ``store``'s own attachment bucket that no kept revision names.

    Kept revisions are every leaf of every document: the winner (a tombstone
    too) and each losing leaf of a conflict. Objects of other buckets (an
    attachment entry may name any bucket the app owns) are never touched.
    ``grace``: seconds; objects written (or reused by a write) less than this
    long before the call are kept, because a write puts its blob before the
    revision naming it; 0 only when nothing writes meanwhile. ``dry_run``:
    report what would go, delete nothing. See the module docstring for the
    snapshot-then-recheck design.
    """
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace >= 0:
        raise ValidationError(f"grace must be a number of seconds >= 0, got {grace!r}")
    if not math.isfinite(grace):
        raise ValidationError(f"grace must be finite, got {grace!r}")
    cutoff = time.time() - grace  # before the snapshot: a later reuse lands after it
    engine = store.engine
    name = bucket_name(store)  # may write the store's uuid: outside the snapshot
    if not engine.bucket_exists(name):
        return CollectResult(bucket=name, dry_run=dry_run)
    bucket = engine.bucket(name)
    with engine.snapshot():
        referenced = set(_references(store, name))
        objects = [(o.name, o.size, _mtime(o.last_modified)) for o in bucket.list()]
    kept, pending, doomed = [], [], []
    for obj, size, mtime in objects:
        if obj in referenced:
            kept.append(obj)
        elif mtime > cutoff:
            pending.append(obj)
        else:
            doomed.append((obj, size))
    if dry_run:
        removed = doomed
    else:
        removed = []
        for start in range(0, len(doomed), _SWEEP_BATCH):
            gone, touched = _sweep(engine, bucket, doomed[start : start + _SWEEP_BATCH], cutoff)
            removed.extend(gone)
            pending.extend(touched)
    return CollectResult(
        bucket=name,
        removed=tuple(sorted(n for n, _ in removed)),
        kept=tuple(sorted(kept)),
        pending=tuple(sorted(pending)),
        bytes_freed=sum(size for _, size in removed),
        dry_run=dry_run,
    )


def _mtime(modified: Any) -> float:
    return math.inf if modified is None else float(modified.timestamp())


def _references(store: Store, bucket: str) -> Iterator[str]:
    """Object names in ``bucket`` that some leaf revision of ``store`` names (inside a snapshot)."""
    # The change feed holds one entry per document, deleted ones included.
    rids = [change.rid for change in store.changes()]
    for start in range(0, len(rids), _READ_BATCH):
        found = revtree.read_leaves(store, rids[start : start + _READ_BATCH])
        for rid, (_flags, leaves) in found.items():
            for leaf in leaves:
                body = codec.decode(leaf.body, key=rid)
                entries = body.get(FIELD) if isinstance(body, dict) else None
                if not isinstance(entries, dict):
                    continue
                for entry in entries.values():
                    if isinstance(entry, dict) and entry.get("bucket") == bucket:
                        obj = entry.get("object")
                        if isinstance(obj, str):
                            yield obj


def _sweep(
    engine: Engine, bucket: Bucket, doomed: list[tuple[str, int]], cutoff: float
) -> tuple[list[tuple[str, int]], list[str]]:
    """Delete those of ``doomed`` still unmodified since ``cutoff``, in one write transaction.

    Returns (deleted, touched meanwhile). An object gone meanwhile is in neither.
    """
    gone: list[tuple[str, int]] = []
    touched: list[str] = []
    with engine.transaction():
        for obj, _size in doomed:
            try:
                info = bucket.stat(obj)  # inside the transaction: what the delete will see
            except NotFound:
                continue
            if _mtime(info.last_modified) > cutoff:
                touched.append(obj)  # reused after the snapshot: a revision will name it
            else:
                gone.append((obj, info.size))
        if gone:
            bucket.delete([obj for obj, _ in gone])
    return gone, touched
