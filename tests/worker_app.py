"""A server program for the OS-process tests of workers and signals.

    python -m tests.worker_app --workers 2

prints one JSON line when it listens ({"port", "pid"}), then
serves: / answers the serving OS process's pid; /slow sends "first;",
waits a second, then "second" (a request in flight for a signal to meet).
"""

from __future__ import annotations

import argparse
import json
import logging
import os

import trio

import actors
import httpserver


async def handle_http(req: httpserver.Req) -> None:
    if req.path == "/slow":
        await req.chunk_head(200, {"Content-Type": "text/plain"})
        await req.chunk("first;")
        await trio.sleep(1.0)
        await req.chunk("second")
        await req.chunk_end()
    else:
        await req.ok(str(os.getpid()))


async def main(workers: int, probe: bool) -> None:
    if probe:  # a server stopped before the real one starts: signals still drain it
        await httpserver.stop(httpserver.start(ip="127.0.0.1", port=0, loop=handle_http))
    server = httpserver.start_link(ip="127.0.0.1", port=0, loop=handle_http, workers=workers)
    info = httpserver.info(server)
    print(json.dumps({"port": info["port"], "pid": os.getpid()}), flush=True)
    await actors.receive()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--probe", action="store_true", help="start and stop a server first")
    args = parser.parse_args()
    actors.run(main, args.workers, args.probe)
