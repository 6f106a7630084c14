"""Following a store's change feed without polling in a hot loop.

Every top-level commit that changed a store notifies ``_Env.watchers`` when a thread waits (a
``threading.Condition``; see ``WriteCtx.commit``), so a waiter in this process
wakes as soon as the commit is visible. Commits by *other processes* notify
nobody here, so a waiter also re-reads the store's last sequence number (its
``counters`` record, one point read) on a timer that starts at
``POLL_MIN`` seconds and doubles up to ``POLL_MAX`` while nothing changes:
another process's change is seen within about ``POLL_MAX`` seconds. (An
inotify watch on the lock file was rejected: not portable, and LMDB writes the
data file through mmap, which inotify does not report reliably.)

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     s = engine.store("feed")
    ...     _ = s.put("a", {})
    ...     [c.rid for c in s.watch(0, timeout=0.01)]
    ['a']
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import NotFound, ValidationError

if TYPE_CHECKING:
    from .store import Store

__all__ = ["POLL_MAX", "POLL_MIN", "follow", "last_seq", "wait_for_change"]

POLL_MIN = 0.05
POLL_MAX = 1.0


def last_seq(store: Store) -> int:
    """The store's latest sequence number (0 if it never changed)."""
    from .engine import unpack_counters

    store._live()
    raw = store._env.get_one(store._state.prefix, store._dbs["counters"])
    if raw is None:
        raise NotFound(f"store {store.name!r} in domain {store.domain!r} was dropped")
    return int(unpack_counters(raw)[2])


def wait_for_change(store: Store, since: int, *, timeout: float | None = None) -> bool:
    """Block until the store has a change after ``since``; False if ``timeout`` s pass first."""
    if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
        raise ValidationError(f"timeout must be None or seconds >= 0, got {timeout!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    env = store._env
    cond = env.watchers
    poll = POLL_MIN
    while True:
        # The seq is read under the condition's lock, after counting this thread
        # in env.watching: a commit either lands before the read (and the read
        # sees it) or sees watching > 0 and notifies, which it can only do once
        # we wait. No wake-up is lost, and commits skip the notify when nobody waits.
        with cond:
            env.watching += 1
            try:
                if last_seq(store) > since:
                    return True
                wait = poll if deadline is None else min(poll, deadline - time.monotonic())
                if wait <= 0:
                    return False
                cond.wait(wait)
            finally:
                env.watching -= 1
        poll = min(poll * 2, POLL_MAX)


def follow(
    store: Store, since: int = 0, *, timeout: float | None = None, include_docs: bool = False
) -> Iterator[Any]:
    """Yield changes after ``since`` (as ``store.changes``), then new ones as they commit.

    Ends when ``timeout`` seconds pass with no new change (``None``: never).
    """
    if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
        raise ValidationError(f"timeout must be None or seconds >= 0, got {timeout!r}")
    while True:
        for item in store.changes(since, include_docs=include_docs):
            since = (item[0] if include_docs else item).seq
            yield item
        if not wait_for_change(store, since, timeout=timeout):
            return
