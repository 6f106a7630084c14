"""Per-key passwords (CloudStore's): hashed at rest, required for every access, backoff on wrong guesses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import access

PASSWORD = "Tr0ub4dor&3-unique-marker"


class FakeTime:
    """A clock and a sleep that only advances it: backoff without real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    fake = FakeTime()
    monkeypatch.setattr(access, "BACKOFF", access.Backoff(clock=fake.clock, sleep=fake.sleep))
    yield fake


def refused(call: Any) -> str:
    with pytest.raises(dse.Forbidden) as exc:
        call()
    assert exc.value.reason == "BadPassword"
    return str(exc.value)


def test_a_protected_document_needs_its_password_for_every_operation(
    engine: dse.Engine, fake_backoff: FakeTime
) -> None:
    store = engine.store("cloud")
    store.put("k", {"v": 1}, password=PASSWORD)
    assert "needs a password" in refused(lambda: store.get("k"))
    assert "password is wrong" in refused(lambda: store.get("k", password="nope"))
    assert store.get("k", password=PASSWORD) == {"v": 1}
    refused(lambda: store.put("k", {"v": 2}))
    refused(lambda: store.merge("k", {"w": 2}, password="nope"))
    refused(lambda: store.set_path("k", "v", 3))
    refused(lambda: store.delete("k"))
    assert store.get("k", password=PASSWORD) == {"v": 1}
    store.merge("k", {"w": 2}, password=PASSWORD)
    store.put("k", {"v": 5}, password=PASSWORD)  # the password stays; a new one is not set
    assert store.get("k", password=PASSWORD) == {"v": 5}
    assert store.add({"n": 1}, rid="a", password="other") == "a"
    refused(lambda: store.get("a", password=PASSWORD))


def test_protected_documents_stay_out_of_items_but_keep_their_ids(engine: dse.Engine) -> None:
    store = engine.store("cloud")
    store.put("open", {"v": 1})
    store.put("closed", {"v": 2}, password=PASSWORD)
    assert store.keys() == ["closed", "open"]
    assert dict(store.items()) == {"open": {"v": 1}}
    assert list(store.changes(include_docs=True))[1][1] is None


def test_delete_with_the_password_removes_the_hash(engine: dse.Engine, snapshot: Any) -> None:
    store = engine.store("cloud")
    store.put("k", {"v": 1}, password=PASSWORD)
    hashes = snapshot(engine)["passwords"]
    assert len(hashes) == 1 and hashes[0][1].startswith(b"scrypt$15$8$1$")
    store.delete("k", password=PASSWORD)
    assert snapshot(engine)["passwords"] == []
    store.put("k", {"v": 2})  # re-created without a password: open
    assert store.get("k") == {"v": 2}


def test_the_password_never_reaches_the_data_file(tmp_path: Any) -> None:
    path = tmp_path / "db"
    with dse.open(path) as engine:
        store = engine.store("cloud")
        store.put("k", {"v": 1}, password=PASSWORD)
        store.merge("k", {"w": 2}, password=PASSWORD)
        store.add({"x": 1}, rid="other", password=PASSWORD)
        store.get("k", password=PASSWORD)
    data = (path / "data.mdb").read_bytes()
    assert b"scrypt$" in data  # the hashes are there...
    secret = PASSWORD.encode()
    for form in (secret, secret.hex().encode(), PASSWORD.encode("utf-16-le")):
        assert form not in data  # ...the password is not, in any form
    for name in os.listdir(path):
        assert secret not in (path / name).read_bytes()


def test_verify_password_is_a_salted_slow_hash() -> None:
    a, b = access.hash_password(PASSWORD), access.hash_password(PASSWORD)
    assert a != b  # salted
    assert access.verify_password(PASSWORD, a) and access.verify_password(PASSWORD, b)
    assert not access.verify_password(PASSWORD + "x", a)
    assert not access.verify_password("", a) and not access.verify_password(None, a)
    assert not access.verify_password(PASSWORD, b"md5$abc")
    with pytest.raises(dse.ValidationError):
        access.hash_password("")


def test_backoff_starts_after_two_wrong_attempts_doubles_and_is_capped() -> None:
    fake = FakeTime()
    backoff = access.Backoff(clock=fake.clock, sleep=fake.sleep, base=0.25, cap=2.0)
    delays = []
    for _ in range(7):
        backoff.wait("k")
        backoff.failed("k")
        delays.append(backoff.delay("k"))
    assert delays == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert fake.sleeps == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert backoff.delay("other") == 0.0  # per key
    fake.now += 1.5
    assert backoff.delay("k") == 0.5  # time already passed counts
    backoff.succeeded("k")
    assert backoff.delay("k") == 0.0


def test_backoff_forgets_the_oldest_keys_beyond_its_bound() -> None:
    fake = FakeTime()
    backoff = access.Backoff(clock=fake.clock, sleep=fake.sleep, max_keys=3)
    for key in ("a", "b", "c", "d"):
        for _ in range(3):
            backoff.failed(key)
    assert backoff.delay("a") == 0.0 and backoff.delay("d") > 0


def test_wrong_passwords_slow_the_next_attempts_but_never_refuse_the_right_one(
    engine: dse.Engine, fake_backoff: FakeTime
) -> None:
    store = engine.store("cloud")
    store.put("k", {"v": 1}, password=PASSWORD)
    store.put("other", {"v": 2}, password=PASSWORD)
    for guess in ("a", "b", "c", "d"):
        refused(lambda g=guess: store.get("k", password=g))
    assert fake_backoff.sleeps == [0.25, 0.5]  # before the 3rd and 4th guesses
    refused(lambda: store.put("k", {"v": 9}, password="e"))  # writes wait too
    assert fake_backoff.sleeps[-1] == 1.0
    assert store.get("other", password=PASSWORD) == {"v": 2}  # another key: no wait
    assert fake_backoff.sleeps[-1] == 1.0
    assert store.get("k", password=PASSWORD) == {"v": 1}  # delayed, then accepted
    assert fake_backoff.sleeps[-1] == 2.0
    store.put("k", {"v": 3}, password=PASSWORD)  # success reset the key: no more waiting
    assert len(fake_backoff.sleeps) == 4
    refused(lambda: store.get("k"))  # no password: no guess, no delay recorded
    assert len(fake_backoff.sleeps) == 4 and access.BACKOFF.delay((engine._env.path, b"")) == 0.0
