"""Pure replication-protocol helpers: revision ids, histories, replication ids,
checkpoints, _changes / _revs_diff / _bulk_get shapes, attachments."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datastore_engine.errors import SyncError, ValidationError
from datastore_engine.sync import _protocol as proto
from datastore_engine.sync._http import encode_params, is_retryable_status, parse_url

# -- revision ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rev", "parsed"),
    [("1-a", (1, "a")), ("10-0f3a9", (10, "0f3a9")), ("2-a-b", (2, "a-b"))],
)
def test_parse_rev_splits_position_and_hash(rev: str, parsed: tuple[int, str]) -> None:
    assert proto.parse_rev(rev) == parsed
    assert proto.format_rev(*parsed) == rev


@pytest.mark.parametrize("rev", ["", "1", "1-", "-a", "0-1", "x-1", "-1-a", "\u0661-a", 3, None])
def test_parse_rev_refuses_malformed_revisions(rev: Any) -> None:
    with pytest.raises(ValidationError, match="N-hash"):
        proto.parse_rev(rev)


@pytest.mark.parametrize(("pos", "digest"), [(0, "a"), (True, "a"), (1, ""), ("1", "a")])
def test_format_rev_refuses_bad_parts(pos: Any, digest: Any) -> None:
    with pytest.raises(ValidationError):
        proto.format_rev(pos, digest)


HASHES = st.text(alphabet="0123456789abcdef", min_size=1, max_size=8)


@settings(deadline=None, max_examples=200)
@given(ids=st.lists(HASHES, min_size=1, max_size=20), extra=st.integers(0, 1000))
def test_revisions_and_rev_lists_round_trip(ids: list[str], extra: int) -> None:
    revisions = {"start": len(ids) + extra, "ids": ids}
    revs = proto.revisions_to_revs(revisions)
    assert [proto.parse_rev(r)[1] for r in revs] == ids
    assert proto.revs_to_revisions(revs) == revisions


@pytest.mark.parametrize(
    "revisions",
    [
        {"start": 1, "ids": ["a", "b"]},  # deeper than its start
        {"start": 2, "ids": []},
        {"start": "2", "ids": ["a"]},
        {"start": True, "ids": ["a"]},
        {"start": 2, "ids": ["a", ""]},
        {"ids": ["a"]},
        ["a"],
    ],
)
def test_revisions_to_revs_refuses_malformed_histories(revisions: Any) -> None:
    with pytest.raises(ValidationError, match="_revisions"):
        proto.revisions_to_revs(revisions)


@pytest.mark.parametrize("revs", [[], ["3-c", "1-a"], ["1-a", "2-b"], ["2-b", "bad"]])
def test_revs_to_revisions_refuses_gapped_or_malformed_lists(revs: list[str]) -> None:
    with pytest.raises(ValidationError):
        proto.revs_to_revisions(revs)


# -- ids and paths ---------------------------------------------------------------------


class _Ends(TypedDict):
    source: str
    target: str


def test_replication_id_is_deterministic_and_separates_what_differs() -> None:
    base: _Ends = {"source": "local:1", "target": "http://u@h:5984/db"}
    rid = proto.replication_id(**base)
    assert rid == proto.replication_id(**base)
    assert len(rid) == 32 and int(rid, 16) >= 0
    variants = [
        proto.replication_id(source="local:2", target=base["target"]),
        proto.replication_id(source=base["target"], target=base["source"]),
        proto.replication_id(**base, filter="app/by_type"),
        proto.replication_id(**base, filter="app/by_type", query_params={"t": "x"}),
        proto.replication_id(**base, doc_ids=["a"]),
    ]
    assert len({rid, *variants}) == 6


def test_replication_id_ignores_order_of_doc_ids_and_params() -> None:
    one = proto.replication_id(
        source="a", target="b", doc_ids=["x", "y"], query_params={"p": 1, "q": 2}
    )
    two = proto.replication_id(
        source="a", target="b", doc_ids=["y", "x"], query_params={"q": 2, "p": 1}
    )
    assert one == two


@pytest.mark.parametrize("source", ["", None, 5])
def test_replication_id_needs_named_ends(source: Any) -> None:
    with pytest.raises(ValidationError, match="source"):
        proto.replication_id(source=source, target="b")


def test_endpoint_identity_normalises_and_drops_password() -> None:
    same = {
        proto.endpoint_identity(url)
        for url in ("http://bob:one@H:80/db", "HTTP://bob:two@h/db/", "http://bob@h:80/db")
    }
    assert same == {"http://bob@h:80/db"}
    assert proto.endpoint_identity("http://alice@h/db") != "http://bob@h:80/db"


@pytest.mark.parametrize(
    ("doc_id", "path"),
    [
        ("plain", "plain"),
        ("a/b", "a%2Fb"),
        ("sp ace?#&", "sp%20ace%3F%23%26"),
        ("é", "%C3%A9"),
        ("_local/r/1", "_local/r%2F1"),
        ("_design/app", "_design/app"),
        ("_local/", "_local%2F"),
    ],
)
def test_doc_path_quotes_ids_but_keeps_special_prefixes(doc_id: str, path: str) -> None:
    assert proto.doc_path(doc_id) == path


def test_doc_path_refuses_empty_id() -> None:
    with pytest.raises(ValidationError):
        proto.doc_path("")


# -- checkpoints -----------------------------------------------------------------------


def test_checkpoint_history_is_newest_first_one_entry_per_session_and_bounded() -> None:
    doc: dict[str, Any] | None = None
    for n in range(proto.CHECKPOINT_HISTORY_LIMIT + 5):
        doc = proto.checkpoint_doc(
            doc,
            rep_id="r",
            session_id=f"s{n}",
            start_seq=n,
            recorded_seq=n + 1,
            stats={"docs_written": n},
        )
        doc = proto.checkpoint_doc(
            doc, rep_id="r", session_id=f"s{n}", start_seq=n, recorded_seq=n + 2
        )
    assert doc is not None
    sessions = [h["session_id"] for h in doc["history"]]
    assert len(sessions) == proto.CHECKPOINT_HISTORY_LIMIT == len(set(sessions))
    assert sessions[0] == f"s{proto.CHECKPOINT_HISTORY_LIMIT + 4}"
    assert (
        doc["source_last_seq"]
        == doc["history"][0]["recorded_seq"]
        == proto.CHECKPOINT_HISTORY_LIMIT + 6
    )
    assert doc["_id"] == "_local/r" and "_rev" not in doc


def test_checkpoint_keeps_previous_rev_for_the_update() -> None:
    doc = proto.checkpoint_doc(
        {"_rev": "0-7", "history": "junk"}, rep_id="r", session_id="s", start_seq=0, recorded_seq=1
    )
    assert doc["_rev"] == "0-7"
    assert [h["session_id"] for h in doc["history"]] == ["s"]


def checkpoint(session: str, seq: Any, *older: tuple[str, Any]) -> dict[str, Any]:
    history = [{"session_id": session, "recorded_seq": seq}]
    history += [{"session_id": s, "recorded_seq": q} for s, q in older]
    return {"session_id": session, "source_last_seq": seq, "history": history}


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (None, None, 0),
        (checkpoint("s3", 30), None, 0),
        (checkpoint("s3", 30, ("s2", 20)), checkpoint("s3", 30, ("s2", 20)), 30),
        # the target lost the last checkpoint: resume from the newest shared session
        (checkpoint("s3", 30, ("s2", 20), ("s1", 10)), checkpoint("s2", 20, ("s1", 10)), 20),
        # the source lost it
        (checkpoint("s2", 20, ("s1", 10)), checkpoint("s3", 30, ("s2", 20), ("s1", 10)), 20),
        (checkpoint("s9", 90), checkpoint("s8", 80), 0),
        # opaque string sequences (CouchDB 2+) pass through untouched
        (checkpoint("a", "12-g1AAA"), checkpoint("a", "12-g1AAA"), "12-g1AAA"),
    ],
    ids=[
        "none",
        "one-side",
        "same-session",
        "target-behind",
        "source-behind",
        "unrelated",
        "string-seq",
    ],
)
def test_resume_seq_finds_the_last_agreed_sequence(source: Any, target: Any, expected: Any) -> None:
    assert proto.resume_seq(source, target) == expected


# -- peer answers ----------------------------------------------------------------------


def test_parse_changes_reads_rows_and_last_seq() -> None:
    rows, last = proto.parse_changes(
        {
            "results": [
                {"seq": 3, "id": "a", "changes": [{"rev": "2-x"}, {"rev": "2-y"}]},
                {
                    "seq": 4,
                    "id": "b",
                    "changes": [{"rev": "2-z"}],
                    "deleted": True,
                    "doc": {"_id": "b"},
                },
            ],
            "last_seq": 4,
        }
    )
    assert rows == [
        proto.Change(3, "a", ("2-x", "2-y")),
        proto.Change(4, "b", ("2-z",), deleted=True, doc={"_id": "b"}),
    ]
    assert last == 4
    assert proto.parse_changes({"results": []}) == ([], None)


@pytest.mark.parametrize(
    ("parse", "answer"),
    [
        (proto.parse_changes, {"rows": []}),
        (proto.parse_changes, {"results": [{"id": "a", "changes": []}]}),  # no seq
        (proto.parse_change, {"seq": 1, "id": "a", "changes": [{"rev": 1}]}),
        (proto.parse_revs_diff, []),
        (proto.parse_revs_diff, {"a": {"missing": "1-x"}}),
        (proto.parse_bulk_get, {"results": [{"id": "a"}]}),
        (proto.parse_bulk_get, None),
        (proto.parse_open_revs, [{"weird": 1}]),
        (proto.parse_open_revs, {"ok": {}}),
    ],
)
def test_malformed_peer_answers_raise_bad_response(parse: Any, answer: Any) -> None:
    with pytest.raises(SyncError) as info:
        parse(answer)
    assert info.value.reason == "bad_response"


def test_revs_diff_request_merges_revs_per_document_without_duplicates() -> None:
    changes = [
        proto.Change(1, "a", ("1-x",)),
        proto.Change(2, "b", ("1-y",)),
        proto.Change(3, "a", ("1-x", "2-x")),
    ]
    assert proto.revs_diff_request(changes) == {"a": ["1-x", "2-x"], "b": ["1-y"]}


def test_parse_revs_diff_keeps_only_documents_with_missing_revs() -> None:
    answer = {
        "a": {"missing": ["2-x"], "possible_ancestors": ["1-x"]},
        "b": {"missing": []},
        "c": {},
    }
    assert proto.parse_revs_diff(answer) == {"a": ["2-x"]}


def test_bulk_get_error_entries_are_reported_with_their_rev() -> None:
    answer = {
        "results": [
            {
                "id": "a",
                "docs": [
                    {"ok": {"_id": "a", "_rev": "1-x"}},
                    {"error": {"id": "a", "rev": "9-z", "error": "not_found", "reason": "missing"}},
                ],
            }
        ]
    }
    result = proto.parse_bulk_get(answer)
    assert result.docs == [{"_id": "a", "_rev": "1-x"}]
    assert result.errors == [("a", "9-z", "not_found")]


# -- attachments -----------------------------------------------------------------------


@settings(deadline=None, max_examples=100)
@given(data=st.binary(max_size=300))
def test_attachments_round_trip_through_base64(data: bytes) -> None:
    assert proto.decode_attachment(proto.encode_attachment(data, content_type="x/y")) == data


@pytest.mark.parametrize(
    ("attachment", "match"),
    [
        ({"stub": True, "digest": "md5-x"}, "attachments=true"),
        ({"data": "not base64!"}, "not base64"),
        ("aGVsbG8=", "no inline data"),
    ],
)
def test_decode_attachment_refuses_stubs_and_bad_data(attachment: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        proto.decode_attachment(attachment)


def test_encode_attachment_refuses_text() -> None:
    with pytest.raises(ValidationError, match="bytes"):
        proto.encode_attachment("hello")  # type: ignore[arg-type]


# -- http helpers that are pure --------------------------------------------------------


def test_encode_params_uses_couchdb_literals() -> None:
    params = {"a": True, "b": False, "c": 0, "d": "now", "e": ["1-x"], "f": {"k": 1}, "g": None}
    assert encode_params(params) == "a=true&b=false&c=0&d=now&e=%5B%221-x%22%5D&f=%7B%22k%22%3A1%7D"


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (200, False),
        (404, False),
        (412, False),
        (429, True),
        (500, True),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
        (505, False),
    ],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_parse_url_handles_ipv6_and_default_ports() -> None:
    endpoint = parse_url("https://[::1]/a/b/")
    assert (endpoint.host, endpoint.port, endpoint.path, endpoint.url) == (
        "::1",
        443,
        "/a/b",
        "https://[::1]:443/a/b",
    )
