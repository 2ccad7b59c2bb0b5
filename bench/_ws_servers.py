"""The servers of the WebSocket benches (bench/ws_bench.py, bench/ws_c50k.py), one per process:

    python -m bench._ws_servers MODE --port N [--messages M] [--sockets S]

MODE is KIND-WORKLOAD. The broadcast workload: each socket's handler says
"ready" once the socket is in the server's group, and answers "go" with M
broadcasts (default 100) of one message to the whole group, with the
library's own broadcast where it has one (ours: websocket.broadcast to a
process group; websockets: websockets.broadcast), else a send to each socket
in turn. The echo workload (the anchors'; ours is bench/_ws_echo.py and the
bare one bench/baselines/wsproto_echo.py) sends every message back.

S is how many sockets the server must hold: its RLIMIT_NOFILE is raised to
fit them (the hard limit too, where the process may: as root with
CAP_SYS_RESOURCE), and ours gets max_connections to match. Every server
runs with its library's defaults otherwise, and no compression.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
from functools import partial
from typing import Literal, cast

import trio
import trio_websocket
from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import broadcast as websockets_broadcast
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.utilities import RemoteProtocolError

import actors
import httpserver
import websocket

HOST = "127.0.0.1"
READY = "ready"  # what a broadcast server sends a socket once it has it in its group
GO = "go"
BROADCAST_MESSAGE = "trio-misultin broadcast message"
GROUP = "ws_bench"
FD_RESERVE = 256  # descriptors beyond the sockets' (listeners, epoll sets, the interpreter)
MODES = (
    "ours-websockets-broadcast",
    "ours-wsproto-broadcast",
    "aiohttp-echo",
    "aiohttp-broadcast",
    "bare-broadcast",
    "trio_websocket-echo",
    "trio_websocket-broadcast",
    "websockets-echo",
    "websockets-broadcast",
)


def fd_limit_for(sockets: int) -> int:
    """The RLIMIT_NOFILE a server (or the client) needs for `sockets`, at one
    descriptor each."""
    return sockets + FD_RESERVE


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE to `wanted`, as far as this process may; the soft
    limit in force after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # not root: up to the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, hard), max(wanted, hard)))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


# -- ours -------------------------------------------------------------------------------


async def ours_member(messages: int, ws: websocket.Ws) -> None:
    actors.join(GROUP)
    ws.send(READY)
    while True:
        match await actors.receive():
            case ("browser", "go"):
                for _ in range(messages):
                    websocket.broadcast(GROUP, BROADCAST_MESSAGE)
            case "closed":
                return
            case _:
                pass


async def no_http(req: httpserver.Req) -> None:
    raise httpserver.HttpError(404)


WsKind = Literal["auto", "wsproto", "websockets"]


async def serve_ours_async(port: int, ws: WsKind, messages: int, sockets: int) -> None:
    httpserver.start_link(
        ip=HOST,
        port=port,
        loop=no_http,
        ws_loop=partial(ours_member, messages),
        ws_compress=False,
        max_connections=sockets + 100,
        ws=ws,
    )
    await actors.receive()  # until interrupted


def serve_ours(port: int, ws: WsKind, messages: int, sockets: int) -> None:
    # Started from a shell's background job, SIGINT may be inherited as
    # ignored; make it KeyboardInterrupt again so trio handles it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(serve_ours_async, port, ws, messages, sockets)


# -- bare trio + wsproto ----------------------------------------------------------------


class BareSocket:
    """A server-side socket of the bare broadcast server: its wsproto state
    and a lock, since its own task and the broadcasting one both send."""

    __slots__ = ("lock", "stream", "ws")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.lock = trio.Lock()

    async def send(self, data: bytes) -> None:
        async with self.lock:
            await self.stream.send_all(data)


async def bare_member(group: set[BareSocket], messages: int, stream: trio.SocketStream) -> None:
    """bench/baselines/wsproto_echo.py's loop, answering "go" by sending to
    every socket of the group in turn instead of echoing."""
    sock = BareSocket(stream)
    ws = sock.ws
    try:
        while True:
            data = await stream.receive_some(65536)
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, TextMessage) and event.data == GO:
                    for _ in range(messages):
                        for member in list(group):
                            frame = member.ws.send(TextMessage(data=BROADCAST_MESSAGE))
                            with contextlib.suppress(trio.BrokenResourceError):
                                await member.send(frame)
                elif isinstance(event, Request):
                    await sock.send(ws.send(AcceptConnection()))
                    group.add(sock)
                    await sock.send(ws.send(TextMessage(data=READY)))
                elif isinstance(event, Ping):
                    await sock.send(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        await sock.send(ws.send(event.response()))
                    return
            if not data:
                return
    except (RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        group.discard(sock)
        await stream.aclose()


def serve_bare(port: int, messages: int) -> None:
    group: set[BareSocket] = set()
    trio.run(partial(trio.serve_tcp, partial(bare_member, group, messages), port, host=HOST))


# -- trio-websocket ---------------------------------------------------------------------


async def trio_websocket_echo(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(trio_websocket.ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


async def trio_websocket_member(
    group: set[trio_websocket.WebSocketConnection],
    messages: int,
    request: trio_websocket.WebSocketRequest,
) -> None:
    ws = await request.accept()
    group.add(ws)
    try:
        await ws.send_message(READY)
        while True:
            if await ws.get_message() == GO:
                for _ in range(messages):
                    for member in list(group):
                        with contextlib.suppress(trio_websocket.ConnectionClosed):
                            await member.send_message(BROADCAST_MESSAGE)
    except trio_websocket.ConnectionClosed:
        return
    finally:
        group.discard(ws)


def serve_trio_websocket(port: int, broadcast: bool, messages: int) -> None:
    group: set[trio_websocket.WebSocketConnection] = set()
    handler = partial(trio_websocket_member, group, messages) if broadcast else trio_websocket_echo
    trio.run(partial(trio_websocket.serve_websocket, handler, HOST, port, None))


# -- websockets (asyncio) ---------------------------------------------------------------


async def websockets_echo(conn: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in conn:
            await conn.send(message)


async def websockets_member(
    group: set[ServerConnection], messages: int, conn: ServerConnection
) -> None:
    group.add(conn)
    try:
        await conn.send(READY)
        async for message in conn:
            if message == GO:
                for _ in range(messages):
                    websockets_broadcast(group, BROADCAST_MESSAGE)
    except ConnectionClosed:
        return
    finally:
        group.discard(conn)


async def serve_websockets_async(port: int, broadcast: bool, messages: int) -> None:
    group: set[ServerConnection] = set()
    handler = partial(websockets_member, group, messages) if broadcast else websockets_echo
    async with websockets_serve(handler, HOST, port, compression=None) as server:
        await server.serve_forever()


# -- aiohttp ----------------------------------------------------------------------------


async def aiohttp_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def aiohttp_member(
    group: set[web.WebSocketResponse], messages: int, request: web.Request
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    group.add(ws)
    try:
        await ws.send_str(READY)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and msg.data == GO:
                for _ in range(messages):
                    for member in list(group):
                        with contextlib.suppress(ConnectionError):
                            await member.send_str(BROADCAST_MESSAGE)
    finally:
        group.discard(ws)
    return ws


def serve_aiohttp(port: int, broadcast: bool, messages: int) -> None:
    group: set[web.WebSocketResponse] = set()
    app = web.Application()
    handler = partial(aiohttp_member, group, messages) if broadcast else aiohttp_echo
    app.router.add_get("/", handler)
    web.run_app(app, host=HOST, port=port, print=None, backlog=2048)


def serve(mode: str, port: int, messages: int, sockets: int) -> None:
    """Run the server `mode` until interrupted."""
    kind, _, workload = mode.rpartition("-")
    broadcast = workload == "broadcast"
    raise_fd_limit(fd_limit_for(sockets))  # (httpserver counts one fd per WebSocket)
    ours = kind.removeprefix("ours-")
    if kind.startswith("ours-") and broadcast and ours in ("auto", "wsproto", "websockets"):
        serve_ours(port, cast("WsKind", ours), messages, sockets)
    elif kind == "bare" and broadcast:
        serve_bare(port, messages)
    elif kind == "trio_websocket":
        serve_trio_websocket(port, broadcast, messages)
    elif kind == "websockets":
        asyncio.run(serve_websockets_async(port, broadcast, messages))
    elif kind == "aiohttp":
        serve_aiohttp(port, broadcast, messages)
    else:
        raise ValueError(f"unknown server mode {mode!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=100, help="broadcasts per go")
    parser.add_argument("--sockets", type=int, default=10_000, help="sockets to hold")
    args = parser.parse_args()
    serve(args.mode, args.port, args.messages, args.sockets)


if __name__ == "__main__":
    main()
