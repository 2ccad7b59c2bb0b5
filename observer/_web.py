"""The page, its assets and its requests, on our own httpserver and websocket.

    GET  /               the page (index.html), /observer.css, /observer.js
    GET  /api/snapshot   one snapshot, gathered now (JSON)
    GET  /api/process?node=N&pid=P   one process: process_info, stack, state
    POST /api/kill       {"node", "pid", "token"} as application/json, from the
                         page's own Origin: exit(pid, "kill") of a user's process
    WS   /ws             snapshots pushed; {"op": "process", ...} asked and answered

The page is served from the package (no CDN: it works offline) with a
Content-Security-Policy that allows only its own files and its own socket,
and every value it shows is set as text, never as HTML. Who may ask what
is `_access`'s: the Host of every request, the Origin of a socket and the
form of a kill.

A request is checked before it is acted on: a bad one (not JSON, too
deep, fields of the wrong type, a token that is not text) gets a 4xx
saying what was wrong, never a crash of the connection process, so it
leaves no crash report and no event on the page.
"""

from __future__ import annotations

import functools
import json
import secrets
from importlib import resources
from typing import Any, Final

import actors
import actors.lowlevel
import httpserver
import websocket

from ._access import host_allowed, kill_refused, origin_allowed
from ._collect import snapshot
from ._config import Config
from ._json import SNAPSHOT_DEPTH, dumps, jsonable
from ._own import mark_linked

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


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _allowed(config: Config, host: str | None) -> bool:
    return host_allowed(config.ip, config.allowed_hosts, host)


async def _json(req: httpserver.Req, status: int, value: Any) -> None:
    await req.respond(
        status, {**_HEADERS, "Content-Type": "application/json"}, dumps(value).encode()
    )


async def handle_http(config: Config, req: httpserver.Req) -> None:
    """The observer server's `loop`."""
    actors.lowlevel.mark_system()  # this connection process is the observer's
    host = req.headers.get("host")
    if not _allowed(config, host):
        await _json(req, 403, {"error": "this observer does not answer to that Host"})
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
        headers = req.headers
        refused = kill_refused(headers.get("content-type"), headers.get("origin"), host)
        if refused is not None:
            await _json(req, refused[0], {"error": refused[1]})
        else:
            status, answer = kill(config, await req.body())
            await _json(req, status, answer)
    elif path in _ASSETS or path.startswith("/api/"):
        await _json(req, 405, {"error": f"{req.method} is not allowed on {path}"})
    else:
        await _json(req, 404, {"error": f"no such page: {path}"})


_KILL_BODY: Final = 'the body must be a JSON object: {"node", "pid", "token"}, each a string'


def kill(config: Config, body: bytes) -> tuple[int, dict[str, Any]]:
    """`exit(pid, "kill")` for a request that carries the token and names
    a user's process of the last snapshot; (status, answer) otherwise."""
    try:
        asked = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return 400, {"error": _KILL_BODY}
    if not isinstance(asked, dict):
        return 400, {"error": _KILL_BODY}
    node, pid_text, token = asked.get("node"), asked.get("pid"), asked.get("token")
    if not (isinstance(node, str) and isinstance(pid_text, str)):
        return 400, {"error": _KILL_BODY}
    if not isinstance(token, str) or not secrets.compare_digest(
        token.encode(errors="surrogatepass"), config.token.encode(errors="surrogatepass")
    ):
        return 403, {"error": "kill needs the token the observer printed when it started"}
    key = (node, pid_text)
    pid = config.pids.get(key)
    if pid is None:
        return 404, {"error": f"{pid_text} of {node} is not in the last snapshot"}
    if config.system.get(key) is not False or not _users(pid):
        return 403, {
            "error": f"{pid_text} of {node} is a system process (the node's or the "
            "observer's own, or not listed as a user's): the observer never kills it"
        }
    actors.exit(pid, "kill")
    return 200, {"killed": str(pid), "node": node}


def _users(pid: actors.Pid) -> bool:
    """Whether `pid` is a user's process, as far as this node knows now: a
    process of this node marked system since the snapshot is not."""
    if pid.node != actors.node_name():
        return True  # the snapshot's word, from its node
    return pid in actors.processes()  # leaves system processes out


async def process_detail(config: Config, node: str, pid_text: str) -> dict[str, Any]:
    """One process as its page shows it: process_info, where it awaits, and
    (with show_state) its messages and, for a server, its state."""
    answer: dict[str, Any] = {"type": "process", "node": node, "pid": pid_text}
    pid = config.pids.get((node, pid_text))
    if pid is None:
        answer["error"] = f"{pid_text} of {node} is not in the last snapshot"
        return answer
    answer["system"] = config.system.get((node, pid_text)) is not False  # no kill button
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
    answer["info"] = jsonable(info)
    answer["stack"] = jsonable(stack)
    answer["kind"] = kind = config.kinds.get((node, pid_text), "process")
    answer["show_state"] = config.show_state
    if config.show_state:
        try:
            answer["messages"] = await inspect(node, "process_messages", pid, timeout=timeout)
        except Exception as exc:  # the node's failure, told to the page
            answer["messages_error"] = repr(exc)
    if config.show_state and kind in ("gen_server", "gen_statem", "supervisor"):
        try:
            answer["state"] = jsonable(await inspect(node, "get_state", pid, timeout=timeout))
        except Exception as exc:  # a state that cannot be read: say why, on the page
            answer["state_error"] = repr(exc)
    return answer


async def handle_ws(config: Config, ws: websocket.Ws) -> None:
    """One open page: it gets every snapshot, and asks about processes."""
    mark_linked()  # its handler, reader and writer are the observer's
    if ws.path != "/ws" or not _allowed(config, ws.host) or not origin_allowed(ws.origin, ws.host):
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


_REQUEST: Final = 'a request is a JSON object: {"op": "process", "node": ..., "pid": ...}'


async def _answer(config: Config, text: str) -> dict[str, Any]:
    try:
        asked = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deep
        return {"type": "error", "error": _REQUEST}
    op = asked.get("op") if isinstance(asked, dict) else None
    if op != "process":
        if isinstance(op, str):
            return {"type": "error", "error": f"unknown op {op[:100]!r}"}
        return {"type": "error", "error": _REQUEST}
    node, pid_text = asked.get("node"), asked.get("pid")
    if not (isinstance(node, str) and isinstance(pid_text, str)):
        return {"type": "error", "error": _REQUEST}
    return await process_detail(config, node, pid_text)
