"""GenServer: call, cast, info, delayed replies, timeouts, crashes, terminate."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors import ANY, NOREPLY, Exit, From, GenServer, Stop
from actors.testing import drain


class Counter(GenServer):
    """State on self; sync and async callbacks mixed on purpose."""

    def init(self, start: int, log: list[Any] | None = None) -> None:
        self.count = start
        self.log = log if log is not None else []
        self.pending: list[From] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case "get":
                return self.count
            case ("add", n):
                self.count += n
                return self.count
            case "later":
                self.pending.append(from_)
                return NOREPLY
            case "stop":
                return Stop("normal", reply="stopping")
            case "crash":
                raise ZeroDivisionError("in handle_call")
            case ("sleep", seconds):
                await trio.sleep(seconds)
                return "slept"
        return ("unknown", request)

    def handle_cast(self, msg: Any) -> Any:
        match msg:
            case ("add", n):
                self.count += n
            case "answer pending":
                for from_ in self.pending:
                    actors.reply(from_, ("late", self.count))
                self.pending.clear()
            case "stop":
                return Stop("shutdown")
        return None

    async def handle_info(self, msg: Any) -> Any:
        self.log.append(("info", msg))

    async def terminate(self, reason: Any) -> None:
        self.log.append(("terminate", reason))


async def test_call_cast_and_info_reach_their_callbacks() -> None:
    log: list[Any] = []
    async with actors.node():
        pid = await Counter.start(10, log)
        assert await actors.call(pid, "get") == 10
        actors.cast(pid, ("add", 5))
        assert await actors.call(pid, ("add", 1)) == 16
        actors.send(pid, "plain message")
        assert await actors.call(pid, "get") == 16
        assert log == [("info", "plain message")]


async def test_call_and_cast_by_registered_name() -> None:
    async with actors.node():
        pid = await Counter.start(0, name="counter")
        assert actors.whereis("counter") == pid
        actors.cast("counter", ("add", 3))
        assert await actors.call("counter", "get") == 3


async def test_reply_later_from_another_message() -> None:
    async with actors.node():
        pid = await Counter.start(7)
        me = actors.self()

        async def waiter() -> None:
            actors.send(me, ("result", await actors.call(pid, "later")))

        actors.spawn(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert actors.process_info(me)["message_queue_len"] == 0  # type: ignore[index]
        assert await actors.call(pid, "get") == 7  # the server is not blocked
        actors.cast(pid, "answer pending")
        assert await actors.receive(("result", ANY), timeout=5) == ("result", ("late", 7))


async def test_reply_from_a_different_process() -> None:
    class Delegating(GenServer):
        async def handle_call(self, request: Any, from_: From) -> Any:
            async def helper() -> None:
                actors.reply(from_, request * 2)

            actors.spawn(helper)
            return NOREPLY

    async with actors.node():
        assert await actors.call(await Delegating.start(), 21) == 42


async def test_call_timeout_and_the_late_reply_is_not_left_in_the_mailbox(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        pid = await Counter.start(0)
        with pytest.raises(actors.CallTimeout):
            await actors.call(pid, "later", timeout=1.0)
        actors.cast(pid, "answer pending")
        assert await actors.call(pid, "get") == 0  # the late reply was sent by now
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)
        info = actors.process_info(actors.self())
        assert info is not None
        assert info["monitors"] == []


async def test_call_timeout_is_a_timeout_error_and_the_server_lives_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        pid = await Counter.start(0)
        with pytest.raises(TimeoutError):
            await actors.call(pid, ("sleep", 10), timeout=2)
        assert await actors.call(pid, "get", timeout=None) == 0


async def test_call_exit_when_the_server_does_not_exist() -> None:
    async with actors.node():
        with pytest.raises(actors.CallExit) as info:
            await actors.call("nobody", "get")
        assert info.value.reason == "noproc"
        pid = await Counter.start(0)
        await actors.call(pid, "stop")
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(actors.CallExit, match="noproc"):
            await actors.call(pid, "get")


async def test_call_exit_when_the_server_dies_during_the_call() -> None:
    async with actors.node():
        pid = await Counter.start(0)
        with pytest.raises(actors.CallExit) as info:
            await actors.call(pid, "crash")
        assert isinstance(info.value.reason, ZeroDivisionError)
        assert actors.process_info(pid) is None


async def test_calling_yourself_is_refused() -> None:
    class Selfish(GenServer):
        async def handle_call(self, request: Any, from_: From) -> Any:
            return await actors.call(actors.self(), "again")

    async with actors.node():
        with pytest.raises(actors.CallExit) as info:
            await actors.call(await Selfish.start(), "go")
        assert isinstance(info.value.reason, actors.CallExit)
        assert info.value.reason.reason == "calling_self"


async def test_a_crash_runs_terminate_first_and_becomes_the_exit_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="actors")
    log: list[Any] = []
    async with actors.node():
        pid = await Counter.start(0, log)
        ref = actors.monitor(pid)
        actors.send(pid, "info before the crash")
        with pytest.raises(actors.CallExit):
            await actors.call(pid, "crash")
        down = await actors.receive(actors.Down(ref, pid, ANY), timeout=5)
        assert isinstance(down.reason, ZeroDivisionError)
    assert log[0] == ("info", "info before the crash")
    assert log[1][0] == "terminate"
    assert log[1][1] is down.reason
    assert "crash report" in caplog.text


async def test_stop_from_handle_call_replies_then_terminates() -> None:
    log: list[Any] = []
    async with actors.node():
        pid = await Counter.start(0, log)
        ref = actors.monitor(pid)
        assert await actors.call(pid, "stop") == "stopping"
        assert (await actors.receive(actors.Down(ref, pid, ANY), timeout=5)).reason == "normal"
    assert log == [("terminate", "normal")]


async def test_stop_from_handle_cast_even_when_trapping_exits() -> None:
    class Trapping(Counter):
        trap_exits = True

    log: list[Any] = []
    async with actors.node():
        pid = await Trapping.start(0, log)
        ref = actors.monitor(pid)
        actors.cast(pid, "stop")
        assert (await actors.receive(actors.Down(ref, pid, ANY), timeout=5)).reason == "shutdown"
    assert log == [("terminate", "shutdown")]


async def test_a_trapping_server_terminates_when_its_parent_exits() -> None:
    log: list[Any] = []

    class Child(Counter):
        def init(self, start: int, log: list[Any] | None = None) -> None:
            super().init(start, log)
            actors.trap_exits()

    async def parent() -> None:
        actors.send("test", await Child.start_link(0, log))
        await actors.receive("die")
        raise RuntimeError("parent crashed")

    async with actors.node():
        actors.register("test")
        parent_pid = actors.spawn(parent)
        child_pid = await actors.receive(actors.Pid, timeout=5)
        ref = actors.monitor(child_pid)
        actors.send(parent_pid, "die")
        down = await actors.receive(actors.Down(ref, child_pid, ANY), timeout=5)
        assert isinstance(down.reason, RuntimeError)
    assert log == [("terminate", down.reason)]


async def test_an_exit_from_someone_else_is_just_info() -> None:
    log: list[Any] = []

    class Watcher(Counter):
        trap_exits = True

    async with actors.node():
        pid = await Watcher.start(0, log)
        actors.exit(pid, "not my parent")
        assert await actors.call(pid, "get") == 0
        assert log == [("info", Exit(actors.self(), "not my parent"))]


async def test_many_concurrent_callers_each_get_their_own_reply() -> None:
    async with actors.node():
        pid = await Counter.start(0)
        results: dict[int, Any] = {}

        async def caller(n: int) -> None:
            async def body() -> None:
                results[n] = await actors.call(pid, ("add", 0))
                actors.send("test", "done")

            actors.spawn(body)

        actors.register("test")
        for n in range(500):
            await caller(n)
        for _ in range(500):
            await actors.receive("done", timeout=5)
        assert results == dict.fromkeys(range(500), 0)


async def test_an_unhandled_call_crashes_with_a_clear_error() -> None:
    class Empty(GenServer):
        pass

    async with actors.node():
        with pytest.raises(actors.CallExit) as info:
            await actors.call(await Empty.start(), "anything")
        assert isinstance(info.value.reason, NotImplementedError)
        assert "Empty got a call it does not handle" in str(info.value.reason)


class SlowEcho(GenServer):
    async def handle_call(self, request: Any, from_: From) -> Any:
        await trio.sleep(1)
        return request


async def test_a_reply_due_with_the_timeout_is_never_left_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The reply and the deadline fall in the same instant, 30 times over."""
    async with actors.node():
        server = await SlowEcho.start()
        for i in range(30):
            with contextlib.suppress(actors.CallTimeout):
                assert await actors.call(server, i, timeout=1) == i
            await trio.sleep(2)  # mock time: the server has answered by now
            assert actors.process_info(actors.self())["message_queue_len"] == 0  # type: ignore[index]


class Recorded(GenServer):
    """Sends ("terminate", reason) to its watcher; options from init."""

    def init(self, watcher: actors.Pid, fail: bool = False, slow: bool = False) -> None:
        self.watcher, self.fail, self.slow = watcher, fail, slow

    def handle_call(self, request: Any, from_: From) -> Any:
        return Stop("normal", reply="bye")

    def handle_cast(self, msg: Any) -> Any:
        return Stop("bye")

    async def terminate(self, reason: Any) -> None:
        if self.slow:
            await trio.sleep(0.05)
        actors.send(self.watcher, ("terminate", reason))
        if self.fail:
            raise RuntimeError("terminate failed")


async def test_terminate_runs_once_even_when_it_raises() -> None:
    async with actors.node():
        server = await Recorded.start(actors.self(), True)
        ref = actors.monitor(server)
        actors.cast(server, "stop")
        down = await actors.receive(actors.Down(ref, server, ANY), timeout=5)
        assert isinstance(down.reason, RuntimeError)  # terminate's crash is the reason
        assert await drain(("terminate", ANY)) == [("terminate", "bye")]


async def test_stop_with_a_reply_runs_terminate_before_the_reply() -> None:
    async with actors.node():
        server = await Recorded.start(actors.self(), False, True)
        assert await actors.call(server, "stop") == "bye"
        assert await actors.receive(("terminate", ANY), timeout=0) == ("terminate", "normal")


async def test_a_kill_is_not_overridden_by_a_stop_already_under_way() -> None:
    class SyncStop(Recorded):
        def terminate(self, reason: Any) -> None:  # type: ignore[override]
            actors.send(self.watcher, ("terminate", reason))

    async with actors.node():
        server = await SyncStop.start(actors.self())
        await trio.testing.wait_all_tasks_blocked()  # parked in receive
        ref = actors.monitor(server)
        actors.cast(server, "stop")  # wakes it with a message...
        actors.exit(server, "kill")  # ...and the kill comes before it runs
        down = await actors.receive(actors.Down(ref, server, ANY), timeout=5)
        assert down.reason == "killed"
        assert await drain(("terminate", ANY)) == []


class Chatty(GenServer):
    """Sends its caller messages around the reply: one alone (the caller
    wakes to it and parks again), then several in one batch with the
    reply in their middle."""

    async def handle_call(self, request: Any, from_: From) -> Any:
        actors.send(from_.pid, "alone")
        await trio.testing.wait_all_tasks_blocked()  # the caller looked at it and parked again
        actors.send(from_.pid, "before")
        actors.reply(from_, ("reply", request))
        actors.send(from_.pid, "after")
        return NOREPLY


async def test_messages_around_a_reply_stay_queued_in_order() -> None:
    """A call takes its reply only, from the middle of a batch that woke it,
    and leaves what was queued before it and what came meanwhile in order."""
    async with actors.node():
        server = await Chatty.start()
        actors.send(actors.self(), "queued first")
        assert await actors.call(server, 1) == ("reply", 1)
        assert await drain(ANY) == ["queued first", "alone", "before", "after"]
        info = actors.process_info(actors.self())
        assert info is not None
        assert info["monitors"] == []


async def test_a_call_from_a_helper_while_its_process_receives_is_refused() -> None:
    async with actors.node():
        server = await Counter.start(0)
        me = actors.self()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actors.receive, "never")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await actors.call(server, "get")
            assert actors.process_info(me)["monitors"] == []  # type: ignore[index]
            nursery.cancel_scope.cancel()
        assert await actors.call(server, "get") == 0


async def test_a_call_with_timeout_0_polls_once_and_times_out() -> None:
    async with actors.node():
        pid = await Counter.start(0)
        with pytest.raises(actors.CallTimeout):
            await actors.call(pid, "get", timeout=0)
        assert await actors.call(pid, "get") == 0


async def test_a_call_after_a_run_of_ready_receives_yields_first_and_keeps_the_rest() -> None:
    # 64 ready receives in a row spend the receive budget: the call's wait
    # starts with a schedule point, then leaves the other messages queued.
    async with actors.node():
        pid = await Counter.start(5)
        me = actors.self()
        for i in range(70):
            actors.send(me, i)
        assert [await actors.receive() for _ in range(64)] == list(range(64))
        assert await actors.call(pid, "get") == 5
        assert [await actors.receive(timeout=0) for _ in range(6)] == list(range(64, 70))


class Hangs(GenServer):
    async def handle_call(self, request: Any, from_: From) -> Any:
        await trio.sleep_forever()


async def test_calls_still_waiting_when_the_node_ends_end_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The node's end cancels servers and callers in no set order: a caller
    # whose server ended first finds its monitor still on (no Down goes out
    # while the node closes) and must not trip on it.
    caplog.set_level(logging.ERROR, logger="actors")

    async def caller(server: actors.Pid) -> None:
        await actors.call(server, "hang", timeout=None)

    async with actors.node():
        for _ in range(30):
            actors.spawn(caller, await Hangs.start())
        await trio.testing.wait_all_tasks_blocked()
    assert not caplog.records
