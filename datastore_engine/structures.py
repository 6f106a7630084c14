"""Data structures (Make's): typed field lists that validate every write to a bound store.

A structure is a list of fields; a field is a dict::

    {"name": "tags", "type": "array", "required": False, "default": None, "spec": {"type": "text"}}

``type`` is one of ``text number boolean date array collection any``. ``spec``
is the item field of an ``array`` (``{"type": ..., "spec": ...}``; ``None``
means items of any type) and the list of fields of a ``collection``; other
types take no spec. ``date`` is an ISO-8601 date or date-time string
(``2026-11-30`` or ``2026-11-30T07:44:39.123Z``), stored as given.

Rules of a write to a bound store (the document is the top-level collection):

* A missing field with a ``default`` is **filled in on write** (as Make does),
  in nested collections too; the stored document holds the default.
* A required field that is missing (with no default) or ``null`` is a
  violation. ``null`` is accepted for a field that is not required.
* ``strict=True`` refuses fields the structure does not name, at every level.
* Every violation is collected, with its dotted path (``address.city``,
  ``tags.2``; ``""`` is the document itself), into one
  :class:`~datastore_engine.errors.StructureViolation`.

Existing documents are not re-checked when a store is bound to a structure or
a structure changes; the next write of each document is.

Structures live in the ``structures`` sub-database, keyed by id, and are
shared by every app of the file. A store embeds the definition of its
structure in its catalog record, so the write path needs no extra read.

Example:
    >>> check = compile_validator(normalize_fields([
    ...     {"name": "name", "type": "text", "required": True},
    ...     {"name": "tags", "type": "array", "spec": {"type": "text"}, "default": []},
    ... ]), strict=False)
    >>> check({"name": "ada"}, store="people")
    {'name': 'ada', 'tags': []}
    >>> check({"tags": ["a", 2]}, store="people")
    Traceback (most recent call last):
    ...
    datastore_engine.errors.StructureViolation: write to store 'people' breaks its structure: name: is required; tags.1: must be text, got int
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from . import codec
from .errors import Conflict, NotFound, StructureViolation, ValidationError
from .keys import check_store_name

if TYPE_CHECKING:
    from .engine import Engine, WriteCtx

__all__ = [
    "FIELD_TYPES",
    "Structure",
    "Validator",
    "compile_validator",
    "create_structure",
    "drop_structure",
    "get_structure",
    "list_structures",
    "normalize_fields",
    "update_structure",
]

Validator = Callable[..., Any]
_U64 = struct.Struct(">Q")
_MAX_ID_CHARS = 128
_MAX_DEPTH = 32


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 8 or not value[:4].isdigit():
        return False
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(value)
        except ValueError:
            continue
        return True
    return False


#: Field type -> (test of a non-null value, what the error says it must be).
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str), "text"),
    "number": (lambda v: type(v) in (int, float), "a number"),
    "boolean": (lambda v: type(v) is bool, "a boolean"),
    "date": (_is_date, "an ISO-8601 date or date-time string"),
    "array": (lambda v: isinstance(v, list), "an array"),
    "collection": (lambda v: isinstance(v, dict), "a collection (object)"),
    "any": (lambda v: True, "anything"),
}
FIELD_TYPES = tuple(_TYPES)
_FIELD_KEYS = frozenset({"name", "type", "required", "default", "spec", "label", "help"})
_ITEM_KEYS = frozenset({"name", "type", "spec", "label", "help"})


@dataclass(frozen=True)
class Structure:
    """A data structure: ``id``, ``name``, normalized ``fields``, ``strict``, timestamps."""

    id: str
    name: str
    fields: list[dict[str, Any]]
    strict: bool
    created: str
    last_modified: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "id": self.id,
            "name": self.name,
            "fields": copy.deepcopy(self.fields),
            "strict": self.strict,
            "created": self.created,
            "last_modified": self.last_modified,
        }


# --- definitions ---------------------------------------------------------------------


def _spec(ftype: str, spec: Any, where: str, depth: int) -> Any:
    if ftype == "array":
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise ValidationError(
                f"{where}: the spec of an array is its item field, like {{'type': 'text'}}"
            )
        unknown = set(spec) - _ITEM_KEYS
        if unknown:
            raise ValidationError(f"{where}: unknown item field keys {sorted(unknown)}")
        item_type = _type(spec.get("type"), f"{where} items")
        return {
            "type": item_type,
            "spec": _spec(item_type, spec.get("spec"), f"{where} items", depth + 1),
        }
    if ftype == "collection":
        if spec is None:
            return []
        return _fields(spec, where, depth + 1)
    if spec is not None:
        raise ValidationError(f"{where}: a field of type {ftype!r} takes no spec")
    return None


def _type(value: Any, where: str) -> str:
    if value not in _TYPES:
        raise ValidationError(
            f"{where}: type must be one of {', '.join(FIELD_TYPES)}; got {value!r}"
        )
    return str(value)


def _field(raw: Any, where: str, depth: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: a field is a dict with name and type, got {raw!r}")
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise ValidationError(f"{where}: unknown field keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "." in name:
        raise ValidationError(
            f"{where}: field name must be a non-empty str without '.', got {name!r}"
        )
    where = f"{where} {name!r}"
    ftype = _type(raw.get("type"), where)
    required = raw.get("required", False)
    if type(required) is not bool:
        raise ValidationError(f"{where}: required must be True or False, got {required!r}")
    field = {
        "name": name,
        "type": ftype,
        "required": required,
        "default": None,
        "spec": _spec(ftype, raw.get("spec"), where, depth),
    }
    default = raw.get("default")
    if default is not None:
        codec.check_value(default, where=f"the default of {where}")
        problems: list[tuple[str, str]] = []
        _check_value(field, default, name, False, problems)
        if problems:
            raise ValidationError(
                f"{where}: default {default!r} does not fit: {_describe(problems)}"
            )
        field["default"] = copy.deepcopy(default)
    return field


def _fields(raw: Any, where: str, depth: int) -> list[dict[str, Any]]:
    if depth > _MAX_DEPTH:
        raise ValidationError(f"{where}: collections nest deeper than {_MAX_DEPTH}")
    if isinstance(raw, str | bytes | Mapping) or not hasattr(raw, "__iter__"):
        raise ValidationError(f"{where}: fields must be a list of field dicts, got {raw!r}")
    out = [_field(item, f"{where} field {i}", depth) for i, item in enumerate(raw)]
    names = [f["name"] for f in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"{where}: field names must be unique, repeated: {dupes}")
    return out


def normalize_fields(fields: Any) -> list[dict[str, Any]]:
    """Check a field list and return it with every key filled in; ValidationError names the field.

    >>> normalize_fields([{"name": "n", "type": "number"}])
    [{'name': 'n', 'type': 'number', 'required': False, 'default': None, 'spec': None}]
    """
    return _fields(fields, "structure", 0)


# --- validation ------------------------------------------------------------------------


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_value(field: Mapping[str, Any], value: Any, path: str, strict: bool,
                 problems: list[tuple[str, str]]) -> Any:  # fmt: skip
    """``value`` (non-missing) checked against ``field``; returns it, with defaults filled in."""
    if value is None:
        if field.get("required"):
            problems.append((path, "is required (null given)"))
        return value
    test, what = _TYPES[field["type"]]
    if not test(value):
        problems.append((path, f"must be {what}, got {type(value).__name__}"))
        return value
    spec = field.get("spec")
    if field["type"] == "collection":
        return _check_object(spec or [], value, path, strict, problems)
    if field["type"] == "array" and spec is not None:
        out = value
        for i, item in enumerate(value):
            if item is None:
                problems.append(
                    (_join(path, str(i)), f"must be {_TYPES[spec['type']][1]}, got null")
                )
                continue
            checked = _check_value(spec, item, _join(path, str(i)), strict, problems)
            if checked is not item:
                if out is value:
                    out = list(value)
                out[i] = checked
        return out
    return value


def _check_object(fields: list[dict[str, Any]], obj: dict[str, Any], path: str, strict: bool,
                  problems: list[tuple[str, str]]) -> dict[str, Any]:  # fmt: skip
    out = obj
    for field in fields:
        name = field["name"]
        where = _join(path, name)
        if name not in obj:
            if field["default"] is not None:
                if out is obj:
                    out = dict(obj)
                # A filled-in collection gets its own nested defaults too.
                filled = copy.deepcopy(field["default"])
                out[name] = _check_value(field, filled, where, strict, problems)
            elif field["required"]:
                problems.append((where, "is required"))
            continue
        value = obj[name]
        checked = _check_value(field, value, where, strict, problems)
        if checked is not value:
            if out is obj:
                out = dict(obj)
            out[name] = checked
    if strict:
        known = {f["name"] for f in fields}
        problems.extend((_join(path, k), "is not in the structure") for k in obj if k not in known)
    return out


def _describe(problems: list[tuple[str, str]]) -> str:
    return "; ".join(f"{path or '(document)'}: {problem}" for path, problem in problems)


def compile_validator(fields: list[dict[str, Any]], *, strict: bool) -> Validator:
    """``validator(doc, store=name) -> doc`` for normalized ``fields``.

    Returns the document with defaults filled in (the same object when nothing
    was filled), or raises :class:`StructureViolation` listing every violation.
    """

    def validator(doc: Any, *, store: str = "") -> Any:
        problems: list[tuple[str, str]] = []
        if not isinstance(doc, dict):
            problems.append(("", f"must be a collection (object), got {type(doc).__name__}"))
            out = doc
        else:
            out = _check_object(fields, doc, "", strict, problems)
        if problems:
            raise StructureViolation(
                f"write to store {store!r} breaks its structure: {_describe(problems)}",
                violations=problems,
            )
        return out

    return validator


def validator_of(definition: Mapping[str, Any] | None) -> Validator | None:
    """The validator of a store's embedded structure definition (None without one)."""
    if not definition:
        return None
    return compile_validator(list(definition["fields"]), strict=bool(definition.get("strict")))


# --- storage ------------------------------------------------------------------------------


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_CHARS:
        raise ValidationError(
            f"structure id must be a str of 1-{_MAX_ID_CHARS} characters, got {value!r}"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(f"structure id must not contain control characters: {value!r}")
    return value


def _from_record(record: Mapping[str, Any]) -> Structure:
    from .catalog import iso_ms

    return Structure(
        id=str(record["id"]),
        name=str(record["name"]),
        fields=copy.deepcopy(list(record["fields"])),
        strict=bool(record["strict"]),
        created=iso_ms(int(record["created"])),
        last_modified=iso_ms(int(record["modified"])),
    )


def embedded(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a store's catalog record embeds of a structure record."""
    return {"id": record["id"], "fields": record["fields"], "strict": record["strict"]}


def read_record(txn: Any, dbs: Mapping[str, Any], structure_id: str) -> dict[str, Any]:
    """The stored record of a structure; NotFound if there is none."""
    raw = txn.get(structure_id.encode(), db=dbs["structures"])
    if raw is None:
        raise NotFound(f"structure {structure_id!r} does not exist")
    record: dict[str, Any] = codec.decode(raw, key=structure_id)
    return record


def _next_id(ctx: WriteCtx) -> str:
    meta, db = ctx.dbs["meta"], ctx.dbs["structures"]
    raw = ctx.txn.get(b"next_structure_id", db=meta)
    n = _U64.unpack(raw)[0] if raw else 1
    while ctx.txn.get(str(n).encode(), db=db) is not None:  # an explicit id took it
        n += 1
    ctx.txn.put(b"next_structure_id", _U64.pack(n + 1), db=meta)
    return str(n)


def create_structure(
    engine: Engine, name: str, fields: Any, *, strict: bool, structure_id: str | None
) -> Structure:
    """Store a new structure; Conflict if ``structure_id`` is taken."""
    from .catalog import now_ms

    check_store_name(name)
    if type(strict) is not bool:
        raise ValidationError(f"strict must be True or False, got {strict!r}")
    normalized = normalize_fields(fields)
    if structure_id is not None:
        _check_id(structure_id)

    def op(ctx: WriteCtx) -> dict[str, Any]:
        sid = structure_id
        if sid is None:
            sid = _next_id(ctx)
        elif ctx.txn.get(sid.encode(), db=ctx.dbs["structures"]) is not None:
            raise Conflict(f"structure id {sid!r} is taken")
        stamp = now_ms()
        record = {
            "id": sid,
            "name": name,
            "fields": normalized,
            "strict": strict,
            "created": stamp,
            "modified": stamp,
        }
        ctx.txn.put(sid.encode(), codec.encode(record), db=ctx.dbs["structures"])
        return record

    return _from_record(engine._env.run_write(op))


def get_structure(engine: Engine, structure_id: str) -> Structure:
    """The structure ``structure_id``; NotFound if missing."""
    _check_id(structure_id)
    env = engine._env
    with env.reading() as txn:
        return _from_record(read_record(txn, env.dbs, structure_id))


def list_structures(engine: Engine) -> list[Structure]:
    """Every structure of the file, by name then id."""
    env = engine._env
    with env.reading() as txn:
        records = [codec.decode(raw) for _key, raw in txn.cursor(db=env.dbs["structures"])]
    return sorted((_from_record(r) for r in records), key=lambda s: (s.name, s.id))


def _users(ctx: WriteCtx, structure_id: str) -> list[tuple[bytes, dict[str, Any]]]:
    """(catalog key, record) of every store, of any app or org, bound to ``structure_id``."""
    out = []
    for key, raw in ctx.txn.cursor(db=ctx.dbs["catalog"]):
        record = codec.decode(raw)
        if record.get("structure") == structure_id:
            out.append((bytes(key), record))
    return out


_UNSET: Any = object()


def update_structure(engine: Engine, structure_id: str, *, name: Any = _UNSET, fields: Any = _UNSET,
                     strict: Any = _UNSET) -> Structure:  # fmt: skip
    """Change the given parts of a structure; stores bound to it validate by the new one from now on."""
    from .catalog import bump_version, now_ms

    _check_id(structure_id)
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = check_store_name(name)
    if fields is not _UNSET:
        changes["fields"] = normalize_fields(fields)
    if strict is not _UNSET:
        if type(strict) is not bool:
            raise ValidationError(f"strict must be True or False, got {strict!r}")
        changes["strict"] = strict

    def op(ctx: WriteCtx) -> dict[str, Any]:
        record = read_record(ctx.txn, ctx.dbs, structure_id)
        record.update(changes, modified=now_ms())
        ctx.txn.put(structure_id.encode(), codec.encode(record), db=ctx.dbs["structures"])
        users = _users(ctx, structure_id) if "fields" in changes or "strict" in changes else []
        for ckey, store_record in users:
            store_record["structure_def"] = embedded(record)
            ctx.txn.put(ckey, codec.encode(store_record), db=ctx.dbs["catalog"])
        if users:
            bump_version(ctx)
        return record

    return _from_record(engine._env.run_write(op))


def drop_structure(engine: Engine, structure_id: str) -> None:
    """Delete a structure; Conflict while a store is bound to it."""
    _check_id(structure_id)

    def op(ctx: WriteCtx) -> None:
        read_record(ctx.txn, ctx.dbs, structure_id)
        users = _users(ctx, structure_id)
        if users:
            names = ", ".join(repr(r["name"]) for _k, r in users[:5])
            raise Conflict(
                f"structure {structure_id!r} is used by {len(users)} store(s) ({names}); "
                "unbind them first (update_store(name, structure=None))"
            )
        ctx.txn.delete(structure_id.encode(), db=ctx.dbs["structures"])

    engine._env.run_write(op)
