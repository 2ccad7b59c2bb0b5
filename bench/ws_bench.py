"""Benchmark of the WebSocket server: echo, idle sockets and broadcast, beside four anchors.

    python -m bench.ws_bench [--json] [--duration S] [--rounds N]

What is measured, each for our server and for every anchor in the same run:
  echo       messages/s and the 99th percentile latency (ms) with 1 socket
             and with 50: each socket sends a short text message and waits
             for its echo before sending the next (a closed loop), for
             `--duration` seconds after a one-second warm-up.
  idle       5,000 sockets opened (at most 50 handshakes in flight): the
             handshakes/s until the last 101, and the server's memory per
             socket: its VmRSS (/proc/<pid>/status) once every socket is open
             and its handler has said "ready", minus before, over 5,000.
  broadcast  1,000 sockets open; one of them sends "go" and the server sends
             100 messages to all of them: deliveries/s is 100,000 over the
             time until the client has received them all (one warm-up burst,
             then three counted). The client can be the limit here, so the
             figure compared is the server's CPU seconds per million
             deliveries (lower is better), read from /proc around the four
             bursts alone (the client waits between opening and the bursts).

The servers, each in its own subprocess on 127.0.0.1 and a free port:
  ours-websockets, ours-wsproto
                  ours, with each protocol backend (the `ws` option). echo:
                  bench/_ws_echo.py (examples.websocket_echo's handler, --ws).
                  idle and broadcast: `python -m bench.ws_bench --serve
                  ours-websockets-broadcast --port N`, whose handlers join a
                  process group and answer "go" with 100 calls of
                  websocket.broadcast(group, message); it sets
                  max_connections=10,000 (the example keeps the default
                  4,096, too few for 5,000 sockets). Every figure compares
                  each of the two with every anchor.
  bare            echo: bench/baselines/wsproto_echo.py, a bare trio + wsproto
                  loop. idle and broadcast: `--serve bare-broadcast`, the same
                  loop keeping a set of sockets and sending to each in turn.
  trio_websocket  trio_websocket.serve_websocket (`--serve trio_websocket-echo`
                  and `--serve trio_websocket-broadcast`: send_message to each
                  socket of a set in turn).
  websockets      the websockets library's asyncio server,
                  websockets.asyncio.server.serve (`--serve websockets-echo`
                  and `--serve websockets-broadcast`, with websockets.broadcast).
  aiohttp         aiohttp.web's WebSocketResponse (`--serve aiohttp-echo` and
                  `--serve aiohttp-broadcast`: send_str to each socket of a set
                  in turn), compression off.
Every server runs with its library's defaults otherwise; no compression
(the client does not offer permessage-deflate).

How: the load client is bench/ws_client/client.js, on Node.js and its `ws`
package (a Python client would be the bottleneck); install it with
`npm ci --prefix bench/ws_client`: without node or it, this script says so
and exits with status 2. The server under test is pinned to one CPU and the
client to another (`taskset -c`); the client reports its CPU share (its
user+system CPU seconds over the wall seconds of the measured window, from
process.cpuUsage), and near 1.0 it, not the server, was the limit; beside
it, the server's share (/proc/<pid>/stat) over the client's whole run. Runs
where the client's share reached 0.9 are flagged client-bound: there the
figure is a lower bound for that server (one Node process on one CPU takes
about 150,000 messages/s here, which our broadcast reaches). The
servers are interleaved round by round (`--rounds`, the order rotating),
each started afresh and checked by hand first; figures are medians over
rounds. Throughput ratios are ours/anchor (higher is better); latency and
memory ratios are ours/anchor (lower is better). Loopback only; with the
defaults a run takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import trio
import trio_websocket
from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import broadcast as websockets_broadcast
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import connect as sync_connect
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.utilities import RemoteProtocolError

import actors
import httpserver
import websocket
from bench._harness import (
    HOST,
    STOP_TIMEOUT,
    Placement,
    PlacementNotes,
    Server,
    figure,
    note,
    placement,
    print_figures,
    serving,
)

REPO = Path(__file__).resolve().parent.parent
CLIENT_DIR = REPO / "bench" / "ws_client"
CLIENT_JS = CLIENT_DIR / "client.js"
OURS = ("ours-websockets", "ours-wsproto")
SERVERS = (*OURS, "bare", "trio_websocket", "websockets", "aiohttp")
ANCHORS = SERVERS[2:]
ECHO_SOCKETS = (1, 50)
IDLE_SOCKETS = 5_000
BROADCAST_SOCKETS = 1_000
BROADCAST_MESSAGES = 100
BROADCAST_BURSTS = 3  # counted, after one warm-up burst
OPEN_CONCURRENCY = 50  # handshakes in flight; under every server's listen backlog
WARMUP_SECONDS = 1
READY = "ready"  # what a broadcast server sends a socket once it has it in its group
GO = "go"
BROADCAST_MESSAGE = "trio-misultin broadcast message"
PLACEMENT_NOTES = PlacementNotes(
    one_cpu="only one CPU ({cpus}): servers and client run unpinned",
    no_taskset="taskset is missing: servers and client run unpinned",
    pinned="each server pinned to CPU {server}, the client to CPU {client}",
)
CLIENT_TIMEOUT = 90.0  # seconds any one client run may take, beyond its duration
GROUP = "ws_bench"

# -- the broadcast servers (and the anchors' echo servers), run with --serve ---------


async def ours_member(ws: websocket.Ws) -> None:
    actors.join(GROUP)
    ws.send(READY)
    while True:
        match await actors.receive():
            case ("browser", "go"):
                for _ in range(BROADCAST_MESSAGES):
                    websocket.broadcast(GROUP, BROADCAST_MESSAGE)
            case "closed":
                return
            case _:
                pass


async def no_http(req: httpserver.Req) -> None:
    raise httpserver.HttpError(404)


async def serve_ours_broadcast_async(
    port: int, ws: Literal["auto", "wsproto", "websockets"]
) -> None:
    httpserver.start_link(
        ip=HOST,
        port=port,
        loop=no_http,
        ws_loop=ours_member,
        ws_compress=False,
        max_connections=2 * IDLE_SOCKETS,
        ws=ws,
    )
    await actors.receive()  # until interrupted


def serve_ours_broadcast(port: int, ws: str) -> None:
    # Started from a shell's background job, SIGINT may be inherited as
    # ignored; make it KeyboardInterrupt again so trio handles it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(serve_ours_broadcast_async, port, ws)


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


async def bare_member(group: set[BareSocket], stream: trio.SocketStream) -> None:
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
                    for _ in range(BROADCAST_MESSAGES):
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


def serve_bare_broadcast(port: int) -> None:
    group: set[BareSocket] = set()
    trio.run(partial(trio.serve_tcp, partial(bare_member, group), port, host=HOST))


async def trio_websocket_echo(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(trio_websocket.ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


async def trio_websocket_member(
    group: set[trio_websocket.WebSocketConnection], request: trio_websocket.WebSocketRequest
) -> None:
    ws = await request.accept()
    group.add(ws)
    try:
        await ws.send_message(READY)
        while True:
            if await ws.get_message() == GO:
                for _ in range(BROADCAST_MESSAGES):
                    for member in list(group):
                        with contextlib.suppress(trio_websocket.ConnectionClosed):
                            await member.send_message(BROADCAST_MESSAGE)
    except trio_websocket.ConnectionClosed:
        return
    finally:
        group.discard(ws)


def serve_trio_websocket(port: int, broadcast: bool) -> None:
    group: set[trio_websocket.WebSocketConnection] = set()
    handler = partial(trio_websocket_member, group) if broadcast else trio_websocket_echo
    trio.run(partial(trio_websocket.serve_websocket, handler, HOST, port, None))


async def websockets_echo(conn: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in conn:
            await conn.send(message)


async def websockets_member(group: set[ServerConnection], conn: ServerConnection) -> None:
    group.add(conn)
    try:
        await conn.send(READY)
        async for message in conn:
            if message == GO:
                for _ in range(BROADCAST_MESSAGES):
                    websockets_broadcast(group, BROADCAST_MESSAGE)
    except ConnectionClosed:
        return
    finally:
        group.discard(conn)


async def serve_websockets_async(port: int, broadcast: bool) -> None:
    group: set[ServerConnection] = set()
    handler = partial(websockets_member, group) if broadcast else websockets_echo
    async with websockets_serve(handler, HOST, port, compression=None) as server:
        await server.serve_forever()


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
    group: set[web.WebSocketResponse], request: web.Request
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    group.add(ws)
    try:
        await ws.send_str(READY)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and msg.data == GO:
                for _ in range(BROADCAST_MESSAGES):
                    for member in list(group):
                        with contextlib.suppress(ConnectionError):
                            await member.send_str(BROADCAST_MESSAGE)
    finally:
        group.discard(ws)
    return ws


def serve_aiohttp(port: int, broadcast: bool) -> None:
    group: set[web.WebSocketResponse] = set()
    app = web.Application()
    app.router.add_get("/", partial(aiohttp_member, group) if broadcast else aiohttp_echo)
    web.run_app(app, host=HOST, port=port, print=None, backlog=2048)


def serve(mode: str, port: int) -> None:
    kind, _, workload = mode.rpartition("-")
    broadcast = workload == "broadcast"
    if kind in OURS and broadcast:
        serve_ours_broadcast(port, kind.removeprefix("ours-"))
    elif kind == "bare" and broadcast:
        serve_bare_broadcast(port)
    elif kind == "trio_websocket":
        serve_trio_websocket(port, broadcast)
    elif kind == "websockets":
        asyncio.run(serve_websockets_async(port, broadcast))
    elif kind == "aiohttp":
        serve_aiohttp(port, broadcast)
    else:
        raise ValueError(f"unknown server mode {mode!r}")


SERVE_MODES = (
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

# -- starting and stopping servers ----------------------------------------------------


def server_command(kind: str, workload: str, port: int) -> list[str]:
    python = sys.executable
    if kind in OURS and workload == "echo":
        ws = kind.removeprefix("ours-")
        return [python, "-m", "bench._ws_echo", "--port", str(port), "--ws", ws]
    if kind == "bare" and workload == "echo":
        return [python, "-m", "bench.baselines.wsproto_echo", "--port", str(port)]
    return [python, "-m", "bench.ws_bench", "--serve", f"{kind}-{workload}", "--port", str(port)]


def check_answer(server: Server) -> None:
    """One socket by hand: the workload must be what we think it is. An echo
    server echoes; a broadcast server says "ready", then answers "go" with
    BROADCAST_MESSAGES messages (to its only socket)."""
    url = f"ws://{HOST}:{server.port}/"
    try:
        with sync_connect(url, open_timeout=5, close_timeout=5, compression=None) as ws:
            if server.workload == "echo":
                ws.send("check")
                answers = [ws.recv(timeout=5)]
                expected = ["check"]
            else:
                answers = [ws.recv(timeout=5)]
                ws.send(GO)
                answers += [ws.recv(timeout=5) for _ in range(BROADCAST_MESSAGES)]
                expected = [READY] + [BROADCAST_MESSAGE] * BROADCAST_MESSAGES
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise RuntimeError(
            f"server {server.name} failed a first socket: {exc!r}; "
            f"its stderr begins:\n{server.stderr_head()}"
        ) from exc
    if answers != expected:
        raise RuntimeError(f"server {server.name} answered {answers[:3]!r}")


@contextlib.contextmanager
def running(kind: str, workload: str, where: Placement, workdir: Path) -> Iterator[Server]:
    command = partial(server_command, kind, workload)
    # SIGINT for ours (trio turns it into KeyboardInterrupt: a clean
    # shutdown), SIGTERM for the anchors. SIGINT is reset to its default in
    # the child: examples.websocket_echo does not do it itself.
    stop_signal = signal.SIGINT if kind in OURS else signal.SIGTERM
    with serving(
        where, kind, command, workdir, stop_signal, workload=workload, cwd=REPO, reset_sigint=True
    ) as server:
        check_answer(server)
        yield server


# -- the client -----------------------------------------------------------------------


def client_missing() -> str | None:
    """The command that installs what the client needs, if anything is missing."""
    if shutil.which("node") is None:
        return "apt-get install nodejs npm"
    if not (CLIENT_DIR / "node_modules" / "ws" / "package.json").is_file():
        return f"npm ci --prefix {CLIENT_DIR}"
    return None


def read_json_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> dict[str, Any]:
    """The client's next line of output as JSON, within `timeout` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"the client ({what}) printed nothing within {timeout:.0f} s")
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\n", 1)[0]
    if not line:
        raise RuntimeError(f"the client ({what}) exited with status {proc.wait()} saying nothing")
    result: dict[str, Any] = json.loads(line)
    if "error" in result:
        raise RuntimeError(f"the client ({what}) failed: {result['error']}")
    return result


@contextlib.contextmanager
def client(
    where: Placement, workdir: Path, server: Server, mode: str, *options: object
) -> Iterator[subprocess.Popen[bytes]]:
    """The client process, stopped by its handle on the way out."""
    command = [
        *where.client,
        *("node", str(CLIENT_JS), mode, "--url", f"ws://{HOST}:{server.port}/"),
        *(str(option) for option in options),
    ]
    with (workdir / f"client-{server.kind}-{mode}.stderr").open("ab") as stderr:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0
        )
    try:
        yield proc
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.poll() is None:
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def read_result(
    proc: subprocess.Popen[bytes], server: Server, timeout: float, what: str
) -> dict[str, Any]:
    """The client's result line, with the server's CPU share from now until
    it came (the client's whole run so far: start, connect, warm-up, work)."""
    start, cpu = time.monotonic(), server.cpu_seconds()
    result = read_json_line(proc, timeout, what)
    server.check_alive()
    result["server_cpu_share"] = (server.cpu_seconds() - cpu) / (time.monotonic() - start)
    return result


def run_echo(
    where: Placement, workdir: Path, server: Server, sockets: int, duration: float
) -> dict[str, Any]:
    options = ("--sockets", sockets, "--duration", duration, "--warmup", WARMUP_SECONDS)
    with client(where, workdir, server, "echo", *options, "--concurrency", OPEN_CONCURRENCY) as p:
        return read_result(
            p, server, duration + CLIENT_TIMEOUT, f"echo c{sockets} on {server.kind}"
        )


def run_idle(where: Placement, workdir: Path, server: Server) -> dict[str, Any]:
    """Open IDLE_SOCKETS and read the server's memory while they are all open."""
    time.sleep(0.2)  # let the server settle after the check
    before = server.vm_rss()
    options = ("--sockets", IDLE_SOCKETS, "--concurrency", OPEN_CONCURRENCY)
    with client(where, workdir, server, "idle", *options, "--timeout", CLIENT_TIMEOUT) as proc:
        result = read_result(proc, server, CLIENT_TIMEOUT, f"idle on {server.kind}")
        result["bytes_per_socket"] = (server.vm_rss() - before) / IDLE_SOCKETS
    return result  # the client closes its sockets once its stdin is closed


def run_broadcast(where: Placement, workdir: Path, server: Server) -> dict[str, Any]:
    """The bursts, and the server's CPU seconds per million deliveries over
    them alone: the client says when every socket is open and waits."""
    options = (
        *("--sockets", BROADCAST_SOCKETS, "--messages", BROADCAST_MESSAGES),
        *("--bursts", BROADCAST_BURSTS, "--warmup-bursts", 1),
        *("--concurrency", OPEN_CONCURRENCY, "--sync", 1),
    )
    what = f"broadcast on {server.kind}"
    with client(where, workdir, server, "broadcast", *options) as proc:
        read_json_line(proc, CLIENT_TIMEOUT, what)  # {"phase": "open"}
        cpu = server.cpu_seconds()
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        result = read_result(proc, server, CLIENT_TIMEOUT, what)
        deliveries = (BROADCAST_BURSTS + 1) * BROADCAST_SOCKETS * BROADCAST_MESSAGES
        result["cpu_per_million"] = (server.cpu_seconds() - cpu) / deliveries * 1e6
        return result


# -- measuring --------------------------------------------------------------------------


@dataclass
class Samples:
    """Per server, each measured quantity's samples over rounds."""

    values: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {kind: {} for kind in SERVERS}
    )

    def add(self, kind: str, key: str, *values: float) -> None:
        self.values[kind].setdefault(key, []).extend(values)

    def medians(self) -> dict[str, dict[str, float]]:
        return {
            kind: {key: statistics.median(got) for key, got in by_key.items()}
            for kind, by_key in self.values.items()
        }


def measure_server(
    kind: str, where: Placement, workdir: Path, duration: float, samples: Samples
) -> None:
    with running(kind, "echo", where, workdir) as server:
        for sockets in ECHO_SOCKETS:
            result = run_echo(where, workdir, server, sockets, duration)
            server.check_alive()
            samples.add(kind, f"echo_c{sockets}", result["messages_per_s"])
            samples.add(kind, f"p99_c{sockets}", result["p99_ms"])
            samples.add(kind, f"cpu_echo_c{sockets}", result["cpu_share"])
            samples.add(kind, f"server_cpu_echo_c{sockets}", result["server_cpu_share"])
    with running(kind, "broadcast", where, workdir) as server:
        idle = run_idle(where, workdir, server)
        samples.add(kind, "handshakes", idle["handshakes_per_s"])
        samples.add(kind, "memory", idle["bytes_per_socket"])
        samples.add(kind, "cpu_idle", idle["cpu_share"])
        samples.add(kind, "server_cpu_idle", idle["server_cpu_share"])
        result = run_broadcast(where, workdir, server)
        server.check_alive()
        samples.add(kind, "broadcast", *result["deliveries_per_s"])
        samples.add(kind, "broadcast_cpu", result["cpu_per_million"])
        samples.add(kind, "cpu_broadcast", result["cpu_share"])
        samples.add(kind, "server_cpu_broadcast", result["server_cpu_share"])


# name, unit, higher is better
QUANTITIES = (
    ("echo_c1", "messages/s", True),
    ("echo_c50", "messages/s", True),
    ("p99_c1", "milliseconds", False),
    ("p99_c50", "milliseconds", False),
    ("idle_handshakes", "handshakes/s", True),
    ("idle_memory_per_socket", "bytes", False),
    ("broadcast", "deliveries/s", True),
    ("broadcast_cpu", "server CPU s per million deliveries", False),
)
SAMPLE_KEY = {"idle_handshakes": "handshakes", "idle_memory_per_socket": "memory"}
# The client run each quantity comes from (memory is read from the server).
WORKLOAD_OF = {
    "echo_c1": "echo_c1",
    "echo_c50": "echo_c50",
    "p99_c1": "echo_c1",
    "p99_c50": "echo_c50",
    "idle_handshakes": "idle",
    "broadcast": "broadcast",
}
NOT_CLIENT_BOUND = {"broadcast_cpu"}  # the server's own CPU time, whoever was the limit
WORKLOADS = ("echo_c1", "echo_c50", "idle", "broadcast")
CLIENT_BOUND = 0.9  # a client CPU share from which the client may have been the limit


def client_bound(med: dict[str, dict[str, float]]) -> list[str]:
    """The runs in which the client's CPU share reached CLIENT_BOUND."""
    return [
        f"{kind} {workload} ({got['cpu_' + workload]:.2f})"
        for kind, got in med.items()
        for workload in WORKLOADS
        if got["cpu_" + workload] >= CLIENT_BOUND
    ]


def is_client_bound(med: dict[str, dict[str, float]], name: str, ours: str, anchor: str) -> bool:
    workload = WORKLOAD_OF.get(name)
    if workload is None:
        return False
    return max(med[ours]["cpu_" + workload], med[anchor]["cpu_" + workload]) >= CLIENT_BOUND


def measure_all(
    rounds: int, duration: float, where: Placement, note: Callable[[str], None]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="ws_bench_") as tmp:
        workdir = Path(tmp)
        for index in range(rounds):
            shift = index % len(SERVERS)
            for kind in SERVERS[shift:] + SERVERS[:shift]:
                measure_server(kind, where, workdir, duration, samples)
            for path in sorted(workdir.glob("ours-*-*.stderr")):
                if head := path.read_text(errors="replace").strip():
                    head = "\n".join(head.splitlines()[:15])
                    note(f"round {index + 1}: our server wrote to stderr ({path.name}):\n{head}")
                path.unlink()
    med = samples.medians()
    figures: dict[str, dict[str, Any]] = {}
    for name, unit, higher in QUANTITIES:
        key = SAMPLE_KEY.get(name, name)
        for ours in OURS:
            for anchor in ANCHORS:
                figures[f"{name}_{ours}_vs_{anchor}"] = figure(
                    med[ours][key], med[anchor][key], unit, higher
                )
    return figures, med


def print_table(
    figures: dict[str, dict[str, Any]],
    med: dict[str, dict[str, float]],
    rounds: int,
    duration: float,
    where: Placement,
) -> None:
    print(f"WebSocket bench, median of {rounds} round(s); echo runs of {duration:g} s")
    print(f"{where.note}; client: node + ws (bench/ws_client/client.js)")
    print("ours-*: bench/_ws_echo.py --ws *; --serve ours-*-broadcast for idle and broadcast")
    print(
        "bare: bench/baselines/wsproto_echo.py (trio + wsproto); trio_websocket: serve_websocket;"
    )
    print("websockets: websockets.asyncio.server.serve (asyncio); aiohttp: web.WebSocketResponse")
    print(
        f"idle: {IDLE_SOCKETS:,} sockets; broadcast: {BROADCAST_MESSAGES} messages "
        f"to {BROADCAST_SOCKETS:,} sockets"
    )
    print()
    print(
        f"{'server':15} {'echo c1/s':>10} {'echo c50/s':>11} {'p99 c1 ms':>10} "
        f"{'p99 c50 ms':>11} {'handshk/s':>10} {'B/socket':>9} {'deliver/s':>10} "
        f"{'CPU s/M':>8}"
    )
    for kind, got in med.items():
        print(
            f"{kind:15} {got['echo_c1']:>10,.0f} {got['echo_c50']:>11,.0f} "
            f"{got['p99_c1']:>10.2f} {got['p99_c50']:>11.2f} {got['handshakes']:>10,.0f} "
            f"{got['memory']:>9,.0f} {got['broadcast']:>10,.0f} {got['broadcast_cpu']:>8.2f}"
        )
    print("CPU s/M: the server's CPU seconds per million broadcast deliveries")
    print()
    print("CPU share, client / server: CPU seconds over wall seconds (1.00 = one CPU")
    print("saturated); the client's over its measured window, the server's over the")
    print("client's whole run (start, connect and warm-up included)")
    print(f"{'server':15} " + " ".join(f"{name:>11}" for name in WORKLOADS))
    for kind, got in med.items():
        shares = [f"{got['cpu_' + w]:.2f} / {got['server_cpu_' + w]:.2f}" for w in WORKLOADS]
        print(f"{kind:15} " + " ".join(f"{share:>11}" for share in shares))
    bound = client_bound(med)
    print(
        f"client-bound (client share >= {CLIENT_BOUND}): "
        + (", ".join(bound) + "; there the server's figure is a lower bound" if bound else "none")
    )

    def flag(name: str) -> str:
        head, _, anchor = name.partition("_vs_")
        for ours in OURS:
            quantity = head.removesuffix("_" + ours)
            if quantity != head:
                bound = quantity not in NOT_CLIENT_BOUND
                bound = bound and is_client_bound(med, quantity, ours, anchor)
                return "  [client-bound]" if bound else ""
        return ""

    print()
    print_figures(figures, 40, flag=flag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--duration", type=float, default=5, help="seconds per echo run (default 5)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds per figure (median)")
    parser.add_argument("--serve", choices=SERVE_MODES, help="run one server (used by the bench)")
    parser.add_argument("--port", type=int, default=9001, help="port for --serve")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.duration <= 0 or args.rounds < 1:
        parser.error("--duration must be positive and --rounds at least 1")
    if (command := client_missing()) is not None:
        print(f"the load client is not installed; run:\n    {command}", file=sys.stderr)
        sys.exit(2)
    where = placement(PLACEMENT_NOTES)
    figures, med = measure_all(args.rounds, args.duration, where, note)
    if args.json:
        shares = [v for got in med.values() for k, v in got.items() if k.startswith("cpu_")]
        bound = ", ".join(client_bound(med)) or "none"
        note(
            f"the client's CPU share was at most {max(shares):.2f} of one CPU "
            f"({where.note}); client-bound runs (share >= {CLIENT_BOUND}): {bound}"
        )
        print(json.dumps(figures))
    else:
        print_table(figures, med, args.rounds, args.duration, where)


if __name__ == "__main__":
    main()
