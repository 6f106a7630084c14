"""Run a test's work in several threads at once, and fail the test with the first thread's error;
wait for another thread to get somewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def wait_until(cond: Callable[[], bool]) -> None:
    """Poll ``cond`` until it holds; a guard against hanging (30 s), not a timing assertion."""
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.001)


@contextmanager
def threads_running(work: Callable[[int], None], n: int, *, together: bool = False) -> Iterator[None]:
    """Run ``work(0)`` .. ``work(n - 1)``, each in its own thread, while the ``with`` block runs.

    After the block the threads are joined, and the first exception a thread
    raised is raised here (a thread's exception is otherwise only printed).
    ``together``: the threads start their work at one moment (a barrier).

    >>> seen = []
    >>> with threads_running(seen.append, 3):
    ...     pass
    >>> sorted(seen)
    [0, 1, 2]
    """
    errors: list[BaseException] = []
    barrier = threading.Barrier(n) if together else None

    def run(t: int) -> None:
        try:
            if barrier is not None:
                barrier.wait()
            work(t)
        except BaseException as exc:  # raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(n)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in 120 s"
    if errors:
        raise errors[0]


def run_threads(work: Callable[[int], None], n: int, *, together: bool = False) -> None:
    """:func:`threads_running` with nothing to do meanwhile: run the threads and wait for them."""
    with threads_running(work, n, together=together):
        pass
