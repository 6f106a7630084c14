"""Security edges not covered elsewhere: fget through a symlink, names that look like paths.

Covered elsewhere: fget never uses the object name as a path (test_blobs),
non-http(s) schemes and oversize bodies refused (test_blobs_url, test_limits),
passwords never in clear in any file (test_passwords).
"""

from __future__ import annotations

import os
import pathlib

import pytest

import datastore_engine as dse


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_fget_onto_a_symlink_replaces_the_link_and_never_writes_through_it(
    engine: dse.Engine, tmp_path: pathlib.Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(b"untouched")
    inside = tmp_path / "inside"
    inside.mkdir()
    link = inside / "out.txt"
    link.symlink_to(victim)
    engine.bucket("media").put("obj", b"payload")
    engine.bucket("media").fget("obj", link)
    assert victim.read_bytes() == b"untouched"
    assert not link.is_symlink() and link.read_bytes() == b"payload"
    assert sorted(p.name for p in inside.iterdir()) == ["out.txt"]  # no temporary file left


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../../x", "a/../../b", "C:\\\\windows\\\\x", "~/.ssh/id"]
)
def test_object_names_that_look_like_paths_are_only_keys(
    engine: dse.Engine, tmp_path: pathlib.Path, name: str
) -> None:
    bucket = engine.bucket("media")
    before = set(tmp_path.rglob("*"))
    bucket.put(name, b"x")
    target = tmp_path / "t" / "file.bin"
    bucket.fget(name, target)
    assert target.read_bytes() == b"x"
    assert set(tmp_path.rglob("*")) - before == {tmp_path / "t", target}
    assert [o.name for o in bucket.list()] == [name]
