"""Sync with CouchDB-protocol peers (CouchDB, PouchDB Server, Couchbase Sync Gateway).

:func:`replicate` pushes a store's changes to a peer database, pulls the
peer's, or both, once or continuously, resuming from checkpoints; conflicting
edits keep every branch and pick CouchDB's winner on both sides (see
:mod:`datastore_engine.revtree`). Attachments are blobs named by a document's
``_attachments`` field (:func:`put_attachment`, :func:`get_attachment`);
:func:`collect_attachments` deletes the store's attachment blobs that no kept
revision names any more (an explicit step, like CouchDB's compaction).

Internal building blocks:

* ``_http``: a small standard-library HTTP/JSON client with timeouts, bounded
  retries and line streaming (for ``_changes`` feeds).
* ``_protocol``: pure helpers of the replication protocol (revision ids,
  ``_revisions``, replication ids, checkpoint documents, ``_revs_diff`` and
  ``_bulk_get`` shapes, attachments).
* ``_replicate``: the replicator; ``_local``: our checkpoints and store
  identity; ``_attachments``: documents' blobs and their wire form; ``_collect``:
  their garbage collection.
"""

from ._attachments import get_attachment, put_attachment
from ._collect import CollectResult, collect_attachments
from ._replicate import ReplicationResult, replicate

__all__ = [
    "CollectResult",
    "ReplicationResult",
    "collect_attachments",
    "get_attachment",
    "put_attachment",
    "replicate",
]
