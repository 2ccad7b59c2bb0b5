"""Monitors: one-way, one Down per monitor, "noproc" for the dead."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
from actors import ANY, Down
from tests.conftest import forever


class Boom(Exception):
    pass


async def test_down_carries_the_reason_for_normal_crash_and_kill() -> None:
    async def ends(how: str) -> None:
        await actors.receive("go")
        if how == "crash":
            raise Boom()

    async with actors.node():
        normal, ref1 = actors.spawn_monitor(ends, "normal")
        crash, ref2 = actors.spawn_monitor(ends, "crash")
        killed, ref3 = actors.spawn_monitor(forever())
        actors.send(normal, "go")
        actors.send(crash, "go")
        actors.exit(killed, "kill")
        got = {}
        for _ in range(3):
            down = await actors.receive(Down, timeout=5)
            got[down.ref] = down
        assert got[ref1] == Down(ref1, normal, "normal")
        assert got[ref2].pid == crash
        assert isinstance(got[ref2].reason, Boom)
        assert got[ref3] == Down(ref3, killed, "killed")


async def test_monitoring_a_dead_process_gives_noproc_at_once() -> None:
    async with actors.node():
        pid, ref = actors.spawn_monitor(actors.receive)
        actors.send(pid, "bye")
        await actors.receive(Down(ref, pid, ANY), timeout=5)
        again = actors.monitor(pid)
        assert await actors.receive(timeout=0) == Down(again, pid, "noproc")


async def test_monitor_by_name_and_an_unknown_name() -> None:
    async with actors.node():
        pid = actors.spawn(forever(), name="worker")
        ref = actors.monitor("worker")
        missing = actors.monitor("nobody")
        assert await actors.receive(timeout=0) == Down(missing, "nobody", "noproc")
        actors.exit(pid, "shutdown")
        assert await actors.receive(timeout=5) == Down(ref, pid, "shutdown")


async def test_every_monitor_fires_once() -> None:
    async with actors.node():
        pid = actors.spawn(forever())
        refs = {actors.monitor(pid) for _ in range(5)}
        actors.exit(pid, "stop")
        got = {(await actors.receive(Down, timeout=5)).ref for _ in refs}
        assert got == refs
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)


async def test_demonitor_stops_and_flush_drops_a_queued_down() -> None:
    async with actors.node():
        first = actors.spawn(forever())
        ref = actors.monitor(first)
        assert actors.demonitor(ref) is True
        assert actors.demonitor(ref) is False
        actors.exit(first, "stop")
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)

        second = actors.spawn(forever())
        ref2 = actors.monitor(second)
        actors.send(actors.self(), "keep me")
        actors.exit(second, "stop")
        await trio.testing.wait_all_tasks_blocked()
        assert actors.demonitor(ref2, flush=True) is False
        assert await actors.receive(timeout=0) == "keep me"
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)


async def test_a_monitor_is_one_way() -> None:
    async with actors.node():
        target = actors.spawn(forever())

        async def watcher() -> None:
            actors.monitor(target)
            raise Boom("the watcher dies, the target does not")

        w, ref = actors.spawn_monitor(watcher)
        await actors.receive(Down(ref, w, ANY), timeout=5)
        assert actors.process_info(target) is not None
        assert actors.process_info(target)["monitored_by"] == []  # type: ignore[index]


async def test_process_info_lists_monitors_both_ways() -> None:
    async with actors.node():
        target = actors.spawn(forever())
        ref = actors.monitor(target)
        me = actors.self()
        assert actors.process_info(me)["monitors"] == [(ref, target)]  # type: ignore[index]
        assert actors.process_info(target)["monitored_by"] == [me]  # type: ignore[index]


async def test_process_info_lists_several_monitors_in_the_order_they_were_made() -> None:
    async with actors.node():
        targets = [actors.spawn(forever()) for _ in range(3)]
        refs = [actors.monitor(pid) for pid in targets]
        info = actors.process_info(actors.self())
        assert info is not None
        assert info["monitors"] == list(zip(refs, targets, strict=True))
        assert actors.process_info(targets[0])["monitored_by"] == [actors.self()]  # type: ignore[index]
