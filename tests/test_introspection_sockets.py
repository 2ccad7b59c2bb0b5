"""What httpserver and websocket register for the observer page: the
node's "http_connections" and "websockets" counts and the "websockets"
probe, on real connections over 127.0.0.1."""

from __future__ import annotations

from typing import Any

import h11
import trio
import trio.testing

import actors
import actors.lowlevel as ll
from actors import ANY
from actors.testing import assert_receive, wait_exit
from tests.http_helpers import exchange, http_server, open_stream
from tests.ws_helpers import open_ws


async def hello(req: Any) -> None:
    await req.ok("hello")


def connection_pids() -> list[actors.Pid]:
    return [
        row["pid"]
        for row in ll.process_rows()
        if row["current_function"].endswith("connection_main")
    ]


async def test_http_connections_counts_an_open_keep_alive_connection() -> None:
    async with actors.node(), http_server(loop=hello) as port:
        assert ll.node_info()["stats"] == {"http_connections": 0}
        with trio.fail_after(10):
            stream = await open_stream(port)
            async with stream:
                response, client = await exchange(stream)
                assert response.status == 200
                assert client.our_state is h11.DONE  # kept alive, idle between requests
                [conn] = connection_pids()
                assert ll.node_info()["stats"]["http_connections"] == 1
                response, _ = await exchange(stream, client=client)  # the same connection
                assert connection_pids() == [conn]
                assert ll.node_info()["stats"]["http_connections"] == 1
            await wait_exit(conn)
            assert ll.node_info()["stats"]["http_connections"] == 0


async def holding(ws: Any) -> None:
    """Tells "test" its Pid, then leaves the browser's messages waiting
    until told to flood the socket with more than the peer reads."""
    actors.send("test", ("ws", actors.self()))
    await actors.receive("flood")
    chunk = b"x" * 65536
    for _ in range(1000):  # until the kernel takes no more and the writer queues
        ws.send(chunk)
        if ws.queued:
            break
    actors.send("test", ("flooded", ws.queued))
    await actors.receive("never")


async def test_websocket_probe_rows_show_queued_bytes_and_pending_messages() -> None:
    async with actors.node(), http_server(loop=hello, ws_loop=holding) as port:
        actors.register("test")
        assert ll.probe("websockets") == []
        assert ll.node_info()["stats"] == {"http_connections": 0, "websockets": 0}
        with trio.fail_after(10):
            async with open_ws(port, "/room") as plain, open_ws(port, "/zip", deflate=True):
                _, first = await assert_receive(("ws", ANY))
                _, second = await assert_receive(("ws", ANY))
                for text in ("a", "b", "c"):
                    await plain.send(text)
                rows = {row["path"]: row for row in ll.probe("websockets")}
                while rows["/room"]["pending"] < 3:  # the reader delivers them
                    await trio.testing.wait_all_tasks_blocked()
                    rows = {row["path"]: row for row in ll.probe("websockets")}
                room, zipped = rows["/room"], rows["/zip"]
                assert room["pending"] == 3
                assert room["handler"] in (first, second)
                assert room["compression"] is False
                assert zipped["compression"] is True
                assert room["peer"].startswith("127.0.0.1:")
                local_port = plain.stream.socket.getsockname()[1]  # type: ignore[attr-defined]
                assert room["peer"] == f"127.0.0.1:{local_port}"
                assert room["queued_bytes"] == 0
                assert room["writer"] != room["handler"]
                assert ll.node_info()["stats"] == {"http_connections": 2, "websockets": 2}

                actors.send(room["handler"], "flood")  # the client reads nothing meanwhile
                _, queued = await assert_receive(("flooded", ANY), timeout=5)
                assert queued > 0
                [room] = [row for row in ll.probe("websockets") if row["path"] == "/room"]
                assert room["queued_bytes"] == queued
                assert room in await ll.inspect(actors.node_name(), "probe", "websockets")


async def test_two_nodes_in_one_os_process_each_count_their_own_servers_and_sockets() -> None:
    """A layer's tables (servers, sockets, observers) belong to the node,
    not to a module: two nodes of one OS process (both "nonode@nohost")
    do not see each other's."""

    async def echo(ws: Any) -> None:
        while True:
            match await actors.receive():
                case ("browser", data):
                    ws.send(data)

    counted: dict[str, Any] = {}
    second_ready = trio.Event()
    done = trio.Event()

    async def second_node() -> None:
        async with (
            actors.node(),
            http_server(loop=hello, ws_loop=echo) as port,
            open_ws(port) as ws,
        ):
            await ws.send("hi")
            assert await ws.receive() == "hi"
            counted["second"] = ll.node_info()["stats"]
            second_ready.set()
            await done.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second_node)
        with trio.fail_after(10):
            await second_ready.wait()
        async with actors.node(), http_server(loop=hello) as port:
            stream = await open_stream(port)
            async with stream:
                await exchange(stream)
                counted["first"] = ll.node_info()["stats"]
        done.set()
    assert counted["first"] == {"http_connections": 1}  # its own connection, not the other's
    assert counted["second"] == {"http_connections": 1, "websockets": 1}
