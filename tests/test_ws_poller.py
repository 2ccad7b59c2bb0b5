"""The node's WebSocket poller is nobody's single point of failure: a
reader's bug in the poller's task fails that socket alone, and the poller
is a supervised system process whose death (even a kill) leaves every open
socket working."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from wsproto.events import TextMessage

import actors
import actors.lowlevel as ll
import websocket
from actors import ANY
from actors.testing import assert_receive, wait_exit
from tests.test_ws_rfc6455 import ws_server
from tests.ws_helpers import Closed, WsClient, open_ws
from tests.ws_helpers import ws_protocol as ws_protocol
from websocket import _poller
from websocket._inbound import backend
from websocket._reader import _Reader

pytestmark = pytest.mark.usefixtures("ws_protocol")

POLLER = "$websocket_poller"
SUPERVISOR = "$websocket_poller_sup"


async def reporting_echo(ws: websocket.Ws) -> None:
    """Echoes; tells the process registered as "test" its reader when it
    starts and when its socket closes (ws_autoexit=False)."""
    assert ws._sock is not None
    reader = ws._sock.reader
    actors.send("test", ("open", reader))
    while True:
        match await actors.receive():
            case ("browser", data):
                ws.send(data)
            case "closed":
                actors.send("test", ("closed", reader))
                return


@asynccontextmanager
async def echoing_sockets(
    count: int,
) -> AsyncIterator[tuple[list[WsClient], list[actors.Pid], int]]:
    """A node with a server and `count` open sockets, each echoed once (so
    every reader is idle and has asked the poller); their readers, the port."""
    async with actors.node(), AsyncExitStack() as stack:
        actors.register("test")
        port = await stack.enter_async_context(ws_server(ws_loop=reporting_echo, ws_autoexit=False))
        clients, readers = [], []
        for _ in range(count):
            clients.append(await stack.enter_async_context(open_ws(port)))
            readers.append((await assert_receive(("open", ANY), timeout=10))[1])
        await all_echo(clients, "hello")
        yield clients, readers, port


async def all_echo(clients: list[WsClient], text: str) -> None:
    with trio.fail_after(10):
        for n, ws in enumerate(clients):
            await ws.send(f"{text} {n}")
        for n, ws in enumerate(clients):
            assert await ws.receive() == f"{text} {n}"


async def kill(name: str) -> actors.Pid:
    """exit(pid, "kill") to the system process `name`; return once it is dead."""
    pid = actors.whereis(name)
    assert pid is not None
    actors.exit(pid, "kill")
    assert await wait_exit(pid) == "killed"
    return pid


# -- its death -----------------------------------------------------------------------


async def test_killing_the_poller_leaves_every_open_socket_echoing() -> None:
    async with echoing_sockets(50) as (clients, _, _):
        killed = await kill(POLLER)
        await all_echo(clients, "after the kill")
        again = actors.whereis(POLLER)
        assert again not in (None, killed)  # its supervisor started another
        await kill(POLLER)  # and supervises that one too
        await all_echo(clients, "after the second kill")


async def test_bytes_that_arrive_while_the_poller_is_dead_are_read_by_the_next() -> None:
    """The edges a dead poller took, or that came while none ran, are not
    lost: the new poller registers every socket again, which reports the
    bytes already waiting."""
    async with echoing_sockets(10) as (clients, _, _):
        pid = actors.whereis(POLLER)
        assert pid is not None
        actors.exit(pid, "kill")  # takes effect at its next checkpoint ...
        for n, ws in enumerate(clients):  # ... while these are on their way
            await ws.send(f"during {n}")
        await wait_exit(pid)
        with trio.fail_after(10):
            for n, ws in enumerate(clients):
                assert await ws.receive() == f"during {n}"


async def test_killing_the_pollers_supervisor_leaves_the_poller_running_and_supervised_again() -> (
    None
):
    async with echoing_sockets(5) as (clients, _, port):
        poller = actors.whereis(POLLER)
        await kill(SUPERVISOR)
        await all_echo(clients, "no supervisor")
        assert actors.whereis(POLLER) == poller  # never linked to it
        async with open_ws(port) as newcomer:  # whoever asks for the poller restores it
            await assert_receive(("open", ANY), timeout=10)
            assert actors.whereis(SUPERVISOR) is not None
            await kill(POLLER)
            await all_echo([*clients, newcomer], "supervised again")
            assert actors.whereis(POLLER) not in (None, poller)


async def test_a_poller_that_keeps_dying_is_restarted_at_a_bounded_rate(
    mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RESTARTS a PERIOD at most: a poller that dies at once cannot spin."""
    starts: list[float] = []

    async def dies_at_once(self: _poller.Poller) -> None:
        starts.append(trio.current_time())
        raise RuntimeError("a poller that cannot run")

    monkeypatch.setattr(_poller.Poller, "run", dies_at_once)
    logging.getLogger("actors").disabled = True  # one crash report per start
    try:
        async with actors.node():
            _poller.poller()
            await trio.testing.wait_all_tasks_blocked()
            assert len(starts) > 1, "never restarted"
            assert len(starts) == _poller.RESTARTS
            mock_clock.jump(_poller.PERIOD)
            await trio.testing.wait_all_tasks_blocked()
            assert len(starts) == 2 * _poller.RESTARTS
            assert actors.whereis(SUPERVISOR) is not None  # waiting, not given up
    finally:
        logging.getLogger("actors").disabled = False


# -- the end of the stream -----------------------------------------------------------


async def test_a_message_and_the_peers_hang_up_in_one_edge_end_the_socket_at_once() -> None:
    """The epoll set is edge-triggered, and the end of the stream may come in
    the same edge as the last bytes: the reader, told the peer hung up,
    reads on to the end, so the socket closes now, not at the ping timeout
    (30 s) as it would if it waited for an edge that never comes."""
    async with echoing_sockets(1) as (clients, readers, _):
        client = clients[0]
        frame = client.conn.send(TextMessage(data="last words"))
        # Both at once, with no checkpoint between: one edge for the two.
        os.write(client.stream.socket.fileno(), frame)  # type: ignore[attr-defined]
        client.stream.socket.shutdown(socket.SHUT_WR)  # type: ignore[attr-defined]
        await assert_receive(("closed", readers[0]), timeout=5)


# -- a reader's bug ------------------------------------------------------------------


def fails_for(victims: set[actors.Pid], method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` of _Reader, raising for the readers in `victims`."""

    def buggy(self: _Reader, *args: Any) -> Any:
        if self.sock.reader in victims:
            raise RuntimeError("a bug in one reader")
        return method(self, *args)

    return buggy


def fails_on(word: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` of a protocol backend, raising when it parsed `word`."""

    def buggy(self: Any, *args: Any) -> Any:
        got = method(self, *args)
        if got == word:
            raise RuntimeError("a bug in one reader")
        return got

    return buggy


@pytest.mark.parametrize("where", ["readable", "_parse_now"])
async def test_a_readers_bug_in_the_pollers_task_fails_that_socket_alone_with_1011(
    where: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`readable()` raising (or what it runs: the parse), in the poller's
    task: that socket closes with 1011, its handler is told, its reader
    crashes with a crash report; the poller and the other sockets go on."""
    victims: set[actors.Pid] = set()
    monkeypatch.setattr(_Reader, where, fails_for(victims, getattr(_Reader, where)))
    if where == "_parse_now":  # a whole short message alone is parsed by the backend's `one`
        for kind in ("wsproto", "auto"):  # auto: websockets, where installed
            inbound: Any = backend(kind)[1]
            monkeypatch.setattr(inbound, "one", fails_on("boom", inbound.one))
    async with echoing_sockets(10) as (clients, readers, _):
        poller = actors.whereis(POLLER)
        victims.add(readers[3])
        await clients[3].send("boom")
        closed = await clients[3].receive()
        assert isinstance(closed, Closed)
        assert closed.code == 1011
        await assert_receive(("closed", readers[3]), timeout=10)
        await clients[3].stream.aclose()  # the server drains until the client goes
        reason = await wait_exit(readers[3])
        assert isinstance(reason, RuntimeError)
        others = clients[:3] + clients[4:]
        await all_echo(others, "still here")
        assert actors.whereis(POLLER) == poller  # it never died
    assert "a bug in one reader" in caplog.text
    assert "crash report" in caplog.text


# -- a system process ----------------------------------------------------------------


async def test_the_poller_and_its_supervisor_are_system_processes() -> None:
    """Listed in process_rows with "system": True (the observer hides them
    and refuses to kill them); absent from actors.processes() and
    actors.registered()."""
    async with echoing_sockets(1) as (_, readers, _):
        rows = {row["name"]: row for row in ll.process_rows()}
        for name in (POLLER, SUPERVISOR):
            assert rows[name]["system"] is True
            assert rows[name]["pid"] not in actors.processes()
            assert name not in actors.registered()
        by_pid = {row["pid"]: row for row in ll.process_rows()}
        assert by_pid[readers[0]]["system"] is False
        assert by_pid[actors.self()]["system"] is False
