"""The one-comparison fast path of the SCIM parser builds exactly what the full parser builds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine.query.scim import AttrPath, Compare, _Parser, _simple, string_eq

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


@settings(deadline=None, max_examples=1500)
@given(paths, ops, values, spaces, spaces)
def test_string_eq_reads_only_what_the_parser_reads_as_path_eq_string(
    path: str, op: str, value: str, a: str, b: str
) -> None:
    text = f"{a}{path}{a}{op}{b}{value}{b}"
    lookup = string_eq(text)
    if lookup is None:
        return
    full = _Parser(text, bare_values=False).parse()
    assert full == Compare(AttrPath(tuple(lookup[0].split("."))), "eq", lookup[1]), text


def test_string_eq_takes_lookups_and_leaves_everything_else() -> None:
    assert string_eq('email eq "a@b.c"') == ("email", "a@b.c")
    assert string_eq(' address.city EQ "Oslo" ') == ("address.city", "Oslo")
    for text in ['email ne "a"', "age eq 3", 'and eq "x"', 'a eq "x\\"y"', 'a eq "x" or b pr', r'a eq "\u00e9"',
                 'urn:x:a eq "b"', 'a[b eq "c"]', 'a eq "' + "x" * 9000 + '"']:  # fmt: skip
        assert string_eq(text) is None, text
