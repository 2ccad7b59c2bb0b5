"""Behind a proxy that speaks HAProxy's PROXY protocol (misultin_proxy_protocol).

    python -m examples.proxy_protocol --port 8080
    printf 'PROXY TCP4 203.0.113.7 127.0.0.1 5555 8080\r\nGET / HTTP/1.0\r\n\r\n' \
        | nc 127.0.0.1 8080

With `proxy_protocol=True`, every connection must start with a PROXY v1
line, sent by the proxy before the client's bytes; the server reads it
and takes the client's address from it: `req.socket_peer` is then the
client's (address, port), not the proxy's. Only a proxy sends that line,
so it is honoured only from the addresses in `trusted_proxies` (here the
proxy runs on this machine); any other peer is refused. (misultin's example read
`peer_addr`, which is `req.peer` here: that one also believes the headers
X-Real-Ip and X-Forwarded-For when they come from a trusted proxy.) A connection
without the line is refused. Every request is answered "Hello ADDRESS",
e.g. "Hello 203.0.113.7".
"""

from __future__ import annotations

import httpserver
from examples._cli import serve_forever


async def handle_http(req: httpserver.Req) -> None:
    address, _port = req.socket_peer
    await req.ok(f"Hello {address}")


if __name__ == "__main__":
    serve_forever(
        __doc__, proxy_protocol=True, trusted_proxies=["127.0.0.1", "::1"], loop=handle_http
    )
