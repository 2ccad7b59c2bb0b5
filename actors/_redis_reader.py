"""The reading end of a node's inbox: XREAD on a connection of its own,
parsed as it arrives, so that no entry costs more memory than its bound.

A client library reads each reply whole before anyone can look at it: an
entry of 60 MB that anyone with access to Redis wrote into an inbox would
be in memory before a size check could refuse it, and 64 of them at once.
This reader speaks just enough RESP for its three commands (AUTH, SELECT,
and XTRIM + XREAD in one write) and reads bulk strings by their announced
length: one bigger than `max_entry` is skipped as it streams past, a few
KiB at a time, and the entries of one read stop being kept once they hold
`budget` bytes (the rest are read again next time).

It also trims what it has read (XTRIM MINID, in the same write as the
next XREAD): an inbox holds what its reader has not read yet, and nothing
a live reader has not read is ever trimmed.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import trio

from ._redis_target import Address, RedisTarget

__all__ = ["Entry", "InboxReader", "RedisReplyError"]

_CHUNK: Final = 64 * 1024


class RedisReplyError(ConnectionError):
    """Redis answered with an error, or something that is not RESP."""


class Entry(NamedTuple):
    """One entry read: its id, and its "m" field (None when it was too big
    or had no such field; `size` then says how big it was)."""

    id: bytes
    data: bytes | None
    size: int


class InboxReader:
    """One connection that reads one stream."""

    def __init__(
        self, target: RedisTarget, address: Address, key: str, max_entry: int, budget: int
    ) -> None:
        self._target = target
        self._address = address
        self._key = key.encode()
        self.max_entry = max_entry
        self.budget = budget
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

    async def read(
        self, after: bytes, count: int, block_ms: int, trim_below: bytes | None
    ) -> list[Entry]:
        """The entries after id `after` (waiting up to `block_ms` for one);
        first, if `trim_below`, drop the entries older than that id."""
        commands = []
        if trim_below is not None:
            commands.append([b"XTRIM", self._key, b"MINID", trim_below])
        commands.append(
            [
                b"XREAD",
                b"COUNT",
                b"%d" % count,
                b"BLOCK",
                b"%d" % block_ms,
                b"STREAMS",
                self._key,
                after,
            ]
        )
        await self._send(commands)
        if trim_below is not None:
            try:
                await self._value()  # how many it trimmed
            except RedisReplyError:
                await self._xread_reply()  # read it anyway: the replies stay in step
                raise
        return await self._xread_reply()

    # -- RESP ----------------------------------------------------------------------

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
        data = await self._stream.receive_some(_CHUNK)
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
            if len(self._buffer) > _CHUNK:
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

    async def _xread_reply(self) -> list[Entry]:
        kind, streams = await self._header()
        if kind != b"*":
            raise RedisReplyError("XREAD did not answer an array")
        entries: list[Entry] = []
        kept = 0
        stopped = False
        for _ in range(max(streams, 0)):  # -1 (nil) when the block timed out
            await self._expect_array(2)
            await self._value()  # the stream's name
            kind, count = await self._header()
            for _ in range(max(count, 0)):
                await self._expect_array(2)
                entry_id = await self._short_bulk()
                kind, fields = await self._header()
                data: bytes | None = None
                size = 0
                field = b""
                for index in range(max(fields, 0)):
                    kind, length = await self._header()
                    if kind != b"$" or length < 0:
                        raise RedisReplyError("a stream field that is not a bulk string")
                    if index % 2 == 0:  # a field's name
                        field = await self._bulk(length, keep=length <= 16) or b""
                        continue
                    size = max(size, length)
                    keep = field == b"m" and data is None and length <= self.max_entry
                    if keep and entries and kept + length > self.budget:
                        stopped = True  # this entry and the rest: read again next time
                    value = await self._bulk(length, keep and not stopped)
                    if keep and not stopped:
                        data = value
                        kept += length
                if not stopped:
                    entries.append(Entry(entry_id, data, size))
        return entries

    async def _expect_array(self, size: int) -> None:
        kind, got = await self._header()
        if kind != b"*" or got != size:
            raise RedisReplyError(f"expected an array of {size}, got {kind!r}{got}")

    async def _short_bulk(self) -> bytes:
        kind, length = await self._header()
        if kind != b"$" or not 0 <= length <= 64:
            raise RedisReplyError("a stream entry id that is not a short bulk string")
        data = await self._bulk(length, keep=True)
        assert data is not None
        return data
