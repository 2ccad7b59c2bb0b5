"""A Redis connection with no client library: commands written as RESP on a
trio socket, replies parsed by a few lines of code. The cluster bench's
anchor for what Redis itself costs, apart from any client's overhead."""

from __future__ import annotations

from typing import Any

import trio


class RawRedis:
    """One connection; `command` writes one command and returns its reply
    (bulk strings as bytes, arrays as lists, nil as None)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, host: str, port: int) -> RawRedis:
        return cls(await trio.open_tcp_stream(host, port))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def command(self, *words: bytes) -> Any:
        out = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
        await self._stream.send_all(out)
        return await self._reply()

    async def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._buffer += await self._stream.receive_some(65536)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def _reply(self) -> Any:
        line = await self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"+":
            return rest
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self._buffer) < size + 2:
                self._buffer += await self._stream.receive_some(65536)
            data = bytes(self._buffer[:size])
            del self._buffer[: size + 2]
            return data
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [await self._reply() for _ in range(size)]
        raise RuntimeError(f"not RESP: {line[:40]!r}")
