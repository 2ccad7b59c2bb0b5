"""The node's registry of names, and process groups (OTP's pg)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
from tests.conftest import forever, wait_down


async def test_register_whereis_registered_unregister() -> None:
    async with actors.node():
        pid = actors.spawn(forever())
        actors.register("worker", pid)
        actors.register(("tuple", 1))
        assert actors.whereis("worker") == pid
        assert actors.whereis(("tuple", 1)) == actors.self()
        assert set(actors.registered()) == {"worker", ("tuple", 1)}
        actors.unregister("worker")
        assert actors.whereis("worker") is None
        with pytest.raises(actors.NameNotRegistered):
            actors.unregister("worker")
        assert actors.process_info(pid)["registered_name"] is None  # type: ignore[index]


async def test_send_by_name() -> None:
    async def echo() -> None:
        sender, msg = await actors.receive()
        actors.send(sender, msg)

    async with actors.node():
        actors.spawn(echo, name="echo")
        actors.send("echo", (actors.self(), "hi"))
        assert await actors.receive(timeout=5) == "hi"


async def test_a_name_is_taken_once_and_a_process_has_one_name() -> None:
    async with actors.node():
        actors.spawn(forever(), name="taken")
        with pytest.raises(ValueError, match="already registered"):
            actors.register("taken")
        with pytest.raises(ValueError, match="already registered"):
            actors.spawn(forever(), name="taken")
        actors.register("mine")
        with pytest.raises(ValueError, match="already registered as 'mine'"):
            actors.register("second")
        with pytest.raises(ValueError, match="None"):
            actors.register(None)


async def test_a_name_dies_with_its_process() -> None:
    async with actors.node():
        pid = actors.spawn(actors.receive, name="short lived")
        actors.send("short lived", "bye")
        await wait_down(pid)
        assert actors.whereis("short lived") is None
        with pytest.raises(actors.NameNotRegistered):
            actors.send("short lived", "anyone?")
        actors.spawn(forever(), name="short lived")  # the name is free again


async def test_registering_a_dead_process_fails() -> None:
    async with actors.node():
        pid = actors.spawn(actors.receive)
        actors.send(pid, "bye")
        await wait_down(pid)
        with pytest.raises(ValueError, match="not alive"):
            actors.register("late", pid)


async def test_groups_join_leave_members_in_join_order() -> None:
    async with actors.node():
        a, b = actors.spawn(forever()), actors.spawn(forever())
        actors.join("room", b)
        actors.join("room", a)
        actors.join("room")
        assert actors.members("room") == [b, a, actors.self()]
        actors.leave("room", b)
        assert actors.members("room") == [a, actors.self()]
        assert actors.members("empty") == []
        assert actors.process_info(a)["groups"] == ["room"]  # type: ignore[index]


async def test_pg_join_twice_is_a_member_twice_and_leave_undoes_one_join() -> None:
    """OTP pg: "A process can join a group many times and must then leave
    the group the same number of times"; a death leaves every join."""
    async with actors.node():
        a, b = actors.spawn(forever()), actors.spawn(forever())
        actors.join("room", a)
        actors.join("room", b)
        actors.join("room", a)
        assert actors.members("room") == [a, a, b]
        actors.leave("room", a)
        assert actors.members("room") == [a, b]
        actors.leave("room", a)
        assert actors.members("room") == [b]
        assert actors.process_info(a)["groups"] == []  # type: ignore[index]
        actors.join("room", b)
        actors.join("room", b)
        actors.exit(b, "kill")
        await wait_down(b)
        assert actors.members("room") == []
        actors.join("room", a)
        assert actors.members("room") == [a]  # no join of the dead is left over


async def test_a_member_leaves_every_group_when_it_dies() -> None:
    async with actors.node():
        pids = [actors.spawn(forever()) for _ in range(10)]
        for i, pid in enumerate(pids):
            actors.join("all", pid)
            actors.join("even" if i % 2 == 0 else "odd", pid)
        for pid in pids[:5]:
            actors.exit(pid, "kill")
        await trio.testing.wait_all_tasks_blocked()
        assert actors.members("all") == pids[5:]
        assert actors.members("even") == pids[6::2]
        assert actors.members("odd") == pids[5::2]


async def test_ten_thousand_members_under_crashes() -> None:
    async def member(crash: bool) -> None:
        actors.join("big")
        await actors.receive("go")
        if crash:
            raise RuntimeError("crash on purpose")

    async with actors.node():
        pids = [actors.spawn(member, i % 3 == 0) for i in range(10_000)]
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(actors.members("big")) == pids
        for pid in pids:
            actors.send(pid, "go")
        await trio.testing.wait_all_tasks_blocked()
        assert actors.members("big") == []
