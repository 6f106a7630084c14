"""Deep merge follows the CloudStore rule; checked against a reference written here."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine import deep_merge

values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from("abcd"), c, max_size=4),
    max_leaves=20,
)


def reference_merge(target: Any, source: Any) -> Any:
    """The rule written out the long way: dicts by key, lists by index, else source wins."""
    if type(target) is dict and type(source) is dict:
        out = {}
        for key in list(target) + [k for k in source if k not in target]:
            if key in target and key in source:
                out[key] = reference_merge(target[key], source[key])
            elif key in target:
                out[key] = target[key]
            else:
                out[key] = source[key]
        return out
    if type(target) is list and type(source) is list:
        out_list = []
        for i in range(max(len(target), len(source))):
            if i < len(target) and i < len(source):
                out_list.append(reference_merge(target[i], source[i]))
            elif i < len(source):
                out_list.append(source[i])
            else:
                out_list.append(target[i])
        return out_list
    return source


@settings(deadline=None, max_examples=400)
@given(values, values)
def test_deep_merge_equals_the_reference(target: Any, source: Any) -> None:
    assert deep_merge(target, source) == reference_merge(target, source)


@settings(deadline=None, max_examples=200)
@given(values, values)
def test_deep_merge_does_not_modify_its_arguments(target: Any, source: Any) -> None:
    import copy

    t, s = copy.deepcopy(target), copy.deepcopy(source)
    result = deep_merge(target, source)
    assert (target, source) == (t, s)
    if isinstance(result, dict | list) and result:
        # mutating the result must not reach the inputs
        if isinstance(result, dict):
            result.clear()
        else:
            result.clear()
        assert (target, source) == (t, s)


def test_the_seed_example_merges_as_cloudstore_describes() -> None:
    saved = {"Apples": 8, "Oranges": 6}
    merged = deep_merge(saved, {"Apples": 8, "Oranges": 10, "Bananas": 8})
    assert merged == {"Apples": 8, "Oranges": 10, "Bananas": 8}


def test_none_replaces_rather_than_deletes() -> None:
    assert deep_merge({"a": 1, "b": 2}, {"a": None}) == {"a": None, "b": 2}


def test_arrays_merge_by_index_and_the_longer_source_extends() -> None:
    assert deep_merge([{"x": 1}, 2, 3], [{"y": 2}]) == [{"x": 1, "y": 2}, 2, 3]
    assert deep_merge([1], [{"a": 1}, 5]) == [{"a": 1}, 5]
