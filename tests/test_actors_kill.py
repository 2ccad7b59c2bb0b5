"""Ending a process from outside, wherever it waits: in any await, inside
scopes and nurseries of its own, shields kept, level-triggered."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
from tests.conftest import wait_down


async def test_kill_ends_a_process_asleep_inside_scopes_of_its_own() -> None:
    async def nested() -> None:
        with trio.CancelScope(), trio.move_on_after(1000):
            await trio.sleep_forever()
        actors.send("test", "escaped")  # a scope of its own must not catch the kill

    async with actors.node():
        actors.register("test")
        pid = actors.spawn(nested)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "kill")
        assert await wait_down(pid) == "killed"
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive("escaped", timeout=0)


async def test_an_exit_signal_ends_a_process_waiting_in_a_timed_receive() -> None:
    async def waits() -> None:
        with trio.move_on_after(1000):
            await actors.receive("never", timeout=500)

    async with actors.node():
        pid = actors.spawn(waits)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "stop")
        assert await wait_down(pid) == "stop"


async def test_a_killed_process_that_catches_it_dies_at_its_next_await() -> None:
    async def stubborn() -> None:
        try:
            await trio.sleep_forever()
        except BaseException:
            await trio.sleep_forever()  # cancelled again: the kill holds

    async with actors.node():
        pid = actors.spawn(stubborn)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "kill")
        with trio.fail_after(5):
            assert await wait_down(pid) == "killed"


async def test_a_kill_waits_for_a_shielded_part_to_end() -> None:
    async def shielded() -> None:
        with trio.CancelScope(shield=True):
            await actors.receive("go")
            actors.send("test", "shield done")
        await trio.sleep_forever()

    async with actors.node():
        actors.register("test")
        pid = actors.spawn(shielded)
        ref = actors.monitor(pid)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "kill")
        await trio.testing.wait_all_tasks_blocked()
        assert actors.process_info(pid) is not None  # still in its shield
        actors.send(pid, "go")
        assert await actors.receive("shield done", timeout=5) == "shield done"
        down = await actors.receive(actors.Down(ref, pid, actors.ANY), timeout=5)
        assert down.reason == "killed"


async def test_a_kill_cancels_the_helper_tasks_of_the_process() -> None:
    async def helper(name: str) -> None:
        try:
            await trio.sleep_forever()
        finally:
            actors.send("test", name)

    async def with_helpers() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper, "a")
            with trio.CancelScope():
                async with trio.open_nursery() as inner:
                    inner.start_soon(helper, "b")
                    await trio.sleep_forever()

    async with actors.node():
        actors.register("test")
        pid = actors.spawn(with_helpers)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "kill")
        assert await wait_down(pid) == "killed"
        got = {await actors.receive(timeout=5), await actors.receive(timeout=5)}
        assert got == {"a", "b"}


async def test_a_process_woken_but_not_yet_run_dies_at_its_next_await() -> None:
    async def takes_one() -> None:
        await actors.receive()
        await trio.sleep_forever()

    async with actors.node():
        pid = actors.spawn(takes_one)
        await trio.testing.wait_all_tasks_blocked()
        actors.send(pid, "wake")  # runnable now, not running
        actors.exit(pid, "kill")
        assert await wait_down(pid) == "killed"


async def test_a_killed_process_leaves_no_scope_behind_for_the_others() -> None:
    async with actors.node():
        pids = [actors.spawn(trio.sleep_forever) for _ in range(50)]
        await trio.testing.wait_all_tasks_blocked()
        refs = [actors.monitor(pid) for pid in pids[::2]]
        for pid in pids[::2]:
            actors.exit(pid, "kill")
        for ref in refs:
            down = await actors.receive(actors.Down(ref, actors.ANY, actors.ANY), timeout=5)
            assert down.reason == "killed"
        await trio.testing.wait_all_tasks_blocked()
        assert all(actors.process_info(pid) is not None for pid in pids[1::2])
        # and the survivors still end as any other
        actors.exit(pids[1], "bye")
        assert await wait_down(pids[1]) == "bye"


async def test_the_first_exit_signal_wins() -> None:
    async with actors.node():
        pid = actors.spawn(trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "first")
        actors.exit(pid, "second")
        assert await wait_down(pid) == "first"


class Sleeper(actors.GenServer):
    async def handle_call(self, request: object, from_: actors.From) -> object:
        await trio.sleep_forever()


async def test_a_call_whose_server_is_killed_ends_with_call_exit() -> None:
    async with actors.node():
        pid = await Sleeper.start()

        async def killer() -> None:
            await trio.testing.wait_all_tasks_blocked()
            actors.exit(pid, "kill")

        actors.spawn(killer)
        with pytest.raises(actors.CallExit) as info:
            await actors.call(pid, "hang", timeout=None)
        assert info.value.reason == "killed"


async def test_a_caller_killed_while_it_waits_for_an_answer_dies() -> None:
    async with actors.node():
        server = await Sleeper.start()

        async def caller() -> None:
            await actors.call(server, "hang", timeout=None)

        pid = actors.spawn(caller)
        await trio.testing.wait_all_tasks_blocked()
        actors.exit(pid, "kill")
        assert await wait_down(pid) == "killed"
