"""The hostile client of bench/ws_hostile.py: one WebSocket, one flood.

    python -m bench._ws_hostile_client FLOOD --port N --seconds S [--count N]

Frames are built by hand (masked with a fixed key, as a client must) and
the bytes of a whole flood are made before it starts, so the client spends
its time in send() and the server, not this, is the bottleneck. A flood is
a preamble sent once and a unit repeated `--count` times (no count: until
the time bound); once everything is sent the socket is held open, unread,
until `--seconds` have passed, so a slow handler's backlog still counts.
The flood never reads; it ends early when a send fails (reset) or the
server's FIN or error shows on the socket (poll, nothing consumed), or on
SIGUSR1 (the bench's RSS cap). Then it asks GET /stats, reads what the
server sent (to find its close frame), and closes.

Prints JSON lines (times on time.monotonic, the bench's clock too):
{"event": "flooding", "t"} when the flood starts, {"event": "ended", "t"}
when it ends, and {"event": "result", ...} last.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import signal
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any

import trio

HOST = "127.0.0.1"
MASK = b"\x37\xfa\x21\x3d"
MiB = 1024 * 1024
CHUNK = 1 * MiB  # bytes per send() at most
POLL_EVERY = 0.05  # seconds between looks at the socket while holding it
READ_QUIET = 0.5  # the read after a flood stops after this long without data
READ_BUDGET = 3.0  # and after this long in all
STATS_TIMEOUT = 5.0
SERVER_LIMIT = 16 * MiB  # ws_max_message's default, the oversize flood's reference
# Linux's POLLRDHUP (the peer sent FIN); the select module has it on Linux only.
POLLRDHUP = getattr(select, "POLLRDHUP", 0x2000)


# -- frames ---------------------------------------------------------------------------


def mask(payload: bytes) -> bytes:
    """XOR with MASK repeated (RFC 6455 5.3), as one big-integer operation."""
    n = len(payload)
    if n == 0:
        return b""
    key = (MASK * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """One masked client frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 65536:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + MASK + mask(payload)


def deflated(payload: bytes, window_bits: int) -> bytes:
    """A permessage-deflate message body (RFC 7692 7.2.1): raw deflate, a
    fresh compressor each time (always allowed), the 00 00 ff ff tail cut."""
    compressor = zlib.compressobj(wbits=-window_bits)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


BINARY, CONTINUATION, PING = 0x2, 0x0, 0x9


@dataclass
class Plan:
    """A flood's bytes: `preamble` once, then `unit` `count` times (None: no end)."""

    preamble: bytes
    unit: bytes
    count: int | None
    unit_name: str
    deflate: bool = False


def plan(flood: str, count: int | None, window_bits: int, message_mib: float) -> Plan:
    size = int(message_mib * MiB)
    if flood == "oversize":
        # One binary message past the limit, then 64 KiB messages behind it.
        return Plan(frame(BINARY, bytes(size)), frame(BINARY, bytes(65536)), count, "64 KiB msgs")
    if flood == "backpressure":
        return Plan(b"", frame(BINARY, bytes(1024)), count, "1 KiB msgs")
    if flood == "deflate":
        body = deflated(bytes(size), window_bits)
        return Plan(b"", frame(BINARY, body, rsv1=True), count, "deflated msgs", deflate=True)
    if flood == "fragments":
        first = frame(BINARY, b"\x00", fin=False)
        return Plan(first, frame(CONTINUATION, b"\x00", fin=False), count, "fragments")
    if flood == "pings":
        return Plan(b"", frame(PING, b""), count, "pings")
    raise ValueError(f"unknown flood {flood!r}")


# -- the opening handshake --------------------------------------------------------------


async def handshake(port: int, deflate: bool) -> tuple[trio.socket.SocketType, bytes, str]:
    """Connect to /hostile; return the socket, bytes read past the 101's
    head, and the Sec-WebSocket-Extensions the server answered."""
    sock = trio.socket.socket()
    await sock.connect((HOST, port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /hostile HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate")
    await sock.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    with trio.fail_after(10):
        while b"\r\n\r\n" not in data:
            got = await sock.recv(65536)
            if not got:
                raise ConnectionError(f"closed during the handshake: {data[:200]!r}")
            data += got
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    if status.split()[1:2] != ["101"]:
        raise ConnectionError(f"handshake refused: {status}")
    extensions = ", ".join(
        value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
        if name.strip().lower() == "sec-websocket-extensions"
    )
    return sock, rest, extensions


def client_window_bits(extensions: str) -> int:
    """The window the server allows our compressor (client_max_window_bits=N)."""
    for param in extensions.replace(",", ";").split(";"):
        name, _, value = param.strip().partition("=")
        if name == "client_max_window_bits" and value.strip('"').isdigit():
            return int(value.strip('"'))
    return 15


# -- the flood ------------------------------------------------------------------------


def peer_gone(poller: select.poll) -> str | None:
    """ "EOF" or "reset" if the server's FIN or an error shows on the socket."""
    for _, events in poller.poll(0):
        if events & (select.POLLERR | select.POLLHUP):
            return "reset"
        if events & POLLRDHUP:
            return "EOF"
    return None


@dataclass
class Flood:
    sent: int = 0  # bytes written
    units: int = 0  # whole units written after the preamble
    send_seconds: float = 0.0  # until the last byte or the end
    stopped_by: str = "time bound"  # what ended the flood
    server_end: str | None = None  # "reset" / "EOF" seen while flooding


async def flood(
    sock: trio.socket.SocketType, p: Plan, deadline: float, cancel: trio.CancelScope
) -> Flood:
    """Send `p` until done, `deadline` (trio time), an error, or `cancel`."""
    out = Flood()
    chunk = p.unit * max(1, CHUNK // len(p.unit))
    whole = None if p.count is None else len(p.preamble) + p.count * len(p.unit)
    pre, pre_view, chunk_view = len(p.preamble), memoryview(p.preamble), memoryview(chunk)
    poller = select.poll()
    poller.register(sock.fileno(), POLLRDHUP)
    started = trio.current_time()
    with cancel:
        cancel.deadline = deadline
        while whole is None or out.sent < whole:
            if out.sent < pre:
                view = pre_view[out.sent :]
            else:
                offset = (out.sent - pre) % len(chunk)
                view = chunk_view[offset:]
            if whole is not None and len(view) > whole - out.sent:
                view = view[: whole - out.sent]
            try:
                out.sent += await sock.send(view)
            except OSError as exc:
                out.server_end = "reset" if not isinstance(exc, BrokenPipeError) else "EPIPE"
                break
            if gone := peer_gone(poller):
                out.server_end = gone
                break
        out.send_seconds = trio.current_time() - started
        if out.server_end is None and whole is not None and out.sent >= whole:
            while out.server_end is None:  # all sent: hold the socket open, unread
                await trio.sleep(POLL_EVERY)
                out.server_end = peer_gone(poller)
    if not out.send_seconds:  # cut short before all was sent
        out.send_seconds = trio.current_time() - started
    if out.server_end is not None:
        out.stopped_by = f"server {out.server_end}"
    elif cancel.cancelled_caught and trio.current_time() < deadline:
        out.stopped_by = "RSS cap"
    out.units = max(0, out.sent - pre) // len(p.unit)
    return out


async def on_sigusr1(
    cancel: trio.CancelScope, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGUSR1) as signals:
        task_status.started()
        async for _ in signals:
            cancel.cancel()
            return


# -- after the flood: what the server said ---------------------------------------------


async def get_stats(port: int) -> dict[str, Any] | str:
    """GET /stats on a fresh connection, or why it failed."""
    try:
        with trio.fail_after(STATS_TIMEOUT):
            stream = await trio.open_tcp_stream(HOST, port)
            async with stream:
                await stream.send_all(
                    b"GET /stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                )
                data = b""
                while got := await stream.receive_some(65536):
                    data += got
    except trio.TooSlowError:
        return f"no answer within {STATS_TIMEOUT:g} s"
    except OSError as exc:
        return f"failed: {exc!r}"
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        answer: dict[str, Any] = json.loads(body)
    except ValueError:
        return f"bad answer: {head[:80]!r}"
    return answer


PONGS_IN_RUN = 4096
PONGS = b"\x8a\x00" * PONGS_IN_RUN


@dataclass
class Heard:
    close_code: int | None = None  # the server's close frame, if one came
    end: str = "open"  # how the read ended: "EOF", "reset", "open" (quiet or budget)
    frames: int = 0  # frames read, the close included
    pongs: int = 0


def parse(buf: bytearray, heard: Heard) -> int:
    """Count the server's (unmasked) frames in `buf`; return bytes consumed."""
    i, n = 0, len(buf)
    while n - i >= 2:
        while buf.startswith(PONGS, i):  # runs of empty pongs, the common case, at C speed
            heard.frames += PONGS_IN_RUN
            heard.pongs += PONGS_IN_RUN
            i += len(PONGS)
        if n - i < 2:
            break
        if buf[i] == 0x8A and buf[i + 1] == 0:
            heard.frames += 1
            heard.pongs += 1
            i += 2
            continue
        length, at = buf[i + 1] & 0x7F, i + 2
        if length == 126:
            if n - i < 4:
                break
            length, at = int.from_bytes(buf[i + 2 : i + 4], "big"), i + 4
        elif length == 127:
            if n - i < 10:
                break
            length, at = int.from_bytes(buf[i + 2 : i + 10], "big"), i + 10
        if n - at < length:
            break
        opcode = buf[i] & 0x0F
        heard.frames += 1
        if opcode == 0xA:
            heard.pongs += 1
        elif opcode == 0x8 and heard.close_code is None:
            heard.close_code = int.from_bytes(buf[at : at + 2], "big") if length >= 2 else 1005
        i = at + length
    return i


async def hear(sock: trio.socket.SocketType, rest: bytes) -> Heard:
    """Read what the server sent, up to READ_BUDGET s: its close code, its end."""
    heard = Heard()
    buf = bytearray(rest)
    with trio.move_on_after(READ_BUDGET):
        while True:
            with trio.move_on_after(READ_QUIET) as quiet:
                try:
                    got = await sock.recv(CHUNK)
                except OSError:
                    heard.end = "reset"
                    break
            if quiet.cancelled_caught:
                break
            if not got:
                heard.end = "EOF"
                break
            buf += got
            del buf[: parse(buf, heard)]
    return heard


# -- main -------------------------------------------------------------------------------


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def main(args: argparse.Namespace) -> None:
    deflate = args.flood == "deflate"
    sock, rest, extensions = await handshake(args.port, deflate)
    if deflate and "permessage-deflate" not in extensions:
        say("result", error="the server did not accept permessage-deflate")
        return
    p = plan(args.flood, args.count, client_window_bits(extensions), args.message_mib)
    cancel = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        await nursery.start(on_sigusr1, cancel)  # in place before we say we started
        say("flooding", t=time.monotonic())
        out = await flood(sock, p, trio.current_time() + args.seconds, cancel)
        ended = time.monotonic()
        say("ended", t=ended)
        nursery.cancel_scope.cancel()
    stats = await get_stats(args.port)
    heard = await hear(sock, rest)
    sock.close()
    after_limit = None
    if args.flood == "oversize":  # bytes written past the limit: the frame's head and 16 MiB
        head = len(p.preamble) - int(args.message_mib * MiB)
        after_limit = max(0, out.sent - head - SERVER_LIMIT)
    say(
        "result",
        flood=args.flood,
        ended=ended,
        sent_bytes=out.sent,
        preamble_bytes=len(p.preamble),
        unit_bytes=len(p.unit),
        units=out.units,
        unit_name=p.unit_name,
        count=p.count,
        send_seconds=out.send_seconds,
        stopped_by=out.stopped_by,
        server_end=out.server_end,
        close_code=heard.close_code,
        read_end=heard.end,
        frames_read=heard.frames,
        pongs_read=heard.pongs,
        after_limit=after_limit,
        extensions=extensions,
        stats=stats,
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "flood", choices=["oversize", "backpressure", "deflate", "fragments", "pings"]
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="the time bound")
    parser.add_argument("--count", type=int, default=None, help="units to send (default: no end)")
    parser.add_argument(
        "--message-mib", type=float, default=17.0, help="oversize / deflate message size (MiB)"
    )
    args = parser.parse_args()
    try:
        trio.run(main, args)
    except (OSError, trio.TooSlowError) as exc:
        say("result", error=repr(exc))
        sys.exit(1)


if __name__ == "__main__":
    run()
