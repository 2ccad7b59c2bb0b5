"""actors.lowlevel: what the layers above need, waiting on events only."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import actors.lowlevel
from tests.conftest import wait_down


async def test_wait_idle_returns_when_the_process_parks_and_not_before() -> None:
    go = trio.Event()

    async def busy_then_idle() -> None:
        await go.wait()  # not in receive: not idle
        await actors.receive("never sent")

    async with actors.node():
        pid = actors.spawn(busy_then_idle)
        idle = trio.Event()

        async def watch() -> None:
            await actors.lowlevel.wait_idle(pid)
            idle.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.testing.wait_all_tasks_blocked()
            assert not idle.is_set()  # waiting, and not spinning: every task blocked
            go.set()
            with trio.fail_after(5):
                await idle.wait()
        actors.exit(pid, "kill")


async def test_a_process_waiting_for_another_message_is_idle_with_a_full_mailbox() -> None:
    async with actors.node():
        pid = actors.spawn(lambda: actors.receive("only this"))
        for i in range(3):
            actors.send(pid, ("other", i))
        with trio.fail_after(5):
            await actors.lowlevel.wait_idle(pid)
        assert actors.lowlevel.mailbox_len(pid) == 3
        actors.exit(pid, "kill")


async def test_wait_mailbox_below_follows_the_receiver() -> None:
    step = trio.Event()

    async def slow_reader() -> None:
        await step.wait()
        for _ in range(5):
            await actors.receive()
        await actors.receive("never sent")

    async with actors.node():
        pid = actors.spawn(slow_reader)
        for i in range(5):
            actors.send(pid, i)
        assert actors.lowlevel.mailbox_len(pid) == 5
        done = trio.Event()

        async def wait_below() -> None:
            await actors.lowlevel.wait_mailbox_below(pid, 2)
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_below)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()
            step.set()
            with trio.fail_after(5):
                await done.wait()
        assert actors.lowlevel.mailbox_len(pid) < 2
        actors.exit(pid, "kill")


async def test_waits_end_when_the_process_dies_and_a_cancelled_wait_leaves_no_trace() -> None:
    async with actors.node():
        pid = actors.spawn(trio.sleep_forever)
        with trio.move_on_after(0.01):
            await actors.lowlevel.wait_idle(pid)
        assert pid._proc is not None
        assert pid._proc._watches is None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actors.lowlevel.wait_idle, pid)
            nursery.start_soon(actors.lowlevel.wait_mailbox_below, pid, 0)
            await trio.testing.wait_all_tasks_blocked()
            actors.exit(pid, "kill")
        assert await wait_down(pid) == "noproc"
        await actors.lowlevel.wait_idle(pid)  # a dead process is idle at once
        assert actors.lowlevel.mailbox_len(pid) == 0


async def test_end_process_ends_even_a_trapping_process_with_normal() -> None:
    async with actors.node():
        pid = actors.spawn(actors.receive, "never sent", trap_exits=True)
        ref = actors.monitor(pid)
        actors.lowlevel.end_process(pid, "normal")
        down = await actors.receive(actors.Down(ref, pid, actors.ANY), timeout=5)
        assert down.reason == "normal"


@pytest.mark.parametrize(
    ("reason", "normal"),
    [
        ("normal", True),
        ("shutdown", True),
        (("shutdown", "bye"), True),
        ("killed", False),
        (("shutdown", 1, 2), False),
        (ValueError("x"), False),
    ],
)
def test_is_normal_exit_is_otps_definition(reason: object, normal: bool) -> None:
    assert actors.lowlevel.is_normal_exit(reason) is normal


# -- system processes and NodeVar ------------------------------------------------------


async def test_a_system_process_is_left_out_of_processes_and_registered_and_marked_so() -> None:
    async with actors.node():
        me = actors.self()
        pid = actors.lowlevel.spawn_system(actors.receive, "never sent", name="$service", link=True)
        user = actors.spawn(actors.receive, "never sent", name="mine")
        assert set(actors.processes()) == {me, user}
        assert actors.registered() == ["mine"]
        assert actors.whereis("$service") == pid  # found by whoever knows its name
        rows = {row["pid"]: row for row in actors.lowlevel.process_rows()}
        assert rows[pid]["system"] is True
        assert rows[pid]["links"] == [me]
        assert rows[user]["system"] is False
        assert rows[me]["system"] is False
        assert actors.lowlevel.node_info()["processes"] == 4  # "$inspect" too


async def test_a_system_process_ends_as_any_other_and_is_not_restarted_by_actors() -> None:
    """Keeping a service running is the job of the layer that started it."""
    async with actors.node():
        pid = actors.lowlevel.spawn_system(actors.receive, "never sent", name="$service")
        actors.exit(pid, "kill")
        assert await wait_down(pid) == "killed"
        assert actors.whereis("$service") is None
        assert pid not in [row["pid"] for row in actors.lowlevel.process_rows()]


async def test_a_node_var_holds_one_value_per_node_which_ends_with_it() -> None:
    var: actors.lowlevel.NodeVar[str] = actors.lowlevel.NodeVar("test.var")
    async with actors.node():
        with pytest.raises(LookupError, match=r"test\.var"):
            var.get()
        assert var.get(None) is None
        var.set("first")

        async def read() -> None:
            actors.send("test", var.get())

        actors.register("test")
        actors.spawn(read)
        assert await actors.receive(timeout=5) == "first"  # any process of the node
        async with actors.node():  # another node, inside a process of the first
            assert var.get("unset") == "unset"
            var.set("second")
            assert var.get() == "second"
        assert var.get() == "first"
    async with actors.node():  # a node that ended took its value with it
        assert var.get("unset") == "unset"
