"""A Store driven side by side with a plain dict: the two never differ."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import datastore_engine as dse
from datastore_engine import engine as engine_module
from datastore_engine import paths

RIDS = st.sampled_from(["a", "b", "c", "d", "e", "ü-ñ", "x" * 250])
leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False,
                                                                                allow_infinity=False) | st.text(max_size=5)  # fmt: skip
docs = st.recursive(
    leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["k", "l", "m", "0"]), c, max_size=3),
    max_leaves=10,
)
dict_docs = st.dictionaries(st.sampled_from(["k", "l", "m", "n"]), docs, max_size=4)
PATHS = st.sampled_from(["k", "l", "k.k", "k.0", "l.m", "m.0.k", "n"])


def _merge(target: Any, source: Any) -> Any:
    if isinstance(target, dict) and isinstance(source, dict):
        out = dict(target)
        for k, v in source.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    if isinstance(target, list) and isinstance(source, list):
        merged = [_merge(t, s) for t, s in zip(target, source, strict=False)]
        return merged + (source[len(target):] if len(source) > len(target) else target[len(source):])
    return source


class StoreAgainstDict(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = dse.open_temporary()
        self.store = self.engine.store("model")
        self.model: dict[str, Any] = {}

    def teardown(self) -> None:
        self.engine.close()

    @rule(rid=RIDS, doc=docs)
    def add(self, rid: str, doc: Any) -> None:
        if rid in self.model:
            try:
                self.store.add(doc, rid=rid)
            except dse.DuplicateKey:
                return
            raise AssertionError("add of an existing rid succeeded")
        self.store.add(doc, rid=rid)
        self.model[rid] = copy.deepcopy(doc)

    @rule(rid=RIDS, doc=docs)
    def put(self, rid: str, doc: Any) -> None:
        self.store.put(rid, doc)
        self.model[rid] = copy.deepcopy(doc)

    @rule(rid=RIDS, patch=docs)
    def merge(self, rid: str, patch: Any) -> None:
        self.store.merge(rid, patch)
        self.model[rid] = copy.deepcopy(_merge(self.model[rid], patch) if rid in self.model else patch)

    @rule(rid=RIDS)
    def delete(self, rid: str) -> None:
        if rid in self.model:
            self.store.delete(rid)
            del self.model[rid]
        else:
            try:
                self.store.delete(rid)
            except dse.NotFound:
                return
            raise AssertionError("delete of a missing rid succeeded")

    @rule(rid=RIDS, path=PATHS, value=docs)
    def set_path(self, rid: str, path: str, value: Any) -> None:
        try:
            expected = paths.set_in(self.model.get(rid, {}), path, value)
        except dse.ValidationError:
            try:
                self.store.set_path(rid, path, value)
            except dse.ValidationError:
                return
            raise AssertionError("set_path accepted what the model refused") from None
        self.store.set_path(rid, path, value)
        self.model[rid] = expected

    @rule(rid=RIDS)
    def get(self, rid: str) -> None:
        assert self.store.get(rid, default="<missing>") == self.model.get(rid, "<missing>")

    @rule(puts=st.lists(st.tuples(RIDS, docs), min_size=1, max_size=4))
    def rolled_back_transaction(self, puts: list[tuple[str, Any]]) -> None:
        try:
            with self.engine.transaction():
                for rid, doc in puts:
                    self.store.put(rid, doc)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass

    @rule(puts=st.lists(st.tuples(RIDS, dict_docs), min_size=1, max_size=4))
    def committed_transaction(self, puts: list[tuple[str, Any]]) -> None:
        with self.engine.transaction():
            for rid, doc in puts:
                self.store.merge(rid, doc)
                self.model[rid] = copy.deepcopy(_merge(self.model[rid], doc) if rid in self.model else doc)
            # The transaction's own changes are in the feed it reads, its tail included.
            latest = {c.rid: c.rev for c in self.store.changes()}
            assert all(latest[rid] == self.store.rev(rid) for rid, _ in puts)

    @rule(puts=st.lists(st.tuples(RIDS, docs), max_size=5))
    def put_many(self, puts: list[tuple[str, Any]]) -> None:
        revs = self.store.put_many(puts)
        for rid, doc in puts:
            self.model[rid] = copy.deepcopy(doc)
        assert len(revs) == len(puts)
        assert revs[-1:] == [self.store.rev(rid) for rid, _ in puts[-1:]]

    @precondition(lambda self: bool(self.model))
    @rule()
    def keys_and_items(self) -> None:
        assert self.store.keys() == sorted(self.model, key=lambda r: r.encode())
        assert dict(self.store.items()) == self.model

    @invariant()
    def same_length(self) -> None:
        assert len(self.store) == len(self.model)

    @invariant()
    def feed_has_one_entry_per_document_in_sequence_order(self) -> None:
        feed = list(self.store.changes())
        seqs = [c.seq for c in feed]
        assert seqs == sorted(set(seqs))
        assert len({c.rid for c in feed}) == len(feed)
        assert {c.rid for c in feed if not c.deleted} == set(self.model)
        assert all(c.rev == self.store.rev(c.rid) for c in feed if not c.deleted)
        if feed:  # since= starts after a sequence: the same entries, cut
            assert list(self.store.changes(since=seqs[0])) == feed[1:]


StoreAgainstDict.TestCase.settings = settings(max_examples=500, stateful_step_count=20, deadline=None)
test_store_behaves_like_a_dict = StoreAgainstDict.TestCase


class StoreWithShortFeedTail(StoreAgainstDict):
    """The same model with a feed tail of one or two entries, so entries move to the feed tree all the time,
    and a sweep of stale feed-tree entries as soon as they pass four (and the documents), in steps of
    three entries, so that passes go on across commits."""

    def __init__(self) -> None:
        self.saved = engine_module.TAIL_BYTES, engine_module.STALE_SWEEP, engine_module.SWEEP_STEP
        engine_module.TAIL_BYTES = 64  # one or two entries
        engine_module.STALE_SWEEP = 4
        engine_module.SWEEP_STEP = 3
        super().__init__()

    def teardown(self) -> None:
        super().teardown()
        engine_module.TAIL_BYTES, engine_module.STALE_SWEEP, engine_module.SWEEP_STEP = self.saved

    @invariant()
    def check_finds_nothing(self) -> None:
        assert self.engine.check() == []


StoreWithShortFeedTail.TestCase.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)
test_store_with_a_short_feed_tail_behaves_like_a_dict = StoreWithShortFeedTail.TestCase
