"""The anchor of the HTTP bench: a bare trio + h11 hello-world server.

As small as a correct keep-alive loop can be: one task per connection, h11
for both parsing and writing, "Hello World." to every request.

    python -m bench.baselines.h11_hello --port 8081
"""

from __future__ import annotations

import argparse
from email.utils import formatdate
from functools import partial

import h11
import trio

BODY = b"Hello World."


async def serve(stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
                continue
            if type(event) is h11.Request:
                continue  # answered at EndOfMessage, once the body is read
            if type(event) is h11.EndOfMessage:
                headers = [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"12"),
                    (b"date", formatdate(usegmt=True).encode()),
                    (b"server", b"h11-baseline"),
                ]
                data = conn.send(h11.Response(status_code=200, headers=headers))
                data += conn.send(h11.Data(data=BODY))
                data += conn.send(h11.EndOfMessage())
                await stream.send_all(data)
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            elif type(event) is h11.ConnectionClosed:
                return
    except (h11.RemoteProtocolError, trio.BrokenResourceError):
        return
    finally:
        await stream.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    trio.run(partial(trio.serve_tcp, serve, args.port, host="127.0.0.1"))


if __name__ == "__main__":
    main()
