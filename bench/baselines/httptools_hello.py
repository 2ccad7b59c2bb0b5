"""An anchor of the HTTP bench: a bare trio + httptools hello-world server.

The least a trio server with llhttp as its parser can do: one task per
connection, httptools' callbacks count the requests complete in each read,
and each is answered "Hello World." from a pre-built response with the
current Date. What the server does beyond this is its own cost, not trio's.

    python -m bench.baselines.httptools_hello --port 8083
"""

from __future__ import annotations

import argparse
from email.utils import formatdate
from functools import partial

import httptools
import trio

BODY = b"Hello World."


class _Requests:
    """httptools' protocol object: counts the requests complete."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = 0

    def on_message_complete(self) -> None:
        self.done += 1


def response() -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
        b"Date: "
        + formatdate(usegmt=True).encode()
        + b"\r\nServer: httptools-baseline\r\n\r\n"
        + BODY
    )


async def serve(stream: trio.SocketStream) -> None:
    requests = _Requests()
    parser = httptools.HttpRequestParser(requests)
    try:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            parser.feed_data(data)
            if requests.done:
                await stream.send_all(response() * requests.done)
                requests.done = 0
    except (httptools.HttpParserError, trio.BrokenResourceError):
        return
    finally:
        await stream.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8083)
    args = parser.parse_args()
    trio.run(partial(trio.serve_tcp, serve, args.port, host="127.0.0.1"))


if __name__ == "__main__":
    main()
