"""The ``datastore-engine`` command: a thin shell over the public API.

Each command (:mod:`.cli_commands`) parses its arguments, calls one library
method and formats what comes back (:mod:`.cli_format`): JSON when stdout is not a terminal or with ``--json`` (before or
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
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from . import transfer
from .cli_commands import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    Ctx,
    cmd_backup,
    cmd_blob_cp,
    cmd_blob_get,
    cmd_blob_ls,
    cmd_blob_put,
    cmd_blob_rm,
    cmd_blob_stat,
    cmd_check,
    cmd_collect_attachments,
    cmd_delete,
    cmd_demo,
    cmd_export,
    cmd_find,
    cmd_get,
    cmd_import,
    cmd_index_create,
    cmd_index_drop,
    cmd_index_list,
    cmd_keys,
    cmd_merge,
    cmd_put,
    cmd_search,
    cmd_stats,
    cmd_stores_create,
    cmd_stores_drop,
    cmd_stores_info,
    cmd_stores_list,
    cmd_stores_update,
    cmd_sync,
    isatty,
)
from .cli_format import Out, dumps
from .errors import DatastoreError, NotFound, ValidationError
from .keys import DOMAINS

__all__ = ["EXIT_CODES", "build_parser", "main"]

PROG = "datastore-engine"
#: Error type -> exit code, first match wins (NotFound before its KeyError base, ours before OSError).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (NotFound, EXIT_NOT_FOUND),
    (ValidationError, EXIT_USAGE),
    (DatastoreError, EXIT_ERROR),
    (FileNotFoundError, EXIT_NOT_FOUND),
    (IsADirectoryError, EXIT_USAGE),
    (OSError, EXIT_ERROR),
)

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
    p = stores.add("list", cmd_stores_list, "list stores (every domain unless --domain)")
    p.add_argument("--filter", help="SCIM filter over store fields, e.g. 'name sw \"crm\"'")
    p.add_argument("--sort-by", default="name", help="field to sort by (default name)")
    p.add_argument("--desc", action="store_true", help="sort descending")
    _page_options(p, count=100)
    p = stores.add("create", cmd_stores_create, "create a store", creates=True)
    p.add_argument("name", help="store name")
    p.add_argument("--description", default="", help="free text")
    p.add_argument("--owner", help="owner principal")
    p.add_argument("--max-size-mb", type=int, help="quota in MB")
    p.add_argument("--structure", help="id of a data structure to enforce")
    p.add_argument("--id", help="stable store id (default: generated)")
    for field in ("admin_access", "read_access", "write_access"):
        p.add_argument(f"--{field.replace('_', '-')}", dest=field, action="append", default=[],
                       metavar="PRINCIPAL", help=f"add a principal to {field} (repeatable)")  # fmt: skip
    p = stores.add("info", cmd_stores_info, "show a store's info")
    p.add_argument("name", help="store name")
    p = stores.add("update", cmd_stores_update, "change some fields of a store (name renames it)")
    p.add_argument("name", help="store name")
    p.add_argument(
        "patch",
        metavar="PATCH",
        help='JSON object of fields, e.g. \'{"description": "x"}\', or - for stdin',
    )
    p = stores.add("drop", cmd_stores_drop, "drop stores and everything in them")
    p.add_argument("names", nargs="+", metavar="NAME", help="store names")
    p.add_argument("--yes", action="store_true", help="confirm dropping stores that hold documents")

    p = cmds.add("put", cmd_put, "create or replace a document", creates=True)
    p.add_argument("store", help="store name (created if missing)")
    p.add_argument("rid", metavar="ID", help="document id")
    p.add_argument("value", metavar="VALUE", help="the document as JSON, or - for stdin")
    p = cmds.add("get", cmd_get, "print a document")
    p.add_argument("store", help="store name")
    p.add_argument("rid", metavar="ID", help="document id")
    p = cmds.add(
        "merge",
        cmd_merge,
        "deep-merge a JSON patch into a document (created if missing)",
        creates=True,
    )
    p.add_argument("store", help="store name (created if missing)")
    p.add_argument("rid", metavar="ID", help="document id")
    p.add_argument("patch", metavar="PATCH", help="the patch as JSON, or - for stdin")
    p = cmds.add("delete", cmd_delete, "delete a document")
    p.add_argument("store", help="store name")
    p.add_argument("rid", metavar="ID", help="document id")
    p = cmds.add("keys", cmd_keys, "list document ids in id order")
    p.add_argument("store", help="store name")
    p.add_argument("--prefix", default="", help="only ids starting with this")
    p.add_argument("--contains", default="", help="only ids containing this")

    p = cmds.add("find", cmd_find, "query a store with a SCIM filter")
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
    p = cmds.add("search", cmd_search, "query a store with an Elasticsearch-style JSON body")
    p.add_argument("store", help="store name")
    p.add_argument(
        "query", metavar="QUERY_JSON", help='e.g. \'{"query": {"match_all": {}}}\', or - for stdin'
    )

    index = cmds.group("index", "create, drop and list secondary indexes")
    p = index.add("create", cmd_index_create, "index a dotted path of a store")
    p.add_argument("store", help="store name")
    p.add_argument("index_path", metavar="PATH", help="dotted path, e.g. address.city")
    p.add_argument("--unique", action="store_true", help="refuse two documents with the same value")
    p = index.add("drop", cmd_index_drop, "drop an index")
    p.add_argument("store", help="store name")
    p.add_argument("index_path", metavar="PATH", help="indexed path")
    p = index.add("list", cmd_index_list, "list a store's indexes")
    p.add_argument("store", help="store name")

    blob = cmds.group("blob", "work with buckets of blobs")
    p = blob.add("ls", cmd_blob_ls, "list buckets, or the objects of a bucket")
    p.add_argument("bucket", nargs="?", metavar="BUCKET", help="bucket (none: list buckets)")
    p.add_argument("--prefix", default="", help="only names starting with this")
    p.add_argument("--folders", action="store_true", help="group names at the next / into folders")
    p = blob.add("put", cmd_blob_put, "store a file (or stdin) as an object", creates=True)
    p.add_argument("bucket", metavar="BUCKET", help="bucket (created if missing)")
    p.add_argument("name", metavar="NAME", help="object name")
    p.add_argument("file", metavar="FILE", help="file to read, or - for stdin")
    p.add_argument("--content-type", help="MIME type (default: guessed from NAME)")
    p.add_argument(
        "--metadata", metavar="JSON", help='JSON object of string metadata, e.g. \'{"k": "v"}\''
    )
    p = blob.add("get", cmd_blob_get, "write an object to a file or stdout")
    p.add_argument("bucket", metavar="BUCKET", help="bucket")
    p.add_argument("name", metavar="NAME", help="object name")
    p.add_argument("file", nargs="?", metavar="FILE", help="file to write (default: stdout)")
    p = blob.add("stat", cmd_blob_stat, "show an object's size, etag, type and metadata")
    p.add_argument("bucket", metavar="BUCKET", help="bucket")
    p.add_argument("name", metavar="NAME", help="object name")
    p = blob.add("rm", cmd_blob_rm, "delete objects")
    p.add_argument("bucket", metavar="BUCKET", help="bucket")
    p.add_argument("names", nargs="+", metavar="NAME", help="object names")
    p = blob.add("cp", cmd_blob_cp, "copy an object (the content is shared, not duplicated)")
    p.add_argument("bucket", metavar="BUCKET", help="source bucket")
    p.add_argument("name", metavar="NAME", help="source object name")
    p.add_argument("dest_name", nargs="?", metavar="DEST_NAME", help="new name (default: NAME)")
    p.add_argument(
        "--to", dest="dest_bucket", metavar="BUCKET", help="target bucket (default: the same)"
    )

    p = cmds.add(
        "import",
        cmd_import,
        'load NDJSON (one {"_id": ...} object a line) into a store',
        creates=True,
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
    p = cmds.add("export", cmd_export, "write a store as NDJSON, one consistent snapshot")
    p.add_argument("store", help="store name")
    p.add_argument("file", metavar="FILE", help="NDJSON file to write, or - for stdout")
    p.add_argument("--prefix", default="", help="only ids starting with this")
    p.add_argument(
        "--no-snapshot", action="store_true", help="read in short batches instead of one snapshot"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = cmds.add(
        "backup", cmd_backup, "write a consistent, compacted copy (others may keep writing)"
    )
    p.add_argument("dest", metavar="DEST", help="new directory for the copy; open it to restore")
    p.add_argument("--no-compact", action="store_true", help="copy free pages too (faster, bigger)")
    cmds.add("stats", cmd_stats, "stores, documents, bytes, buckets and map use")
    cmds.add("check", cmd_check, "full consistency check; exit 1 if anything is wrong")
    cmds.add("demo", cmd_demo, "run the README's tour on --path (re-runnable)", creates=True)
    p = cmds.add(
        "sync", cmd_sync, "replicate a store with a CouchDB/PouchDB database", creates=True
    )
    p.add_argument("store", help="store name")
    p.add_argument("url", metavar="URL", help="peer database URL, e.g. http://127.0.0.1:5984/db")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--push", action="store_true", help="only send our changes")
    way.add_argument("--pull", action="store_true", help="only fetch the peer's changes")
    p.add_argument("--continuous", action="store_true", help="keep following changes until Ctrl-C")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="give up on an unanswering peer after this long (default 30)")  # fmt: skip
    p = cmds.add(
        "collect-attachments",
        cmd_collect_attachments,
        "delete a store's attachment blobs that no kept revision names (like CouchDB compaction)",
    )
    p.add_argument("store", help="store name")
    p.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    p.add_argument("--grace", type=float, metavar="SECONDS",
                   help="keep blobs written less than this long ago: a revision may be about "
                        "to name them (default 3600, an hour)")  # fmt: skip
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
    as_json = ctx.args.json or not isatty(ctx.stdout)
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
