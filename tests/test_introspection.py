"""Introspection on one node: node_info, process rows, supervision trees,
events, get_state, process_stack, watch() and inspect through "$inspect"
(the actors side of the observer page, /work/notes/observer_api.md)."""

from __future__ import annotations

import functools
import logging
import pickle
from typing import Any

import pytest
import trio
import trio.testing

import actors
import actors.lowlevel as ll
from actors import ANY, GenServer, GenStatem, Supervisor, child
from actors.testing import assert_receive, forever, refute_receive, wait_exit


class Counter(GenServer):
    def init(self, start: int = 0) -> None:
        self.count = start
        self.calls = 0  # how many times a callback ran
        self._hidden = "private"

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        self.calls += 1
        self.count += request
        return self.count

    def handle_info(self, msg: Any) -> None:
        self.calls += 1


class Door(GenStatem):
    def init(self) -> tuple[str, dict[str, int]]:
        return "locked", {"opened": 0}

    def handle_event(self, event_type: Any, content: Any, state: Any, data: Any) -> Any:
        if content == "open":
            data["opened"] += 1
            return "open", data, [actors.Reply(event_type[1], "ok")]
        return "locked", data, [actors.Reply(event_type[1], "ok")]


async def worker(wid: str) -> None:
    actors.send("test", ("up", wid, actors.self()))
    while True:
        if await actors.receive() == "crash":
            raise RuntimeError(f"{wid} crashed")


def row_of(pid: actors.Pid) -> dict[str, Any]:
    return next(row for row in ll.process_rows() if row["pid"] == pid)


# -- node_info ------------------------------------------------------------------


async def test_node_info_counts_processes_and_delivered_messages() -> None:
    async with actors.node():
        before = ll.node_info()
        assert before["node"] == actors.node_name() == "nonode@nohost"
        assert before["hidden"] is False
        assert before["rss"] > 1_000_000
        assert before["uptime"] >= 0
        assert before["stats"] == {}
        pid = actors.spawn(forever)
        for i in range(5):
            actors.send(pid, i)
        actors.exit(pid, "kill")
        await wait_exit(pid)
        after = ll.node_info()
        # the 5 sends count even though their receiver has ended since
        assert after["messages"] >= before["messages"] + 5
        assert after["processes"] == before["processes"]
        assert after["uptime"] >= before["uptime"]


async def test_add_stat_is_read_on_demand_and_registered_once() -> None:
    async with actors.node():
        box = [3]
        ll.add_stat("things", lambda: box[0])
        ll.add_stat("things", lambda: 99)  # a second registration is ignored
        assert ll.node_info()["stats"] == {"things": 3}
        box[0] = 4
        assert ll.node_info()["stats"] == {"things": 4}


async def test_probe_of_an_unknown_name_is_empty_and_a_known_one_is_read_on_demand() -> None:
    async with actors.node():
        assert ll.probe("nothing") == []
        rows = [{"a": 1}]
        ll.add_probe("table", lambda: list(rows))
        rows.append({"a": 2})
        assert ll.probe("table") == [{"a": 1}, {"a": 2}]


# -- process rows ---------------------------------------------------------------


async def test_process_rows_describe_each_process_and_its_kind() -> None:
    async with actors.node():
        me = actors.self()
        server = await Counter.start_link(name="counter")
        machine = await Door.start()
        sup = await Supervisor.start_link([])
        plain = actors.spawn(forever, name=("tuple", 1))
        actors.join("room", plain)
        actors.join(("group", 2), plain)
        actors.link(plain)
        actors.monitor(plain)
        for _ in range(3):
            actors.send(plain, "hello")
        await trio.testing.wait_all_tasks_blocked()
        rows = {row["pid"]: row for row in ll.process_rows()}
        assert rows[server]["kind"] == "gen_server"
        assert rows[server]["name"] == "counter"
        assert rows[server]["current_function"] == f"{__name__}.Counter"
        assert rows[machine]["kind"] == "gen_statem"
        assert rows[machine]["current_function"] == f"{__name__}.Door"
        assert rows[sup]["kind"] == "supervisor"
        row = rows[plain]
        assert row["kind"] == "process"
        assert row["name"] == "('tuple', 1)"
        assert sorted(row["groups"]) == ["('group', 2)", "room"]
        assert row["links"] == [me]
        assert row["message_queue_len"] == 3  # forever() never receives
        assert row["received"] == 3
        assert row["status"] == "waiting"
        assert row["runtime"] is None  # never watched
        assert rows[me]["monitors"] == 1
        assert rows[me]["status"] == "running"
        assert set(rows) == {*actors.processes(), inspector_of(rows)}
        pickle.dumps(list(rows.values()))  # builtins, Pids and str only


def inspector_of(rows: dict[actors.Pid, dict[str, Any]]) -> actors.Pid:
    return next(pid for pid, row in rows.items() if row["name"] == "$inspect")


async def test_inspect_process_is_a_system_process_hidden_from_processes_and_registered() -> None:
    async with actors.node():
        me = actors.self()
        assert actors.processes() == [me]
        assert actors.registered() == []
        rows = {row["name"]: row for row in ll.process_rows()}
        assert rows["$inspect"]["system"] is True  # the observer hides it and never kills it
        assert rows[None]["system"] is False
        assert ll.node_info()["processes"] == 2


# -- supervision trees ---------------------------------------------------------


async def test_supervision_trees_show_nesting_pools_restarts_and_last_exits() -> None:
    async with actors.node():
        actors.register("test")
        pool = functools.partial(
            Supervisor.start_link,
            [child(worker, id="pooled", restart="transient")],
            strategy="simple_one_for_one",
        )
        inner = functools.partial(
            Supervisor.start_link,
            [child(worker, "x", id="x"), child(pool, id="pool", type="supervisor")],
            strategy="one_for_one",
            intensity=5,
            period=10,
        )
        top = await Supervisor.start_link(
            [child(worker, "a", id="a"), child(inner, id="inner", type="supervisor")],
            strategy="one_for_all",
            name="top",
        )
        ups = {}
        for _ in range(2):
            _, wid, pid = await actors.receive(("up", ANY, ANY), timeout=5)
            ups[wid] = pid
        [tree] = ll.supervision_trees()  # inner and pool are supervised: not roots
        assert tree["pid"] == top
        assert tree["name"] == "top"
        assert (tree["strategy"], tree["intensity"], tree["period"]) == ("one_for_all", 3, 5)
        assert tree["restarts"] == 0
        a, inner_row = tree["children"]
        assert a == {
            "id": "a",
            "pid": ups["a"],
            "type": "worker",
            "restart": "permanent",
            "restarts": 0,
            "last_exit": None,
            "system": False,
        }
        assert inner_row["type"] == "supervisor"
        assert inner_row["supervisor"] == {
            "strategy": "one_for_one",
            "intensity": 5,
            "period": 10,
            "restarts": 0,
            "recent": 0,  # restarts within its period, what its intensity bounds
        }
        x, pool_row = inner_row["children"]
        assert x["pid"] == ups["x"]
        assert pool_row["supervisor"]["strategy"] == "simple_one_for_one"
        assert pool_row["children"] == []
        first = await Supervisor.start_child(pool_row["pid"], "p1")
        await Supervisor.start_child(pool_row["pid"], "p2")
        await actors.receive(("up", "p1", ANY), timeout=5)
        await actors.receive(("up", "p2", ANY), timeout=5)
        pooled = ll.supervision_trees()[0]["children"][1]["children"][1]["children"]
        assert [(row["id"], row["restarts"]) for row in pooled] == [("pooled", 0), ("pooled", 0)]
        assert pooled[0]["pid"] == first

        actors.send(first, "crash")  # transient: restarted with its arguments
        _, _, again = await actors.receive(("up", "p1", ANY), timeout=5)
        pool_now = ll.supervision_trees()[0]["children"][1]["children"][1]
        assert pool_now["supervisor"]["restarts"] == 1
        crashed = pool_now["children"][0]
        assert crashed["pid"] == again != first
        assert crashed["restarts"] == 1
        assert crashed["last_exit"] == "RuntimeError('p1 crashed')"
        assert pool_now["children"][1]["restarts"] == 0

        actors.send(ups["x"], "crash")  # one_for_one in inner: only x
        await actors.receive(("up", "x", ANY), timeout=5)
        inner_now = ll.supervision_trees()[0]["children"][1]
        assert inner_now["supervisor"]["restarts"] == 1
        assert inner_now["children"][0]["restarts"] == 1
        assert inner_now["children"][0]["last_exit"] == "RuntimeError('x crashed')"
        assert ll.supervision_trees()[0]["restarts"] == 0
        pickle.dumps(ll.supervision_trees())


async def test_a_supervisor_of_another_node_or_unsupervised_is_a_root_of_its_own() -> None:
    async with actors.node():
        one = await Supervisor.start([])
        two = await Supervisor.start_link([], name=("sup", 2))
        trees = ll.supervision_trees()
        assert [(tree["pid"], tree["name"]) for tree in trees] == [(one, None), (two, "('sup', 2)")]


# -- events ----------------------------------------------------------------------


async def test_subscribe_gets_exit_and_restart_events_and_unsubscribe_stops_them() -> None:
    async with actors.node():
        actors.register("test")
        ll.subscribe()
        sup = await Supervisor.start_link([child(worker, "w", id="w")])
        _, _, first = await actors.receive(("up", "w", ANY), timeout=5)
        actors.send(first, "crash")
        _, _, second = await actors.receive(("up", "w", ANY), timeout=5)
        exit_event = await assert_receive(("actors_event", "exit", ANY))
        assert exit_event[2] == {
            "pid": first,
            "reason": "RuntimeError('w crashed')",
            "system": False,
        }
        restart = await assert_receive(("actors_event", "restart", ANY))
        assert restart[2] == {
            "supervisor": sup,
            "id": "w",
            "old": first,
            "new": second,
            "reason": "RuntimeError('w crashed')",
        }
        quiet = actors.spawn(forever)
        actors.exit(quiet, "shutdown")  # on purpose: no event
        await wait_exit(quiet)
        await refute_receive(("actors_event", ANY, ANY))
        ll.unsubscribe()
        actors.send(second, "crash")
        await actors.receive(("up", "w", ANY), timeout=5)
        await refute_receive(("actors_event", ANY, ANY))


async def test_a_subscriber_that_dies_is_forgotten() -> None:
    async with actors.node() as node:
        listener = actors.spawn(forever)
        ll.subscribe(listener)
        assert listener in node.observed.subscribers
        actors.exit(listener, "kill")
        await wait_exit(listener)
        assert listener not in node.observed.subscribers


async def test_a_subscriber_far_behind_misses_events_and_is_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with actors.node() as node:
        slow = actors.spawn(forever)  # never reads its mailbox
        ll.subscribe(slow)
        for i in range(10_001):
            actors.send(slow, i)

        async def crash() -> None:
            raise RuntimeError("boom")

        with caplog.at_level(logging.WARNING, logger="actors"):
            for _ in range(3):
                pid = actors.spawn(crash)
                await wait_exit(pid)
        assert actors.process_info(slow)["message_queue_len"] == 10_001  # type: ignore[index]
        assert node.observed.missed(slow) == 3
        warnings = [r for r in caplog.records if "misses events" in r.getMessage()]
        assert len(warnings) == 1


# -- get_state ---------------------------------------------------------------------


async def test_get_state_of_a_gen_server_runs_no_callback() -> None:
    async with actors.node():
        pid = await Counter.start(10, name="counter")
        assert await actors.call(pid, 5) == 15
        state = await actors.get_state(pid)
        assert state == {"count": 15, "calls": 1}
        assert await actors.get_state("counter") == {"count": 15, "calls": 1}
        state["count"] = 0  # a copy
        assert (await actors.get_state(pid))["count"] == 15
        assert (await actors.get_state(pid))["calls"] == 1  # still: no callback ran


async def test_get_state_of_a_gen_statem_is_state_and_data() -> None:
    async with actors.node():
        pid = await Door.start()
        assert await actors.get_state(pid) == ("locked", {"opened": 0})
        assert await actors.call(pid, "open") == "ok"
        assert await actors.get_state(pid) == ("open", {"opened": 1})


async def test_get_state_of_a_plain_process_raises_value_error_at_once() -> None:
    async with actors.node():
        pid = actors.spawn(forever)
        with trio.fail_after(0.5), pytest.raises(ValueError, match=repr(pid)):
            await actors.get_state(pid, timeout=10)
        actors.exit(pid, "kill")
        await wait_exit(pid)
        with pytest.raises(actors.CallExit):
            await actors.get_state(pid)


# -- process_stack and watch() ---------------------------------------------------------


async def deep_wait() -> None:
    await actors.receive("never")


async def waits_deep() -> None:
    await deep_wait()


async def test_process_stack_names_the_function_a_process_awaits_in() -> None:
    async with actors.node():
        pid = actors.spawn(waits_deep)
        await trio.testing.wait_all_tasks_blocked()
        stack = ll.process_stack(pid)
        functions = [frame.rsplit(" in ", 1)[1] for frame in stack]
        assert functions.index("waits_deep") < functions.index("deep_wait")
        assert functions.index("deep_wait") < functions.index("receive")  # innermost last
        assert stack[functions.index("deep_wait")].startswith(__file__ + ":")
        actors.exit(pid, "kill")
        await wait_exit(pid)
        assert ll.process_stack(pid) == []


async def holds(secret: str) -> None:
    await actors.receive("stop")


async def test_a_partial_is_named_by_its_function_never_by_its_arguments() -> None:
    async with actors.node():
        pid = actors.spawn(functools.partial(functools.partial(holds), "hunter2"))
        row = next(r for r in ll.process_rows() if r["pid"] == pid)
        info = actors.process_info(pid)
        assert info is not None
        for shown in (row["current_function"], info["current_function"]):
            assert shown == f"{__name__}.holds"
        actors.send(pid, "stop")


async def test_process_messages_lists_waiting_messages_oldest_first_cut_short() -> None:
    async with actors.node():
        pid = actors.spawn(holds, "x")
        for message in (("a", 1), "b" * 2000, 3):
            actors.send(pid, message)
        await trio.testing.wait_all_tasks_blocked()
        shown = ll.process_messages(pid)
        assert shown[0] == "('a', 1)"
        assert shown[2] == "3"
        assert len(shown[1]) == 500
        assert shown[1].endswith("...")
        assert ll.process_messages(pid, limit=1) == ["('a', 1)"]
        assert await ll.inspect(actors.node_name(), "process_messages", pid) == shown
        actors.send(pid, "stop")
        await wait_exit(pid)
        assert ll.process_messages(pid) == []


async def busy() -> None:
    while True:
        sum(range(2000))
        await trio.lowlevel.checkpoint()


async def test_watch_counts_runtime_only_while_open() -> None:
    async with actors.node():
        pid = actors.spawn(busy)
        await trio.sleep(0.02)
        assert row_of(pid)["runtime"] is None
        with ll.watch():
            with ll.watch():  # nested
                await trio.sleep(0.02)
            first = row_of(pid)["runtime"]
            assert first is not None
            assert first > 0
            await trio.sleep(0.02)  # the outer watch still counts
            second = row_of(pid)["runtime"]
            assert second > first
        await trio.sleep(0.02)
        assert row_of(pid)["runtime"] == pytest.approx(second, abs=0.005)
        await trio.sleep(0.02)
        after = row_of(pid)["runtime"]
        await trio.sleep(0.02)
        assert row_of(pid)["runtime"] == after  # nothing counted without a watch


def instruments() -> list[object]:
    """The instruments trio runs with now (trio's own bookkeeping)."""
    from trio._core._run import GLOBAL_RUN_CONTEXT

    return list(GLOBAL_RUN_CONTEXT.runner.instruments["_all"])


async def test_no_instrument_is_installed_without_watch() -> None:
    async with actors.node():
        assert instruments() == []
        with ll.watch():
            with ll.watch():
                assert len(instruments()) == 1
            assert len(instruments()) == 1
        assert instruments() == []


# -- inspect on this node ---------------------------------------------------------------


async def test_inspect_on_the_own_node_answers_each_question() -> None:
    async with actors.node():
        name = actors.node_name()
        server = await Counter.start(1)
        info = await ll.inspect(name, "node_info")
        assert info["node"] == name
        assert server in [row["pid"] for row in await ll.inspect(name, "process_rows")]
        assert await ll.inspect(name, "supervision_trees") == []
        assert (await ll.inspect(name, "process_info", server))["pid"] == server
        assert await ll.inspect(name, "process_stack", server)
        assert await ll.inspect(name, "probe", "nothing") == []
        assert await ll.inspect(name, "get_state", server) == {"count": 1, "calls": 0}
        plain = actors.spawn(forever)
        with pytest.raises(ValueError, match="not a GenServer"):
            await ll.inspect(name, "get_state", plain)
        await ll.inspect(name, "subscribe", actors.self())

        async def crash() -> None:
            raise RuntimeError("boom")

        crasher = actors.spawn(crash)
        event = await assert_receive(("actors_event", "exit", ANY))
        assert event[2] == {"pid": crasher, "reason": "RuntimeError('boom')", "system": False}
        await ll.inspect(name, "unsubscribe", actors.self())
        await wait_exit(actors.spawn(crash))
        await refute_receive(("actors_event", ANY, ANY))
        with pytest.raises(ValueError, match="unknown"):
            await ll.inspect(name, "reboot")


async def test_inspect_watch_counts_per_caller_and_ends_with_the_caller() -> None:
    async with actors.node():
        from actors import _watch

        name = actors.node_name()
        pid = actors.spawn(busy)
        await ll.inspect(name, "watch", True)
        await ll.inspect(name, "watch", True)  # one count per caller
        state = _watch._state.get()
        assert state.watchers == 1
        await trio.sleep(0.02)
        assert row_of(pid)["runtime"] > 0

        async def watcher(parent: actors.Pid) -> None:
            await ll.inspect(name, "watch", True)
            actors.send(parent, "watching")
            await actors.receive("stop")

        other = actors.spawn(watcher, actors.self())
        await assert_receive("watching")
        assert state.watchers == 2
        await ll.inspect(name, "watch", False)
        assert state.watchers == 1
        actors.send(other, "stop")
        await wait_exit(other)
        await ll.inspect(name, "node_info")  # after "$inspect" saw the Down
        assert state.watchers == 0
        assert not state.installed


async def test_inspect_of_a_node_that_is_not_there_times_out() -> None:
    async with actors.node():
        with trio.fail_after(1), pytest.raises(actors.CallTimeout):
            await ll.inspect("elsewhere", "node_info", timeout=0.5)


async def test_the_step_that_opens_a_watch_is_not_counted_from_time_zero() -> None:
    async with actors.node():
        me = actors.self()
        with ll.watch():
            await trio.lowlevel.checkpoint()  # the step that opened it ends here
            assert row_of(me)["runtime"] < 1.0  # not perf_counter() since boot


async def test_a_failing_probe_raises_at_the_asker_and_inspect_goes_on() -> None:
    async with actors.node():
        name = actors.node_name()

        def broken() -> list[dict[str, Any]]:
            raise ZeroDivisionError("probe broke")

        ll.add_probe("broken", broken)
        with pytest.raises(ZeroDivisionError, match="probe broke"):
            await ll.inspect(name, "probe", "broken")
        actors.send(actors.whereis("$inspect"), ("$forget_when_down", "not a pid"))
        assert (await ll.inspect(name, "node_info"))["node"] == name


class Slotted(GenServer):
    __slots__ = ("_secret", "count", "unset")

    def init(self) -> None:
        self.count = 1
        self._secret = 2


async def test_get_state_of_a_gen_server_with_slots() -> None:
    async with actors.node():
        pid = await Slotted.start()
        assert await actors.get_state(pid) == {"count": 1}


async def test_one_for_all_counts_a_restart_for_every_child_it_starts_again() -> None:
    async with actors.node():
        actors.register("test")
        sup = await Supervisor.start_link(
            [child(worker, "a", id="a"), child(worker, "b", id="b")], strategy="one_for_all"
        )
        _, _, a = await actors.receive(("up", "a", ANY), timeout=5)
        await actors.receive(("up", "b", ANY), timeout=5)
        actors.send(a, "crash")
        await actors.receive(("up", "a", ANY), timeout=5)
        await actors.receive(("up", "b", ANY), timeout=5)
        [tree] = ll.supervision_trees()
        assert tree["pid"] == sup
        assert tree["restarts"] == 1
        assert [(c["id"], c["restarts"], c["last_exit"]) for c in tree["children"]] == [
            ("a", 1, "RuntimeError('a crashed')"),
            ("b", 1, None),  # stopped by the strategy: it did not exit on its own
        ]


# -- what a page may show: arguments never, system processes flagged ---------------

SECRET = "s3cret-token-of-the-user"


async def keeps(*args: Any, **kwargs: Any) -> None:
    """A child whose arguments hold a secret; it waits for nothing."""
    await actors.receive("never")


async def test_describe_names_partials_and_child_specs_by_their_function_not_arguments() -> None:
    async with actors.node():
        spec = child(functools.partial(keeps, token=SECRET), SECRET, id="keeper")
        top = await Supervisor.start_link([spec], name="top")
        pool = await Supervisor.start_link(
            [child(functools.partial(keeps, SECRET), id="worker")], strategy="simple_one_for_one"
        )
        await Supervisor.start_child(pool, SECRET)  # its record holds the extra argument
        waiter = actors.spawn(keeps)
        actors.send(waiter, ("config", functools.partial(keeps, token=SECRET)))
        shown = [
            ll.describe(await actors.get_state(top)),
            ll.describe(await actors.get_state(pool)),
            ll.describe([RuntimeError(functools.partial(keeps, SECRET)), {"spec": spec}]),
            ll.describe(actors.Exit(waiter, ("shutdown", functools.partial(keeps, SECRET)))),
            ll.describe(frozenset({functools.partial(keeps, SECRET)})),
            *ll.process_messages(waiter),
        ]
        for text in shown:
            assert SECRET not in text, text
            assert f"{__name__}.keeps" in text, text
        state = ll.describe(await actors.get_state(top))
        assert f"child({__name__}.keeps, id='keeper', restart='permanent'" in state
        # anything else reads as its repr, cut where asked, however deep
        plain = ("a", 1, [None, b"x"], {"k": 2.5}, {3}, RuntimeError("boom"), ValueError())
        assert ll.describe(plain) == repr(plain)
        assert ll.describe(list(range(10_000)), 100) == repr(list(range(10_000)))[:97] + "..."
        deep: list[Any] = []
        for _ in range(10_000):
            deep = [deep]
        assert ll.describe(deep).startswith("[[[[")


async def test_a_process_marked_system_is_flagged_in_rows_trees_and_exit_events() -> None:
    async with actors.node():
        ll.subscribe()

        async def crash_when_told() -> None:
            await actors.receive("crash")
            raise RuntimeError("told to")

        sup = await Supervisor.start_link([child(crash_when_told, id="ours")], name="sup")
        ((_, ours, _),) = await actors.which_children(sup)
        user = actors.spawn(crash_when_told)
        assert ours in actors.processes()
        ll.mark_system(ours)
        assert ours not in actors.processes()  # the user's view leaves it out
        rows = {row["pid"]: row for row in ll.process_rows()}
        assert rows[ours]["system"] is True
        assert rows[user]["system"] is False
        assert rows[actors.whereis("sup") or sup]["system"] is False
        inspector = [row for row in rows.values() if row["name"] == "$inspect"]
        assert [row["system"] for row in inspector] == [True]
        [tree] = ll.supervision_trees()
        assert (tree["system"], tree["children"][0]["system"]) == (False, True)
        actors.send(ours, "crash")
        event = await assert_receive(("actors_event", "exit", ANY))
        assert (event[2]["pid"], event[2]["system"]) == (ours, True)
        await assert_receive(("actors_event", "restart", ANY))
        actors.send(user, "crash")
        event = await assert_receive(("actors_event", "exit", ANY))
        assert (event[2]["pid"], event[2]["system"]) == (user, False)
        ll.mark_system(user)  # ended: nothing to mark, and no error
        with pytest.raises(ValueError, match="not a process of this node"):
            async with actors.node(name="other"):
                ll.mark_system(sup)
