"""Links, exit signals and trap_exits, following Erlang's rules exactly."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import actors
from actors import ANY, Exit
from tests.conftest import forever, wait_down


class Boom(Exception):
    pass


async def crash_on(msg: str) -> None:
    await actors.receive(msg)
    raise Boom(msg)


async def test_a_crash_kills_a_linked_process_with_the_same_reason() -> None:
    async with actors.node():
        victim = actors.spawn(forever())
        crasher = actors.spawn(crash_on, "go")
        ref = actors.monitor(victim)

        async def linker() -> None:
            actors.link(victim)
            actors.link(crasher)
            await actors.receive("never")

        middle = actors.spawn(linker)
        await trio.testing.wait_all_tasks_blocked()
        actors.send(crasher, "go")
        down = await actors.receive(actors.Down(ref, victim, ANY), timeout=5)
        assert isinstance(down.reason, Boom)
        assert actors.process_info(middle) is None


async def test_a_trapping_process_gets_an_exit_message_instead() -> None:
    async with actors.node():
        actors.trap_exits()
        crasher = actors.spawn_link(crash_on, "go")
        actors.send(crasher, "go")
        msg = await actors.receive(Exit, timeout=5)
        assert msg.pid == crasher
        assert isinstance(msg.reason, Boom)


async def test_a_normal_exit_does_not_kill_a_linked_process() -> None:
    async def quits() -> None:
        await actors.receive("quit")

    async with actors.node():
        watcher = actors.spawn(forever())
        quitter = actors.spawn(quits)

        async def link_both() -> None:
            actors.link(quitter)
            await actors.receive("never")

        linked = actors.spawn(link_both)
        await trio.testing.wait_all_tasks_blocked()
        actors.send(quitter, "quit")
        assert await wait_down(quitter) == "normal"
        await trio.testing.wait_all_tasks_blocked()
        assert actors.process_info(linked) is not None
        assert actors.process_info(watcher) is not None


async def test_kill_cannot_be_trapped_and_reaches_links_as_killed() -> None:
    async def trapper() -> None:
        actors.trap_exits()
        await actors.receive("never")

    async with actors.node():
        actors.trap_exits()
        target = actors.spawn(trapper, link=True)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(target, "kill")
        assert await actors.receive(Exit, timeout=5) == Exit(target, "killed")


async def test_exit_normal_is_ignored_unless_trapped() -> None:
    async with actors.node():
        plain = actors.spawn(forever())
        trapping = actors.spawn(forever(), trap_exits=True)
        ref = actors.monitor(plain)
        actors.exit(plain, "normal")
        actors.exit(trapping, "normal")
        await trio.testing.wait_all_tasks_blocked()
        assert actors.process_info(plain) is not None
        info = actors.process_info(trapping)
        assert info is not None
        assert info["message_queue_len"] == 1
        actors.exit(plain, "shutdown")
        assert await actors.receive(actors.Down(ref, plain, ANY), timeout=5) == (
            ref,
            plain,
            "shutdown",
        )


async def test_exit_to_a_trapping_process_arrives_from_the_sender() -> None:
    async with actors.node():
        actors.trap_exits()

        async def sender(to: actors.Pid) -> None:
            actors.exit(to, "go away")

        pid = actors.spawn(sender, actors.self())
        assert await actors.receive(Exit, timeout=5) == Exit(pid, "go away")


async def test_exit_self_normal_ends_the_caller_at_once() -> None:
    reached: list[str] = []

    async def ender() -> None:
        actors.exit(actors.self(), "normal")
        reached.append("after exit")

    async with actors.node():
        assert await wait_down(actors.spawn(ender)) == "normal"
        assert reached == []


async def test_exit_self_with_a_reason_is_not_caught_by_except_exception() -> None:
    async def ender() -> None:
        try:
            actors.exit(actors.self(), "bye")
        except Exception:
            actors.send("test", "swallowed")

    async with actors.node():
        actors.register("test")
        assert await wait_down(actors.spawn(ender)) == "bye"
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive("swallowed", timeout=0)


async def test_linking_to_a_dead_process_gives_noproc() -> None:
    async with actors.node():
        dead = actors.spawn(actors.receive)
        actors.send(dead, "done")
        await wait_down(dead)

        async def non_trapping() -> None:
            actors.link(dead)
            await actors.receive("never")

        assert await wait_down(actors.spawn(non_trapping)) == "noproc"
        actors.trap_exits()
        actors.link(dead)
        assert await actors.receive(Exit, timeout=5) == Exit(dead, "noproc")


async def test_unlink_stops_the_signal() -> None:
    async with actors.node():
        crasher = actors.spawn_link(crash_on, "go")
        actors.unlink(crasher)
        actors.send(crasher, "go")
        assert isinstance(await wait_down(crasher), Boom)
        assert actors.process_info(actors.self()) is not None


async def test_spawn_link_before_it_runs_so_an_instant_crash_is_seen() -> None:
    async def instant() -> None:
        raise Boom("at once")

    async with actors.node():
        actors.trap_exits()
        pid = actors.spawn_link(instant)
        msg = await actors.receive(Exit, timeout=5)
        assert msg.pid == pid
        assert isinstance(msg.reason, Boom)


async def test_a_process_killed_before_it_ran_never_runs() -> None:
    ran: list[bool] = []

    async def body() -> None:
        ran.append(True)

    async with actors.node():
        pid = actors.spawn(body)
        actors.exit(pid, "kill")
        assert await wait_down(pid) == "killed"
        assert ran == []


@pytest.mark.parametrize("length", [2, 50, 1000])
async def test_a_crash_in_a_deep_link_chain_takes_down_exactly_the_right_processes(
    length: int,
) -> None:
    """chain[0] - chain[1] - ... - chain[n-1]; chain[k] traps exits; chain[j] crashes.

    Everything from chain[k+1] on dies with the crash's reason, chain[k]
    gets one Exit and lives on, chain[0..k-1] are untouched."""

    async def member(trap: bool) -> None:
        if trap:
            actors.trap_exits()
        previous = await actors.receive(actors.Pid, None)
        if previous is not None:
            actors.link(previous)
        actors.send("test", ("linked", actors.self()))
        match await actors.receive(("crash", ANY), Exit):
            case ("crash", why):
                raise Boom(why)
            case Exit(_, reason) as exit_msg:
                actors.send("test", ("trapped", actors.self(), exit_msg.pid, reason))
                await actors.receive("never")

    async with actors.node():
        actors.register("test")
        k, j = length // 4, (3 * length) // 4
        if j == k:
            j = k + 1
        chain = [actors.spawn(member, index == k) for index in range(length)]
        actors.send(chain[0], None)
        for index in range(1, length):
            actors.send(chain[index], chain[index - 1])
        for _ in range(length - 1):
            await actors.receive(("linked", ANY), timeout=5)
        refs = {actors.monitor(pid): index for index, pid in enumerate(chain)}
        actors.send(chain[j], ("crash", "here"))
        dead: dict[int, object] = {}
        for _ in range(length - k - 1):
            down = await actors.receive(actors.Down, timeout=5)
            dead[refs[down.ref]] = down.reason
        assert sorted(dead) == list(range(k + 1, length))
        assert all(isinstance(r, Boom) and r.args == ("here",) for r in dead.values())
        trapped = await actors.receive(("trapped", chain[k], ANY, ANY), timeout=5)
        assert trapped[2] == chain[k + 1]
        assert isinstance(trapped[3], Boom)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(actors.Down, timeout=0)
        assert all(actors.process_info(chain[i]) is not None for i in range(k + 1))


async def test_trap_exits_turns_each_signal_into_one_exit_message() -> None:
    async def dies_with(reason: str) -> None:
        await actors.receive("go")
        actors.exit(actors.self(), reason)

    async with actors.node():
        actors.trap_exits()
        pids = [actors.spawn_link(dies_with, f"reason {i}") for i in range(200)]
        for pid in pids:
            actors.send(pid, "go")
        got = [await actors.receive(Exit, timeout=5) for _ in pids]
        assert sorted(got) == sorted(Exit(pid, f"reason {i}") for i, pid in enumerate(pids))
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(Exit, timeout=0)


async def test_trap_exits_returns_the_previous_flag() -> None:
    async with actors.node():
        assert actors.trap_exits() is False
        assert actors.trap_exits(False) is True
        assert actors.process_info(actors.self())["trap_exit"] is False  # type: ignore[index]


async def test_a_crash_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="actors")
    async with actors.node():
        pid = actors.spawn(crash_on, "go", name="the_crasher")
        actors.send(pid, "go")
        await wait_down(pid)
    records = [r for r in caplog.records if r.name == "actors"]
    assert len(records) == 1
    text = records[0].getMessage()
    assert repr(pid) in text
    assert "crash_on" in text
    assert "the_crasher" in text
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is Boom
    assert "raise Boom(msg)" in caplog.text


async def test_normal_shutdown_and_kill_exits_are_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actors")
    async with actors.node():
        for reason in ["normal", "shutdown", "kill"]:
            pid = actors.spawn(forever(), trap_exits=reason == "normal")
            actors.exit(pid, reason if reason != "normal" else "kill")
            await wait_down(pid)
        quitter = actors.spawn(actors.receive)
        actors.send(quitter, "x")
        await wait_down(quitter)
    assert [r for r in caplog.records if r.name == "actors"] == []


async def test_a_crash_never_escapes_into_trio() -> None:
    async def instant() -> None:
        raise Boom("contained")

    async with actors.node():
        for _ in range(100):
            actors.spawn(instant)
        await trio.testing.wait_all_tasks_blocked()
        assert actors.processes() == [actors.self()]


async def test_the_node_process_dies_by_a_link_with_process_exit() -> None:
    with pytest.raises(actors.ProcessExit) as info:
        async with actors.node():
            crasher = actors.spawn_link(crash_on, "go")
            actors.send(crasher, "go")
            await actors.receive("never", timeout=5)
    assert isinstance(info.value.reason, Boom)


async def test_raising_process_exit_is_erlangs_exit_1_even_when_trapping() -> None:
    async def leaves(reason: object) -> None:
        actors.trap_exits()
        raise actors.ProcessExit(reason)

    async with actors.node():
        assert await wait_down(actors.spawn(leaves, "shutdown")) == "shutdown"
        assert await wait_down(actors.spawn(leaves, ("custom", 1))) == ("custom", 1)


async def test_process_exit_from_a_helper_task_ends_the_process() -> None:
    async def with_helper() -> None:
        async def helper() -> None:
            raise actors.ProcessExit("helper says bye")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)
            await trio.sleep_forever()

    async with actors.node():
        assert await wait_down(actors.spawn(with_helper)) == "helper says bye"
