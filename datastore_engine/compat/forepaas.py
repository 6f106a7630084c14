"""The ForePaaS datastore and bucket connectors over the engine's blob store (seed 003).

``connect("data_store")`` gives a :class:`Datastore` connector (the bucket
container); ``connect("data_store/<bucket>")`` a :class:`BucketConnector` on an
existing bucket (:class:`~datastore_engine.errors.NotFound` otherwise).
``connect(name, engine=...)`` uses that engine; without one it opens the engine
in :func:`~datastore_engine.compat.default_path` (``$DATASTORE_ENGINE_PATH`` or
``./datastore``), closed by the connector's ``close()`` (or ``with``, or when
garbage-collected).

Return types are the seed's:

* ``Datastore.list(return_type)``: bucket names, a list (``"array"``) or a
  comma-separated str (``"str"``); ``get_buckets()`` a list of connectors;
  ``create_bucket``/``remove_bucket`` ``True`` on success and ``False`` when the
  bucket already exists / does not exist or is not empty (a bad name raises
  ValidationError); ``bucket_exists`` a bool.
* ``BucketConnector.list(metadata, recursive)``: MinIO-like objects
  (:class:`~datastore_engine.ObjectInfo`: ``object_name``, ``size``, ``etag``,
  ``content_type``, ``last_modified``, ``metadata``, ``is_dir``);
  ``recursive=False`` yields folders (``is_dir``) for names under a ``/``;
  ``metadata=False`` leaves ``metadata`` empty. ``list_filename`` names, as a
  list or a comma-separated str. ``prefix=`` and ``start_after=`` pass through.
* ``get`` a response with ``.stream(n)``, ``.read()`` and ``.release_conn()``;
  ``fget``/``stat`` object info (``stat`` of a list: a list); ``put``/``fput``
  /``put_request`` the etag (MD5 hex) str; ``fcopy_to`` the new object's info.
* ``delete(path)``: ``True`` if it was deleted, ``False`` if it did not exist
  (S3 deletes are idempotent); ``delete([paths])`` a ``{path: bool}`` dict.
* ``put_request(url, path, ...)``: fetches ``url`` (http/https only) into
  ``path``; an empty ``path`` or one ending in ``/`` gets the URL's file name
  appended.

Example:
    >>> import datastore_engine as dse
    >>> with dse.open_temporary() as engine:
    ...     ds = connect("data_store", engine=engine)
    ...     ds.create_bucket("my_bucket")
    ...     bucket = ds.get_bucket("my_bucket")
    ...     len(bucket.put("file_name.csv", b"a,b\\n", 4))
    ...     bucket.get("file_name.csv").read()
    True
    32
    b'a,b\\n'
"""

from __future__ import annotations

import builtins
import dataclasses
import posixpath
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from ..blobs import Bucket
from ..engine import Engine
from ..errors import Conflict, NotFound, ValidationError
from ._common import default_path

if TYPE_CHECKING:
    from ..blobkeys import ObjectInfo
    from ..blobs import ObjectStream

__all__ = ["BucketConnector", "Datastore", "connect"]

ROOT = "data_store"


def _joined(names: list[str], return_type: str) -> list[str] | str:
    if return_type == "array":
        return names
    if return_type == "str":
        return ",".join(names)
    raise ValidationError(f"return_type must be 'array' or 'str', got {return_type!r}")


class _Connector:
    def __init__(self, engine: Engine, *, own: bool) -> None:
        self.engine = engine
        self._own = own

    def close(self) -> None:
        """Close the engine if ``connect`` opened it."""
        if self._own:
            self.engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Datastore(_Connector):
    """The Datastore connector: the buckets of the engine."""

    @overload
    def list(self, return_type: Literal["array"] = "array") -> builtins.list[str]: ...
    @overload
    def list(self, return_type: Literal["str"]) -> str: ...
    @overload
    def list(self, return_type: str) -> builtins.list[str] | str: ...
    def list(self, return_type: str = "array") -> builtins.list[str] | str:
        """Bucket names, by name: a list, or a comma-separated str (``return_type="str"``)."""
        return _joined([b.name for b in self.engine.buckets()], return_type)

    def get_buckets(self) -> builtins.list[BucketConnector]:
        """A connector per bucket, by name."""
        return [BucketConnector(self.engine, b.name, own=False) for b in self.engine.buckets()]

    def get_bucket(self, name: str) -> BucketConnector:
        """The connector of bucket ``name``; NotFound if it does not exist."""
        return BucketConnector(self.engine, name, own=False)

    def create_bucket(self, name: str) -> bool:
        """Create bucket ``name``: True, or False if it already exists."""
        try:
            self.engine.create_bucket(name)
        except Conflict:
            return False
        return True

    def remove_bucket(self, name: str) -> bool:
        """Remove bucket ``name``: True, or False if it does not exist or holds objects."""
        try:
            self.engine.remove_bucket(name)
        except (Conflict, NotFound):
            return False
        return True

    def bucket_exists(self, name: str) -> bool:
        """True if bucket ``name`` exists."""
        return self.engine.bucket_exists(name)


class BucketConnector(_Connector):
    """The Bucket connector: the objects of one bucket."""

    def __init__(self, engine: Engine, name: str, *, own: bool) -> None:
        super().__init__(engine, own=own)
        if not engine.bucket_exists(name):
            raise NotFound(
                f"bucket {name!r} does not exist; create it with create_bucket({name!r})"
            )
        self.name = name
        self._bucket = Bucket(engine, name)  # engine.bucket() would create it if removed meanwhile

    def __repr__(self) -> str:
        return f"<BucketConnector {self.name}>"

    # -- listing ---------------------------------------------------------------------------
    def list(
        self, metadata: bool = True, recursive: bool = True, **kwargs: Any
    ) -> builtins.list[ObjectInfo]:
        """The bucket's objects by name (folders too when not ``recursive``)."""
        found = builtins.list(self._bucket.list(recursive=recursive, **kwargs))
        if metadata:
            return found
        return [dataclasses.replace(o, metadata={}) for o in found]

    @overload
    def list_filename(self, return_type: Literal["array"] = "array", contains: str = "",
                      recursive: bool = True, **kwargs: Any) -> builtins.list[str]: ...  # fmt: skip
    @overload
    def list_filename(self, return_type: Literal["str"], contains: str = "", recursive: bool = True,
                      **kwargs: Any) -> str: ...  # fmt: skip
    @overload
    def list_filename(self, return_type: str, contains: str = "", recursive: bool = True,
                      **kwargs: Any) -> builtins.list[str] | str: ...  # fmt: skip
    def list_filename(self, return_type: str = "array", contains: str = "", recursive: bool = True,
                      **kwargs: Any) -> builtins.list[str] | str:  # fmt: skip
        """Names of the objects (and folders when not ``recursive``) that contain ``contains``."""
        if not isinstance(contains, str):
            raise ValidationError(f"contains must be a str, got {contains!r}")
        names = [
            o.name for o in self._bucket.list(recursive=recursive, **kwargs) if contains in o.name
        ]
        return _joined(names, return_type)

    # -- reading ---------------------------------------------------------------------------
    def get(self, file_name: str, **kwargs: Any) -> ObjectStream:
        """The content of ``file_name`` as a response: ``.stream(n)``, ``.read()``, ``.release_conn()``."""
        return self._bucket.get(file_name)

    def fget(self, object_name: str, file_path: str, **kwargs: Any) -> ObjectInfo:
        """Write ``object_name`` to ``file_path``; returns its stat info."""
        return self._bucket.fget(object_name, file_path)

    # A str is an Iterable[str] too: only a list or tuple is surely "many"; for any other
    # iterable the type checker cannot tell which of the two comes back.
    @overload
    def stat(self, path: str, **kwargs: Any) -> ObjectInfo: ...
    @overload
    def stat(
        self, path: builtins.list[str] | tuple[str, ...], **kwargs: Any
    ) -> builtins.list[ObjectInfo]: ...
    @overload
    def stat(
        self, path: Iterable[str], **kwargs: Any
    ) -> ObjectInfo | builtins.list[ObjectInfo]: ...
    def stat(
        self, path: str | Iterable[str], **kwargs: Any
    ) -> ObjectInfo | builtins.list[ObjectInfo]:
        """Stat info of one object, or a list of them for a list of paths (NotFound if one is missing)."""
        if isinstance(path, str):
            return self._bucket.stat(path)
        return [self._bucket.stat(p) for p in path]

    # -- writing ---------------------------------------------------------------------------
    def put(self, object_name: str, data: Any, length: int | None = None, **kwargs: Any) -> str:
        """Store ``data`` (bytes or a binary stream of ``length`` bytes) as ``object_name``; the etag."""
        return self._bucket.put(object_name, data, length, **kwargs).etag

    def fput(self, object_name: str, file_path: str, **kwargs: Any) -> str:
        """Store the file at ``file_path`` as ``object_name``; the etag."""
        return self._bucket.fput(object_name, file_path, **kwargs).etag

    def put_request(self, url: str, path: str = "", data: Any = None, method: str = "GET",
                    headers: dict[str, str] | None = None, **kwargs: Any) -> str:  # fmt: skip
        """Fetch ``url`` and store the body at ``path`` (a folder path gets the URL's file name); the etag."""
        name = path
        if not name or name.endswith("/"):
            base = posixpath.basename(urllib.parse.urlsplit(url).path)
            if not base:
                raise ValidationError(
                    f"path {path!r} names a folder and url {url!r} has no file name"
                )
            name += base
        info = self._bucket.put_from_url(url, name, method=method, headers=headers or None,
                                         data=data or None, **kwargs)  # fmt: skip
        return info.etag

    # As for stat(): only a list or tuple is surely "many" to a type checker.
    @overload
    def delete(self, path: str, **kwargs: Any) -> bool: ...
    @overload
    def delete(self, path: builtins.list[str] | tuple[str, ...], **kwargs: Any) -> dict[str, bool]: ...
    @overload
    def delete(self, path: Iterable[str], **kwargs: Any) -> bool | dict[str, bool]: ...
    def delete(self, path: str | Iterable[str], **kwargs: Any) -> bool | dict[str, bool]:
        """Delete one object (True, or False if missing) or many (``{path: deleted}``)."""
        many = [path] if isinstance(path, str) else builtins.list(path)
        done = self._bucket.delete(many) or {}
        return done[path] if isinstance(path, str) else done

    def fcopy_to(
        self, new_bucket: str, object_name: str, object_source: str, **kwargs: Any
    ) -> ObjectInfo:
        """Copy ``object_source`` of this bucket to ``object_name`` in bucket ``new_bucket``."""
        return self._bucket.copy_to(new_bucket, object_name, object_source)


@overload
def connect(name: Literal["data_store"], *, engine: Engine | None = None) -> Datastore: ...
@overload
def connect(name: str, *, engine: Engine | None = None) -> Datastore | BucketConnector: ...
def connect(name: str, *, engine: Engine | None = None) -> Datastore | BucketConnector:
    """``"data_store"``: the Datastore connector; ``"data_store/<bucket>"``: that bucket's connector."""
    if not isinstance(name, str):
        raise ValidationError(
            f"connect() takes 'data_store' or 'data_store/<bucket>', got {name!r}"
        )
    root, _sep, bucket = name.partition("/")
    if root != ROOT or (_sep and not bucket):
        raise ValidationError(
            f"connect() takes 'data_store' or 'data_store/<bucket>', got {name!r}"
        )
    own = engine is None
    eng = Engine(default_path()) if engine is None else engine
    try:
        return BucketConnector(eng, bucket, own=own) if bucket else Datastore(eng, own=own)
    except BaseException:
        if own:
            eng.close()
        raise
