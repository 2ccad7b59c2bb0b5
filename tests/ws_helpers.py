"""A WebSocket test client on wsproto over real trio sockets, and the
`ws_protocol` fixture that runs a module's tests once per server protocol
backend (the `ws` option): wsproto, and websockets where it is installed."""

from __future__ import annotations

import ssl
import struct
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from websocket._inbound import websockets_available

PROTOCOLS = ("wsproto", "websockets")
_protocol: list[Literal["auto", "wsproto", "websockets"]] = ["auto"]


def protocol() -> Literal["auto", "wsproto", "websockets"]:
    """The `ws` option of the servers the current test starts."""
    return _protocol[0]


@pytest.fixture(params=PROTOCOLS)
def ws_protocol(request: pytest.FixtureRequest) -> Any:
    """Run the test with the server's `ws` option set to each backend
    (use with `pytestmark = pytest.mark.usefixtures("ws_protocol")`)."""
    if request.param == "websockets" and not websockets_available():
        pytest.skip("the websockets library is not installed (the speedups extra)")
    _protocol[0] = request.param
    yield request.param
    _protocol[0] = "auto"


@dataclass
class Closed:
    code: int
    reason: str


@dataclass
class Refused:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class WsClient:
    def __init__(
        self, stream: trio.abc.Stream, conn: WSConnection, accepted: AcceptConnection
    ) -> None:
        self.stream = stream
        self.conn = conn
        self.accepted = accepted
        self.pings = 0
        self._parts: list[Any] = []

    async def send(self, data: str | bytes) -> None:
        event: Message[Any] = (
            TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        )
        await self.stream.send_all(self.conn.send(event))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive(self, timeout: float = 10) -> str | bytes | Closed:
        """The next whole message, or Closed (after answering the close)."""
        with trio.fail_after(timeout):
            while True:
                for event in self.conn.events():
                    if isinstance(event, TextMessage | BytesMessage):
                        self._parts.append(event.data)
                        if event.message_finished:
                            parts, self._parts = self._parts, []
                            if isinstance(event, TextMessage):
                                return "".join(parts)
                            return b"".join(bytes(p) for p in parts)
                    elif isinstance(event, Ping):
                        self.pings += 1
                        await self.stream.send_all(self.conn.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                            await self.stream.send_all(self.conn.send(event.response()))
                        return Closed(event.code, event.reason or "")
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    data = b""
                self.conn.receive_data(bytes(data) or None)

    async def close(self, code: int = 1000, reason: str = "") -> Closed:
        """Start the closing handshake; return the server's close."""
        await self.stream.send_all(self.conn.send(CloseConnection(code=code, reason=reason)))
        with trio.fail_after(10):
            while True:
                for event in self.conn.events():
                    if isinstance(event, CloseConnection):
                        return Closed(event.code, event.reason or "")
                data = await self.stream.receive_some(65536)
                self.conn.receive_data(bytes(data) or None)

    async def wait_eof(self, timeout: float = 10) -> None:
        """Wait until the server closes the TCP connection."""
        with trio.fail_after(timeout):
            while True:
                try:
                    if not await self.stream.receive_some(65536):
                        return
                except trio.BrokenResourceError:
                    return


async def handshake(
    port: int,
    path: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    subprotocols: Iterable[str] = (),
    deflate: bool = False,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> tuple[trio.abc.Stream, WSConnection, AcceptConnection | Refused]:
    """Open a connection (TLS with `tls`, for wss://) and do the opening
    handshake; return the stream, the client and the server's answer."""
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    if tls is not None:
        stream = trio.SSLStream(stream, tls, server_hostname="localhost")
        await stream.do_handshake()
    conn = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host="localhost",
        target=path,
        extra_headers=[(k.encode(), v.encode()) for k, v in headers],
        subprotocols=list(subprotocols),
        extensions=[PerMessageDeflate()] if deflate else [],
    )
    await stream.send_all(conn.send(request))
    refused: Refused | None = None
    while True:
        data = await stream.receive_some(65536)
        conn.receive_data(bytes(data) or None)
        for event in conn.events():
            if isinstance(event, AcceptConnection):
                return stream, conn, event
            if isinstance(event, RejectConnection):
                refused = Refused(event.status_code, list(event.headers), b"")
                if not event.has_body:
                    return stream, conn, refused
            if isinstance(event, RejectData) and refused is not None:
                refused.body += event.data
                if event.body_finished:
                    return stream, conn, refused
        if not data:
            raise ConnectionError("closed during the handshake")


@asynccontextmanager
async def open_ws(port: int, path: str = "/", **kwargs: Any) -> AsyncIterator[WsClient]:
    with trio.fail_after(10):
        stream, conn, answer = await handshake(port, path, **kwargs)
    assert isinstance(answer, AcceptConnection), answer
    async with stream:
        yield WsClient(stream, conn, answer)


def client_frame(
    opcode: int,
    payload: bytes = b"",
    fin: bool = True,
    rsv1: bool = False,
    length: int | None = None,
) -> bytes:
    """A masked client frame built by hand (RFC 6455 5.2), for frames a
    polite client library would not send: `length` may declare more
    payload than follows."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    declared = len(payload) if length is None else length
    if declared < 126:
        head = struct.pack("!BB", first, 0x80 | declared)
    elif declared < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, declared)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, declared)
    if len(payload) > 4096:  # a zero key (allowed) spares masking megabytes in Python
        return head + bytes(4) + payload
    mask = b"\x11\x22\x33\x44"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
