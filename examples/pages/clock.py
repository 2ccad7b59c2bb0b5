"""The clock page's socket: the server's local time, now and then every
second ("2025-01-31T12:00:00"), until the client closes. Messages from the
client are ignored; they do not shift the ticks."""

from __future__ import annotations

import contextlib
from datetime import datetime

import trio

import actors
import websocket


async def handle_websocket(ws: websocket.Ws, every: float = 1.0) -> None:
    tick = trio.current_time()
    while True:
        now = trio.current_time()
        if now >= tick:
            ws.send(datetime.now().isoformat(timespec="seconds"))
            tick = max(tick + every, now)  # after a stall, no burst of ticks
            continue
        with contextlib.suppress(actors.ReceiveTimeout):
            await actors.receive(timeout=tick - now)  # anything: ignored
