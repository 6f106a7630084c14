"""datastore_engine.aio: awaitable stores and buckets that leave the event loop free while they work.

The "never blocks the loop" tests make the operation wait for something only
the event loop can do (a ticker task setting an event after it has ticked):
were the operation run on the loop, the ticker could not tick and the waiting
side would time out. No timings are asserted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import datastore_engine as dse
from datastore_engine import aio


async def ticker(ticks: list[int], release: threading.Event, *, after: int = 5) -> None:
    """Tick on the loop; after ``after`` ticks, let the blocked operation go on."""
    while True:
        await asyncio.sleep(0.001)
        ticks.append(1)
        if len(ticks) >= after:
            release.set()


def test_store_operations(tmp_path: Path) -> None:
    async def go() -> None:
        async with aio.open(tmp_path / "db", app="a") as engine:
            people = engine.store("people")
            rid = await people.add({"name": "Ada", "age": 36})
            await people.put("alan", {"name": "Alan", "age": 41})
            await people.merge("alan", {"city": "Manchester"})
            await people.set_path("alan", "age", 42)
            assert await people.get("alan") == {"name": "Alan", "age": 42, "city": "Manchester"}
            assert await people.get_path("alan", "city") == "Manchester"
            assert await people.get("nobody", None) is None
            with pytest.raises(dse.NotFound):
                await people.get("nobody")
            assert await people.len() == 2 and await people.contains(rid)
            assert await people.keys() == sorted([rid, "alan"])
            await people.create_index("age")
            assert await people.indexes() == [{"path": "age", "unique": False}]
            page = await people.find("age gt 40")
            assert [r for r, _ in page] == ["alan"]
            assert (await people.explain("age gt 40"))["indexes"] == ["age"]
            hits = await people.search({"query": {"range": {"age": {"lt": 40}}}})
            assert [h["_id"] for h in hits["hits"]["hits"]] == [rid]
            await people.delete(rid)
            assert [c.rid async for c in people.changes()] == ["alan", rid]
            assert (await people.info()).count == 1
            await people.drop_index("age")
            assert [s.name for s in await engine.stores()] == ["people"]

    asyncio.run(go())


def test_items_iterate_in_batches(tmp_path: Path) -> None:
    async def go() -> list[str]:
        async with aio.open(tmp_path / "db") as engine:
            store = engine.store("s")

            def fill() -> None:
                with engine.engine.transaction():
                    for i in range(1200):
                        engine.engine.store("s").put(f"d{i:04d}", {"n": i})

            await engine.call(fill)
            return [rid async for rid, _doc in store.items()]

    assert asyncio.run(go()) == [f"d{i:04d}" for i in range(1200)]


def test_bucket_operations(tmp_path: Path) -> None:
    async def go() -> None:
        engine = await aio.open(tmp_path / "db")
        try:
            media = engine.bucket("media")
            info = await media.put("a/b.txt", b"hello", metadata={"k": "v"})
            assert info.size == 5 and (await media.stat("a/b.txt")).metadata == {"k": "v"}
            assert await media.get_bytes("a/b.txt") == b"hello"
            assert await media.exists("a/b.txt") and not await media.exists("zz")
            await media.copy_to("media", "c.txt", "a/b.txt")
            assert [o.name for o in await media.list()] == ["a/b.txt", "c.txt"]
            assert [o.name for o in await media.list(recursive=False)] == ["a/", "c.txt"]
            big = bytes(range(256)) * 20_000  # several chunks
            await media.put("big.bin", big)
            assert b"".join([c async for c in media.stream("big.bin", chunk_size=100_000)]) == big
            target = tmp_path / "out.bin"
            await media.fget("big.bin", target)
            assert target.read_bytes() == big
            assert await media.delete(["c.txt", "nope"]) == {"c.txt": True, "nope": False}
            await media.delete("a/b.txt")
            with pytest.raises(dse.NotFound):
                await media.stat("a/b.txt")
            assert [b.name for b in await engine.buckets()] == ["media"]
        finally:
            await engine.aclose()

    asyncio.run(go())


def test_a_store_write_waiting_for_the_lock_leaves_the_loop_running(tmp_path: Path) -> None:
    """Another thread holds the write lock until the loop has ticked: a blocking put would deadlock it."""
    release = threading.Event()
    holding = threading.Event()
    outcome: dict[str, Any] = {}

    async def go() -> None:
        async with aio.open(tmp_path / "db") as engine:
            store = engine.store("s")
            await store.put("warm", {})  # create the store before the lock is taken

            def hold_the_write_lock() -> None:
                with engine.engine.transaction():
                    engine.engine.store("s").put("held", {"by": "thread"})
                    holding.set()
                    outcome["released_by_loop"] = release.wait(timeout=30)

            holder = threading.Thread(target=hold_the_write_lock)
            holder.start()
            await asyncio.get_running_loop().run_in_executor(None, holding.wait)
            ticks: list[int] = []
            tick_task = asyncio.create_task(ticker(ticks, release))
            await store.put("waiting", {"n": 1})  # waits until the holder commits
            tick_task.cancel()
            holder.join()
            assert await store.keys() == ["held", "waiting", "warm"]

    asyncio.run(go())
    assert outcome["released_by_loop"] is True


def test_a_big_blob_upload_leaves_the_loop_running(tmp_path: Path) -> None:
    """The upload's data source waits until the loop has ticked; the upload itself is 24 MiB."""
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def chunks() -> Iterator[bytes]:
        for i in range(24):
            if i == 12:
                outcome["released_by_loop"] = release.wait(timeout=30)
            yield bytes([i]) * (1 << 20)

    async def go() -> None:
        async with aio.open(tmp_path / "db") as engine:
            ticks: list[int] = []
            tick_task = asyncio.create_task(ticker(ticks, release))
            info = await engine.bucket("media").put("big.bin", chunks())
            ticked_during_upload = len(ticks)
            tick_task.cancel()
            assert info.size == 24 << 20
            assert ticked_during_upload >= 5

    asyncio.run(go())
    assert outcome["released_by_loop"] is True


def test_many_concurrent_writes_all_land(tmp_path: Path) -> None:
    async def go() -> int:
        async with aio.open(tmp_path / "db", max_workers=4) as engine:
            store = engine.store("s")
            await asyncio.gather(*(store.put(f"d{i:04d}", {"n": i}) for i in range(500)))
            assert await engine.check() == []
            return await store.len()

    assert asyncio.run(go()) == 500


def test_call_runs_a_whole_transaction_in_one_hop(tmp_path: Path) -> None:
    async def go() -> tuple[int, int]:
        async with aio.open(tmp_path / "db") as engine:
            sync = engine.engine

            def transfer() -> None:
                with sync.transaction():
                    sync.store("a").put("x", {"n": 1})
                    sync.store("b").put("y", {"n": 2})

            await engine.call(transfer)
            return await engine.store("a").len(), await engine.store("b").len()

    assert asyncio.run(go()) == (1, 1)


def test_after_closing_every_call_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        async with aio.open(tmp_path / "db") as engine:
            store = engine.store("s")
            await store.put("a", {})
        assert engine.engine.closed
        with pytest.raises(dse.EngineClosed):
            await store.get("a")

    asyncio.run(go())


def test_backup_and_map_info(tmp_path: Path) -> None:
    async def go() -> None:
        async with aio.open(tmp_path / "db") as engine:
            await engine.store("s").put("a", {"n": 1})
            await engine.backup(tmp_path / "copy")
            assert (await engine.map_info())["used_bytes"] > 0
        with dse.open(tmp_path / "copy") as copy:
            assert copy.store("s").get("a") == {"n": 1}

    asyncio.run(go())


def test_max_workers_must_be_positive(tmp_path: Path) -> None:
    async def go() -> None:
        with pytest.raises(dse.ValidationError):
            await aio.open(tmp_path / "db", max_workers=0)
        assert not (tmp_path / "db").exists()  # refused before opening anything

    asyncio.run(go())


def test_aio_is_a_submodule_outside_all() -> None:
    assert dse.aio is aio and "aio" not in dse.__all__
    with pytest.raises(AttributeError):
        dse.no_such_thing  # noqa: B018
