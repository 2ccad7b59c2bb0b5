"""A server with workers in a cluster whose sessions live in Redis, for
tests/test_cluster_workers.py:

    python -m tests.worker_session_app REDIS_URL

GET / counts the client's visits in its session and answers
"NODE COUNT": NODE is the node (worker) that served it."""

from __future__ import annotations

import json
import sys

import actors
import httpserver


async def handle_http(req: httpserver.Req) -> None:
    session_id, state = await req.session()
    count = (state or 0) + 1
    await req.save_session_state(session_id, count)
    await req.ok(f"{actors.node_name()} {count}")


async def main() -> None:
    server = httpserver.start_link(ip="127.0.0.1", port=0, loop=handle_http, workers=2)
    print(json.dumps({"port": httpserver.info(server)["port"]}), flush=True)
    await actors.receive()


if __name__ == "__main__":
    actors.run(main, node="web", cluster=sys.argv[1], cookie="sessions-test")
