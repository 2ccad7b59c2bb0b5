"""Supervisor: strategies, restart types, intensity, shutdown, trees, requests."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors import ANY, Down, Exit, GenServer, Supervisor, child

# A worker announces ("up", id, pid) to the registered "test" process, then
# crashes on "crash", exits normally on "quit", or exits with ("exit", r).


async def worker(wid: str) -> None:
    actors.send("test", ("up", wid, actors.self()))
    while True:
        match await actors.receive():
            case "crash":
                raise RuntimeError(f"{wid} crashed")
            case "quit":
                return
            case ("exit", reason):
                actors.exit(actors.self(), reason)


async def ups(count: int) -> dict[str, actors.Pid]:
    """Wait for `count` workers to announce themselves; id -> pid."""
    got = {}
    for _ in range(count):
        _, wid, pid = await actors.receive(("up", ANY, ANY), timeout=5)
        got[wid] = pid
    return got


async def nothing_more() -> None:
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(actors.ReceiveTimeout):
        await actors.receive(("up", ANY, ANY), timeout=0)


def three(**options: Any) -> list[actors.ChildSpec]:
    return [child(worker, name, id=name, **options) for name in ("a", "b", "c")]


@pytest.mark.parametrize(
    ("strategy", "crashing", "restarted"),
    [
        ("one_for_one", "b", {"b"}),
        ("one_for_all", "b", {"a", "b", "c"}),
        ("rest_for_one", "b", {"b", "c"}),
        ("rest_for_one", "a", {"a", "b", "c"}),
        ("rest_for_one", "c", {"c"}),
    ],
)
async def test_each_strategy_restarts_exactly_its_children(
    strategy: str, crashing: str, restarted: set[str]
) -> None:
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link(three(), strategy=strategy)  # type: ignore[arg-type]
        first = await ups(3)
        actors.send(first[crashing], "crash")
        again = await ups(len(restarted))
        assert set(again) == restarted
        await nothing_more()
        rows = {row.id: row.pid for row in await actors.which_children(sup)}
        for wid in "abc":
            expected = again[wid] if wid in restarted else first[wid]
            assert rows[wid] == expected
            assert (actors.process_info(first[wid]) is None) == (wid in restarted)


async def test_one_for_all_stops_the_others_in_reverse_start_order() -> None:
    order: list[str] = []

    async def recorded(wid: str) -> None:
        actors.send("test", ("up", wid, actors.self()))
        try:
            await actors.receive("crash")
            raise RuntimeError("crash")
        finally:
            order.append(wid)

    async with actors.node():
        actors.register("test")
        await Supervisor.start_link(
            [child(recorded, w, id=w) for w in "abcd"], strategy="one_for_all"
        )
        first = await ups(4)
        actors.send(first["b"], "crash")
        await ups(4)
        assert order == ["b", "d", "c", "a"]


@pytest.mark.parametrize(
    ("restart", "ending", "comes_back"),
    [
        ("permanent", "crash", True),
        ("permanent", "quit", True),
        ("permanent", ("exit", "shutdown"), True),
        ("transient", "crash", True),
        ("transient", ("exit", "bad"), True),
        ("transient", "quit", False),
        ("transient", ("exit", "shutdown"), False),
        ("temporary", "crash", False),
        ("temporary", "quit", False),
    ],
)
async def test_restart_types(restart: str, ending: Any, comes_back: bool) -> None:
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(worker, "w", id="w", restart=restart)])  # type: ignore[arg-type]
        pid = (await ups(1))["w"]
        actors.send(pid, ending)
        if comes_back:
            assert (await ups(1))["w"] != pid
        else:
            await nothing_more()
        rows = await actors.which_children(sup)
        if restart == "temporary":
            assert rows == []  # a temporary child is forgotten when it ends
        else:
            assert len(rows) == 1
            assert (rows[0].pid is not None) == comes_back


async def test_intensity_exceeded_within_the_period_stops_everything(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    async with actors.node():
        actors.register("test")
        actors.trap_exits()
        sup = await Supervisor.start_link(three(), intensity=2, period=10)
        pids = await ups(3)
        for _ in range(2):  # two restarts within the period: allowed
            await trio.sleep(1)
            actors.send(pids["a"], "crash")
            pids.update(await ups(1))
        others = [pids["b"], pids["c"]]
        refs = [actors.monitor(p) for p in others]
        actors.send(pids["a"], "crash")  # the third within 10 s: too many
        assert await actors.receive(Exit(sup, ANY), timeout=5) == Exit(sup, "shutdown")
        for ref, pid in zip(refs, others, strict=True):
            assert await actors.receive(Down(ref, pid, ANY), timeout=0) == (ref, pid, "shutdown")
    assert "more than intensity 2" in caplog.text


async def test_restarts_spread_beyond_the_period_are_allowed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(worker, "w", id="w")], intensity=1, period=5)
        pid = (await ups(1))["w"]
        for _ in range(6):
            await trio.sleep(6)  # each crash outside the last one's period
            actors.send(pid, "crash")
            pid = (await ups(1))["w"]
        assert actors.process_info(sup) is not None


async def test_intensity_zero_means_no_restart_at_all() -> None:
    async with actors.node():
        actors.register("test")
        actors.trap_exits()
        sup = await Supervisor.start_link([child(worker, "w", id="w")], intensity=0)
        actors.send((await ups(1))["w"], "crash")
        assert await actors.receive(Exit(sup, ANY), timeout=5) == Exit(sup, "shutdown")


async def test_a_child_that_ignores_shutdown_is_killed_after_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def stubborn() -> None:
        actors.trap_exits()
        actors.send("test", ("up", "s", actors.self()))
        while True:
            await actors.receive()  # ignores Exit(sup, "shutdown")

    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(stubborn, id="s", shutdown=3)])
        pid = (await ups(1))["s"]
        ref = actors.monitor(pid)
        start = trio.current_time()
        await actors.terminate_child(sup, "s")
        assert trio.current_time() - start == pytest.approx(3)
        assert await actors.receive(Down(ref, pid, ANY), timeout=0) == (ref, pid, "killed")


async def test_brutal_kill_and_a_polite_child(autojump_clock: trio.testing.MockClock) -> None:
    async def polite() -> None:
        actors.trap_exits()
        actors.send("test", ("up", "p", actors.self()))
        await actors.receive(Exit)
        await trio.sleep(1)  # cleans up, then leaves
        raise actors.ProcessExit("shutdown")

    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link(
            [child(polite, id="p", shutdown=5), child(worker, "k", id="k", shutdown="brutal_kill")]
        )
        pids = await ups(2)
        refs = {wid: actors.monitor(pid) for wid, pid in pids.items()}
        start = trio.current_time()
        await actors.terminate_child(sup, "k")
        assert trio.current_time() == start
        assert (await actors.receive(Down(refs["k"], ANY, ANY), timeout=0)).reason == "killed"
        await actors.terminate_child(sup, "p")
        assert trio.current_time() - start == pytest.approx(1)
        assert (await actors.receive(Down(refs["p"], ANY, ANY), timeout=0)).reason == "shutdown"


class Store(GenServer):
    trap_exits = True

    def init(self, label: str) -> None:
        self.label = label
        actors.send("test", ("up", label, actors.self()))

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        if request == "crash":
            raise ValueError("store crashed")
        return self.label

    def terminate(self, reason: Any) -> None:
        actors.send("test", ("terminated", self.label, reason))


async def test_a_tree_of_supervisors_and_gen_servers() -> None:
    async with actors.node():
        actors.register("test")
        actors.trap_exits()
        inner = functools.partial(
            Supervisor.start_link,
            [child(Store.start_link, "leaf1", id="leaf1"), child(worker, "leaf2", id="leaf2")],
            "one_for_all",
        )
        top = await Supervisor.start_link(
            [
                child(functools.partial(Store.start_link, "named", name="store"), id="store"),
                child(inner, id="inner"),
            ],
            name="top",
        )
        first = await ups(3)
        assert await actors.call("store", "which?") == "named"
        rows = await actors.which_children("top")
        assert [(r.id, r.type) for r in rows] == [("store", "worker"), ("inner", "supervisor")]
        assert await actors.count_children(top) == {
            "specs": 2, "active": 2, "supervisors": 1, "workers": 1,
        }  # fmt: skip
        # a crash deep in the tree is handled by the inner supervisor alone
        actors.send(first["leaf2"], "crash")
        assert await actors.receive(("terminated", "leaf1", "shutdown"), timeout=5)
        assert set(await ups(2)) == {"leaf1", "leaf2"}
        assert (await actors.which_children(top))[1].pid == rows[1].pid
        # the top supervisor's own death takes the whole tree with it
        refs = [actors.monitor(p) for p in (rows[1].pid, first["named"])]
        actors.exit(top, "kill")
        for ref in refs:
            assert (await actors.receive(Down(ref, ANY, ANY), timeout=5)).reason == "killed"
        await trio.testing.wait_all_tasks_blocked()
        assert actors.processes() == [actors.self()]


async def test_a_gen_server_child_is_restarted_with_its_name() -> None:
    async with actors.node():
        actors.register("test")
        await Supervisor.start_link([child(functools.partial(Store.start_link, "s", name="store"))])
        first = (await ups(1))["s"]
        with pytest.raises(actors.CallExit):
            await actors.call("store", "crash")
        second = (await ups(1))["s"]
        assert second != first
        assert actors.whereis("store") == second
        assert await actors.call("store", "hello") == "s"


async def test_simple_one_for_one_starts_dynamic_children_from_a_template() -> None:
    async with actors.node():
        actors.register("test")
        pool = await Supervisor.start_link(
            [child(worker, restart="transient")], strategy="simple_one_for_one"
        )
        pids = [await actors.start_child(pool, f"job{i}") for i in range(5)]
        up = await ups(5)
        assert sorted(up) == [f"job{i}" for i in range(5)]
        assert sorted(up.values()) == pids
        actors.send(up["job1"], "crash")
        restarted = await ups(1)
        assert list(restarted) == ["job1"]  # restarted with its own arguments
        actors.send(up["job2"], "quit")  # transient, normal: gone
        await nothing_more()
        assert (await actors.count_children(pool))["active"] == 4
        await actors.terminate_child(pool, up["job3"])
        rows = await actors.which_children(pool)
        assert len(rows) == 3
        assert all(r.id is None for r in rows)
        assert up["job3"] not in [r.pid for r in rows]


async def test_start_terminate_restart_delete_child() -> None:
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(worker, "a", id="a")])
        await ups(1)
        pid_b = await Supervisor.start_child(sup, child(worker, "b", id="b"))
        assert (await ups(1))["b"] == pid_b
        with pytest.raises(ValueError, match="already exists"):
            await actors.start_child(sup, child(worker, "b", id="b"))
        with pytest.raises(RuntimeError, match="terminate it first"):
            await actors.delete_child(sup, "b")
        await actors.terminate_child(sup, "b")
        assert [(r.id, r.pid) for r in await actors.which_children(sup)][1] == ("b", None)
        new_b = await actors.restart_child(sup, "b")
        assert (await ups(1))["b"] == new_b
        await actors.terminate_child(sup, "b")
        await actors.delete_child(sup, "b")
        assert [r.id for r in await actors.which_children(sup)] == ["a"]
        with pytest.raises(LookupError, match="no child 'zzz'"):
            await actors.terminate_child(sup, "zzz")


async def test_children_start_in_order_and_stop_in_reverse() -> None:
    stopped: list[str] = []

    async def tracked(wid: str) -> None:
        actors.send("test", ("up", wid, actors.self()))
        try:
            await actors.receive("never")
        finally:
            stopped.append(wid)

    async with actors.node():
        actors.register("test")
        actors.trap_exits()
        sup = await Supervisor.start_link([child(tracked, w, id=w) for w in "abcde"])
        await ups(5)
        assert [r.id for r in await actors.which_children(sup)] == list("abcde")
        actors.exit(sup, "shutdown")
        assert await actors.receive(Exit(sup, ANY), timeout=5) == Exit(sup, "shutdown")
    assert stopped == list("edcba")


async def test_bad_specs_and_options_fail_where_they_are_written() -> None:
    with pytest.raises(ValueError, match="restart must be one of"):
        child(worker, restart="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown must be"):
        child(worker, shutdown=-1)
    with pytest.raises(TypeError, match="callable"):
        child("not a function")  # type: ignore[arg-type]
    async with actors.node():
        with pytest.raises(ValueError, match="strategy must be one of"):
            await Supervisor.start_link([], strategy="all_for_none")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="intensity"):
            await Supervisor.start_link([], intensity=-1)
        with pytest.raises(ValueError, match="unique"):
            await Supervisor.start_link([child(worker, "x", id="x"), child(worker, "y", id="x")])
        with pytest.raises(ValueError, match="exactly one"):
            await Supervisor.start_link([], strategy="simple_one_for_one")


async def test_supervisor_reports_say_who_crashed_why_and_what_was_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(worker, "w", id="w")], name="reporting")
        pid = (await ups(1))["w"]
        actors.send(pid, "crash")
        await ups(1)
    reports = [r.getMessage() for r in caplog.records if "supervisor report" in r.getMessage()]
    crash = [r for r in reports if "exited with" in r]
    assert len(crash) == 1
    assert repr(sup) in crash[0]
    assert "'reporting'" in crash[0]
    assert repr(pid) in crash[0]
    assert "RuntimeError('w crashed')" in crash[0]
    assert "restarting 'w' (one_for_one)" in crash[0]
    assert sum("started child 'w'" in r for r in reports) == 2


async def test_a_failed_retry_under_one_for_all_leaves_no_duplicate_child() -> None:
    starts = {"b": 0}

    async def a_body() -> None:
        actors.join("A")
        actors.send("test", ("up", "a", actors.self()))
        await actors.receive("crash")
        raise RuntimeError("boom")

    def start_b() -> actors.Pid:
        starts["b"] += 1
        if starts["b"] == 2:
            raise RuntimeError("b cannot start this time")
        return actors.spawn_link(actors.receive, "never")

    async with actors.node():
        actors.register("test")
        await Supervisor.start_link(
            [child(a_body, id="a"), child(start_b, id="b")], strategy="one_for_all", intensity=5
        )
        first = (await ups(1))["a"]
        actors.send(first, "crash")
        await ups(1)  # the copy of the failed attempt was stopped before it ran
        await nothing_more()
        assert len(actors.members("A")) == 1
        assert starts["b"] == 3


async def test_a_transient_child_ending_with_a_shutdown_tuple_stays_down() -> None:
    async def body() -> None:
        actors.send("test", ("up", "t", actors.self()))
        await actors.receive("go")
        raise actors.ProcessExit(("shutdown", "done"))

    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link([child(body, id="t", restart="transient")])
        pid = (await ups(1))["t"]
        ref = actors.monitor(pid)
        actors.send(pid, "go")
        assert (await actors.receive(Down(ref, pid, ANY), timeout=5)).reason == ("shutdown", "done")
        await nothing_more()
        assert [c.pid for c in await actors.which_children(sup)] == [None]


async def test_simple_one_for_one_keeps_no_child_for_an_ignored_start() -> None:
    def ignore(*args: Any) -> None:
        return None

    async with actors.node():
        sup = await Supervisor.start_link([child(ignore, id="t")], strategy="simple_one_for_one")
        for _ in range(3):
            assert await actors.start_child(sup) is None
        assert await actors.which_children(sup) == []
        assert (await actors.count_children(sup))["workers"] == 0


@pytest.mark.parametrize(
    "request_", [("stop", None), ("_stop", None), "which_children", ("nope", 1, 2), 42]
)
async def test_supervisor_answers_an_unknown_request_with_an_error_and_goes_on(
    request_: Any,
) -> None:
    """OTP's supervisor answers a call it does not know with an error; it
    never reaches a private helper by name, and its children stay up."""
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link(three())
        before = await ups(3)
        status, error = await actors.call(sup, request_)
        assert status == "error"
        assert "unknown supervisor request" in str(error)
        assert {c.id: c.pid for c in await actors.which_children(sup)} == before
        await nothing_more()
