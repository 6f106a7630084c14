"""The pytest plugin (fixtures datastore, datastore_factory; marker datastore_preload), run through pytester."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str, autoload: bool = False) -> pytest.RunResult:
    """An inner pytest run; only our plugin is loaded (entry-point autoloading is slow) unless ``autoload``."""
    if autoload:
        return pytester.runpytest("-p", "no:cacheprovider", *args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        return pytester.runpytest(
            "-p", "datastore_engine.pytest_plugin", "-p", "no:cacheprovider", "--strict-markers",
            *args,
        )  # fmt: skip


def test_the_plugin_is_registered_through_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_registered(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("datastore_engine")

        def test_fixture_available(datastore):
            assert not datastore.closed
        """
    )
    run(pytester, autoload=True).assert_outcomes(passed=2)


def test_datastore_is_a_fresh_temporary_engine_removed_after_the_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import os
        import datastore_engine as dse

        seen = {}

        def test_first(datastore):
            assert isinstance(datastore, dse.Engine)
            datastore.store("s").put("a", {"n": 1})
            seen["engine"], seen["path"] = datastore, datastore.path

        def test_second(datastore):
            assert datastore.path != seen["path"]
            assert datastore.store("s").keys() == []  # nothing left over
            assert seen["engine"].closed and not os.path.exists(seen["path"])
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_datastore_factory_makes_engines_with_options_and_closes_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        made = []

        def test_two_apps_on_one_directory(datastore_factory, tmp_path):
            one = datastore_factory(app="one", org="acme", path=tmp_path / "db")
            two = datastore_factory(app="two", org="acme", path=tmp_path / "db")
            one.store("notes").put("a", 1)
            one.store("shared", domain="organization").put("b", 2)
            assert "a" not in two.store("notes")
            assert two.store("shared", domain="organization").get("b") == 2
            temp = datastore_factory(durable=True)
            assert temp.durable and temp.path != one.path
            made.extend([one, two, temp])

        def test_all_closed_after(datastore_factory):
            assert len(made) == 3 and all(engine.closed for engine in made)
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_preload_ndjson_and_json_files_relative_to_the_test_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".ndjson",
        people='{"_id": "ada", "name": "Ada"}\n\n{"_id": "n", "_value": 5}\n{"name": "no id"}\n',
    )
    pytester.makefile(".json", flags=json.dumps({"dark": {"on": True}, "beta": {"on": False}}))
    pytester.makefile(".json", items=json.dumps([{"_id": "x", "v": 1}, {"v": 2}, [3]]))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.datastore_preload("people.ndjson", store="people")
        @pytest.mark.datastore_preload("flags.json", "items.json", store="flags", domain="system")
        def test_loaded(datastore):
            people = datastore.store("people")
            assert people.get("ada") == {"name": "Ada"} and people.get("n") == 5
            assert len(people) == 3
            flags = datastore.store("flags", domain="system")
            assert flags.get("dark") == {"on": True} and flags.get("x") == {"v": 1}
            assert len(flags) == 5

        def test_unmarked_tests_get_an_empty_engine(datastore):
            assert datastore.stores().total == 0
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_an_exported_file_preloads_to_the_same_documents(pytester: pytest.Pytester) -> None:
    import io

    import datastore_engine as dse
    from datastore_engine.transfer import export_ndjson

    docs = {"a": {"_id": "own"}, "b": [1, 2], "c": {"_value": 1}, "d": None, "e": {"x": "ü"}}
    out = io.StringIO()
    with dse.open_temporary() as engine:
        for rid, doc in docs.items():
            engine.store("s").put(rid, doc)
        export_ndjson(engine.store("s"), out)
    pytester.makefile(".ndjson", dump=out.getvalue())
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.datastore_preload("dump.ndjson", store="s")
        def test_same(datastore):
            assert dict(datastore.store("s").items()) == {docs!r}
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_preload_helper_in_a_custom_fixture(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ndjson", seed='{"_id": "1", "n": 1}\n{"_id": "2", "n": 2}\n')
    pytester.makepyfile(
        """
        import pathlib
        import pytest
        from datastore_engine.pytest_plugin import preload

        @pytest.fixture
        def seeded(datastore_factory):
            engine = datastore_factory(app="svc")
            count = preload(engine, pathlib.Path(__file__).parent / "seed.ndjson", store="items")
            return engine, count

        def test_seeded(seeded):
            engine, count = seeded
            assert count == 2 and engine.store("items").find("n gt 1").total == 1
        """
    )
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "content,needle",
    [
        ('{"_id": "a"}\n{"_id": "b", "x": 1, "x": 2}\n', "seed.ndjson:2: duplicate key 'x'"),
        ('{"_id": "a", "x": NaN}\n', "seed.ndjson:1: NaN is not JSON"),
        ('{"_id": 5}\n', "seed.ndjson:1: _id must be a non-empty string"),
        ("not json\n", "seed.ndjson:1: not JSON"),
    ],
    ids=["duplicate-key", "nan", "numeric-id", "not-json"],
)
def test_a_bad_preload_file_errors_the_test_naming_file_and_line(
    pytester: pytest.Pytester, content: str, needle: str
) -> None:
    pytester.makefile(".ndjson", seed=content)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.datastore_preload("seed.ndjson", store="s")
        def test_never_runs(datastore):
            raise AssertionError("unreachable")
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*ValidationError: *{needle}*"])


def test_a_failed_preload_loads_nothing(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ndjson", seed='{"_id": "a"}\n{"_id": "b", "x": NaN}\n')
    pytester.makepyfile(
        """
        import pytest
        from datastore_engine import ValidationError
        from datastore_engine.pytest_plugin import preload

        def test_all_or_nothing(datastore, request):
            with pytest.raises(ValidationError):
                preload(datastore, request.path.parent / "seed.ndjson", store="s")
            assert len(datastore.store("s")) == 0
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_marker_needs_a_store(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", seed="{}")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.datastore_preload("seed.json")
        def test_no_store(datastore):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*datastore_preload needs store=NAME*"])


def test_the_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.datastore_preload(*files, store, domain='local')*"])
