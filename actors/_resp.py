"""A connection to Redis that speaks just enough RESP for the cluster's hot
paths: the inbox's reads (`_redis_reader`) and the entries sent to other
nodes (`_redis_writer`).

A client library costs about 150 µs of CPU per command here (coredis, on
trio through anyio: a writer task, a reply task, their hops); a command on
this connection costs about 20. The rest of the cluster's commands (the
heartbeat, the scripts that join and leave) are few, and keep the client.
"""

from __future__ import annotations

from typing import Final

import trio

from ._redis_target import Address, RedisTarget

__all__ = ["CHUNK", "RedisReplyError", "RespConnection"]

CHUNK: Final = 64 * 1024


class RedisReplyError(ConnectionError):
    """Redis answered with an error, or something that is not RESP."""


class RespConnection:
    """One connection to the server at `address`: connect (TLS, AUTH and
    SELECT as the URL says), write commands, read replies."""

    def __init__(self, target: RedisTarget, address: Address) -> None:
        self._target = target
        self._address = address
        self._stream: trio.abc.Stream | None = None
        self._buffer = bytearray()

    async def connect(self) -> None:
        address = self._address
        if address.path is not None:
            stream: trio.abc.Stream = await trio.open_unix_socket(address.path)
        else:
            assert address.host is not None
            stream = await trio.open_tcp_stream(address.host, address.port)
        if self._target.tls is not None:
            tls = trio.SSLStream(stream, self._target.tls, server_hostname=address.host)
            await tls.do_handshake()
            stream = tls
        self._stream = stream
        target = self._target
        if target.password is not None:
            auth = [b"AUTH", target.password.encode()]
            if target.username:
                auth.insert(1, target.username.encode())
            await self._send([auth])
            await self._expect_ok("AUTH")
        if target.db:
            await self._send([[b"SELECT", str(target.db).encode()]])
            await self._expect_ok("SELECT")

    async def aclose(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _send(self, commands: list[list[bytes]]) -> None:
        out = bytearray()
        for words in commands:
            out += b"*%d\r\n" % len(words)
            for word in words:
                out += b"$%d\r\n%s\r\n" % (len(word), word)
        assert self._stream is not None
        await self._stream.send_all(out)

    async def _fill(self) -> None:
        assert self._stream is not None
        data = await self._stream.receive_some(CHUNK)
        if not data:
            raise ConnectionError("Redis closed the inbox connection")
        self._buffer += data

    async def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > CHUNK:
                raise RedisReplyError("a RESP line longer than 64 KiB")
            await self._fill()

    async def _bulk(self, length: int, keep: bool) -> bytes | None:
        """The next `length` bytes and their CRLF; discarded as they come
        unless `keep`."""
        need = length + 2
        if not keep:
            while need > 0:
                if not self._buffer:
                    await self._fill()
                taken = min(need, len(self._buffer))
                del self._buffer[:taken]
                need -= taken
            return None
        while len(self._buffer) < need:
            await self._fill()
        data = bytes(self._buffer[:length])
        del self._buffer[:need]
        return data

    async def _header(self) -> tuple[bytes, int]:
        line = await self._line()
        if not line:
            raise RedisReplyError("an empty RESP line")
        kind, text = line[:1], line[1:]
        if kind == b"-":
            raise RedisReplyError(text.decode(errors="replace"))
        if kind in (b"+",):
            return kind, 0
        try:
            return kind, int(text)
        except ValueError:
            raise RedisReplyError(f"not RESP: {line[:40]!r}") from None

    async def _expect_ok(self, what: str) -> None:
        kind, _ = await self._header()
        if kind != b"+":
            raise RedisReplyError(f"{what} was not answered OK")

    async def _value(self) -> None:
        """Skip one whole value, whatever it is."""
        kind, size = await self._header()
        if kind == b"$" and size >= 0:
            await self._bulk(size, keep=False)
        elif kind == b"*":
            for _ in range(max(size, 0)):
                await self._value()
