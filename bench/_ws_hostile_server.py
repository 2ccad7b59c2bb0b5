"""The server bench/ws_hostile.py attacks: our WebSocket server with its defaults.

    python -m bench._ws_hostile_server --port N --mode echo|slow10ms|slow1s

Sockets opened on /polite echo every message at once. Sockets opened on
/hostile get a handler that counts what it receives and then, by `--mode`,
echoes it (echo), or sleeps 10 ms (slow10ms) or 1 s (slow1s) per message
before taking the next: the slow handler of findings 3a and 3b. Every
WebSocket option keeps its default (ws_max_message 16 MiB, ws_compress on,
...), since the defaults are what the bench judges.

GET /stats answers what the hostile handlers got, as JSON: sockets opened,
messages and bytes taken from their mailboxes, and the messages still
waiting in the mailboxes of the live ones (actors.process_info), so the
bench can tell what the server accepted beside what it handled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal

import trio

import actors
import httpserver
import websocket

HOST = "127.0.0.1"
DELAYS = {"echo": 0.0, "slow10ms": 0.01, "slow1s": 1.0}
HOSTILE = "ws_hostile"  # the process group of the hostile handlers

stats = {
    "hostile_sockets": 0,
    "hostile_ended": 0,
    "hostile_messages": 0,
    "hostile_bytes": 0,
    "polite_sockets": 0,
    "polite_messages": 0,
}


async def polite(ws: websocket.Ws) -> None:
    stats["polite_sockets"] += 1
    while True:
        match await actors.receive():
            case ("browser", data):
                stats["polite_messages"] += 1
                ws.send(data)
            case "closed":
                return
            case _:
                pass


async def hostile(ws: websocket.Ws, delay: float) -> None:
    actors.join(HOSTILE)
    stats["hostile_sockets"] += 1
    try:
        while True:
            match await actors.receive():
                case ("browser", data):
                    stats["hostile_messages"] += 1
                    stats["hostile_bytes"] += len(data)
                    if delay:
                        await trio.sleep(delay)
                    else:
                        ws.send(data)
                case "closed":
                    return
                case _:
                    pass
    finally:
        stats["hostile_ended"] += 1


def backlog() -> tuple[int, int]:
    """(live hostile handlers, messages waiting in their mailboxes)."""
    live = waiting = 0
    for pid in actors.members(HOSTILE):
        info = actors.process_info(pid)
        if info is not None:
            live += 1
            waiting += info["message_queue_len"]
    return live, waiting


async def http(req: httpserver.Req) -> None:
    if req.path != "/stats":
        raise httpserver.HttpError(404)
    live, waiting = backlog()
    body = json.dumps({**stats, "hostile_live": live, "hostile_backlog": waiting})
    await req.ok(body, {"Content-Type": "application/json"})


async def main(port: int, mode: str) -> None:
    delay = DELAYS[mode]

    async def route(ws: websocket.Ws) -> None:
        if ws.path == "/hostile":
            await hostile(ws, delay)
        else:
            await polite(ws)

    httpserver.start_link(ip=HOST, port=port, loop=http, ws_loop=route)
    await actors.receive()  # until interrupted


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=sorted(DELAYS), default="echo")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(main, args.port, args.mode)


if __name__ == "__main__":
    run()
