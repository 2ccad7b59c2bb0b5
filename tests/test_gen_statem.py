"""GenStatem: each test checks one rule of OTP's gen_statem.

`Scripted` reports every event it handles to the test process as
`("seen", state, event_type, content)` (a call's event type as "call") and
returns whatever the test's `rules` say, so each test states its machine
in a few lines and reads the order of events from its own mailbox.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors import (
    ANY,
    EventTimeout,
    GenericTimeout,
    GenStatem,
    Keep,
    NextEvent,
    Postpone,
    Reply,
    StartError,
    StateTimeout,
    Stop,
)
from tests.conftest import wait_down

Rules = Callable[[Any, Any, Any, Any], Any]


class Scripted(GenStatem):
    def init(self, rules: Rules, watcher: actors.Pid, state: Any = "a", actions: Any = ()) -> Any:
        self.rules = rules
        self.watcher = watcher
        return state, None, list(actions)

    def handle_event(self, event_type: Any, content: Any, state: Any, data: Any) -> Any:
        kind = "call" if type(event_type) is tuple and event_type[0] == "call" else event_type
        actors.send(self.watcher, ("seen", state, kind, content))
        return self.rules(event_type, content, state, data)

    async def terminate(self, reason: Any, state: Any, data: Any) -> None:
        actors.send(self.watcher, ("terminate", reason, state, data))


class Entering(Scripted):
    state_enter = True


def keep(event_type: Any, content: Any, state: Any, data: Any) -> Any:
    return Keep(data)


async def seen(timeout: float = 60) -> tuple[Any, ...]:
    """The next event the machine handled: (state, event_type, content)."""
    msg = await actors.receive(("seen", ANY, ANY, ANY), timeout=timeout)
    return tuple(msg[1:])


async def seen_all(count: int) -> list[tuple[Any, ...]]:
    return [await seen() for _ in range(count)]


async def nothing_seen(timeout: float = 1000) -> None:
    with pytest.raises(actors.ReceiveTimeout):
        await actors.receive(("seen", ANY, ANY, ANY), timeout=timeout)


# -- events reach the machine -------------------------------------------------------


async def test_gen_statem_call_cast_and_info_reach_it_as_they_reach_a_gen_server() -> None:
    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if event_type == "cast" and content == "go":
            return "b", data
        if type(event_type) is tuple:
            return Keep(data, [Reply(event_type[1], (state, content))])
        return Keep(data)

    async with actors.node():
        pid = await Scripted.start(rules, actors.self(), name="machine")
        assert await actors.call("machine", "hello") == ("a", "hello")
        actors.cast(pid, "go")
        actors.send(pid, "plain")
        assert await actors.call(pid, "again") == ("b", "again")
        assert await seen_all(4) == [
            ("a", "call", "hello"),
            ("a", "cast", "go"),
            ("b", "info", "plain"),
            ("b", "call", "again"),
        ]


async def test_gen_statem_state_functions_call_the_method_named_by_the_state() -> None:
    class Door(GenStatem):
        callback_mode = "state_functions"

        def init(self) -> Any:
            return "closed", 0

        def closed(self, event_type: Any, content: Any, data: int) -> Any:
            if event_type == "cast":
                return "opened", data + 1
            return Keep(data, [Reply(event_type[1], ("closed", data))])

        async def opened(self, event_type: Any, content: Any, data: int) -> Any:
            await trio.lowlevel.checkpoint()
            if event_type == "cast":
                return "closed", data
            return Keep(data, [Reply(event_type[1], ("opened", data))])

    async with actors.node():
        pid = await Door.start()
        assert await actors.call(pid, "?") == ("closed", 0)
        actors.cast(pid, "open")
        assert await actors.call(pid, "?") == ("opened", 1)


async def test_gen_statem_state_functions_refuse_a_state_that_names_no_method(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="actors")

    class Bad(GenStatem):
        callback_mode = "state_functions"

        def init(self) -> Any:
            return "terminate", None  # a callback, never a state

    async with actors.node():
        pid = await Bad.start()
        actors.cast(pid, "anything")
        reason = await wait_down(pid)
        assert isinstance(reason, TypeError)
        assert "no method for state 'terminate'" in str(reason)


# -- postpone and inserted events ---------------------------------------------------


async def test_gen_statem_postponed_events_are_retried_after_a_state_change_in_order() -> None:
    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if state == "locked":
            if content == "open":
                return "open", data
            if content == "stay":
                return "locked", data  # the same state: no state change
            return Keep(data, [Postpone()])
        return Keep(data)

    async with actors.node():
        pid = await Scripted.start(rules, actors.self(), "locked")
        for msg in (1, 2, "stay", 3, "open", 4):
            actors.cast(pid, msg)
        assert await seen_all(9) == [
            ("locked", "cast", 1),
            ("locked", "cast", 2),
            ("locked", "cast", "stay"),
            ("locked", "cast", 3),
            ("locked", "cast", "open"),
            ("open", "cast", 1),
            ("open", "cast", 2),
            ("open", "cast", 3),
            ("open", "cast", 4),
        ]


async def test_gen_statem_next_events_are_handled_next_in_the_order_given() -> None:
    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if content == "go":
            return Keep(data, [NextEvent("internal", 1), NextEvent("internal", 2)])
        return Keep(data)

    async with actors.node():
        pid = await Scripted.start(rules, actors.self())
        actors.cast(pid, "go")
        actors.cast(pid, "queued before")
        assert await seen_all(4) == [
            ("a", "cast", "go"),
            ("a", "internal", 1),
            ("a", "internal", 2),
            ("a", "cast", "queued before"),
        ]


async def test_gen_statem_inserted_events_come_before_retried_postponed_events() -> None:
    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if state == "a" and content == "change":
            return "b", data, [NextEvent("internal", "inserted")]
        if state == "a":
            return Keep(data, [Postpone()])
        return Keep(data)

    async with actors.node():
        pid = await Scripted.start(rules, actors.self())
        actors.cast(pid, "postponed")
        actors.cast(pid, "change")
        assert await seen_all(4) == [
            ("a", "cast", "postponed"),
            ("a", "cast", "change"),
            ("b", "internal", "inserted"),
            ("b", "cast", "postponed"),
        ]


# -- time-outs -------------------------------------------------------------------------


def on_cast(table: dict[Any, Any]) -> Rules:
    """Rules: a cast whose content is in `table` returns table[content]
    (called with data if callable); anything else keeps the state."""

    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if event_type == "cast" and content in table:
            result = table[content]
            return result(data) if callable(result) else result
        return Keep(data)

    return rules


async def test_gen_statem_state_timeout_fires_in_its_state_after_its_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        start = trio.current_time()
        await Scripted.start(keep, actors.self(), "open", [StateTimeout(10, "lock")])
        assert await seen() == ("open", "state_timeout", "lock")
        assert trio.current_time() - start == pytest.approx(10)


async def test_gen_statem_state_timeout_is_cancelled_by_a_state_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        rules = on_cast({"lock": lambda data: ("locked", data)})
        pid = await Scripted.start(rules, actors.self(), "open", [StateTimeout(10, "lock")])
        await trio.sleep(5)
        actors.cast(pid, "lock")
        assert await seen() == ("open", "cast", "lock")
        await nothing_seen()


async def test_gen_statem_state_timeout_survives_events_that_keep_the_state(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        start = trio.current_time()
        pid = await Scripted.start(keep, actors.self(), "open", [StateTimeout(10, "lock")])
        await trio.sleep(5)
        actors.cast(pid, "ping")
        assert await seen() == ("open", "cast", "ping")
        assert await seen() == ("open", "state_timeout", "lock")
        assert trio.current_time() - start == pytest.approx(10)


async def test_gen_statem_a_new_state_timeout_restarts_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        start = trio.current_time()
        again = Keep(None, [StateTimeout(10, "second")])
        pid = await Scripted.start(
            on_cast({"again": again}), actors.self(), "open", [StateTimeout(10, "first")]
        )
        await trio.sleep(5)
        actors.cast(pid, "again")
        assert await seen() == ("open", "cast", "again")
        assert await seen() == ("open", "state_timeout", "second")
        assert trio.current_time() - start == pytest.approx(15)
        await nothing_seen()


async def test_gen_statem_event_timeout_fires_when_no_event_arrives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        pid = await Scripted.start(
            on_cast({"arm": Keep(None, [EventTimeout(10, "idle")])}), actors.self()
        )
        actors.cast(pid, "arm")
        assert await seen() == ("a", "cast", "arm")
        armed = trio.current_time()
        assert await seen() == ("a", "timeout", "idle")
        assert trio.current_time() - armed == pytest.approx(10)


async def test_gen_statem_event_timeout_is_cancelled_by_any_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        pid = await Scripted.start(
            on_cast({"arm": Keep(None, [EventTimeout(10, "idle")])}), actors.self()
        )
        actors.cast(pid, "arm")
        assert await seen() == ("a", "cast", "arm")
        await trio.sleep(9)
        actors.send(pid, "any message")
        assert await seen() == ("a", "info", "any message")
        await nothing_seen()


async def test_gen_statem_event_timeout_is_not_started_while_an_event_is_queued(
    autojump_clock: trio.testing.MockClock,
) -> None:
    arm = Keep(None, [NextEvent("internal", "queued"), EventTimeout(10, "idle")])
    async with actors.node():
        pid = await Scripted.start(on_cast({"arm": arm}), actors.self())
        actors.cast(pid, "arm")
        assert await seen_all(2) == [("a", "cast", "arm"), ("a", "internal", "queued")]
        await nothing_seen()


async def test_gen_statem_generic_timeouts_are_named_and_independent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    table = {
        "arm": Keep(None, [GenericTimeout("a", 10, "A"), GenericTimeout("b", 20, "B")]),
        "reset a": Keep(None, [GenericTimeout("a", 10, "A again")]),
        "change": ("other", None),
    }
    async with actors.node():
        start = trio.current_time()
        pid = await Scripted.start(on_cast(table), actors.self())
        actors.cast(pid, "arm")
        await trio.sleep(5)
        actors.cast(pid, "reset a")  # replaces "a"; "b" runs on
        actors.cast(pid, "change")  # a state change cancels neither
        assert await seen_all(3) == [
            ("a", "cast", "arm"),
            ("a", "cast", "reset a"),
            ("a", "cast", "change"),
        ]
        assert await seen() == ("other", ("timeout", "a"), "A again")
        assert trio.current_time() - start == pytest.approx(15)
        assert await seen() == ("other", ("timeout", "b"), "B")
        assert trio.current_time() - start == pytest.approx(20)
        await nothing_seen()


async def test_gen_statem_a_timeout_of_none_cancels_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    table = {
        "arm": Keep(None, [GenericTimeout("g", 10), StateTimeout(10)]),
        "cancel": Keep(None, [GenericTimeout("g", None), StateTimeout(None)]),
    }
    async with actors.node():
        pid = await Scripted.start(on_cast(table), actors.self())
        actors.cast(pid, "arm")
        actors.cast(pid, "cancel")
        assert await seen_all(2) == [("a", "cast", "arm"), ("a", "cast", "cancel")]
        await nothing_seen()


async def test_gen_statem_zero_timeouts_come_after_queued_events_before_unreceived_ones() -> None:
    arm = Keep(
        None,
        [GenericTimeout("g", 0, "generic"), NextEvent("internal", 1), StateTimeout(0, "state")],
    )
    async with actors.node():
        pid = await Scripted.start(on_cast({"arm": arm}), actors.self())
        actors.cast(pid, "arm")
        actors.cast(pid, "sent before the time-outs were set")
        assert await seen_all(5) == [
            ("a", "cast", "arm"),
            ("a", "internal", 1),
            ("a", ("timeout", "g"), "generic"),
            ("a", "state_timeout", "state"),
            ("a", "cast", "sent before the time-outs were set"),
        ]


async def test_gen_statem_a_zero_timeout_comes_before_a_timer_that_expired_earlier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """OTP: a time-out zero goes before any event not yet received, and an
    expired timer's event is one (in Erlang, a message in the mailbox)."""

    async def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if content == "arm":
            return Keep(data, [GenericTimeout("late", 5, "expired at 5 s")])
        if content == "slow":
            await trio.sleep(10)  # the "late" timer expires meanwhile
            return Keep(data, [GenericTimeout("zero", 0, "set at 10 s")])
        return Keep(data)

    async with actors.node():
        pid = await Scripted.start(rules, actors.self())
        actors.cast(pid, "arm")
        actors.cast(pid, "slow")
        assert await seen_all(4) == [
            ("a", "cast", "arm"),
            ("a", "cast", "slow"),
            ("a", ("timeout", "zero"), "set at 10 s"),
            ("a", ("timeout", "late"), "expired at 5 s"),
        ]


async def test_gen_statem_event_timeout_zero_fires_only_if_no_event_is_queued() -> None:
    table = {
        "arm": Keep(None, [EventTimeout(0, "idle")]),
        "arm behind an event": Keep(None, [NextEvent("internal", 1), EventTimeout(0, "never")]),
        "arm behind a state time-out": Keep(None, [StateTimeout(0, "st"), EventTimeout(0, "no")]),
    }
    async with actors.node():
        pid = await Scripted.start(on_cast(table), actors.self())
        for msg in ("arm", "arm behind an event", "arm behind a state time-out", "last"):
            actors.cast(pid, msg)
        assert await seen_all(7) == [
            ("a", "cast", "arm"),
            ("a", "timeout", "idle"),  # before the casts already in the mailbox
            ("a", "cast", "arm behind an event"),
            ("a", "internal", 1),
            ("a", "cast", "arm behind a state time-out"),
            ("a", "state_timeout", "st"),  # an event: it cancels the event time-out
            ("a", "cast", "last"),
        ]


async def test_gen_statem_a_state_timeout_zero_is_cancelled_by_a_state_change() -> None:
    change = ("b", None, [StateTimeout(0, "in b")])
    table = {"arm": ("a", None, [StateTimeout(0, "in a"), NextEvent("cast", "change")])}
    async with actors.node():
        pid = await Scripted.start(on_cast({**table, "change": change}), actors.self())
        actors.cast(pid, "arm")
        assert await seen_all(3) == [
            ("a", "cast", "arm"),
            ("a", "cast", "change"),
            ("b", "state_timeout", "in b"),
        ]


# -- state enter calls ----------------------------------------------------------------


async def test_gen_statem_state_enter_calls_run_after_each_state_change_and_at_start() -> None:
    table = {"to b": ("b", None), "stay": ("b", None), "keep": Keep(None)}
    async with actors.node():
        pid = await Entering.start(on_cast(table), actors.self())
        for msg in ("to b", "stay", "keep"):
            actors.cast(pid, msg)
        assert await seen_all(5) == [
            ("a", "enter", "a"),  # the initial state: old == new
            ("a", "cast", "to b"),
            ("b", "enter", "a"),
            ("b", "cast", "stay"),
            ("b", "cast", "keep"),
        ]


async def test_gen_statem_state_enter_call_may_reply_and_set_timeouts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if event_type == "enter" and state == "b":
            return Keep(None, [Reply(data, "entered b"), StateTimeout(5, "b's own")])
        if type(event_type) is tuple and event_type[0] == "call":
            return "b", event_type[1]  # keeps the From, for the enter call to answer
        return Keep(data)

    async with actors.node():
        pid = await Entering.start(rules, actors.self())
        start = trio.current_time()
        assert await actors.call(pid, "go") == "entered b"
        assert await seen_all(4) == [
            ("a", "enter", "a"),
            ("a", "call", "go"),
            ("b", "enter", "a"),
            ("b", "state_timeout", "b's own"),
        ]
        assert trio.current_time() - start == pytest.approx(5)


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (("elsewhere", None), "cannot change the state"),
        (Keep(None, [Postpone()]), "neither postpone nor insert"),
        (Keep(None, [NextEvent("internal", 1)]), "neither postpone nor insert"),
    ],
)
async def test_gen_statem_state_enter_call_cannot_change_state_postpone_or_insert(
    result: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="actors")

    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if event_type == "cast":
            return "b", data
        return result if state == "b" else Keep(data)

    async with actors.node():
        pid = await Entering.start(rules, actors.self())
        ref = actors.monitor(pid)
        actors.cast(pid, "go")
        reason = (await actors.receive(actors.Down(ref, pid, ANY), timeout=5)).reason
        assert isinstance(reason, RuntimeError)
        assert message in str(reason)


# -- starting -------------------------------------------------------------------------


async def test_gen_statem_start_returns_once_init_has_returned() -> None:
    class Slow(GenStatem):
        async def init(self, starter: actors.Pid) -> Any:
            await trio.sleep(0.01)
            actors.send(starter, "init returned")
            return "a", None

    async with actors.node():
        await Slow.start(actors.self())
        assert await actors.receive(timeout=0) == "init returned"


@pytest.mark.parametrize("how", ["start", "start_link"])
async def test_gen_statem_start_link_raises_start_error_when_init_stops(how: str) -> None:
    class Refusing(GenStatem):
        def init(self) -> Any:
            return Stop("not today")

    async with actors.node():
        actors.trap_exits()  # an exit signal would show up as a message
        with pytest.raises(StartError) as info:
            await getattr(Refusing, how)(name="refusing")
        assert info.value.reason == "not today"
        assert actors.whereis("refusing") is None  # the name is free again
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)


@pytest.mark.parametrize("how", ["start", "start_link"])
async def test_gen_statem_start_raises_start_error_when_init_raises_and_the_caller_lives(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="actors")

    class Failing(GenStatem):
        def init(self) -> Any:
            raise KeyError("missing")

    async with actors.node():
        with pytest.raises(StartError) as info:
            await getattr(Failing, how)()
        assert isinstance(info.value.reason, KeyError)
        await trio.testing.wait_all_tasks_blocked()
        assert actors.process_info(actors.self()) is not None  # not killed through a link
    assert "crash report" in caplog.text


# -- stopping and crashing ------------------------------------------------------------


async def test_gen_statem_stop_runs_terminate_then_exits_with_the_reason() -> None:
    async with actors.node():
        pid = await Scripted.start(on_cast({"stop": Stop("done")}), actors.self(), "a")
        ref = actors.monitor(pid)
        actors.cast(pid, "stop")
        assert await actors.receive(("terminate", ANY, ANY, ANY), timeout=5) == (
            "terminate",
            "done",
            "a",
            None,
        )
        assert (await actors.receive(actors.Down(ref, pid, ANY), timeout=5)).reason == "done"


async def test_gen_statem_stop_with_a_reply_answers_the_call_first() -> None:
    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        return Stop("normal", reply="bye")

    async with actors.node():
        pid = await Scripted.start(rules, actors.self())
        ref = actors.monitor(pid)
        assert await actors.call(pid, "stop") == "bye"
        assert (await actors.receive(actors.Down(ref, pid, ANY), timeout=5)).reason == "normal"


async def test_gen_statem_a_crash_in_a_callback_runs_terminate_and_is_the_exit_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="actors")

    def rules(event_type: Any, content: Any, state: Any, data: Any) -> Any:
        raise ZeroDivisionError("in the state callback")

    async with actors.node():
        pid = await Scripted.start(rules, actors.self())
        with pytest.raises(actors.CallExit) as info:
            await actors.call(pid, "crash")
        assert isinstance(info.value.reason, ZeroDivisionError)
        terminated = await actors.receive(("terminate", ANY, ANY, ANY), timeout=5)
        assert terminated[1] is info.value.reason
    assert "crash report" in caplog.text


async def test_gen_statem_a_bad_result_crashes_with_a_clear_type_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="actors")
    async with actors.node():
        pid = await Scripted.start(on_cast({"bad": None}), actors.self())
        actors.cast(pid, "bad")
        reason = await wait_down(pid)
        assert isinstance(reason, TypeError)
        assert "returned None" in str(reason)


async def test_gen_statem_parent_exit_stops_a_trapping_machine_through_terminate() -> None:
    class Trapping(Scripted):
        trap_exits = True

    me: actors.Pid | None = None

    async def parent() -> None:
        assert me is not None
        actors.send(me, ("child", await Trapping.start_link(keep, me)))
        await actors.receive("never sent")

    async with actors.node():
        me = actors.self()
        parent_pid = actors.spawn(parent)
        _, child = await actors.receive(("child", ANY), timeout=5)
        ref = actors.monitor(child)
        actors.exit(parent_pid, "going away")
        assert await actors.receive(("terminate", ANY, ANY, ANY), timeout=5) == (
            "terminate",
            "going away",
            "a",
            None,
        )
        down = await actors.receive(actors.Down(ref, child, ANY), timeout=5)
        assert down.reason == "going away"


# -- the README ---------------------------------------------------------------------


README = Path(__file__).resolve().parent.parent / "README.md"


async def test_readme_gen_statem_section_runs_as_written() -> None:
    readme = await trio.Path(README).read_text()
    section = readme.split("\n## GenStatem\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-c", code.group(1)], capture_stdout=True, capture_stderr=True
        )
    assert result.stdout.decode().splitlines() == ["locked", "open", "locked"]
