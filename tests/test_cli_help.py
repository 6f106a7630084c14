"""Every datastore-engine command has --help (sqlite-utils' test_docs style), found by walking the parser."""

from __future__ import annotations

import argparse
import io

import pytest

from datastore_engine.cli import build_parser, main


def commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*prefix, name))
    return found


ALL = commands(build_parser())


def test_the_walk_finds_every_documented_command() -> None:
    names = {" ".join(c) for c in ALL}
    expected = {
        "", "stores", "stores list", "stores create", "stores info", "stores update", "stores drop",
        "put", "get", "merge", "delete", "keys", "find", "search",
        "index", "index create", "index drop", "index list",
        "blob", "blob ls", "blob put", "blob get", "blob stat", "blob rm", "blob cp",
        "import", "export", "backup", "stats", "check", "demo", "sync", "collect-attachments",
    }  # fmt: skip
    assert names == expected


@pytest.mark.parametrize("command", ALL, ids=[" ".join(c) or "(top)" for c in ALL])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    out = io.StringIO()
    assert main([*command, "--help"], stdout=out, stderr=io.StringIO()) == 0
    text = out.getvalue()
    assert text.startswith("usage: datastore-engine " + " ".join(command))
    assert "--json" in text and "--path" in text  # the global options work after any command
    description = text.split("\n\n")[1].strip()
    assert description and not description.startswith(("options:", "positional"))
