"""The ``datastore-engine`` command: a thin shell over the public API.

Each command parses its arguments, calls one library method and formats what
comes back: JSON when stdout is not a terminal or with ``--json`` (before or
after the command), readable tables on a terminal. ``python -m
datastore_engine`` runs it too.

Global options: ``--path`` (default ``$DATASTORE_ENGINE_PATH`` or
``./datastore``), ``--app``, ``--org``, ``--domain`` (of stores; ``stores
list`` shows every domain unless given), ``--json``. Commands that only read
refuse a ``--path`` holding no datastore rather than create one there.

Exit codes (a table, :data:`EXIT_CODES`): 0 ok; 1 not found (a store,
document, object, file) or ``check`` found problems; 2 usage error (bad
arguments, bad JSON, a value or filter the engine refuses); 3 any other error
(a conflict, a refused access, the disk). Errors print one line on stderr,
never a traceback.

Example:
    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> main(["--path", path, "put", "people", "ada", '{"name": "Ada"}'])  # doctest: +ELLIPSIS
    {"_id": "ada", "rev": "1-..."}
    0
    >>> main(["--path", path, "get", "people", "ada"])
    {"name": "Ada"}
    0
    >>> main(["--path", path, "get", "people", "bob"])
    1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from . import transfer
from .cli_format import Out, ProgressBar, dumps, object_dict, record, rows_renderer
from .engine import Engine
from .engine import open as open_engine
from .errors import Conflict, DatastoreError, NotFound, ValidationError
from .keys import DOMAINS

__all__ = ["EXIT_CODES", "build_parser", "main"]

PROG = "datastore-engine"
EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
#: Error type -> exit code, first match wins (NotFound before its KeyError base, ours before OSError).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (NotFound, EXIT_NOT_FOUND),
    (ValidationError, EXIT_USAGE),
    (DatastoreError, EXIT_ERROR),
    (FileNotFoundError, EXIT_NOT_FOUND),
    (IsADirectoryError, EXIT_USAGE),
    (OSError, EXIT_ERROR),
)

STORE_COLUMNS = ["name", "domain", "id", "count", "size", "max_size_mb", "description"]
OBJECT_COLUMNS = ["name", "size", "content_type", "last_modified", "etag"]


class Ctx:
    """What a command handler gets: the parsed arguments, the engine (opened on demand) and the streams."""

    def __init__(
        self, args: argparse.Namespace, stdin: IO[str], stdout: IO[str], stderr: IO[str]
    ) -> None:
        self.args = args
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._engine: Engine | None = None

    @property
    def domain(self) -> str:
        return self.args.domain or "local"

    def engine(self) -> Engine:
        if self._engine is None:
            path = self.args.path
            creates = getattr(self.args, "creates", False)
            if not creates and not os.path.exists(os.path.join(path, "data.mdb")):
                raise NotFound(
                    f"no datastore at {path!r} (give --path or set DATASTORE_ENGINE_PATH)"
                )
            self._engine = open_engine(path, app=self.args.app, org=self.args.org)
        return self._engine

    def store(self, name: str, *, create: bool = False) -> Any:
        """The store ``name``; NotFound unless it exists or ``create``."""
        engine = self.engine()
        if not create:
            engine.store_info(name, domain=self.domain)
        return engine.store(name, domain=self.domain)

    def bucket(self, name: str, *, create: bool = False) -> Any:
        engine = self.engine()
        if not create and not engine.bucket_exists(name):
            raise NotFound(f"bucket {name!r} does not exist")
        return engine.bucket(name)

    def progress(self, *, label: str, total: int | None, unit: str = "") -> ProgressBar | None:
        if getattr(self.args, "quiet", False) or not _isatty(self.stderr):
            return None
        return ProgressBar(self.stderr, label=label, total=total, unit=unit)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --- reading values from the command line -----------------------------------------------------------


def _json_arg(ctx: Ctx, text: str, what: str) -> Any:
    """A JSON value given on the command line, or read from stdin for ``-``; checked as strictly as an import."""
    if text == "-":
        text = ctx.stdin.read()
    try:
        return transfer.parse_json(text)
    except ValidationError as exc:
        raise ValidationError(f"{what}: {exc}") from None


def _json_object(ctx: Ctx, text: str, what: str) -> dict[str, Any]:
    value = _json_arg(ctx, text, what)
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


@contextlib.contextmanager
def _binary_in(ctx: Ctx, name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield getattr(ctx.stdin, "buffer", ctx.stdin)  # type: ignore[arg-type]
    else:
        with open(name, "rb") as fh:
            yield fh


# --- commands: stores -----------------------------------------------------------------------------------


def _stores_list(ctx: Ctx) -> Out:
    a = ctx.args
    page = ctx.engine().stores(
        a.domain, filter=a.filter, sort_by=a.sort_by, sort_dir="desc" if a.desc else "asc",
        start=a.start, count=a.count,
    )  # fmt: skip
    value = {"total": page.total, "start": page.start, "count": page.count,
             "items": [i.to_dict() for i in page]}  # fmt: skip
    return Out(value, rows_renderer(STORE_COLUMNS, key="items"))


def _stores_create(ctx: Ctx) -> Out:
    a = ctx.args
    info = ctx.engine().create_store(
        a.name, domain=ctx.domain, description=a.description, owner=a.owner, max_size_mb=a.max_size_mb,
        structure=a.structure, id=a.id, admin_access=a.admin_access, read_access=a.read_access,
        write_access=a.write_access,
    )  # fmt: skip
    return Out(info.to_dict(), record)


def _stores_info(ctx: Ctx) -> Out:
    return Out(ctx.engine().store_info(ctx.args.name, domain=ctx.domain).to_dict(), record)


def _stores_update(ctx: Ctx) -> Out:
    patch = _json_object(ctx, ctx.args.patch, "PATCH")
    return Out(
        ctx.engine().update_store(ctx.args.name, domain=ctx.domain, **patch).to_dict(), record
    )


def _stores_drop(ctx: Ctx) -> Out:
    try:
        ids = ctx.engine().drop_stores(ctx.args.names, domain=ctx.domain, confirmed=ctx.args.yes)
    except Conflict as exc:  # the library's hint names its keyword; the user's is --yes
        raise Conflict(str(exc).replace("pass confirmed=True", "add --yes")) from exc
    return Out({"dropped": ctx.args.names, "ids": ids}, record)


# --- commands: documents --------------------------------------------------------------------------------


def _put(ctx: Ctx) -> Out:
    a = ctx.args
    doc = _json_arg(ctx, a.value, "VALUE")
    return Out({"_id": a.rid, "rev": ctx.store(a.store, create=True).put(a.rid, doc)}, record)


def _get(ctx: Ctx) -> Out:
    return Out(ctx.store(ctx.args.store).get(ctx.args.rid))


def _merge(ctx: Ctx) -> Out:
    a = ctx.args
    patch = _json_arg(ctx, a.patch, "PATCH")
    return Out({"_id": a.rid, "rev": ctx.store(a.store, create=True).merge(a.rid, patch)}, record)


def _delete(ctx: Ctx) -> Out:
    a = ctx.args
    return Out({"_id": a.rid, "rev": ctx.store(a.store).delete(a.rid), "deleted": True}, record)


def _keys(ctx: Ctx) -> Out:
    a = ctx.args
    return Out(ctx.store(a.store).keys(prefix=a.prefix, contains=a.contains))


def _find(ctx: Ctx) -> Out:
    a = ctx.args
    page = ctx.store(a.store).find(
        a.filter, sort=a.sort, start=a.start, count=a.count, fields=a.fields or None,
        case_insensitive=a.ignore_case,
    )  # fmt: skip
    items = [transfer.to_line(rid, doc) for rid, doc in page]
    value = {"total": page.total, "start": page.start, "count": page.count, "items": items}

    def render(v: Any) -> str:
        rows = [
            {"_id": item["_id"], "document": transfer.from_line(item)[1]} for item in v["items"]
        ]
        return rows_renderer(["_id", "document"], key="items")({**v, "items": rows})

    return Out(value, render)


def _search(ctx: Ctx) -> Out:
    body = _json_object(ctx, ctx.args.query, "QUERY_JSON")
    result = ctx.store(ctx.args.store).search(body)

    def render(v: Any) -> str:
        hits = v.get("hits", {})
        rows = [{"_id": h.get("_id"), "_score": h.get("_score"), "_source": h.get("_source")}
                for h in hits.get("hits", [])]  # fmt: skip
        total = hits.get("total", {})
        return rows_renderer(["_id", "_score", "_source"])(rows) + f"\n(total {cell_total(total)})"

    return Out(result, render)


def cell_total(total: Any) -> str:
    return str(total.get("value")) if isinstance(total, dict) else str(total)


def _index_create(ctx: Ctx) -> Out:
    a = ctx.args
    ctx.store(a.store).create_index(a.index_path, unique=a.unique)
    return Out({"store": a.store, "path": a.index_path, "unique": a.unique}, record)


def _index_drop(ctx: Ctx) -> Out:
    a = ctx.args
    ctx.store(a.store).drop_index(a.index_path)
    return Out({"store": a.store, "path": a.index_path, "dropped": True}, record)


def _index_list(ctx: Ctx) -> Out:
    return Out(ctx.store(ctx.args.store).indexes(), rows_renderer(["path", "unique"]))


# --- commands: blobs -------------------------------------------------------------------------------------


def _blob_ls(ctx: Ctx) -> Out:
    a = ctx.args
    if a.bucket is None:
        rows = [
            {"name": b.name, "created": b.creation_date.isoformat()} for b in ctx.engine().buckets()
        ]
        return Out(rows, rows_renderer(["name", "created"]))
    objects = ctx.bucket(a.bucket).list(prefix=a.prefix, recursive=not a.folders)
    rows = [object_dict(o) for o in objects]
    return Out(
        rows,
        rows_renderer(["name", "is_dir", *OBJECT_COLUMNS[1:]] if a.folders else OBJECT_COLUMNS),
    )


def _blob_put(ctx: Ctx) -> Out:
    a = ctx.args
    metadata = _json_object(ctx, a.metadata, "--metadata") if a.metadata else None
    bucket = ctx.bucket(a.bucket, create=True)
    with _binary_in(ctx, a.file) as data:
        info = bucket.put(a.name, data, content_type=a.content_type, metadata=metadata)
    return Out(object_dict(info), record)


def _blob_get(ctx: Ctx) -> Out | None:
    a = ctx.args
    bucket = ctx.bucket(a.bucket)
    if a.file not in (None, "-"):
        return Out(object_dict(bucket.fget(a.name, a.file)), record)
    out = getattr(ctx.stdout, "buffer", None)
    with bucket.get(a.name) as stream:
        for chunk in stream:
            if out is None:  # a text-only stdout (tests): best effort
                ctx.stdout.write(chunk.decode("utf-8", "replace"))
            else:
                out.write(chunk)
    if out is not None:
        out.flush()
    return None


def _blob_stat(ctx: Ctx) -> Out:
    return Out(object_dict(ctx.bucket(ctx.args.bucket).stat(ctx.args.name)), record)


def _blob_rm(ctx: Ctx) -> Out:
    a = ctx.args
    bucket = ctx.bucket(a.bucket)
    if len(a.names) == 1:
        bucket.delete(a.names[0])
        return Out({"deleted": {a.names[0]: True}}, lambda v: record(v["deleted"]))
    return Out({"deleted": bucket.delete(a.names)}, lambda v: record(v["deleted"]))


def _blob_cp(ctx: Ctx) -> Out:
    a = ctx.args
    target = a.dest_bucket if a.dest_bucket is not None else a.bucket
    ctx.bucket(target)  # NotFound rather than creating it
    info = ctx.bucket(a.bucket).copy_to(target, a.dest_name or a.name, a.name)
    return Out(object_dict(info), record)


# --- commands: transfer and maintenance -----------------------------------------------------------------


def _file_size(fh: Any) -> int | None:
    try:
        st = os.fstat(fh.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return st.st_size if st.st_size and os.path.isfile(getattr(fh, "name", "")) else None


def _import(ctx: Ctx) -> Out:
    a = ctx.args
    store = ctx.store(a.store, create=True)
    with _binary_in(ctx, a.file) as source:
        bar = ctx.progress(label=f"import {a.store}", total=_file_size(source), unit=" bytes")

        def tick(_lines: int, done_bytes: int) -> None:
            if bar is not None:
                bar.update(done_bytes)

        try:
            result = transfer.import_ndjson(
                store, source, batch=a.batch, replace=not a.add, progress=tick
            )
        finally:
            if bar is not None:
                bar.close()
    return Out({"store": a.store, "documents": result.documents, "lines": result.lines}, record)


def _export(ctx: Ctx) -> Out | None:
    a = ctx.args
    store = ctx.store(a.store)
    bar = ctx.progress(label=f"export {a.store}", total=len(store), unit=" documents")

    def tick(done: int) -> None:
        if bar is not None:
            bar.update(done)

    try:
        if a.file == "-":
            count = transfer.export_ndjson(store, ctx.stdout, prefix=a.prefix, snapshot=not a.no_snapshot,
                                           progress=tick)  # fmt: skip
            ctx.stdout.flush()
            return None  # stdout holds the data: no summary there
        count = transfer.export_ndjson(store, a.file, prefix=a.prefix, snapshot=not a.no_snapshot,
                                       progress=tick)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    return Out({"store": a.store, "documents": count, "file": a.file}, record)


def _backup(ctx: Ctx) -> Out:
    dest = ctx.engine().backup(ctx.args.dest, compact=not ctx.args.no_compact)
    return Out({"backup": os.path.abspath(dest), "compact": not ctx.args.no_compact}, record)


def _stats(ctx: Ctx) -> Out:
    from .stats import stats

    def render(v: Any) -> str:
        head = {k: v[k] for k in ("path", "app", "org", "stores", "documents", "bytes")}
        head.update({f"map_{k}": val for k, val in v["map"].items()})
        domains = [{"domain": d, **sums} for d, sums in v["domains"].items()]
        text = (
            record(head)
            + "\n\n"
            + rows_renderer(["domain", "stores", "documents", "bytes"])(domains)
        )
        if v["buckets"]:
            text += "\n\n" + rows_renderer(["name", "objects", "bytes"])(v["buckets"])
        return text

    return Out(stats(ctx.engine()), render)


def _check(ctx: Ctx) -> Out:
    problems = ctx.engine().check()

    def render(v: Any) -> str:
        return "ok: no problems found" if v["ok"] else "\n".join(["problems:", *v["problems"]])

    return Out(
        {"ok": not problems, "problems": problems}, render, code=EXIT_NOT_FOUND if problems else 0
    )


def _demo(ctx: Ctx) -> Out | None:
    from .demo import run_demo

    if ctx.args.json or not _isatty(ctx.stdout):
        return Out(run_demo(ctx.args.path, out=lambda _line: None))
    run_demo(ctx.args.path, out=lambda line: print(line, file=ctx.stdout))
    return None


def _sync(ctx: Ctx) -> Out:
    from .sync import replicate

    a = ctx.args
    direction = "push" if a.push else "pull" if a.pull else "both"
    store = ctx.store(a.store, create=direction != "push")
    bar = ctx.progress(label=f"sync {a.store} ({direction})", total=None, unit=" written")
    stop = threading.Event()

    def progress(result: Any) -> None:
        if bar is not None:
            bar.update(result.docs_written, force=True)

    with _stop_on_signals(stop, enabled=a.continuous):
        try:
            result = replicate(store, a.url, direction=direction, continuous=a.continuous,
                               stop=stop if a.continuous else None, progress=progress,
                               total_timeout=a.timeout)  # fmt: skip
        finally:
            if bar is not None:
                bar.close()
    return Out(result.to_dict(), lambda v: record({k: v[k] for k in v if k != "parts"}))


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """Ctrl-C / SIGTERM end a continuous sync cleanly (checkpoint saved) instead of killing it."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {
        sig: signal.signal(sig, lambda _s, _f: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


# --- the parser ------------------------------------------------------------------------------------------

Handler = Callable[[Ctx], "Out | None"]


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options accepted before and after the command: real defaults on top, none below."""

    def d(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument("--path", default=d(os.environ.get("DATASTORE_ENGINE_PATH") or "./datastore"),
                        help="datastore directory (default: $DATASTORE_ENGINE_PATH or ./datastore)")  # fmt: skip
    parser.add_argument(
        "--app", default=d("default"), help="application name (scopes local stores)"
    )
    parser.add_argument(
        "--org", default=d("default"), help="organization name (scopes organization stores)"
    )
    parser.add_argument("--domain", choices=DOMAINS, default=d(None),
                        help="domain of the store (default local; stores list: every domain)")  # fmt: skip
    parser.add_argument("--json", action="store_true", default=d(False),
                        help="print JSON even on a terminal")  # fmt: skip


class _Commands:
    """Adds commands to a subparsers object with the shared options, help and handler."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self.sub = subparsers
        self.common = common

    def add(self, name: str, handler: Handler | None, help: str, *, creates: bool = False,
            description: str | None = None) -> argparse.ArgumentParser:  # fmt: skip
        parser: argparse.ArgumentParser = self.sub.add_parser(
            name, help=help, description=description or help, parents=[self.common]
        )
        parser.set_defaults(handler=handler, creates=creates, command_parser=parser)
        return parser

    def group(self, name: str, help: str) -> _Commands:
        parser = self.add(name, None, help)
        return _Commands(parser.add_subparsers(title="commands", metavar="COMMAND"), self.common)


def _page_options(parser: argparse.ArgumentParser, *, count: int) -> None:
    parser.add_argument("--start", type=int, default=0, help="0-based offset of the first result")
    parser.add_argument(
        "--count", type=int, default=count, help=f"results per page (default {count})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (also used to check that each has ``--help``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Work with a datastore_engine directory: stores, documents, blobs, backups.",
    )
    _global_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, top=False)
    cmds = _Commands(parser.add_subparsers(title="commands", metavar="COMMAND"), common)

    stores = cmds.group("stores", "list, create, inspect, update and drop stores")
    p = stores.add("list", _stores_list, "list stores (every domain unless --domain)")
    p.add_argument("--filter", help="SCIM filter over store fields, e.g. 'name sw \"crm\"'")
    p.add_argument("--sort-by", default="name", help="field to sort by (default name)")
    p.add_argument("--desc", action="store_true", help="sort descending")
    _page_options(p, count=100)
    p = stores.add("create", _stores_create, "create a store", creates=True)
    p.add_argument("name", help="store name")
    p.add_argument("--description", default="", help="free text")
    p.add_argument("--owner", help="owner principal")
    p.add_argument("--max-size-mb", type=int, help="quota in MB")
    p.add_argument("--structure", help="id of a data structure to enforce")
    p.add_argument("--id", help="stable store id (default: generated)")
    for field in ("admin_access", "read_access", "write_access"):
        p.add_argument(f"--{field.replace('_', '-')}", dest=field, action="append", default=[],
                       metavar="PRINCIPAL", help=f"add a principal to {field} (repeatable)")  # fmt: skip
    p = stores.add("info", _stores_info, "show a store's info")
    p.add_argument("name", help="store name")
    p = stores.add("update", _stores_update, "change some fields of a store (name renames it)")
    p.add_argument("name", help="store name")
    p.add_argument(
        "patch",
        metavar="PATCH",
        help='JSON object of fields, e.g. \'{"description": "x"}\', or - for stdin',
    )
    p = stores.add("drop", _stores_drop, "drop stores and everything in them")
    p.add_argument("names", nargs="+", metavar="NAME", help="store names")
    p.add_argument("--yes", action="store_true", help="confirm dropping stores that hold documents")

    p = cmds.add("put", _put, "create or replace a document", creates=True)
    p.add_argument("store", help="store name (created if missing)")
    p.add_argument("rid", metavar="ID", help="document id")
    p.add_argument("value", metavar="VALUE", help="the document as JSON, or - for stdin")
    p = cmds.add("get", _get, "print a document")
    p.add_argument("store", help="store name")
    p.add_argument("rid", metavar="ID", help="document id")
    p = cmds.add(
        "merge",
        _merge,
        "deep-merge a JSON patch into a document (created if missing)",
        creates=True,
    )
    p.add_argument("store", help="store name (created if missing)")
    p.add_argument("rid", metavar="ID", help="document id")
    p.add_argument("patch", metavar="PATCH", help="the patch as JSON, or - for stdin")
    p = cmds.add("delete", _delete, "delete a document")
    p.add_argument("store", help="store name")
    p.add_argument("rid", metavar="ID", help="document id")
    p = cmds.add("keys", _keys, "list document ids in id order")
    p.add_argument("store", help="store name")
    p.add_argument("--prefix", default="", help="only ids starting with this")
    p.add_argument("--contains", default="", help="only ids containing this")

    p = cmds.add("find", _find, "query a store with a SCIM filter")
    p.add_argument("store", help="store name")
    p.add_argument(
        "filter", metavar="FILTER", help="SCIM filter, e.g. 'age ge 30 and city eq \"Oslo\"'"
    )
    p.add_argument(
        "--sort", help="sort keys, e.g. --sort=-age,name (- for descending; write it with =)"
    )
    _page_options(p, count=100)
    p.add_argument(
        "--fields",
        action="append",
        metavar="JSONPATH",
        help="project to these JSONPaths (repeatable)",
    )
    p.add_argument(
        "-i", "--ignore-case", action="store_true", help="compare strings case-insensitively"
    )
    p = cmds.add("search", _search, "query a store with an Elasticsearch-style JSON body")
    p.add_argument("store", help="store name")
    p.add_argument(
        "query", metavar="QUERY_JSON", help='e.g. \'{"query": {"match_all": {}}}\', or - for stdin'
    )

    index = cmds.group("index", "create, drop and list secondary indexes")
    p = index.add("create", _index_create, "index a dotted path of a store")
    p.add_argument("store", help="store name")
    p.add_argument("index_path", metavar="PATH", help="dotted path, e.g. address.city")
    p.add_argument("--unique", action="store_true", help="refuse two documents with the same value")
    p = index.add("drop", _index_drop, "drop an index")
    p.add_argument("store", help="store name")
    p.add_argument("index_path", metavar="PATH", help="indexed path")
    p = index.add("list", _index_list, "list a store's indexes")
    p.add_argument("store", help="store name")

    blob = cmds.group("blob", "work with buckets of blobs")
    p = blob.add("ls", _blob_ls, "list buckets, or the objects of a bucket")
    p.add_argument("bucket", nargs="?", metavar="BUCKET", help="bucket (none: list buckets)")
    p.add_argument("--prefix", default="", help="only names starting with this")
    p.add_argument("--folders", action="store_true", help="group names at the next / into folders")
    p = blob.add("put", _blob_put, "store a file (or stdin) as an object", creates=True)
    p.add_argument("bucket", metavar="BUCKET", help="bucket (created if missing)")
    p.add_argument("name", metavar="NAME", help="object name")
    p.add_argument("file", metavar="FILE", help="file to read, or - for stdin")
    p.add_argument("--content-type", help="MIME type (default: guessed from NAME)")
    p.add_argument(
        "--metadata", metavar="JSON", help='JSON object of string metadata, e.g. \'{"k": "v"}\''
    )
    p = blob.add("get", _blob_get, "write an object to a file or stdout")
    p.add_argument("bucket", metavar="BUCKET", help="bucket")
    p.add_argument("name", metavar="NAME", help="object name")
    p.add_argument("file", nargs="?", metavar="FILE", help="file to write (default: stdout)")
    p = blob.add("stat", _blob_stat, "show an object's size, etag, type and metadata")
    p.add_argument("bucket", metavar="BUCKET", help="bucket")
    p.add_argument("name", metavar="NAME", help="object name")
    p = blob.add("rm", _blob_rm, "delete objects")
    p.add_argument("bucket", metavar="BUCKET", help="bucket")
    p.add_argument("names", nargs="+", metavar="NAME", help="object names")
    p = blob.add("cp", _blob_cp, "copy an object (the content is shared, not duplicated)")
    p.add_argument("bucket", metavar="BUCKET", help="source bucket")
    p.add_argument("name", metavar="NAME", help="source object name")
    p.add_argument("dest_name", nargs="?", metavar="DEST_NAME", help="new name (default: NAME)")
    p.add_argument(
        "--to", dest="dest_bucket", metavar="BUCKET", help="target bucket (default: the same)"
    )

    p = cmds.add(
        "import", _import, 'load NDJSON (one {"_id": ...} object a line) into a store', creates=True
    )
    p.add_argument("store", help="store name (created if missing)")
    p.add_argument("file", metavar="FILE", help="NDJSON file, or - for stdin")
    p.add_argument(
        "--batch", type=int, default=transfer.DEFAULT_BATCH, help="lines per transaction"
    )
    p.add_argument(
        "--add", action="store_true", help="refuse ids that exist instead of replacing them"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p = cmds.add("export", _export, "write a store as NDJSON, one consistent snapshot")
    p.add_argument("store", help="store name")
    p.add_argument("file", metavar="FILE", help="NDJSON file to write, or - for stdout")
    p.add_argument("--prefix", default="", help="only ids starting with this")
    p.add_argument(
        "--no-snapshot", action="store_true", help="read in short batches instead of one snapshot"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = cmds.add("backup", _backup, "write a consistent, compacted copy (others may keep writing)")
    p.add_argument("dest", metavar="DEST", help="new directory for the copy; open it to restore")
    p.add_argument("--no-compact", action="store_true", help="copy free pages too (faster, bigger)")
    cmds.add("stats", _stats, "stores, documents, bytes, buckets and map use")
    cmds.add("check", _check, "full consistency check; exit 1 if anything is wrong")
    cmds.add("demo", _demo, "run the README's tour on --path (re-runnable)", creates=True)
    p = cmds.add("sync", _sync, "replicate a store with a CouchDB/PouchDB database", creates=True)
    p.add_argument("store", help="store name")
    p.add_argument("url", metavar="URL", help="peer database URL, e.g. http://127.0.0.1:5984/db")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--push", action="store_true", help="only send our changes")
    way.add_argument("--pull", action="store_true", help="only fetch the peer's changes")
    p.add_argument("--continuous", action="store_true", help="keep following changes until Ctrl-C")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="give up on an unanswering peer after this long (default 30)")  # fmt: skip
    return parser


# --- running ---------------------------------------------------------------------------------------------


def _exit_code(exc: BaseException) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _quiet_broken_pipe(stream: IO[str]) -> None:
    """Point the closed pipe's descriptor at /dev/null so the interpreter's last flush stays quiet.

    (The recipe of the Python docs' "Note on SIGPIPE".)
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _emit(ctx: Ctx, out: Out) -> None:
    as_json = ctx.args.json or not _isatty(ctx.stdout)
    text = dumps(out.value) if as_json else out.render(out.value)
    ctx.stdout.write(text + "\n")
    ctx.stdout.flush()


def main(argv: Sequence[str] | None = None, *, stdin: IO[str] | None = None,
         stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:  # fmt: skip
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "command_parser", None) or parser).print_help(stderr)
        return EXIT_USAGE
    ctx = Ctx(args, stdin, stdout, stderr)
    try:
        out = handler(ctx)
        if out is not None:
            _emit(ctx, out)
        return out.code if out is not None else EXIT_OK
    except KeyboardInterrupt:
        stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:  # `datastore-engine export s - | head`: the reader left; not an error
        _quiet_broken_pipe(stdout)
        return EXIT_OK
    except (DatastoreError, OSError) as exc:
        stderr.write(f"{PROG}: error: {_one_line(exc)}\n")
        return _exit_code(exc)
    finally:
        ctx.close()
