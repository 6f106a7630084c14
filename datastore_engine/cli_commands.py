"""The commands of ``datastore-engine`` (see :mod:`datastore_engine.cli`): one function each.

Each ``cmd_*`` function takes a :class:`Ctx` (parsed arguments, the engine
opened on demand, the streams), calls one library method and returns an
:class:`~datastore_engine.cli_format.Out` (a JSON-ready value, how people see
it, the exit code) or None when it wrote its own output (``blob get``,
``export -``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import IO, Any

from . import transfer
from .cli_format import Out, ProgressBar, object_dict, record, rows_renderer
from .engine import Engine
from .engine import open as open_engine
from .errors import Conflict, NotFound, ValidationError

__all__ = [
    "EXIT_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "Ctx",
    "cmd_backup",
    "cmd_blob_cp",
    "cmd_blob_get",
    "cmd_blob_ls",
    "cmd_blob_put",
    "cmd_blob_rm",
    "cmd_blob_stat",
    "cmd_check",
    "cmd_collect_attachments",
    "cmd_delete",
    "cmd_demo",
    "cmd_export",
    "cmd_find",
    "cmd_get",
    "cmd_import",
    "cmd_index_create",
    "cmd_index_drop",
    "cmd_index_list",
    "cmd_keys",
    "cmd_merge",
    "cmd_put",
    "cmd_search",
    "cmd_stats",
    "cmd_stores_create",
    "cmd_stores_drop",
    "cmd_stores_info",
    "cmd_stores_list",
    "cmd_stores_update",
    "cmd_sync",
    "isatty",
]

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
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
        if getattr(self.args, "quiet", False) or not isatty(self.stderr):
            return None
        return ProgressBar(self.stderr, label=label, total=total, unit=unit)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def isatty(stream: IO[str]) -> bool:
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


def cmd_stores_list(ctx: Ctx) -> Out:
    a = ctx.args
    page = ctx.engine().stores(
        a.domain, filter=a.filter, sort_by=a.sort_by, sort_dir="desc" if a.desc else "asc",
        start=a.start, count=a.count,
    )  # fmt: skip
    value = {"total": page.total, "start": page.start, "count": page.count,
             "items": [i.to_dict() for i in page]}  # fmt: skip
    return Out(value, rows_renderer(STORE_COLUMNS, key="items"))


def cmd_stores_create(ctx: Ctx) -> Out:
    a = ctx.args
    info = ctx.engine().create_store(
        a.name, domain=ctx.domain, description=a.description, owner=a.owner, max_size_mb=a.max_size_mb,
        structure=a.structure, id=a.id, admin_access=a.admin_access, read_access=a.read_access,
        write_access=a.write_access,
    )  # fmt: skip
    return Out(info.to_dict(), record)


def cmd_stores_info(ctx: Ctx) -> Out:
    return Out(ctx.engine().store_info(ctx.args.name, domain=ctx.domain).to_dict(), record)


def cmd_stores_update(ctx: Ctx) -> Out:
    patch = _json_object(ctx, ctx.args.patch, "PATCH")
    return Out(
        ctx.engine().update_store(ctx.args.name, domain=ctx.domain, **patch).to_dict(), record
    )


def cmd_stores_drop(ctx: Ctx) -> Out:
    try:
        ids = ctx.engine().drop_stores(ctx.args.names, domain=ctx.domain, confirmed=ctx.args.yes)
    except Conflict as exc:  # the library's hint names its keyword; the user's is --yes
        raise Conflict(str(exc).replace("pass confirmed=True", "add --yes")) from exc
    return Out({"dropped": ctx.args.names, "ids": ids}, record)


# --- commands: documents --------------------------------------------------------------------------------


def cmd_put(ctx: Ctx) -> Out:
    a = ctx.args
    doc = _json_arg(ctx, a.value, "VALUE")
    return Out({"_id": a.rid, "rev": ctx.store(a.store, create=True).put(a.rid, doc)}, record)


def cmd_get(ctx: Ctx) -> Out:
    return Out(ctx.store(ctx.args.store).get(ctx.args.rid))


def cmd_merge(ctx: Ctx) -> Out:
    a = ctx.args
    patch = _json_arg(ctx, a.patch, "PATCH")
    return Out({"_id": a.rid, "rev": ctx.store(a.store, create=True).merge(a.rid, patch)}, record)


def cmd_delete(ctx: Ctx) -> Out:
    a = ctx.args
    return Out({"_id": a.rid, "rev": ctx.store(a.store).delete(a.rid), "deleted": True}, record)


def cmd_keys(ctx: Ctx) -> Out:
    a = ctx.args
    return Out(ctx.store(a.store).keys(prefix=a.prefix, contains=a.contains))


def cmd_find(ctx: Ctx) -> Out:
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


def cmd_search(ctx: Ctx) -> Out:
    body = _json_object(ctx, ctx.args.query, "QUERY_JSON")
    result = ctx.store(ctx.args.store).search(body)

    def render(v: Any) -> str:
        hits = v.get("hits", {})
        rows = [{"_id": h.get("_id"), "_score": h.get("_score"), "_source": h.get("_source")}
                for h in hits.get("hits", [])]  # fmt: skip
        total = hits.get("total", {})
        return rows_renderer(["_id", "_score", "_source"])(rows) + f"\n(total {_cell_total(total)})"

    return Out(result, render)


def _cell_total(total: Any) -> str:
    return str(total.get("value")) if isinstance(total, dict) else str(total)


def cmd_index_create(ctx: Ctx) -> Out:
    a = ctx.args
    ctx.store(a.store).create_index(a.index_path, unique=a.unique)
    return Out({"store": a.store, "path": a.index_path, "unique": a.unique}, record)


def cmd_index_drop(ctx: Ctx) -> Out:
    a = ctx.args
    ctx.store(a.store).drop_index(a.index_path)
    return Out({"store": a.store, "path": a.index_path, "dropped": True}, record)


def cmd_index_list(ctx: Ctx) -> Out:
    return Out(ctx.store(ctx.args.store).indexes(), rows_renderer(["path", "unique"]))


# --- commands: blobs -------------------------------------------------------------------------------------


def cmd_blob_ls(ctx: Ctx) -> Out:
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


def cmd_blob_put(ctx: Ctx) -> Out:
    a = ctx.args
    metadata = _json_object(ctx, a.metadata, "--metadata") if a.metadata else None
    bucket = ctx.bucket(a.bucket, create=True)
    with _binary_in(ctx, a.file) as data:
        info = bucket.put(a.name, data, content_type=a.content_type, metadata=metadata)
    return Out(object_dict(info), record)


def cmd_blob_get(ctx: Ctx) -> Out | None:
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


def cmd_blob_stat(ctx: Ctx) -> Out:
    return Out(object_dict(ctx.bucket(ctx.args.bucket).stat(ctx.args.name)), record)


def cmd_blob_rm(ctx: Ctx) -> Out:
    a = ctx.args
    bucket = ctx.bucket(a.bucket)
    if len(a.names) == 1:
        bucket.delete(a.names[0])
        return Out({"deleted": {a.names[0]: True}}, lambda v: record(v["deleted"]))
    return Out({"deleted": bucket.delete(a.names)}, lambda v: record(v["deleted"]))


def cmd_blob_cp(ctx: Ctx) -> Out:
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


def cmd_import(ctx: Ctx) -> Out:
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


def cmd_export(ctx: Ctx) -> Out | None:
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


def cmd_backup(ctx: Ctx) -> Out:
    dest = ctx.engine().backup(ctx.args.dest, compact=not ctx.args.no_compact)
    return Out({"backup": os.path.abspath(dest), "compact": not ctx.args.no_compact}, record)


def cmd_stats(ctx: Ctx) -> Out:
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


def cmd_check(ctx: Ctx) -> Out:
    problems = ctx.engine().check()

    def render(v: Any) -> str:
        return "ok: no problems found" if v["ok"] else "\n".join(["problems:", *v["problems"]])

    return Out(
        {"ok": not problems, "problems": problems}, render, code=EXIT_NOT_FOUND if problems else 0
    )


def cmd_demo(ctx: Ctx) -> Out | None:
    from .demo import run_demo

    if ctx.args.json or not isatty(ctx.stdout):
        return Out(run_demo(ctx.args.path, out=lambda _line: None))
    run_demo(ctx.args.path, out=lambda line: print(line, file=ctx.stdout))
    return None


def cmd_sync(ctx: Ctx) -> Out:
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


def cmd_collect_attachments(ctx: Ctx) -> Out:
    from .sync import collect_attachments

    a = ctx.args
    grace = {} if a.grace is None else {"grace": a.grace}  # None: the library's default
    result = collect_attachments(ctx.store(a.store), dry_run=a.dry_run, **grace)

    def render(v: Any) -> str:
        counts = record({k: len(x) if isinstance(x, list) else x for k, x in v.items()})
        heading = "would remove:" if v["dry_run"] else "removed:"
        return "\n".join([counts, "", heading, *v["removed"]]) if v["removed"] else counts

    return Out(result.to_dict(), render)


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
