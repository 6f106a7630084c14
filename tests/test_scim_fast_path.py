"""The one-comparison fast path of the SCIM parser builds exactly what the full parser builds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine.query.scim import _Parser, _simple

names = st.from_regex(r"[A-Za-z0-9_$][A-Za-z0-9_$\-]{0,6}", fullmatch=True)
paths = st.lists(names, min_size=1, max_size=3).map(".".join)
ops = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Gt"])
values = st.one_of(
    st.text(max_size=8).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["true", "false", "null", "TRUE", "01", "1.5", "-0", '"a\\"b"', '"\\u00e9"']),
)
spaces = st.sampled_from([" ", "  ", "\t"])


@settings(deadline=None, max_examples=1500)
@given(paths, ops, values, spaces, spaces)
def test_fast_path_equals_the_full_parser_or_steps_aside(path: str, op: str, value: str, a: str, b: str) -> None:
    text = f"{path}{a}{op}{b}{value}"
    fast = _simple(text)
    try:
        full = _Parser(text, bare_values=False).parse()
    except Exception:
        assert fast is None, f"fast path accepted {text!r}, which the parser refuses"
        return
    if fast is not None:
        assert fast == full, text


def test_the_fast_path_takes_the_common_shapes() -> None:
    for text in ['email eq "a@b.c"', "age ge 30", "a.b lt -5", "x eq null", 'Name EQ "Ann"']:
        assert _simple(text) is not None, text
