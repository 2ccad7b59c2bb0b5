"""A public call that needs a process, made outside one, says which call it
was: the one the user wrote, never a helper it uses inside (`spawn_link`,
not `spawn`; `websocket.broadcast`, not `actors.lowlevel.group_nodes`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import actors
import actors.lowlevel
import actors.testing
import httpserver
import websocket


async def body() -> None:
    pass


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("hi")


class Counter(actors.GenServer):
    def init(self) -> None:
        self.count = 0


class Door(actors.GenStatem):
    def init(self) -> tuple[str, None]:
        return "locked", None


PID: Any = None  # no process is needed to name one: the call fails first
CALLS: dict[str, Callable[[], Any]] = {
    "actors.spawn": lambda: actors.spawn(body),
    "actors.spawn_link": lambda: actors.spawn_link(body),
    "actors.spawn_monitor": lambda: actors.spawn_monitor(body),
    "actors.self": lambda: actors.self(),
    "actors.send": lambda: actors.send("db", "hello"),
    "actors.receive": lambda: actors.receive(timeout=0),
    "actors.link": lambda: actors.link(PID),
    "actors.unlink": lambda: actors.unlink(PID),
    "actors.monitor": lambda: actors.monitor("db"),
    "actors.demonitor": lambda: actors.demonitor(PID),
    "actors.exit": lambda: actors.exit(PID, "kill"),
    "actors.trap_exits": lambda: actors.trap_exits(),
    "actors.register": lambda: actors.register("db"),
    "actors.unregister": lambda: actors.unregister("db"),
    "actors.whereis": lambda: actors.whereis("db"),
    "actors.registered": lambda: actors.registered(),
    "actors.join": lambda: actors.join("room"),
    "actors.leave": lambda: actors.leave("room"),
    "actors.members": lambda: actors.members("room"),
    "actors.processes": lambda: actors.processes(),
    "actors.call": lambda: actors.call("db", "get"),
    "actors.cast": lambda: actors.cast("db", "get"),
    "Counter.start": lambda: Counter.start(),
    "Counter.start_link": lambda: Counter.start_link(),
    "Door.start": lambda: Door.start(),
    "Door.start_link": lambda: Door.start_link(),
    "Supervisor.start": lambda: actors.Supervisor.start([]),
    "Supervisor.start_link": lambda: actors.Supervisor.start_link([]),
    "actors.start_child": lambda: actors.start_child("sup"),
    "actors.terminate_child": lambda: actors.terminate_child("sup", "a"),
    "actors.restart_child": lambda: actors.restart_child("sup", "a"),
    "actors.delete_child": lambda: actors.delete_child("sup", "a"),
    "actors.which_children": lambda: actors.which_children("sup"),
    "actors.count_children": lambda: actors.count_children("sup"),
    "actors.node_name": lambda: actors.node_name(),
    "actors.nodes": lambda: actors.nodes(),
    "actors.monitor_node": lambda: actors.monitor_node("b"),
    "actors.register_global": lambda: actors.register_global("db"),
    "actors.unregister_global": lambda: actors.unregister_global("db"),
    "actors.whereis_global": lambda: actors.whereis_global("db"),
    "actors.testing.assert_receive": lambda: actors.testing.assert_receive(),
    "actors.testing.refute_receive": lambda: actors.testing.refute_receive(),
    "actors.testing.wait_exit": lambda: actors.testing.wait_exit("db"),
    "actors.testing.wait_node": lambda: actors.testing.wait_node("b"),
    "actors.testing.drain": lambda: actors.testing.drain(),
    "actors.testing.forever": lambda: actors.testing.forever(),
    "actors.lowlevel.in_cluster": lambda: actors.lowlevel.in_cluster(),
    "actors.lowlevel.cluster_settings": lambda: actors.lowlevel.cluster_settings(),
    "actors.lowlevel.sync_cluster": lambda: actors.lowlevel.sync_cluster(),
    "actors.lowlevel.group_nodes": lambda: actors.lowlevel.group_nodes("room"),
    "actors.lowlevel.cluster_peers": lambda: actors.lowlevel.cluster_peers(),
    "actors.get_state": lambda: actors.get_state("db"),
    "actors.lowlevel.node_info": lambda: actors.lowlevel.node_info(),
    "actors.lowlevel.add_stat": lambda: actors.lowlevel.add_stat("s", lambda: 0),
    "actors.lowlevel.add_probe": lambda: actors.lowlevel.add_probe("p", list),
    "actors.lowlevel.probe": lambda: actors.lowlevel.probe("p"),
    "actors.lowlevel.process_rows": lambda: actors.lowlevel.process_rows(),
    "actors.lowlevel.supervision_trees": lambda: actors.lowlevel.supervision_trees(),
    "actors.lowlevel.subscribe": lambda: actors.lowlevel.subscribe(),
    "actors.lowlevel.unsubscribe": lambda: actors.lowlevel.unsubscribe(),
    "actors.lowlevel.inspect": lambda: actors.lowlevel.inspect("b", "node_info"),
    "actors.lowlevel.spawn_system": lambda: actors.lowlevel.spawn_system(actors.receive),
    "actors.lowlevel.NodeVar.get": lambda: actors.lowlevel.NodeVar("v").get(),
    "actors.lowlevel.NodeVar.set": lambda: actors.lowlevel.NodeVar[int]("v").set(1),
    "websocket.broadcast": lambda: websocket.broadcast("room", "hello"),
    "websocket.broadcast ": lambda: websocket.broadcast([], "hello"),  # a list of Ws
    "httpserver.start": lambda: httpserver.start(port=0, loop=handle_http),
    "httpserver.start_link": lambda: httpserver.start_link(port=0, loop=handle_http),
    "httpserver.stop": lambda: httpserver.stop("web"),
    "httpserver.info": lambda: httpserver.info("web"),
    "httpserver.port": lambda: httpserver.port("web"),
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_call_outside_a_process_names_itself(name: str) -> None:
    """In trio (this test's task), but in no node."""
    with pytest.raises(actors.NotInProcess) as caught:
        result = CALLS[name]()
        if inspect.isawaitable(result):
            await result
    assert str(caught.value).startswith(f"{name.strip()}() must be called from a process")
