"""The bare anchor of the WebSocket bench: a trio + wsproto echo server.

As small as a correct echo server can be: one task per connection, the
handshake and the frames both through wsproto's WSConnection (no h11 of our
own), every message sent back whole and of the same type, pings answered,
the closing handshake completed. No size limit, no timeouts, no origin
check: what is left is the least a WebSocket echo on trio costs.

    python -m bench.baselines.wsproto_echo --port 9002
"""

from __future__ import annotations

import argparse
from functools import partial

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError


async def serve(stream: trio.SocketStream) -> None:
    ws = WSConnection(ConnectionType.SERVER)
    text: list[str] = []
    binary: list[bytes] = []
    try:
        while True:
            data = await stream.receive_some(65536)
            ws.receive_data(data or None)
            out: list[bytes] = []
            for event in ws.events():
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        out.append(ws.send(TextMessage(data="".join(text))))
                        text.clear()
                elif isinstance(event, BytesMessage):
                    binary.append(bytes(event.data))
                    if event.message_finished:
                        out.append(ws.send(BytesMessage(data=b"".join(binary))))
                        binary.clear()
                elif isinstance(event, Request):
                    out.append(ws.send(AcceptConnection()))
                elif isinstance(event, Ping):
                    out.append(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        out.append(ws.send(event.response()))
                    elif ws.state is ConnectionState.OPEN:  # wsproto failed the frames
                        out.append(ws.send(CloseConnection(event.code, event.reason)))
                    await stream.send_all(b"".join(out))
                    return
            if out:
                await stream.send_all(b"".join(out))
            if not data:
                return
    except (RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        await stream.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9002)
    args = parser.parse_args()
    trio.run(partial(trio.serve_tcp, serve, args.port, host="127.0.0.1"))


if __name__ == "__main__":
    main()
