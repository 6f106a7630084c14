"""Plain files: the blob workload's ceiling (write in 1 MiB chunks + fsync, read in chunks)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from bench.backends.base import Backend

CHUNK = 1 << 20


class FileBackend(Backend):
    """One file per object under the backend directory; supports only the blob workload."""

    name = "file"

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> str:
        return str(self.root / name.replace("/", "_"))

    def blob_put(self, name: str, chunks: Iterable[bytes], *, length: int) -> None:
        # Write to a temporary name, fsync, rename: visible only when complete, like the others.
        tmp = self._path(name) + ".part"
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path(name))

    def blob_get(self, name: str, *, sink: Callable[[bytes], object] | None = None) -> int:
        total = 0
        with open(self._path(name), "rb") as fh:
            while chunk := fh.read(CHUNK):
                total += len(chunk)
                if sink is not None:
                    sink(chunk)
        return total
