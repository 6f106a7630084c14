"""Output helpers of the ``datastore-engine`` command: JSON, plain tables and a progress bar.

Pure functions from values to text, plus :class:`ProgressBar` (a dozen lines
on stderr; a dependency such as tqdm or rich would be the only reason to pull
one in, and the command needs one bar).

Example:
    >>> print(table([{"name": "a", "count": 2}, {"name": "bb", "count": None}], ["name", "count"]))
    name  count
    ----  -----
    a     2
    bb
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

__all__ = [
    "Out",
    "ProgressBar",
    "cell",
    "dumps",
    "object_dict",
    "plain",
    "record",
    "rows_renderer",
    "table",
]

#: Widest cell shown in a table; longer values are cut with an ellipsis.
MAX_CELL = 60


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, pretty: bool = False) -> str:
    """JSON text: compact for pipes, indented for people.

    >>> dumps({"a": [1, 2]}), dumps({"a": 1}, pretty=True)
    ('{"a": [1, 2]}', '{\\n  "a": 1\\n}')
    """
    return json.dumps(value, ensure_ascii=False, indent=2 if pretty else None, default=_default)


def cell(value: Any) -> str:
    """One table cell: scalars as text, None as nothing, anything else as compact JSON, cut to MAX_CELL.

    >>> cell(None), cell(3), cell("x"), cell({"a": 1})
    ('', '3', 'x', '{"a": 1}')
    """
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = json.dumps(value)
    else:
        text = dumps(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as left-aligned columns under a header (see the module example)."""
    cells = [[cell(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    lines = [
        "  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def record(value: Mapping[str, Any]) -> str:
    """A mapping as ``key  value`` lines.

    >>> print(record({"name": "crm", "count": 3}))
    name   crm
    count  3
    """
    width = max((len(k) for k in value), default=0)
    return "\n".join(f"{k.ljust(width)}  {cell(v)}".rstrip() for k, v in value.items())


def rows_renderer(columns: Sequence[str], *, key: str | None = None) -> Callable[[Any], str]:
    """A renderer for a list of rows (or for ``value[key]`` plus a ``total`` footer)."""

    def render(value: Any) -> str:
        rows = value[key] if key is not None else value
        text = table(rows, columns)
        if key is not None and "total" in value:
            text += f"\n({len(rows)} shown of {value['total']}, from {value.get('start', 0)})"
        return text

    return render


def plain(value: Any) -> str:
    """Strings as they are, lists one item a line, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return dumps(value, pretty=True)


def object_dict(info: Any) -> dict[str, Any]:
    """An :class:`ObjectInfo` as a JSON-ready dict."""
    out: dict[str, Any] = dataclasses.asdict(info)
    if out.get("last_modified") is not None:
        out["last_modified"] = out["last_modified"].isoformat()
    return out


@dataclasses.dataclass
class Out:
    """What a command returns: a JSON-ready ``value``, how people see it, and the exit code."""

    value: Any
    render: Callable[[Any], str] = plain
    code: int = 0


class ProgressBar:
    """``label [#####.....] 45%  4500/10000`` redrawn in place on a terminal stream.

    ``total=None`` shows the count alone. Redraws at most ten times a second.
    """

    def __init__(self, stream: IO[str], *, label: str, total: int | None, unit: str = "") -> None:
        self.stream = stream
        self.label = label
        self.total = total if total else None
        self.unit = unit
        self._last = 0.0
        self._shown = False
        self._done: int | None = None

    def update(self, done: int, *, force: bool = False) -> None:
        self._done = done
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            text = f"{self.label} [{bar:.<30}] {frac:4.0%}  {done}/{self.total}{self.unit}"
        else:
            text = f"{self.label} {done}{self.unit}"
        self.stream.write("\r" + text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """Draw the last value (skipped redraws included) and end the line."""
        if self._done is not None:
            self.update(self._done, force=True)
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
