"""Import and export a store as NDJSON: one ``{"_id": ..., ...}`` object per line.

The line format (what :func:`export_ndjson` writes and :func:`import_ndjson` reads):

* a document that is a JSON object without an ``_id`` field of its own is
  written as its fields plus ``"_id"``: ``{"_id": "ada", "name": "Ada"}``;
* any other document (a list, a number, a string, ``null``, an object that
  holds ``_id`` itself, or one whose only field is ``_value``) is wrapped:
  ``{"_id": "n1", "_value": 5}``. A line whose keys are exactly ``_id`` and
  ``_value`` is always read as wrapped, so every document round-trips.

On import a line without ``_id`` gets a new id (``store.add``). Input is
treated as untrusted: each line must be UTF-8 JSON with no duplicate keys
(``{"a": 1, "a": 2}`` is refused, not silently collapsed), no ``NaN`` or
``Infinity``, an ``_id`` that is a non-empty string, and a value the codec
accepts (64-bit ints, finite floats, nesting and size limits).

Import writes ``batch`` lines per transaction. A bad line raises the usual
typed error (:class:`ValidationError`, :class:`LimitExceeded`,
:class:`StructureViolation`, :class:`DuplicateKey`, ...) whose message starts
with ``line N:`` and says which lines were committed before; the error also
carries ``line`` (its number) and ``committed`` (documents committed). Nothing
of the failing batch is written. Lines are parsed and batched one batch at a
time, so memory stays bounded whatever the file size.

Export reads inside one :meth:`Engine.snapshot` by default, so the file is one
consistent state even while others write (it keeps old pages from reuse while
it runs). Password-protected documents are left out (they need their password).

Example:
    >>> import io, datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     people = engine.store("people")
    ...     import_ndjson(people, io.StringIO('{"_id": "ada", "age": 36}\\n{"_id": "n", "_value": 5}\\n'))
    ...     out = io.StringIO(); _ = export_ndjson(people, out)
    ...     print(out.getvalue(), end="")
    ImportResult(documents=2, lines=2)
    {"_id":"ada","age":36}
    {"_id":"n","_value":5}
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from .errors import DatastoreError, MapGrown, ValidationError

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "DEFAULT_BATCH",
    "ImportResult",
    "export_ndjson",
    "from_line",
    "import_ndjson",
    "parse_json",
    "parse_line",
    "to_line",
]

#: Lines per import transaction: big enough to amortize the commit, small enough to bound memory.
DEFAULT_BATCH = 1000
#: How often (documents) export reports progress.
_EXPORT_TICK = 1000
#: An import batch that fills the map is run again after the map grows; this many times at most.
_MAP_RETRIES = 5

Progress = Callable[[int, int], None]
Source = str | os.PathLike[str] | IO[str] | IO[bytes] | Iterable[str] | Iterable[bytes]


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``documents`` written, ``lines`` read (blank lines included)."""

    documents: int
    lines: int


# --- the line format (pure) -----------------------------------------------------------------------


def to_line(rid: str, doc: Any) -> dict[str, Any]:
    """The NDJSON object for document ``rid`` (see the module doc).

    >>> to_line("a", {"x": 1}), to_line("b", [1]), to_line("c", {"_id": "z"})
    ({'_id': 'a', 'x': 1}, {'_id': 'b', '_value': [1]}, {'_id': 'c', '_value': {'_id': 'z'}})
    """
    if type(doc) is dict and "_id" not in doc and set(doc) != {"_value"}:
        return {"_id": rid, **doc}
    return {"_id": rid, "_value": doc}


def from_line(obj: dict[str, Any]) -> tuple[str | None, Any]:
    """``(rid or None, document)`` of a parsed line object (the inverse of :func:`to_line`).

    >>> from_line({"_id": "a", "x": 1}), from_line({"_id": "b", "_value": [1]}), from_line({"y": 2})
    (('a', {'x': 1}), ('b', [1]), (None, {'y': 2}))
    """
    rid = obj.get("_id")
    if rid is not None and (type(rid) is not str or not rid):
        raise ValidationError(f"_id must be a non-empty string, got {rid!r}")
    if set(obj) == {"_id", "_value"}:
        return rid, obj["_value"]
    return rid, {k: v for k, v in obj.items() if k != "_id"}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValidationError(f"duplicate key {key!r} in one object")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValidationError(f"{name} is not JSON (only finite numbers are allowed)")


# One decoder for every line: json.loads(..., hooks) would build a new one per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def parse_json(text: str | bytes) -> Any:
    """Parse one JSON value strictly: UTF-8, no duplicate keys, no NaN/Infinity.

    >>> parse_json('[1, {"a": null}]')
    [1, {'a': None}]
    >>> parse_json('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    datastore_engine.errors.ValidationError: duplicate key 'a' in one object
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"not UTF-8 (byte {exc.start}): {exc.reason}") from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ValidationError("not JSON this engine can read: nested too deeply") from None
    except ValidationError:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ValidationError(f"not JSON this engine can read: {exc}") from None


def parse_line(text: str | bytes) -> dict[str, Any]:
    """Parse one NDJSON line strictly (see :func:`parse_json`); it must hold a JSON object.

    >>> parse_line('{"_id": "a", "n": 1}')
    {'_id': 'a', 'n': 1}
    """
    value = parse_json(text)
    if type(value) is not dict:
        raise ValidationError(f"each line must be a JSON object, got {type(value).__name__}")
    return value


# --- import ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _lines(source: Source) -> Iterator[Iterable[str | bytes]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            yield fh
    else:
        yield source


def _at_line(exc: DatastoreError, line: int, note: str) -> DatastoreError:
    """The same kind of error, its message prefixed by the line number and what was committed."""
    new = type(exc)(f"line {line}: {exc}; {note}")
    new.__dict__.update(exc.__dict__)
    return new


def _committed_note(committed_lines: int, committed: int, batch_start: int, last: int) -> str:
    where = f"nothing of lines {batch_start}-{last} was written"
    if committed_lines == 0:
        return f"{where}; nothing was committed before"
    return f"{where}; lines 1-{committed_lines} ({committed} documents) were committed before"


def import_ndjson(
    store: Store,
    source: Source,
    *,
    batch: int = DEFAULT_BATCH,
    replace: bool = True,
    progress: Progress | None = None,
) -> ImportResult:
    """Load NDJSON lines into ``store``, ``batch`` lines per transaction; see the module doc.

    ``source``: a path, or a text or binary file object (any iterable of lines).
    ``replace=False`` adds instead of putting: an existing id is :class:`DuplicateKey`.
    ``progress(lines_read, bytes_read)`` is called after each committed batch.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"batch must be an int >= 1, got {batch!r}")
    engine = store.engine
    documents = 0
    line_no = 0
    committed_lines = 0
    bytes_read = 0
    pending: list[tuple[int, str | None, Any]] = []

    def fail(exc: DatastoreError, line: int) -> DatastoreError:
        note = _committed_note(committed_lines, documents, committed_lines + 1, line_no)
        failed = _at_line(exc, line, note)
        failed.line = line  # type: ignore[attr-defined]
        failed.committed = documents  # type: ignore[attr-defined]
        return failed

    def write() -> None:
        nonlocal documents, committed_lines
        for attempt in range(_MAP_RETRIES + 1):
            current = 0
            try:
                with engine.transaction():
                    for current, rid, doc in pending:  # noqa: B007 - read by the except below
                        if rid is None:
                            store.add(doc)
                        elif replace:
                            store.put(rid, doc)
                        else:
                            store.add(doc, rid=rid)
            except MapGrown:
                # The map has grown and nothing was committed: run the batch again,
                # unless a caller's transaction holds it (then it is the caller's to rerun).
                if engine.in_transaction or attempt == _MAP_RETRIES:
                    raise
                continue
            except DatastoreError as exc:
                raise fail(exc, current) from exc
            break
        documents += len(pending)
        committed_lines = line_no
        pending.clear()
        if progress is not None:
            progress(line_no, bytes_read)

    with _lines(source) as lines:
        for raw in lines:
            line_no += 1
            bytes_read += len(raw) if isinstance(raw, bytes | bytearray) else len(raw.encode())
            if not raw.strip():
                continue
            try:
                rid, doc = from_line(parse_line(raw))
            except ValidationError as exc:
                raise fail(exc, line_no) from exc
            pending.append((line_no, rid, doc))
            if len(pending) >= batch:
                write()
        if pending:
            write()
    if progress is not None and committed_lines < line_no:
        progress(line_no, bytes_read)
    return ImportResult(documents=documents, lines=line_no)


# --- export ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _sink(target: str | os.PathLike[str] | IO[str]) -> Iterator[IO[str]]:
    if isinstance(target, str | os.PathLike):
        with open(target, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
    else:
        yield target


def export_ndjson(
    store: Store,
    target: str | os.PathLike[str] | IO[str],
    *,
    prefix: str = "",
    snapshot: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the documents of ``store`` (ids starting with ``prefix``) as NDJSON; returns how many.

    ``target``: a path or a text file object. Documents go out in id order,
    one compact UTF-8 JSON object per line. ``snapshot=False`` reads in short
    batches instead (a long export then does not pin old pages, but it is not
    one moment). ``progress(documents_written)`` is called every 1000 documents.
    """
    engine = store.engine
    count = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    view = engine.snapshot() if snapshot else contextlib.nullcontext()
    with _sink(target) as out, view:
        for rid, doc in store.items(prefix=prefix):
            out.write(dumps(to_line(rid, doc)))
            out.write("\n")
            count += 1
            if progress is not None and count % _EXPORT_TICK == 0:
                progress(count)
    if progress is not None:
        progress(count)
    return count
