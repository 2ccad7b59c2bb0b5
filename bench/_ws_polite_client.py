"""The polite load of bench/ws_hostile.py: sockets that echo small messages at a steady rate.

    python -m bench._ws_polite_client --port N [--sockets 50] [--rate 20] [--grace 2]

Each socket (wsproto, on /polite) sends a short text message `--rate` times
a second, the sockets' schedules staggered, and times each echo. The load is
an open loop: a message goes at its scheduled time whether or not the last
echo is back, and its latency counts from that time, so a server that
stalls for a second shows every message it held up, not one.

Prints "ready" once every socket is open; runs until its stdin closes; then
waits `--grace` s for late echoes and prints one JSON object: every
scheduled message as [t, latency] (time.monotonic seconds; latency -1 when
the message failed: its socket broke, or no echo by the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

HOST = "127.0.0.1"
FAILED = -1.0
CONNECT_TIMEOUT = 20.0


class Polite:
    """One polite socket: its schedule, what it sent and what came back."""

    def __init__(self, stream: trio.SocketStream, conn: WSConnection) -> None:
        self.stream = stream
        self.conn = conn
        self.sent: dict[int, float] = {}  # seq -> scheduled time (trio clock), awaiting echo
        self.records: list[tuple[float, float]] = []  # (scheduled time, latency or FAILED)
        self.broken = False
        self.lock = trio.Lock()  # the sender and the pong answers both write

    async def write(self, data: bytes) -> None:
        async with self.lock:
            await self.stream.send_all(data)

    async def send_on_schedule(self, first: float, interval: float, stop: trio.Event) -> None:
        seq, when = 0, first
        while not stop.is_set():
            await trio.sleep_until(when)
            if stop.is_set():
                return
            if self.broken:
                self.records.append((when, FAILED))
            else:
                self.sent[seq] = when
                try:
                    await self.write(self.conn.send(TextMessage(data=str(seq))))
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    self.broken = True
            seq += 1
            when += interval

    async def receive_echoes(self) -> None:
        conn = self.conn
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    break
                conn.receive_data(data)
                for event in conn.events():
                    if isinstance(event, TextMessage):
                        scheduled = self.sent.pop(int(event.data), None)
                        if scheduled is not None:
                            self.records.append((scheduled, trio.current_time() - scheduled))
                    elif isinstance(event, Ping):
                        await self.write(conn.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        self.broken = True
                        return
        self.broken = True

    def finish(self) -> None:
        """What never came back failed."""
        self.records.extend((when, FAILED) for when in self.sent.values())
        self.sent.clear()


async def open_polite(port: int) -> Polite:
    stream = await trio.open_tcp_stream(HOST, port)
    conn = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(conn.send(Request(host=f"{HOST}:{port}", target="/polite")))
    while True:
        data = await stream.receive_some(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, AcceptConnection):
                return Polite(stream, conn)
            if isinstance(event, RejectConnection):
                raise ConnectionError(f"handshake refused: {event.status_code}")


async def stdin_closed() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stdin:
        while await stdin.receive_some(4096):
            pass


async def main(args: argparse.Namespace) -> None:
    sockets: list[Polite] = []
    with trio.fail_after(CONNECT_TIMEOUT):
        async with trio.open_nursery() as nursery:

            async def one() -> None:
                sockets.append(await open_polite(args.port))

            for _ in range(args.sockets):
                nursery.start_soon(one)
    offset = time.monotonic() - trio.current_time()  # trio clock -> time.monotonic
    interval = 1.0 / args.rate
    start = trio.current_time() + 0.1
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for index, sock in enumerate(sockets):
            nursery.start_soon(sock.receive_echoes)
            first = start + interval * index / len(sockets)
            nursery.start_soon(sock.send_on_schedule, first, interval, stop)
        print("ready", flush=True)
        await stdin_closed()
        stop.set()
        await trio.sleep(args.grace)
        nursery.cancel_scope.cancel()
    records: list[list[float]] = []
    for sock in sockets:
        sock.finish()
        records.extend(
            [round(when + offset, 6), round(latency, 6) if latency != FAILED else FAILED]
            for when, latency in sock.records
        )
    print(json.dumps({"records": records}), flush=True)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s per socket")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to wait for late echoes")
    trio.run(main, parser.parse_args())


if __name__ == "__main__":
    run()
