"""spawn, send and selective receive: Erlang's `!` and `receive ... after`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
import actors.lowlevel
import actors.testing
from actors import ANY
from actors._api import _process_of
from tests.conftest import wait_down


async def echo() -> None:
    while True:
        match await actors.receive():
            case ("ping", sender):
                actors.send(sender, "pong")
            case "stop":
                return


def recording(wanted: object, tested: list[Any]) -> Callable[[Any], bool]:
    """A receive pattern matching `wanted` that records every message it is
    tried on, to count how often a receive looks at each message."""

    def pattern(msg: Any) -> bool:
        tested.append(msg)
        return bool(msg == wanted)

    return pattern


async def test_the_design_example_round_trip() -> None:
    async with actors.node():
        pid = actors.spawn(echo)
        actors.send(pid, ("ping", actors.self()))
        assert await actors.receive("pong", timeout=1.0) == "pong"


async def test_spawn_returns_a_pid_at_once_printed_erlang_style() -> None:
    async with actors.node():
        first = actors.spawn(echo)
        second = actors.spawn(echo)
        assert isinstance(first, actors.Pid)
        assert repr(first).startswith("<0.")
        assert repr(first).endswith(".0>")
        assert first != second
        assert len({first, second, first}) == 2
        assert actors.self() not in (first, second)


async def test_send_to_a_dead_pid_is_silently_dropped() -> None:
    async with actors.node():
        pid = actors.spawn(echo)
        ref = actors.monitor(pid)
        actors.send(pid, "stop")
        await actors.receive(actors.Down(ref, pid, "normal"), timeout=1)
        actors.send(pid, ("ping", actors.self()))  # no error, no effect
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)


async def test_send_to_an_unregistered_name_raises() -> None:
    async with actors.node():
        with pytest.raises(actors.NameNotRegistered, match="nobody"):
            actors.send("nobody", "hello")


class Point(NamedTuple):
    x: int
    y: int


@pytest.mark.parametrize(
    ("pattern", "matching", "others"),
    [
        ("hello", "hello", ["hell", b"hello", ("hello",)]),
        (42, 42, [41, "42"]),
        (int, 7, ["7", 7.0]),
        (str, "text", [b"bytes", 3]),
        (ANY, ("anything", 1), []),
        (("reply", ANY), ("reply", 99), [("reply",), ("reply", 1, 2), ["reply", 1], ("other", 1)]),
        ((ANY, ("nested", int)), ("x", ("nested", 3)), [("x", ("nested", "3")), ("x", "nested")]),
        (lambda m: isinstance(m, int) and m > 10, 11, [10, "11", -5]),
        (Point(ANY, 2), Point(1, 2), [(1, 2), Point(1, 3)]),
        ([1, 2], [1, 2], [(1, 2), [2, 1]]),
    ],
    ids=[
        "str",
        "int",
        "type",
        "type-str",
        "ANY",
        "tuple",
        "nested",
        "predicate",
        "namedtuple",
        "list",
    ],
)
async def test_each_pattern_kind_takes_its_match_and_leaves_the_rest(
    pattern: Any, matching: Any, others: list[Any]
) -> None:
    async with actors.node():
        me = actors.self()
        for msg in others:
            actors.send(me, msg)
        actors.send(me, matching)
        assert await actors.receive(pattern, timeout=0) == matching
        left = [await actors.receive(timeout=0) for _ in others]
        assert left == others


async def test_several_patterns_take_the_oldest_message_matching_any() -> None:
    async with actors.node():
        me = actors.self()
        for msg in ["a", 1, "b", 2.5]:
            actors.send(me, msg)
        assert await actors.receive(float, int, timeout=0) == 1
        assert await actors.receive(float, int, timeout=0) == 2.5
        assert [await actors.receive(timeout=0) for _ in range(2)] == ["a", "b"]


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=2)), max_size=30),
    wanted=st.sampled_from([int, str]),
)
def test_unmatched_messages_keep_their_order(messages: list[Any], wanted: type) -> None:
    async def check() -> None:
        me = actors.self()
        for msg in messages:
            actors.send(me, msg)
        taken = []
        while True:
            try:
                taken.append(await actors.receive(wanted, timeout=0))
            except actors.ReceiveTimeout:
                break
        rest = []
        while True:
            try:
                rest.append(await actors.receive(timeout=0))
            except actors.ReceiveTimeout:
                break
        assert taken == [m for m in messages if isinstance(m, wanted)]
        assert rest == [m for m in messages if not isinstance(m, wanted)]

    actors.run(check)


async def test_timeout_raises_receive_timeout_a_timeout_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        start = trio.current_time()
        with pytest.raises(TimeoutError) as info:
            await actors.receive("never", timeout=2.5)
        assert isinstance(info.value, actors.ReceiveTimeout)
        assert trio.current_time() - start == pytest.approx(2.5)


async def test_timeout_zero_polls_without_waiting(autojump_clock: trio.testing.MockClock) -> None:
    async with actors.node():
        start = trio.current_time()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(timeout=0)
        actors.send(actors.self(), "here")
        assert await actors.receive(timeout=0) == "here"
        assert trio.current_time() == start


async def test_a_message_that_comes_before_the_timeout_is_returned(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def later(to: actors.Pid) -> None:
        await trio.sleep(1)
        actors.send(to, "other")
        await trio.sleep(1)
        actors.send(to, "late but in time")

    async with actors.node():
        actors.spawn(later, actors.self())
        assert await actors.receive("late but in time", timeout=3) == "late but in time"
        assert trio.current_time() == pytest.approx(2)
        assert await actors.receive(timeout=0) == "other"


async def test_a_waiting_receive_matches_each_new_message_once() -> None:
    seen: list[Any] = []
    wanted = recording("yes", seen)

    async def sender(to: actors.Pid, go: trio.Event) -> None:
        await go.wait()
        for i in range(50):
            actors.send(to, i)
            await trio.lowlevel.checkpoint()
        actors.send(to, "yes")

    async with actors.node():
        me = actors.self()
        for i in range(100):
            actors.send(me, f"queued {i}")
        go = trio.Event()
        actors.spawn(sender, me, go)
        go.set()
        assert await actors.receive(wanted, timeout=5) == "yes"
        # 100 queued + 50 arriving one by one + the match: each matched once.
        assert len(seen) == 151
        assert len(set(map(repr, seen))) == 151


async def test_a_second_concurrent_receive_on_one_mailbox_is_an_error() -> None:
    async with actors.node():
        errors: list[BaseException] = []

        async def helper() -> None:
            try:
                await actors.receive(timeout=1)
            except trio.BusyResourceError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(actors.receive, "the owner waits")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(helper)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert len(errors) == 1


async def test_receive_outside_a_node_says_what_is_wrong() -> None:
    with pytest.raises(actors.NotInProcess, match="receive"):
        await actors.receive()
    with pytest.raises(actors.NotInProcess, match="spawn"):
        actors.spawn(echo)


async def test_helper_tasks_act_for_their_process() -> None:
    async with actors.node():
        me = actors.self()
        seen: list[actors.Pid] = []

        async def helper() -> None:
            seen.append(actors.self())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)
        assert seen == [me]


async def test_a_plain_receive_in_a_helper_task_takes_its_processs_message() -> None:
    async with actors.node():
        me = actors.self()
        got: list[Any] = []

        async def helper() -> None:
            got.append(await actors.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)
            await trio.testing.wait_all_tasks_blocked()
            assert actors.process_info(me)["status"] == "waiting"  # type: ignore[index]
            actors.send(me, "for the helper")
        assert got == ["for the helper"]


async def test_a_cancelled_plain_receive_leaves_the_mailbox_ready_for_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelled while parked, a plain receive is no longer parked: the next
    message is queued, not handed to a task that no longer waits for it."""
    async with actors.node():
        me = actors.self()
        with trio.move_on_after(1) as scope:
            await actors.receive()
        assert scope.cancelled_caught
        assert actors.process_info(me)["status"] == "running"  # type: ignore[index]
        actors.send(me, "after")
        assert actors.process_info(me)["message_queue_len"] == 1  # type: ignore[index]
        assert await actors.receive() == "after"


async def test_draining_a_full_mailbox_lets_other_processes_run() -> None:
    log: list[str] = []

    async def other() -> None:
        log.append("other ran")

    async def drainer(count: int) -> None:
        await actors.receive()
        actors.spawn(other)  # runnable now; it must not wait for the whole drain
        for _ in range(count - 1):
            await actors.receive()
            log.append("d")
        log.append("drained")

    async with actors.node():
        pid = actors.spawn(drainer, 10_000)
        for i in range(10_000):
            actors.send(pid, i)
        await wait_down(pid)
    assert log[-1] == "drained"
    assert log.index("other ran") < 200


async def test_messages_from_one_sender_arrive_in_order() -> None:
    async def producer(to: actors.Pid, count: int) -> None:
        for i in range(count):
            actors.send(to, (actors.self(), i))

    async with actors.node():
        me = actors.self()
        producers = [actors.spawn(producer, me, 500) for _ in range(4)]
        got: dict[actors.Pid, list[int]] = {pid: [] for pid in producers}
        for _ in range(2000):
            pid, i = await actors.receive((ANY, int), timeout=5)
            got[pid].append(i)
        assert all(seq == list(range(500)) for seq in got.values())


async def test_a_flush_by_a_helper_while_parked_loses_no_message() -> None:
    """A removal below the scan position must not hide a later arrival."""
    async with actors.node():
        me = actors.self()
        ref = actors.monitor("nobody")  # Down(ref, "nobody", "noproc), queued at once
        actors.send(me, "x")

        async def helper() -> None:
            await trio.testing.wait_all_tasks_blocked()  # the owner is parked
            actors.demonitor(ref, flush=True)  # removes the Down below the scan point
            actors.send(me, "b")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)
            assert await actors.receive("b", timeout=5) == "b"
        assert await actors.receive(timeout=0) == "x"


# -- a parked selective receive scans only what arrived since its last scan --


class CountingDeque(deque[Any]):
    """A mailbox that counts the messages iterated over, from either end."""

    walked = 0

    def __iter__(self) -> Iterator[Any]:
        for msg in super().__iter__():
            self.walked += 1
            yield msg

    def __reversed__(self) -> Iterator[Any]:
        for msg in super().__reversed__():
            self.walked += 1
            yield msg


def counting_mailbox(pid: actors.Pid) -> CountingDeque:
    proc = _process_of(pid)
    assert proc is not None
    assert proc._queue is None
    queue = proc._queue = CountingDeque()
    return queue


async def test_receive_selective_wakeups_scan_only_new_messages() -> None:
    """Messages that arrive one at a time, each waking the receive: each is
    tested once, and no wake-up walks the messages scanned before it."""
    tested: list[Any] = []
    wanted = recording("yes", tested)

    async with actors.node():
        me = actors.self()
        mailbox = counting_mailbox(me)
        for i in range(100):
            actors.send(me, f"queued {i}")

        async def sender() -> None:
            for i in range(300):
                await actors.lowlevel.wait_idle(me)  # parked again: the next send wakes it
                actors.send(me, i)
            await actors.lowlevel.wait_idle(me)
            actors.send(me, "yes")

        actors.spawn(sender)
        assert await actors.receive(wanted, timeout=5) == "yes"
        assert len(tested) == 401
        assert len(set(map(repr, tested))) == 401
        # The first search walks the 100 queued messages; then 300 wake-ups
        # of one message each. Walking the scanned prefix again would make
        # this about 300 * 250.
        assert mailbox.walked <= 401
        assert actors.lowlevel.mailbox_len(me) == 400
        assert await actors.receive(timeout=0) == "queued 0"


async def test_a_flush_while_parked_does_not_make_the_receive_test_old_messages_again() -> None:
    tested: list[Any] = []
    wanted = recording("yes", tested)

    async with actors.node():
        me = actors.self()
        ref = actors.monitor("nobody")  # Down(ref, "nobody", "noproc") queued at once
        for i in range(5):
            actors.send(me, i)

        async def helper() -> None:
            await actors.lowlevel.wait_idle(me)
            actors.demonitor(ref, flush=True)  # removes the Down, scanned already
            actors.send(me, "late")
            await actors.lowlevel.wait_idle(me)
            actors.send(me, "yes")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)
            assert await actors.receive(wanted, timeout=5) == "yes"
        assert tested == [actors.Down(ref, "nobody", "noproc"), 0, 1, 2, 3, 4, "late", "yes"]
        assert await actors.testing.drain() == [0, 1, 2, 3, 4, "late"]


async def test_the_fast_paths_schedule_point_comes_before_its_search() -> None:
    """After 64 ready receives, the 65th yields to the scheduler once, and
    still tests each message once."""
    tested: list[Any] = []
    ran: list[str] = []
    wanted = recording("yes", tested)

    async def other() -> None:
        ran.append("other")

    async with actors.node():
        me = actors.self()
        for i in range(64):
            actors.send(me, ("ready", i))
        for i in range(3):
            actors.send(me, i)
        actors.send(me, "yes")
        async with trio.open_nursery() as nursery:
            for i in range(64):
                assert await actors.receive(("ready", ANY)) == ("ready", i)
            nursery.start_soon(other)
            assert ran == []  # no schedule point in 64 ready receives
            with trio.testing.assert_checkpoints():  # the 65th is one
                assert await actors.receive(wanted) == "yes"
        assert tested == [0, 1, 2, "yes"]


async def test_a_receive_after_a_timed_out_selective_one_looks_at_every_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def sender(to: actors.Pid) -> None:
        await trio.sleep(1)
        actors.send(to, ("b", 1))  # arrives while the first receive waits
        await trio.sleep(1)
        actors.send(to, ("a", 2))  # arrives while the second receive waits
        await trio.sleep(2)
        actors.send(to, ("b", 3))  # arrives while the third receive waits

    async with actors.node():
        me = actors.self()
        actors.send(me, ("a", 0))
        actors.spawn(sender, me)
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(("c", ANY), timeout=1.5)
        assert actors.process_info(me)["message_queue_len"] == 2  # type: ignore[index]
        assert await actors.receive(("b", ANY), timeout=5) == ("b", 1)  # scanned before
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive(("c", ANY), timeout=1)
        # Scanned by the timed-out receives, and ("b", 3) arriving after.
        assert await actors.receive(("a", 2), timeout=0) == ("a", 2)
        assert await actors.receive(("b", ANY), timeout=5) == ("b", 3)
        assert await actors.testing.drain() == [("a", 0)]


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(
        st.tuples(
            st.lists(st.integers(0, 9), max_size=5),
            st.sampled_from([None, "before", "after"]),  # when a flush comes
        ),
        max_size=8,
    )
)
def test_a_parked_receive_takes_matches_in_order_through_batches_and_flushes(
    batches: list[tuple[list[int], str | None]],
) -> None:
    """Batches of messages wake a parked selective receive (several fresh
    messages per wake-up); flushes of non-matching messages come while it
    is parked, or after a batch woke it and before it ran. Matches come
    out in order, and the mailbox keeps the rest, in order and counted."""

    def big(msg: Any) -> bool:
        return isinstance(msg, int) and msg >= 8

    async def receiver(test: actors.Pid) -> None:
        while True:
            msg = await actors.receive(big, "dump")
            if msg == "dump":
                actors.send(test, ("rest", await actors.testing.drain()))
                return
            actors.send(test, ("got", msg))

    async def check() -> None:
        pid = actors.spawn(receiver, actors.self())
        proc = _process_of(pid)
        assert proc is not None
        model: list[int] = []
        for batch, flush in batches:
            await actors.lowlevel.wait_idle(pid)
            if flush == "before":
                proc.take(lambda m: m == 0)
                model = [m for m in model if m != 0]
            for msg in batch:
                actors.send(pid, msg)
            model += batch
            if flush == "after":
                proc.take(lambda m: m == 0)
                model = [m for m in model if m != 0]
            await actors.lowlevel.wait_idle(pid)
            got = [m for _, m in await actors.testing.drain(("got", ANY))]
            assert got == [m for m in model if big(m)]
            model = [m for m in model if not big(m)]
            assert actors.lowlevel.mailbox_len(pid) == len(model)
        actors.send(pid, "dump")
        assert await actors.receive(("rest", ANY), timeout=5) == ("rest", model)

    actors.run(check)


# -- receive timeouts: one timer entry per process, reused (actors/_timers.py) --


async def test_timed_receives_that_end_early_push_one_timer_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path of a timed receive (a call, a WebSocket reader) touches
    no heap: 100 receives answered before their timeouts push once."""
    import heapq

    pushes = 0
    push = heapq.heappush

    def counting_push(heap: list[Any], item: Any) -> None:
        nonlocal pushes
        pushes += 1
        push(heap, item)

    monkeypatch.setattr(heapq, "heappush", counting_push)  # as actors._timers calls it

    async def answer(to: actors.Pid) -> None:
        for i in range(100):
            await trio.testing.wait_all_tasks_blocked()  # the receiver is parked
            actors.send(to, i)

    async with actors.node():
        actors.spawn(answer, actors.self())
        got = [await actors.receive(timeout=5) for _ in range(100)]
    assert got == list(range(100))
    assert pushes == 1


async def test_a_shorter_timeout_after_a_longer_one_fires_on_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def later(to: actors.Pid) -> None:
        await trio.sleep(1)
        actors.send(to, "hi")

    async with actors.node():
        actors.spawn(later, actors.self())
        assert await actors.receive(timeout=10) == "hi"  # its entry is due at 10
        start = trio.current_time()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive("never", timeout=2)
        assert trio.current_time() - start == pytest.approx(2)


async def test_a_longer_timeout_after_a_shorter_one_waits_its_whole_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def later(to: actors.Pid) -> None:
        await trio.sleep(1)
        actors.send(to, "hi")
        await trio.sleep(5)  # after the first entry's time: the second receive waits on
        actors.send(to, "late")

    async with actors.node():
        actors.spawn(later, actors.self())
        assert await actors.receive(timeout=2) == "hi"  # its entry is due at 2
        start = trio.current_time()
        assert await actors.receive("late", timeout=10) == "late"
        assert trio.current_time() - start == pytest.approx(5)
        start = trio.current_time()
        with pytest.raises(actors.ReceiveTimeout):
            await actors.receive("never", timeout=10)
        assert trio.current_time() - start == pytest.approx(10)


async def test_a_process_that_ends_leaves_no_timer_entry_holding_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def waits_once() -> None:
        actors.send(actors.self(), "ready")
        await actors.receive("go", timeout=30)

    async with actors.node() as node:
        pid = actors.spawn(waits_once)
        proc = _process_of(pid)
        await trio.testing.wait_all_tasks_blocked()
        assert [t.proc for t in node.timers._heap] == [proc]
        actors.send(pid, "go")
        await wait_down(pid)
        assert [t for t in node.timers._heap if t.proc is proc] == []
