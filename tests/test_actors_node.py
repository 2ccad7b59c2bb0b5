"""run(), node(), shutdown, introspection, and many processes at once."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
from tests.conftest import forever, wait_down


def test_run_returns_what_the_first_process_returns() -> None:
    async def main(a: int, b: int) -> int:
        pid = actors.spawn(forever())
        assert pid in actors.processes()
        return a + b

    assert actors.run(main, 2, 3) == 5


def test_run_raises_what_the_first_process_raises() -> None:
    async def main() -> None:
        raise KeyError("first")

    with pytest.raises(KeyError, match="first"):
        actors.run(main)


async def test_leaving_the_node_ends_every_process_promptly() -> None:
    ended: list[str] = []

    async def in_receive() -> None:
        try:
            await actors.receive("never")
        finally:
            ended.append("receive")

    async def sleeping() -> None:
        try:
            await trio.sleep(3600)
        finally:
            ended.append("sleep")

    async def trapping() -> None:
        actors.trap_exits()
        try:
            while True:
                await actors.receive()
        finally:
            ended.append("trap")

    with trio.fail_after(5):
        async with actors.node():
            for body in (in_receive, sleeping, trapping):
                for _ in range(100):
                    actors.spawn(body)
            await trio.testing.wait_all_tasks_blocked()
    assert sorted(set(ended)) == ["receive", "sleep", "trap"]
    assert len(ended) == 300


async def test_spawning_while_the_node_shuts_down_is_refused() -> None:
    refused: list[BaseException] = []

    async def respawner() -> None:
        try:
            await actors.receive("never")
        finally:
            try:
                actors.spawn(forever())
            except RuntimeError as exc:
                refused.append(exc)

    async with actors.node():
        actors.spawn(respawner)
        await trio.testing.wait_all_tasks_blocked()
    assert len(refused) == 1
    assert "shutting down" in str(refused[0])


async def test_a_hundred_thousand_processes_spawned_and_finished() -> None:
    count = 100_000

    async def worker(n: int) -> None:
        msg = await actors.receive()
        actors.send(msg, n)

    with trio.fail_after(90):
        async with actors.node():
            me = actors.self()
            pids = [actors.spawn(worker, n) for n in range(count)]
            assert len(set(pids)) == count
            for pid in pids:
                actors.send(pid, me)
            total = 0
            for _ in range(count):
                total += await actors.receive()
            assert total == count * (count - 1) // 2
            await trio.testing.wait_all_tasks_blocked()
            assert actors.processes() == [me]


async def test_process_info_describes_a_live_process() -> None:
    async def waiting() -> None:
        actors.trap_exits()
        await actors.receive("never")

    async with actors.node():
        pid = actors.spawn(waiting, name="infoee", link=True)
        actors.join("g", pid)
        actors.send(pid, "one")
        actors.send(pid, "two")
        await trio.testing.wait_all_tasks_blocked()
        info = actors.process_info(pid)
        assert info is not None
        assert info["pid"] == pid
        assert info["status"] == "waiting"
        assert info["message_queue_len"] == 2
        assert info["links"] == [actors.self()]
        assert info["registered_name"] == "infoee"
        assert info["trap_exit"] is True
        assert info["groups"] == ["g"]
        assert info["current_function"].endswith("waiting")
        actors.unlink(pid)
        actors.exit(pid, "kill")
        await wait_down(pid)
        assert actors.process_info(pid) is None
        assert pid not in actors.processes()


async def test_pids_and_refs_survive_pickling() -> None:
    import pickle

    async with actors.node():
        a, b = actors.spawn(forever()), actors.spawn(forever())
        assert a < b
        assert pickle.loads(pickle.dumps(a)) == a
        assert pickle.loads(pickle.dumps(actors.ANY)) is actors.ANY
        ref = actors.monitor(a)
        assert pickle.loads(pickle.dumps(ref)) is ref
        assert pickle.loads(pickle.dumps(ref)) != actors.monitor(a)


async def test_a_node_inside_a_node_restores_the_outer_process() -> None:
    async with actors.node():
        outer = actors.self()
        async with actors.node():
            inner = actors.self()
            assert inner != outer
        assert actors.self() == outer
        actors.spawn(forever())  # the outer node still works


def test_pids_of_nodes_that_lived_one_after_the_other_differ() -> None:
    async def first_pid() -> actors.Pid:
        return actors.self()

    a, b = actors.run(first_pid), actors.run(first_pid)
    assert repr(a) == repr(b) == "<0.0.0>"
    assert a != b
    assert len({a, b}) == 2


def test_ctrl_c_inside_a_process_comes_out_of_run_as_keyboard_interrupt() -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    async def main() -> None:
        actors.spawn(interrupted)
        await actors.receive("never")

    with pytest.raises(KeyboardInterrupt):
        actors.run(main)
