"""Anonymous RSS of this process: the heap it holds, without LMDB's mapped file pages.

Example:
    >>> with AnonSampler(interval=0.01) as sampler:
    ...     data = bytearray(8 << 20)
    >>> sampler.peak >= 0
    True
"""

from __future__ import annotations

import threading

__all__ = ["AnonSampler", "anon_rss_mb"]


def anon_rss_mb() -> float | None:
    """Current anonymous RSS (heap, not mapped file pages), or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class AnonSampler:
    """Samples anonymous RSS every ``interval`` s (50 ms): LMDB's mapped file pages count in ru_maxrss
    (reading a 1 GiB blob maps 1 GiB) though the kernel can drop them; anon RSS is the
    memory the process really holds."""

    def __init__(self, *, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = anon_rss_mb() or 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, anon_rss_mb() or 0.0)

    def __enter__(self) -> AnonSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
