"""The page, its assets and its requests, on our own httpserver and websocket.

    GET  /               the page (index.html), /observer.css, /observer.js
    GET  /api/snapshot   one snapshot, gathered now (JSON)
    GET  /api/process?node=N&pid=P   one process: process_info, stack, state
    POST /api/kill       {"node", "pid", "token"}: exit(pid, "kill"); 403 without the token
    WS   /ws             snapshots pushed; {"op": "process", ...} asked and answered

The page is served from the package (no CDN: it works offline) with a
Content-Security-Policy that allows only its own files and its own socket,
and every value it shows is set as text, never as HTML.

An observer bound to a loopback address answers only requests whose Host
is a loopback name, and a socket whose Origin (if any) is its own host, so
that a web page elsewhere cannot read it through the browser of someone who
has it open (DNS rebinding, cross-site WebSockets).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import secrets
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

import actors
import httpserver
import websocket

from ._collect import snapshot
from ._config import Config
from ._json import SNAPSHOT_DEPTH, dumps, jsonable

__all__ = ["handle_http", "handle_ws", "process_detail"]

_ASSETS: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/observer.css": ("observer.css", "text/css; charset=utf-8"),
    "/observer.js": ("observer.js", "text/javascript; charset=utf-8"),
}

_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}

_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _hostname(host: str | None) -> str | None:
    """The name part of a Host header (no port, no brackets), lowercase."""
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(config: Config, host: str | None) -> bool:
    """Whether a request for `host` may be answered (see the module docstring)."""
    if not ipaddress.ip_address(config.ip).is_loopback:
        return True
    name = _hostname(host)
    return name is not None and (name in _LOOPBACK_NAMES or name.endswith(".localhost"))


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """A socket from a browser must come from the page's own origin."""
    if origin is None:
        return True  # not a browser: it could send any Origin anyway
    return host is not None and urlsplit(origin).netloc.lower() == host.strip().lower()


async def _json(req: httpserver.Req, status: int, value: Any) -> None:
    await req.respond(
        status, {**_HEADERS, "Content-Type": "application/json"}, dumps(value).encode()
    )


async def handle_http(config: Config, req: httpserver.Req) -> None:
    """The observer server's `loop`."""
    if not host_allowed(config, req.headers.get("host")):
        await _json(req, 403, {"error": "this observer answers only to localhost"})
        return
    path = req.path
    if req.method in ("GET", "HEAD") and path in _ASSETS:
        name, kind = _ASSETS[path]
        await req.respond(200, {**_HEADERS, "Content-Type": kind}, _asset(name))
    elif req.method == "GET" and path == "/api/snapshot":
        snap = await snapshot(config)
        text = dumps(snap, items=config.max_processes, deepest=SNAPSHOT_DEPTH)
        await req.respond(200, {**_HEADERS, "Content-Type": "application/json"}, text.encode())
    elif req.method == "GET" and path == "/api/process":
        query = dict(req.parse_qs())
        detail = await process_detail(config, query.get("node", ""), query.get("pid", ""))
        await _json(req, 404 if "error" in detail else 200, detail)
    elif req.method == "POST" and path == "/api/kill":
        status, answer = kill(config, await req.body())
        await _json(req, status, answer)
    elif path in _ASSETS or path.startswith("/api/"):
        await _json(req, 405, {"error": f"{req.method} is not allowed on {path}"})
    else:
        await _json(req, 404, {"error": f"no such page: {path}"})


def kill(config: Config, body: bytes) -> tuple[int, dict[str, Any]]:
    """`exit(pid, "kill")` for a request that carries the token."""
    try:
        asked = json.loads(body)
        node, pid_text, token = asked["node"], asked["pid"], asked.get("token")
    except (ValueError, KeyError, TypeError):
        return 400, {"error": 'the body must be JSON: {"node", "pid", "token"}'}
    if not isinstance(token, str) or not secrets.compare_digest(
        token.encode(), config.token.encode()
    ):
        return 403, {"error": "kill needs the token the observer printed when it started"}
    pid = config.pids.get((str(node), str(pid_text)))
    if pid is None:
        return 404, {"error": f"{pid_text} of {node} is not in the last snapshot"}
    actors.exit(pid, "kill")
    return 200, {"killed": str(pid), "node": node}


async def process_detail(config: Config, node: str, pid_text: str) -> dict[str, Any]:
    """One process as its page shows it: process_info, where it awaits, and
    (with show_state) its messages and, for a server, its state."""
    answer: dict[str, Any] = {"type": "process", "node": node, "pid": pid_text}
    pid = config.pids.get((node, pid_text))
    if pid is None:
        answer["error"] = f"{pid_text} of {node} is not in the last snapshot"
        return answer
    inspect = actors.lowlevel.inspect
    timeout = config.inspect_timeout
    try:
        info = await inspect(node, "process_info", pid, timeout=timeout)
        stack = await inspect(node, "process_stack", pid, timeout=timeout)
    except Exception as exc:  # the node's failure, told to the page
        answer["error"] = f"node {node} did not answer: {exc!r}"
        return answer
    if info is None:
        answer["error"] = f"{pid_text} is no longer alive"
        return answer
    if not config.show_state:
        info.pop("messages", None)
    answer["info"] = jsonable(info)
    answer["stack"] = jsonable(stack)
    answer["kind"] = kind = config.kinds.get((node, pid_text), "process")
    answer["show_state"] = config.show_state
    if config.show_state and kind in ("gen_server", "gen_statem", "supervisor"):
        try:
            answer["state"] = jsonable(await inspect(node, "get_state", pid, timeout=timeout))
        except Exception as exc:  # a state that cannot be read: say why, on the page
            answer["state_error"] = repr(exc)
    return answer


async def handle_ws(config: Config, ws: websocket.Ws) -> None:
    """One open page: it gets every snapshot, and asks about processes."""
    if (
        ws.path != "/ws"
        or not host_allowed(config, ws.host)
        or not origin_allowed(ws.origin, ws.host)
    ):
        ws.close(1008, "not this observer's page")
        return
    actors.join(config.group)
    if config.last is not None:
        ws.send(config.last)  # something to show at once; a fresh one follows
    if config.collector is not None:
        actors.send(config.collector, "poke")
    while True:
        match await actors.receive():
            case ("browser", str() as text):
                ws.send(dumps(await _answer(config, text)))
            case _:
                pass


async def _answer(config: Config, text: str) -> dict[str, Any]:
    try:
        asked = json.loads(text)
        op = asked["op"]
    except (ValueError, KeyError, TypeError):
        return {"type": "error", "error": 'a request is JSON: {"op": ...}'}
    if op == "process":
        return await process_detail(config, str(asked.get("node")), str(asked.get("pid")))
    return {"type": "error", "error": f"unknown op {op!r}"}
