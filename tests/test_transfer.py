"""NDJSON import/export (datastore_engine.transfer): round trips, strict parsing, batches that fail whole."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine.transfer import (
    ImportResult,
    export_ndjson,
    from_line,
    import_ndjson,
    parse_line,
    to_line,
)


def ndjson(*objs: Any) -> io.StringIO:
    return io.StringIO("".join(json.dumps(o) + "\n" for o in objs))


def export_text(store: dse.Store, **kw: Any) -> str:
    out = io.StringIO()
    export_ndjson(store, out, **kw)
    return out.getvalue()


def test_100k_documents_round_trip_equal_to_the_original(engine: dse.Engine) -> None:
    source = engine.store("source")
    with engine.transaction():
        for i in range(100_000):
            source.put(f"d{i:06d}", {"n": i, "even": i % 2 == 0})
    text = export_text(source)
    assert text.count("\n") == 100_000
    target = engine.store("target")
    result = import_ndjson(target, io.StringIO(text))
    assert result == ImportResult(documents=100_000, lines=100_000)
    assert list(target.items()) == list(source.items())
    assert export_text(target) == text


DOCUMENTS = {
    "object": {"name": "Ada", "nested": {"list": [1, 2.5, None, True]}},
    "empty-object": {},
    "list": [1, "two", {"three": 3}],
    "number": 5,
    "float": -0.25,
    "string": "héllo ✓ \u2028 line",
    "null": None,
    "bool": False,
    "own-id": {"_id": "something else", "x": 1},
    "only-value": {"_value": 7},
    "value-and-more": {"_value": 7, "more": True},
    "big-int": 2**63 - 1,
}


def test_every_kind_of_document_round_trips(engine: dse.Engine) -> None:
    source = engine.store("kinds")
    for rid, doc in DOCUMENTS.items():
        source.put(rid, doc)
    target = engine.store("copy")
    import_ndjson(target, io.StringIO(export_text(source)))
    assert dict(target.items()) == DOCUMENTS


@pytest.mark.parametrize("rid,doc", sorted(DOCUMENTS.items()), ids=sorted(DOCUMENTS))
def test_from_line_inverts_to_line(rid: str, doc: Any) -> None:
    assert from_line(json.loads(json.dumps(to_line(rid, doc)))) == (rid, doc)


def test_export_writes_one_compact_object_per_line_in_id_order(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.put("b", {"x": "ü"})
    store.put("a", [1])
    assert export_text(store) == '{"_id":"a","_value":[1]}\n{"_id":"b","x":"ü"}\n'


def test_export_and_import_through_paths(engine: dse.Engine, tmp_path: Path) -> None:
    store = engine.store("s")
    store.put("a", {"n": 1})
    assert export_ndjson(store, tmp_path / "out.ndjson") == 1
    result = import_ndjson(engine.store("t"), tmp_path / "out.ndjson")
    assert result.documents == 1 and engine.store("t").get("a") == {"n": 1}


def test_export_by_prefix_and_without_password_protected_documents(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.put("user:1", {"n": 1})
    store.put("user:2", {"n": 2}, password="secret")
    store.put("team:1", {"n": 3})
    assert export_text(store, prefix="user:") == '{"_id":"user:1","n":1}\n'
    assert export_text(store, snapshot=False).count("\n") == 2


def test_blank_lines_are_skipped_and_a_line_without_id_gets_a_new_one(engine: dse.Engine) -> None:
    store = engine.store("s")
    result = import_ndjson(store, io.StringIO('\n{"_id": "a", "n": 1}\n   \n{"n": 2}\n'))
    assert result == ImportResult(documents=2, lines=4)
    assert store.get("a") == {"n": 1}
    (other,) = [rid for rid in store if rid != "a"]
    assert store.get(other) == {"n": 2}


def test_import_replaces_existing_documents_by_default(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.put("a", {"old": True})
    import_ndjson(store, ndjson({"_id": "a", "new": True}))
    assert store.get("a") == {"new": True}


def test_binary_input_is_read_as_utf8(engine: dse.Engine) -> None:
    store = engine.store("s")
    import_ndjson(store, io.BytesIO('{"_id": "ä", "v": "✓"}\n'.encode()))
    assert store.get("ä") == {"v": "✓"}


BAD_LINES = {
    "duplicate-key": ('{"_id": "x", "a": 1, "a": 2}', "duplicate key 'a'"),
    "nested-duplicate-key": ('{"_id": "x", "a": {"b": 1, "b": 1}}', "duplicate key 'b'"),
    "nan": ('{"_id": "x", "a": NaN}', "NaN is not JSON"),
    "infinity": ('{"_id": "x", "a": -Infinity}', "-Infinity is not JSON"),
    "overflowing-float": ('{"_id": "x", "a": 1e999}', "not finite"),
    "int-beyond-64-bit": ('{"_id": "x", "a": 18446744073709551616}', "outside signed 64-bit"),
    "not-json": ('{"_id": "x", ', "not JSON"),
    "not-an-object": ("[1, 2]", "must be a JSON object"),
    "id-not-a-string": ('{"_id": 5}', "_id must be a non-empty string"),
    "empty-id": ('{"_id": ""}', "_id must be a non-empty string"),
    "too-deep": ('{"_id": "x", "a": ' + "[" * 200 + "]" * 200 + "}", "deeper"),
    "huge-digits": ('{"_id": "x", "a": ' + "9" * 5000 + "}", "can read"),
}


@pytest.mark.parametrize("line,needle", BAD_LINES.values(), ids=list(BAD_LINES))
def test_a_bad_line_is_refused_with_its_number_and_nothing_of_its_batch_written(
    engine: dse.Engine, line: str, needle: str
) -> None:
    store = engine.store("s")
    text = '{"_id": "1"}\n{"_id": "2"}\n{"_id": "3"}\n' + line + '\n{"_id": "5"}\n'
    with pytest.raises(dse.ValidationError) as info:
        import_ndjson(store, io.StringIO(text), batch=2)
    message = str(info.value)
    assert message.startswith("line 4: ") and needle in message
    assert "nothing of lines 3-4 was written" in message
    assert "lines 1-2 (2 documents) were committed before" in message
    assert info.value.line == 4 and info.value.committed == 2  # type: ignore[attr-defined]
    assert store.keys() == ["1", "2"]


def test_invalid_utf8_is_refused(engine: dse.Engine) -> None:
    with pytest.raises(dse.ValidationError, match=r"^line 1: not UTF-8"):
        import_ndjson(engine.store("s"), io.BytesIO(b'{"_id": "\xff"}\n'))


def test_a_write_error_keeps_its_type_and_rolls_back_its_whole_batch(engine: dse.Engine) -> None:
    store = engine.store("s")
    store.put("taken", {"n": 0})
    text = ndjson({"_id": "1"}, {"_id": "2"}, {"_id": "3"}, {"_id": "taken"}, {"_id": "5"})
    with pytest.raises(dse.DuplicateKey) as info:
        import_ndjson(store, text, batch=2, replace=False)
    message = str(info.value)
    assert message.startswith("line 4: document 'taken' already exists")
    assert "nothing of lines 3-4 was written" in message
    assert store.keys() == ["1", "2", "taken"]  # line 3, in the failing batch, is not there
    assert info.value.line == 4 and info.value.committed == 2  # type: ignore[attr-defined]


def test_an_error_in_the_first_batch_says_nothing_was_committed(engine: dse.Engine) -> None:
    with pytest.raises(dse.ValidationError, match="nothing was committed before"):
        import_ndjson(engine.store("s"), io.StringIO('{"_id": "a"}\n{"_id": "b", "x": NaN}\n'))
    assert len(engine.store("s")) == 0


def test_a_quota_error_mid_import_names_its_line(engine: dse.Engine) -> None:
    engine.create_store("small", max_size_mb=1)
    store = engine.store("small")
    docs = [{"_id": f"d{i}", "pad": "x" * 100_000} for i in range(20)]
    with pytest.raises(dse.LimitExceeded) as info:
        import_ndjson(store, ndjson(*docs), batch=4)
    assert info.value.limit == "max_size_mb"
    line = info.value.line  # type: ignore[attr-defined]
    committed = (line - 1) // 4 * 4
    assert len(store) == committed == info.value.committed  # type: ignore[attr-defined]


def test_progress_reports_after_each_batch(engine: dse.Engine) -> None:
    seen: list[tuple[int, int]] = []
    text = "".join(f'{{"_id": "{i}"}}\n' for i in range(10))
    import_ndjson(
        engine.store("s"), io.StringIO(text), batch=4, progress=lambda n, b: seen.append((n, b))
    )
    assert [n for n, _ in seen] == [4, 8, 10]
    assert seen[-1][1] == len(text.encode())


def test_import_inside_a_transaction_rolls_back_with_it(engine: dse.Engine) -> None:
    store = engine.store("s")
    with contextlib.suppress(RuntimeError), engine.transaction():
        import_ndjson(store, ndjson({"_id": "a"}, {"_id": "b"}), batch=1)
        raise RuntimeError("caller gives up")
    assert len(store) == 0


def test_a_batch_that_fills_the_map_is_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = dse.open(tmp_path / "db", map_size=1 << 20)
    try:
        entered = 0
        real = engine.transaction

        @contextlib.contextmanager
        def counting() -> Iterator[dse.Engine]:
            nonlocal entered
            entered += 1
            with real() as eng:
                yield eng

        monkeypatch.setattr(engine, "transaction", counting)
        store = engine.store("s")
        text = "".join(f'{{"_id": "d{i:05d}", "pad": "{"x" * 200}"}}\n' for i in range(20_000))
        assert import_ndjson(store, io.StringIO(text), batch=20_000).documents == 20_000
        assert entered > 1  # the first attempt filled the 1 MiB map
        assert len(store) == 20_000 and engine.check() == []
    finally:
        engine.close()


def test_batch_must_be_a_positive_int(engine: dse.Engine) -> None:
    with pytest.raises(dse.ValidationError, match="batch"):
        import_ndjson(engine.store("s"), io.StringIO(""), batch=0)


def test_parse_line_refuses_duplicates_and_constants() -> None:
    assert parse_line('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    for text in ('{"a": 1, "a": 1}', '{"a": Infinity}', "5"):
        with pytest.raises(dse.ValidationError):
            parse_line(text)
