"""OTP's synchronous start: gen_server:start_link returns after init/1,
and a supervisor starts its children in order, each before the next.

Each test is named after the OTP function and the rule it checks.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors import ANY, Exit, GenServer, GenStatem, StartError, Stop, Supervisor, child
from actors.testing import assert_receive, forever, refute_receive, wait_exit


class Slow(GenServer):
    """Says it is in init, then waits there for "go"."""

    async def init(self) -> None:
        actors.send("test", ("in init", actors.self()))
        await actors.receive("go")

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        return request


class Step(GenServer):
    """Records its label when init ends; init yields `delay` times first,
    so that starts run concurrently would finish in reverse order."""

    async def init(self, label: str, delay: int, fail: bool = False) -> Any:
        for _ in range(delay):
            await trio.lowlevel.checkpoint()
        if fail:
            raise OSError(f"{label} cannot open its database")
        actors.send("test", ("started", label))
        return None

    def terminate(self, reason: Any) -> None:
        actors.send("test", ("terminated", type(self).__name__, reason))


class Tracked(Step):
    trap_exits = True  # so that "shutdown" from the supervisor runs terminate

    async def init(self, label: str, delay: int, fail: bool = False) -> Any:
        self.label = label
        return await super().init(label, delay, fail)

    def terminate(self, reason: Any) -> None:
        actors.send("test", ("terminated", self.label, reason))


def steps(labels: str, failing: str = "") -> list[actors.ChildSpec]:
    count = len(labels)
    return [
        child(Tracked.start_link, label, 20 * (count - i), label in failing, id=label)
        for i, label in enumerate(labels)
    ]


# -- gen_server:start_link ---------------------------------------------------


async def test_gen_server_start_link_returns_after_init() -> None:
    async def starter() -> None:
        pid = await Slow.start_link(name="slow")
        actors.send("test", ("started", pid, actors.whereis("slow")))
        await forever()

    async with actors.node():
        actors.register("test")
        actors.spawn(starter)
        _, server = await assert_receive(("in init", ANY))
        await trio.testing.wait_all_tasks_blocked()
        await refute_receive(("started", ANY, ANY), timeout=0)  # init has not returned
        actors.send(server, "go")
        assert await assert_receive(("started", ANY, ANY)) == ("started", server, server)
        assert await actors.call("slow", "ready?") == "ready?"


async def test_gen_server_start_link_raises_start_error_when_init_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(GenServer):
        async def init(self) -> None:
            raise LookupError("no config")

    async with actors.node():
        actors.trap_exits()
        with pytest.raises(StartError) as raised:
            await Failing.start_link(name="failing")
        assert isinstance(raised.value.reason, LookupError)
        # The caller is alive, got no exit signal, and the name is free.
        await refute_receive(Exit, timeout=0)
        assert actors.whereis("failing") is None
        assert actors.processes() == [actors.self()]
    assert "LookupError('no config')" in caplog.text  # the crash report


async def test_gen_server_start_link_failure_does_not_kill_a_caller_that_does_not_trap() -> None:
    class Failing(GenServer):
        def init(self) -> None:
            raise ValueError("bad argument")

    async with actors.node():
        with pytest.raises(StartError, match="bad argument"):
            await Failing.start_link()
        assert actors.process_info(actors.self()) is not None


async def test_gen_server_start_raises_start_error_when_init_returns_stop() -> None:
    class Declines(GenServer):
        def init(self, answer: Any) -> Any:
            return Stop(answer)

    async with actors.node():
        for reason in ("normal", ("port_in_use", 8080)):
            with pytest.raises(StartError) as raised:
                await Declines.start(reason, name="declines")
            assert raised.value.reason == reason
        # each failure freed the name before start raised
        assert actors.whereis("declines") is None


async def test_gen_server_start_raises_start_error_when_killed_during_init() -> None:
    async def killer() -> None:
        _, server = await actors.receive(("in init", ANY))
        actors.exit(server, "kill")

    async with actors.node():
        actors.register("test")
        actors.spawn(killer, name="killer")

        class Announces(Slow):
            async def init(self) -> None:
                actors.send("killer", ("in init", actors.self()))
                await actors.receive("go")

        with pytest.raises(StartError) as raised:
            await Announces.start()
        assert raised.value.reason == "killed"


async def test_gen_server_start_returns_after_init_so_trapping_set_in_init_holds() -> None:
    class LateTrapper(GenServer):
        def init(self) -> None:
            actors.trap_exits()
            self.got: list[Any] = []

        def handle_info(self, msg: Any) -> None:
            self.got.append(msg)

        def handle_call(self, request: Any, from_: actors.From) -> Any:
            return self.got

    async with actors.node():
        pid = await LateTrapper.start()
        actors.exit(pid, "right after start")
        assert await actors.call(pid, "got") == [Exit(actors.self(), "right after start")]


async def test_gen_server_start_link_is_a_starter_and_takes_no_args_without_init() -> None:
    class Bare(GenServer):
        pass

    async with actors.node():
        assert actors.ChildSpec.is_starter.fget(child(Bare.start_link))  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="no init"):
            await Bare.start(1, 2)
        assert actors.processes() == [actors.self()]


# -- supervisor:start_link ---------------------------------------------------


async def test_supervisor_start_link_returns_after_every_child_started() -> None:
    class Named(GenServer):
        def init(self, label: str) -> None:
            self.label = label

        def handle_call(self, request: Any, from_: actors.From) -> Any:
            return self.label

    async with actors.node():
        await Supervisor.start_link(
            [
                child(functools.partial(Named.start_link, f"s{i}", name=f"s{i}"), id=i)
                for i in range(3)
            ],
            name="sup",
        )
        # No wait: the names are there and the servers answer.
        assert actors.whereis("sup") is not None
        assert [await actors.call(f"s{i}", "who") for i in range(3)] == ["s0", "s1", "s2"]


async def test_supervisor_starts_children_in_order_each_after_the_previous_init() -> None:
    async with actors.node():
        actors.register("test")
        await Supervisor.start_link(steps("abcde"))
        # Without waiting for each init, "e" (fewest checkpoints) would come first.
        assert [(await assert_receive(("started", ANY)))[1] for _ in "abcde"] == list("abcde")


async def test_supervisor_start_fails_with_failed_to_start_child() -> None:
    async with actors.node():
        actors.register("test")
        with pytest.raises(StartError) as raised:
            await Supervisor.start_link(steps("abcd", failing="c"), name="sup")
        shutdown, (what, child_id, reason) = raised.value.reason
        assert (shutdown, what, child_id) == ("shutdown", "failed_to_start_child", "c")
        assert isinstance(reason, OSError)
        assert str(reason) == "c cannot open its database"
        # "d" never started; "b" and "a" were stopped, in reverse order.
        started = [m[1] for m in await actors.testing.drain(("started", ANY))]
        assert started == ["a", "b"]
        stopped = [m[1] for m in await actors.testing.drain(("terminated", ANY, "shutdown"))]
        assert stopped == ["b", "a"]
        assert actors.whereis("sup") is None
        assert actors.processes() == [actors.self()]


async def test_supervisor_start_link_failure_does_not_kill_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> actors.Pid:
        raise OSError("cannot open the database")

    async with actors.node():
        actors.register("test")
        with pytest.raises(StartError) as raised:
            await Supervisor.start_link(
                [child(Step.start_link, "a", 0, id="a"), child(broken, id="db")]
            )
        assert raised.value.reason[:1] == ("shutdown",)
        assert raised.value.reason[1][:2] == ("failed_to_start_child", "db")
        assert isinstance(raised.value.reason[1][2], OSError)
        assert actors.processes() == [actors.self()]  # 'a' was stopped too
    assert "could not start child 'db'" in caplog.text


async def test_supervisor_start_failure_of_a_nested_supervisor_is_wrapped_twice() -> None:
    async with actors.node():
        actors.register("test")
        inner = functools.partial(Supervisor.start_link, steps("xy", failing="y"))
        with pytest.raises(StartError) as raised:
            await Supervisor.start_link([child(inner, id="inner")])
        outer, (what, child_id, reason) = raised.value.reason
        assert (outer, what, child_id) == ("shutdown", "failed_to_start_child", "inner")
        assert reason[0] == "shutdown"
        assert reason[1][:2] == ("failed_to_start_child", "y")
        assert actors.processes() == [actors.self()]


async def test_supervisor_start_child_raises_start_error_and_the_supervisor_goes_on() -> None:
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link(steps("a"))
        with pytest.raises(StartError) as raised:
            await actors.start_child(sup, steps("b", failing="b")[0])
        assert isinstance(raised.value.reason, OSError)
        assert [c.id for c in await actors.which_children(sup)] == ["a"]
        pid = await actors.start_child(sup, steps("c")[0])
        assert [(c.id, c.pid) for c in await actors.which_children(sup)][1] == ("c", pid)


async def test_supervisor_restart_that_fails_to_start_counts_as_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = []

    class Flaky(GenServer):
        def init(self) -> None:
            attempts.append(actors.self())
            if len(attempts) > 1:
                raise OSError("the disk is gone")
            actors.send("test", ("up", actors.self()))

    async with actors.node():
        actors.register("test")
        actors.trap_exits()
        sup = await Supervisor.start_link([child(Flaky.start_link, id="f")], intensity=2, period=60)
        _, first = await assert_receive(("up", ANY))
        actors.exit(first, "crash")
        assert (await assert_receive(Exit(sup, ANY), timeout=5)).reason == "shutdown"
        # the first start, then 2 failed restarts; a third is over intensity
        assert len(attempts) == 3
    assert "restarting 'f' failed with OSError('the disk is gone')" in caplog.text


async def test_supervisor_child_may_be_a_gen_statem_start_link() -> None:
    class Light(GenStatem):
        def init(self) -> Any:
            return "off", 0

        def handle_event(self, event_type: Any, content: Any, state: Any, data: Any) -> Any:
            if content == "flip":
                return (
                    ("on" if state == "off" else "off"),
                    data + 1,
                    [actors.Reply(event_type[1], state)],
                )
            return actors.Keep(data, [actors.Reply(event_type[1], (state, data))])

    async with actors.node():
        sup = await Supervisor.start_link(
            [child(functools.partial(Light.start_link, name="light"))]
        )
        assert (await actors.which_children(sup))[0].id == "Light"
        assert await actors.call("light", "flip") == "off"
        assert await actors.call("light", "peek") == ("on", 1)


async def test_supervisor_awaits_a_user_marked_starter_for_its_pid() -> None:
    @actors.starter
    async def start_pair(label: str) -> actors.Pid:
        first = await Step.start_link(f"{label}-1", 0)
        await Step.start_link(f"{label}-2", 0)  # linked to the first's parent: us
        return first

    async def body() -> None:  # an unmarked async function: the child's body
        actors.send("test", ("started", "body"))
        await forever()

    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(start_pair, "p", id="pair"), child(body, id="b")])
        rows = await actors.which_children(sup)
        assert [r.id for r in rows] == ["pair", "b"]
        started = [(await assert_receive(("started", ANY)))[1] for _ in range(3)]
        assert started == ["p-1", "p-2", "body"]
        assert actors.process_info(rows[0].pid)["links"] is not None  # type: ignore[index]


async def test_supervisor_start_link_rejects_bad_arguments_at_the_call() -> None:
    async with actors.node():
        with pytest.raises(ValueError, match="strategy"):
            await Supervisor.start_link([], strategy="all_for_none")  # type: ignore[arg-type]
        assert actors.processes() == [actors.self()]


async def test_supervisor_start_logs_each_child_it_starts_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    async with actors.node():
        actors.register("test")
        await Supervisor.start_link(steps("abc"))
    started = [r.getMessage() for r in caplog.records if "started child" in r.getMessage()]
    assert [m.split("started child ")[1][:3] for m in started] == ["'a'", "'b'", "'c'"]


async def test_supervisor_start_that_fails_frees_its_name_before_it_raises() -> None:
    async with actors.node():
        actors.register("test")
        with pytest.raises(StartError):
            await Supervisor.start(steps("a", failing="a"), name="app")
        assert actors.whereis("app") is None
        sup = await Supervisor.start(steps("a"), name="app")  # the name is free again
        assert actors.whereis("app") == sup
        actors.exit(sup, "kill")  # not linked: it has no parent whose "shutdown" it obeys
        assert await wait_exit(sup) == "killed"
