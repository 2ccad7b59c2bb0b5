"""Introspection across a cluster on a real Redis: inspect() another node
through its "$inspect", get_state of a remote GenServer / GenStatem, events
and runtime counting asked from another node, and hidden nodes."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
import trio

import actors
import actors.lowlevel as ll
from actors import ANY, GenServer, GenStatem, Supervisor, child
from actors.testing import assert_receive, forever, refute_receive
from tests.cluster_helpers import COOKIE, FAST, start_node


class Counter(GenServer):
    def init(self) -> None:
        self.count = 0
        self.lock = threading.Lock()  # does not pickle: travels as its repr
        self.calls = 0

    def handle_call(self, request: Any, from_: actors.From) -> Any:
        self.calls += 1
        self.count += request
        return self.count


class Door(GenStatem):
    def init(self) -> tuple[str, dict[str, int]]:
        return "locked", {"opened": 0}

    def handle_event(self, event_type: Any, content: Any, state: Any, data: Any) -> Any:
        data["opened"] += 1
        return "open", data, [actors.Reply(event_type[1], "ok")]


async def worker() -> None:
    while True:
        if await actors.receive() == "crash":
            raise RuntimeError("worker crashed")


async def servers_node() -> None:
    """Node "b": a counter, a door, a supervised worker (registered
    "worker"), and a plain process "plain"; runs until told "stop"."""
    await Counter.start(name="counter")
    await Door.start(name="door")

    async def named_worker() -> None:
        actors.register("worker")
        await worker()

    await Supervisor.start_link([child(named_worker, id="w")], name="sup")
    actors.spawn(forever, name="plain")
    actors.register("main")
    while True:
        match await actors.receive():
            case ("nodes", sender):
                actors.send(sender, ("nodes", sorted(actors.nodes())))
            case "stop":
                return


async def test_inspect_another_node_through_redis(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, servers_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            with trio.fail_after(10):
                info = await ll.inspect("b", "node_info")
                assert info["node"] == "b"
                assert info["hidden"] is False
                assert info["processes"] >= 6
                rows = await ll.inspect("b", "process_rows")
                by_name = {row["name"]: row for row in rows}
                assert by_name["counter"]["kind"] == "gen_server"
                assert by_name["door"]["kind"] == "gen_statem"
                assert by_name["sup"]["kind"] == "supervisor"
                assert by_name["$inspect"]["pid"].node == "b"
                counter = by_name["counter"]["pid"]
                [tree] = await ll.inspect("b", "supervision_trees")
                assert tree["name"] == "sup"
                assert tree["children"][0]["id"] == "w"
                info = await ll.inspect("b", "process_info", counter)
                assert info["registered_name"] == "counter"
                stack = await ll.inspect("b", "process_stack", by_name["plain"]["pid"])
                assert any(frame.endswith(" in forever") for frame in stack)
                assert await ll.inspect("b", "probe", "nothing") == []
                state = await ll.inspect("b", "get_state", counter)
                assert state["count"] == 0
                assert state["lock"].startswith("<unlocked _thread.lock")
                with pytest.raises(ValueError, match="not a GenServer"):
                    await ll.inspect("b", "get_state", by_name["plain"]["pid"])
                with pytest.raises(ValueError, match="unknown"):
                    await ll.inspect("b", "shutdown")
            actors.send(("main", "b"), "stop")
        nursery.cancel_scope.cancel()


async def test_get_state_of_a_remote_gen_server_and_gen_statem(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, servers_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            with trio.fail_after(10):
                assert await actors.call(("counter", "b"), 3) == 3
                state = await actors.get_state(("counter", "b"))
                assert (state["count"], state["calls"]) == (3, 1)
                assert isinstance(state["lock"], str)  # made safe for the trip
                assert (await actors.get_state(("counter", "b")))["calls"] == 1  # no callback
                assert await actors.get_state(("door", "b")) == ("locked", {"opened": 0})
                assert await actors.call(("door", "b"), "push") == "ok"
                assert await actors.get_state(("door", "b")) == ("open", {"opened": 1})
                with pytest.raises(actors.CallExit):
                    await actors.get_state(("nobody", "b"))
                with pytest.raises(actors.CallTimeout):  # a plain process: no answer
                    await actors.get_state(("plain", "b"), timeout=0.3)
            actors.send(("main", "b"), "stop")
        nursery.cancel_scope.cancel()


SECRET = "s3cret-token-of-b"


async def holds_a_secret_in_a_child_spec() -> None:
    """Node "b": a supervisor "secretive" whose child spec is a partial
    holding SECRET, as `child(partial(observer.start_link, token=...))` is."""
    await Supervisor.start_link([child(partial(forever_with, token=SECRET))], name="secretive")
    actors.register("main")
    await actors.receive("stop")


async def forever_with(**kwargs: Any) -> None:
    await forever()


async def test_a_remote_supervisors_state_names_child_specs_without_their_arguments(
    redis_url: str,
) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, holds_a_secret_in_a_child_spec)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            with trio.fail_after(10):
                rows = await ll.inspect("b", "process_rows")
                (sup,) = [row["pid"] for row in rows if row["name"] == "secretive"]
                state = await ll.inspect("b", "get_state", sup)
                also = await actors.get_state(("secretive", "b"))
            actors.send(("main", "b"), "stop")
        nursery.cancel_scope.cancel()
    for shown in (state, also):
        (record,) = shown["children"]
        assert SECRET not in repr(shown)
        assert f"child({__name__}.forever_with, id=" in record


async def test_subscribe_and_watch_asked_from_another_node(redis_url: str) -> None:
    async with trio.open_nursery() as nursery:
        await start_node(nursery, "b", redis_url, servers_node)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            with trio.fail_after(10):
                await ll.inspect("b", "subscribe", actors.self())
                actors.send(("worker", "b"), "crash")
                _, _, exited = await assert_receive(("actors_event", "exit", ANY), timeout=5)
                assert exited["reason"] == "RuntimeError('worker crashed')"
                assert exited["pid"].node == "b"
                _, _, restart = await assert_receive(("actors_event", "restart", ANY), timeout=5)
                assert restart["old"] == exited["pid"]
                assert restart["id"] == "w"
                [tree] = await ll.inspect("b", "supervision_trees")
                assert tree["children"][0]["restarts"] == 1
                assert tree["children"][0]["pid"] == restart["new"]
                await ll.inspect("b", "unsubscribe", actors.self())
                actors.send(("worker", "b"), "crash")
                await ll.inspect("b", "node_info")  # after b has handled the crash
                await refute_receive(("actors_event", ANY, ANY), timeout=0.3)

                async def busy_rows() -> list[Any]:
                    rows = await ll.inspect("b", "process_rows")
                    return [row["runtime"] for row in rows if row["name"] == "$inspect"]

                assert await busy_rows() == [None]
                await ll.inspect("b", "watch", True)
                await ll.inspect("b", "node_info")
                [runtime] = await busy_rows()
                assert runtime is not None
                assert runtime > 0
                await ll.inspect("b", "watch", False)
                [stopped] = await busy_rows()
                assert await busy_rows() == [stopped]  # no longer counted
            actors.send(("main", "b"), "stop")
        nursery.cancel_scope.cancel()


async def test_a_remote_subscriber_that_dies_is_forgotten(redis_url: str) -> None:
    async def subscriber_node() -> None:
        actors.register("main")
        while True:
            match await actors.receive():
                case ("subscribe", parent):

                    async def listener() -> None:
                        await actors.receive("never")

                    pid = actors.spawn(listener)
                    await ll.inspect("b", "subscribe", pid)
                    actors.send(parent, ("listener", pid))
                case ("kill", pid):
                    actors.exit(pid, "kill")
                case "stop":
                    return

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "c", redis_url, subscriber_node)
        async with actors.node(name="b", cluster=redis_url, cookie=COOKIE, **FAST) as node:
            with trio.fail_after(10):
                actors.send(("main", "c"), ("subscribe", actors.self()))
                _, listener = await assert_receive(("listener", ANY), timeout=5)
                assert listener in node.observed.subscribers
                actors.send(("main", "c"), ("kill", listener))
                while listener in node.observed.subscribers:  # "$inspect" gets the Down
                    await ll.inspect("b", "node_info")
                    await trio.sleep(0.01)
            actors.send(("main", "c"), "stop")
        nursery.cancel_scope.cancel()


async def test_a_hidden_node_is_not_in_the_others_nodes_but_sees_them(redis_url: str) -> None:
    async def observer_node(parent_node: str) -> None:
        actors.register("main")
        assert ll.node_info()["hidden"] is True
        while True:
            match await actors.receive():
                case ("ask", sender):
                    info = await ll.inspect(parent_node, "node_info")
                    state = await actors.get_state(("counter", parent_node))
                    actors.send(sender, ("seen", actors.nodes(), info["node"], state["count"]))
                case "stop":
                    return

    async with trio.open_nursery() as nursery:
        await start_node(nursery, "visible", redis_url, servers_node)
        await start_node(nursery, "observer", redis_url, observer_node, "visible", hidden=True)
        async with actors.node(name="a", cluster=redis_url, cookie=COOKIE, **FAST):
            with trio.fail_after(10):
                assert ll.node_info()["hidden"] is False
                actors.send(("main", "observer"), ("ask", actors.self()))
                _, seen, answered_by, count = await assert_receive(("seen", ANY, ANY, ANY), 5)
                assert sorted(seen) == ["a", "visible"]
                assert (answered_by, count) == ("visible", 0)
                # the observer has talked to every node: still no one lists it
                for _ in range(5):  # across heartbeats (0.1 s)
                    assert sorted(actors.nodes()) == ["visible"]
                    await trio.sleep(0.1)
                assert (await ll.inspect("visible", "node_info"))["node"] == "visible"
                actors.send(("main", "visible"), ("nodes", actors.self()))
                assert await assert_receive(("nodes", ANY)) == ("nodes", ["a"])
                # it can still be reached by name, as any node
                info = await ll.inspect("observer", "node_info")
                assert info["hidden"] is True
            actors.send(("main", "observer"), "stop")
            actors.send(("main", "visible"), "stop")
        nursery.cancel_scope.cancel()
