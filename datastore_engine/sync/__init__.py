"""Sync with CouchDB-protocol peers (CouchDB, PouchDB Server, Couchbase Sync Gateway).

Internal building blocks, wired into the public API later:

* ``_http``: a small standard-library HTTP/JSON client with timeouts, bounded
  retries and line streaming (for ``_changes`` feeds).
* ``_protocol``: pure helpers of the replication protocol (revision ids,
  ``_revisions``, replication ids, checkpoint documents, ``_revs_diff`` and
  ``_bulk_get`` shapes, attachments).

Nothing here is public yet; import from ``datastore_engine`` once it is.
"""
