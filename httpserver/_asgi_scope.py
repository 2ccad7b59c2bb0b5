"""The keys every ASGI connection scope of a request shares (asgiref's
www spec): the http scope is this, and the websocket package builds its
websocket scope on it.

Who the client is, the scheme and the mount point follow the misultin
rules: the socket's peer and the listener's TLS, unless the peer is a
trusted proxy (`trusted_proxies`), whose X-Forwarded-For (or X-Real-Ip),
X-Forwarded-Proto and X-Forwarded-Prefix are then believed; from anyone
else they are headers like any other. `path` and `raw_path` include
`root_path`, as uvicorn gives them and Starlette's routing expects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

if TYPE_CHECKING:
    from ._req import Req

__all__ = ["ASGI_VERSION", "SPEC_VERSION", "ClientDisconnected", "asgi_scope"]

ASGI_VERSION: Final = "3.0"
SPEC_VERSION: Final = "2.4"
"""2.4: a send() after the client left raises `ClientDisconnected`, an
OSError, rather than being dropped in silence."""


class ClientDisconnected(OSError):
    """An ASGI app sent on a connection its client has left (spec 2.4)."""


def asgi_scope(req: Req) -> dict[str, Any]:
    """The http scope of `req`: type, asgi, http_version, server, client,
    scheme, method, root_path, path, raw_path, query_string, headers, state."""
    conn = req._conn
    server = conn.server
    target = req.target
    end = req._query_start
    raw_path = target if end < 0 else target[:end]
    root_path = server.options.root_path
    scheme = "https" if server.ssl_context is not None else "http"
    host, port = conn.peer
    trust = server.trust
    if trust.any and trust.trusts(host):
        headers = req.headers
        client = trust.client(host, headers)
        forwarded = trust.forwarded(headers)
        scheme = forwarded[0] or scheme
        root_path = forwarded[1] if forwarded[1] is not None else root_path
    else:
        client = host
    path = raw_path.decode("latin-1")
    if "%" in path:  # (unquote's own test, without its call)
        path = unquote(path)
    local = conn.local
    if local is None:
        local = conn.local = req.local_address
    return {
        "type": "http",
        "asgi": {"version": ASGI_VERSION, "spec_version": SPEC_VERSION},
        "http_version": req.version,
        "server": local,
        "client": (client, port),
        "scheme": scheme,
        "method": req.method,
        "root_path": root_path,
        "path": root_path + path,
        "raw_path": root_path.encode("latin-1") + raw_path if root_path else raw_path,
        "query_string": b"" if end < 0 else target[end + 1 :],
        "headers": req._raw,
        "state": server.state.copy(),
    }
