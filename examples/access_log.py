"""One log line per request (misultin_access_log).

    python -m examples.access_log --port 8080

The server option `access_log` is a function called after every response
with an `httpserver.AccessLog`: the client's address, the time, the
request line, the status and the number of body bytes sent. This one
prints them as misultin's example did, close to the common log format:

    127.0.0.1 - - [2026-01-31 16:56:26 UTC] "GET /x?y=1 HTTP/1.1" 200 19

Every request is answered "Hello World logged.".
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    await req.ok("Hello World logged.")


def access_log(entry: httpserver.AccessLog) -> None:
    print(
        f'{entry.peer} - - [{entry.time}] "{entry.request_line}" '
        f"{entry.status} {entry.content_length}",
        flush=True,
    )


if __name__ == "__main__":
    serve_forever(__doc__, access_log=access_log, loop=handle_http)
