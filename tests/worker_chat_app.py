"""A chat server with workers in a cluster, for tests/test_cluster_workers.py:

    python -m tests.worker_chat_app REDIS_URL

Each worker is a node of the cluster (named app.w1, ... after the main
process's node "app"). A socket is told which node serves it
("node NAME") once every node knows it joined the one room, and the room
hears "joined NAME"; what
a socket sends goes to everyone in the room, whichever worker serves them."""

from __future__ import annotations

import json
import logging
import os
import sys

import actors
import httpserver
import websocket


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("chat")


async def handle_websocket(ws: websocket.Ws) -> None:
    actors.join("room")
    await actors.lowlevel.sync_cluster()  # every node knows of this member now
    ws.send(f"node {actors.node_name()}")
    websocket.broadcast("room", f"joined {actors.node_name()}")
    while True:
        match await actors.receive():
            case ("browser", str(text)):
                websocket.broadcast("room", f"{actors.node_name()}: {text}")
            case "closed":
                return


async def main() -> None:
    server = httpserver.start_link(
        ip="127.0.0.1", port=0, loop=handle_http, ws_loop=handle_websocket, workers=2
    )
    print(json.dumps({"port": httpserver.info(server)["port"]}), flush=True)
    await actors.receive()


if __name__ == "__main__":
    if os.environ.get("WORKER_CHAT_LOG"):  # to see the cluster at work
        logging.basicConfig(level=logging.INFO, format="%(process)d %(asctime)s %(message)s")
    actors.run(main, node="app", cluster=sys.argv[1], cookie="workers-test")
