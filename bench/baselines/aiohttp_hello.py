"""A peer of the HTTP bench: aiohttp's web server, one handler, no access log.

What a user who picks aiohttp instead writes: an Application with one route
answering "Hello World." as text/plain, run by `web.run_app` on asyncio's
default event loop (aiohttp's C parser, as installed).

    python -m bench.baselines.aiohttp_hello --port 8084
"""

from __future__ import annotations

import argparse

from aiohttp import web

BODY = b"Hello World."


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="text/plain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8084)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
