"""What each command-line flag does, for `--help`.

The options table says what a good value is, in the words a Python call
needs (`['127.0.0.1']`, `an ssl.SSLContext`); a flag's help needs what the
option is for, and what to type on a command line. Both are here, one
entry per option of the table (a test checks that none is missing); an
upgrade protocol's own options (`ws_*`) bring theirs through its entry
point (`options_help`), as they bring their rows.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DESCRIPTIONS", "TYPED"]

# option -> what it is for
DESCRIPTIONS: Final[dict[str, str]] = {
    "loop": "the handler",
    "asgi": "an ASGI 3 application",
    "root_path": "the path an ASGI app is mounted at behind a proxy (its scope's root_path)",
    "lifespan": "run an ASGI app's lifespan scope: auto goes on without it if the app"
    " raises, on makes that a failed start, off never runs it",
    "ip": "the address to listen on",
    "port": "the TCP port to listen on",
    "name": "register the listener process under this name",
    "backlog": "connections the kernel completes and holds before the server accepts them"
    " (room for a burst; capped by net.core.somaxconn)",
    "max_connections": "open connections at most; past it a new one is answered 503"
    " (capped at start by the file descriptor limit)",
    "post_max_size": "the largest request body, in bytes; past it the answer is 413",
    "get_url_max_size": "the longest request target, in bytes; past it the answer is 414",
    "http": "the HTTP/1.1 request parser",
    "recv_timeout": "seconds for a whole request head to come (408 after), and for an idle"
    " keep-alive connection to close",
    "body_min_rate": "a request body gets recv_timeout plus one second per this many bytes",
    "send_timeout": "seconds a client may take nothing of a response before it is closed",
    "compress": "gzip or deflate responses for clients that accept it",
    "static": "serve the files of this directory under /static/",
    "ssl": "serve HTTPS",
    "access_log": "call this function with each request's access log entry instead of"
    " writing the access log line",
    "auto_recv_body": "read each request body before the handler runs (--no-auto-recv-body:"
    " the handler reads it with req.body())",
    "autoexit": "end the handler when its client closes the connection",
    "sessions_expire": "seconds an idle session lives",
    "sessions_max_age": "seconds a session lives at most",
    "sessions_max": "sessions kept at most",
    "proxy_protocol": "read the PROXY protocol line a load balancer sends first",
    "trusted_proxies": "the proxies whose X-Forwarded-For (and PROXY line) to believe about"
    " the client's address",
    "shutdown_timeout": "seconds the requests in flight get to finish on SIGTERM or Ctrl-C",
    "workers": "OS processes serving the port (one node each; SIGHUP replaces them one by one)",
    "handle_signals": "drain on SIGTERM and Ctrl-C, then exit 0",
    "fd": "serve this listening socket, inherited from the parent process (systemd's socket"
    " activation), instead of binding --ip and --port",
    "metrics": "serve Prometheus metrics at /metrics on this port (same --ip; needs the"
    " metrics extra)",
    "upgrades": "the upgrade protocols",
}

# option -> what to type on the command line, where the table's words are
# a Python value's
TYPED: Final[dict[str, str]] = {
    "ssl": "the certificate chain's and the private key's PEM files, e.g. --ssl"
    " cert.pem,key.pem (one file name if it holds both)",
    "trusted_proxies": "addresses or networks, comma-separated, e.g. 127.0.0.1,10.0.0.0/8,"
    " or * for any",
    "access_log": "MODULE:FUNCTION, a function taking an httpserver.AccessLog",
    "static": "an existing directory",
    "name": "any text",
    "fd": "a file descriptor number, e.g. 3",
    "metrics": "a port from 1 to 65535",
    "ws_origins": "Origin values, comma-separated, e.g. https://example.com",
    "ws_subprotocols": "subprotocols, comma-separated, e.g. chat,superchat",
    "ws_max_pending": "MESSAGES,BYTES, e.g. 64,1048576",
}
