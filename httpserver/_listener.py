"""The listener: a process that owns the listening sockets and accepts.

`start` binds synchronously, so a bad address or a port in use fails at the
call, and port 0's choice is known when it returns. The listener process
runs one accept loop per socket (ranch's acceptor: back off on EMFILE) and
spawns a linked connection process per connection; it traps exits, so a
connection's crash touches nothing else, while its own death ends them all.
With workers=N it also supervises the worker OS processes (`_workers`) and,
on SIGHUP, replaces them one by one; every listener is watched by the
node's signal guard (`_signals`). With `metrics=PORT` it starts, linked,
a second listener serving /metrics (`_metrics`), whose own requests are
not counted.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, Unpack

import trio

import actors
import actors.lowlevel

from . import _signals, _worker
from ._asgi import AsgiHttp
from ._connection import connection_main, watch_heads
from ._fdlimit import connection_cap, fd_room, raise_fd_limit
from ._lifespan import STARTUP_FAILED, Lifespan
from ._metrics import check_available, metrics_handler, node_requests
from ._options import AppByName, Options
from ._parsing import parser_kind
from ._peer import Trust
from ._redis_sessions import RedisSessions
from ._sessions import Sessions

if TYPE_CHECKING:
    from ._connection import Connection
    from ._req import Req
    from ._start_options import StartOptions
    from ._workers import Workers
    from .lowlevel import UpgradeProtocol

__all__ = ["Server", "info", "port", "start", "start_link", "stop"]

logger = logging.getLogger("httpserver")

_RESOURCE_ERRORS: Final = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_ACCEPTS_PER_TURN: Final = 64  # connections accepted before other tasks get a turn
_SWEEP_EVERY: Final = 1.0


class Server:
    """What the listener and its connections share (one OS process)."""

    def __init__(
        self, options: Options, sockets: list[socket.socket], counted: bool = True
    ) -> None:
        self.options = options
        self.workers: Workers | None = None  # the other OS processes, with workers > 1
        self.sockets = sockets
        self.ip: str = sockets[0].getsockname()[0]
        self.port: int = sockets[0].getsockname()[1]
        # responses by status, the node's (None: the metrics listener's own)
        self.requests = node_requests() if counted else None
        self.metrics_sockets: list[socket.socket] = []  # bound by `start` for metrics=PORT
        self.metrics_port: int | None = None
        self.serving = True  # False once SIGHUP handed its share to a worker
        self.all_closed: trio.Event | None = None  # set when the last connection ends
        self.connections: dict[actors.Pid, Connection] = {}
        fd_limit = raise_fd_limit()
        self.max_connections = connection_cap(options.max_connections, fd_limit)
        self.fd_room = fd_room(fd_limit)  # the fds connections may hold (None: no limit)
        self.switched = 0  # connections handed to another protocol: one fd each, for good
        self.sessions: Sessions | RedisSessions = _sessions(options)
        self.trust = Trust(options.trusted_proxies)
        self.ssl_context = _ssl_context(options.ssl)
        self.parser_kind = parser_kind(options.http)  # "h11" or "httptools"
        asgi = options.asgi
        # the ASGI app, or None: misultin's loop (a worker imports it by name)
        self.asgi = asgi.resolve() if isinstance(asgi, AppByName) else asgi
        # What the connection calls with each Req: `loop`, or the ASGI adapter.
        self.handler: Callable[[Req], Awaitable[None]] = (
            options.loop if options.loop is not None else AsgiHttp(self.asgi)
        )
        self.upgrades: dict[str, UpgradeProtocol] = options.upgrades
        self.state: dict[str, Any] = {}  # the ASGI lifespan's state, copied into each scope
        self.draining = False
        self.listening = trio.Event()  # set once it accepts (after an ASGI lifespan startup)
        self.pid: actors.Pid | None = None  # the listener's, once spawned

    @property
    def overloaded(self) -> bool:
        """Past max_connections, or past the fds the connections may need:
        two for each still speaking HTTP, one for each switched."""
        count = len(self.connections)
        if count > self.max_connections:
            return True
        room = self.fd_room
        return room is not None and 2 * count - self.switched > room


_SERVERS: actors.lowlevel.NodeVar[dict[actors.Pid, Server]] = actors.lowlevel.NodeVar(
    "httpserver.servers"
)


def _servers() -> dict[actors.Pid, Server]:
    """The running servers of the calling process's node (state of the
    node, not of this module: two nodes in one OS process each have theirs)."""
    return _SERVERS.setdefault({})


def start(**options: Unpack[StartOptions]) -> actors.Pid:
    """Start a server; return its listener's Pid at once, its socket bound.

    Options are keywords (`StartOptions` lists them with their types; the
    HTTP guide says what each means); each is checked here, and a bad one
    raises TypeError or ValueError naming it (a typo says what was meant).
    """
    return _start(dict(options), link=False)


def start_link(**options: Unpack[StartOptions]) -> actors.Pid:
    """`start`, linked to the caller (to sit in a supervision tree)."""
    return _start(dict(options), link=True)


def _in_process(what: str) -> None:
    """A call outside any node says so, naming the call the user made."""
    try:
        actors.self()
    except actors.NotInProcess:
        raise actors.NotInProcess(what) from None


def _start(given: dict[str, Any], link: bool) -> actors.Pid:
    options = Options.of(given)  # bad options first: they say more than where the call was
    _in_process("httpserver.start_link" if link else "httpserver.start")
    if _worker.booting:  # a worker re-importing a main module without a __main__ guard
        _worker.refuse_start()
    if options.metrics is not None:
        check_available()
    if options.workers > 1:
        from ._workers import start_workers

        pid: actors.Pid = start_workers(options, link)
        return pid
    return spawn_listener(options, bind(options), link)


def spawn_listener(
    options: Options,
    sockets: list[socket.socket],
    link: bool,
    workers: Workers | None = None,
    ready_to: actors.Pid | None = None,
    counted: bool = True,
) -> actors.Pid:
    """Spawn the listener of `sockets`. It sends `("$listening", pid)` to
    `ready_to` once it accepts (after an ASGI app's lifespan startup);
    `counted` False leaves its responses out of the metrics."""
    metrics: list[socket.socket] = []
    try:
        if options.metrics is not None:
            metrics = bind(replace(options, port=options.metrics, fd=None, workers=1))
        server = Server(options, sockets, counted)
        server.workers = workers
        server.metrics_sockets = metrics
        server.metrics_port = metrics[0].getsockname()[1] if metrics else None
        for protocol in server.upgrades.values():
            protocol.setup()  # in the starting process's node, as the listener's
        parent = actors.self() if link else None
        pid = actors.spawn(
            _listener_main,
            server,
            parent,
            ready_to,
            name=options.name,
            link=link,
            trap_exits=True,
        )
    except BaseException:
        for sock in [*sockets, *metrics]:
            sock.close()
        raise
    server.pid = pid
    _servers()[pid] = server
    actors.lowlevel.add_stat("http_connections", open_connections)
    if options.handle_signals:
        _signals.watch(pid)
    return pid


def open_connections() -> int:
    """The open connections of every server of the calling process's node
    (its "http_connections" in `actors.lowlevel.node_info`)."""
    return sum(len(s.connections) for s in list(_servers().values()))


def port(server: actors.Pid | object) -> int:
    """The port a running server listens on (the chosen one, for port=0)."""
    return _server(server, "httpserver.port").port


def info(server: actors.Pid | object) -> dict[str, Any]:
    """A running server's address, options, request parser, and connection and
    session counts."""
    found = _server(server, "httpserver.info")
    return {
        "ip": found.ip,
        "port": found.port,
        "metrics": found.metrics_port,  # the metrics listener's port, or None
        "connections": len(found.connections),
        "max_connections": found.max_connections,
        "sessions": len(found.sessions),
        "sessions_evicted": found.sessions.evicted,
        "options": found.options,
        "http": found.parser_kind,  # the request parser, "h11" or "httptools"
        "workers": found.workers.pids if found.workers is not None else [],
    }


def has_workers(pid: actors.Pid) -> bool:
    """Whether the running server `pid` has worker processes."""
    found = _servers().get(pid)
    return found is not None and found.workers is not None


async def wait_listening(server: actors.Pid | object) -> None:
    """Return once the server accepts: at once for a misultin loop, after the
    lifespan startup for an ASGI app (if that fails, the listener exits and
    the caller, linked, with it)."""
    await _server(server, "httpserver.wait_listening").listening.wait()


def _server(server: actors.Pid | object, what: str) -> Server:
    _in_process(what)  # servers, and names, are the calling node's
    pid = server if isinstance(server, actors.Pid) else actors.whereis(server)
    found = _servers().get(pid) if pid is not None else None
    if found is None:
        raise LookupError(f"no running server {server!r}")
    return found


async def stop(server: actors.Pid | object, timeout: float | None = None) -> None:
    """Stop accepting, let requests in flight finish (up to `timeout`, default
    the server's shutdown_timeout), close every connection, and end the
    listener. Returns when it is done."""
    _in_process("httpserver.stop")
    pid = server if isinstance(server, actors.Pid) else actors.whereis(server)
    if pid is None:
        return
    ref = actors.monitor(pid)
    actors.send(pid, ("$stop", timeout))
    await actors.receive(actors.Down(ref, pid, actors.ANY))


def bind(options: Options) -> list[socket.socket]:
    if options.fd is not None:
        return [inherited(options.fd)]
    family = socket.AF_INET6 if ":" in options.ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if options.workers > 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and options.ip == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((options.ip, options.port))
        sock.listen(options.backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"cannot listen on {options.ip} port {options.port}: {exc.strerror}"
        ) from exc
    return [sock]


def inherited(fd: int) -> socket.socket:
    """The listening socket of file descriptor `fd` (inherited: systemd's
    socket activation, the reloader's, a worker's), or OSError saying why
    it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot serve fd={fd}: {exc.strerror}") from exc
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        listening = 0
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        listening = 0
    if not listening:
        sock.detach()  # not ours to close
        raise OSError(f"cannot serve fd={fd}: it is not a listening TCP socket")
    sock.setblocking(False)
    return sock


def _sessions(options: Options) -> Sessions | RedisSessions:
    """In a cluster, sessions live in its Redis, so that a client keeps its
    session on whichever worker or node it lands; else in this process."""
    settings = actors.lowlevel.cluster_settings()
    if settings is not None:
        return RedisSessions(
            settings["url"], options.sessions_expire, options.sessions_max_age, options.sessions_max
        )
    return Sessions(
        options.sessions_expire,
        options.sessions_max_age,
        options.sessions_max,
        clock=trio.current_time,
    )


def _ssl_context(given: Any) -> ssl.SSLContext | None:
    if given is None or isinstance(given, ssl.SSLContext):
        return given
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(given["certfile"], given.get("keyfile"), given.get("password"))
    return context


async def _listener_main(
    server: Server, parent: actors.Pid | None, ready_to: actors.Pid | None
) -> None:
    me = actors.self()
    reason: object = "normal"
    listeners = [trio.socket.from_stdlib_socket(sock) for sock in server.sockets]
    lifespan = None
    try:
        if server.asgi is not None and server.options.lifespan != "off":
            lifespan = Lifespan(server)
            if not await lifespan.startup():  # before the first accept
                lifespan.abandon()
                raise actors.ProcessExit(STARTUP_FAILED)
        if server.metrics_sockets:
            _start_metrics(server)
        server.listening.set()
        if ready_to is not None:
            actors.send(ready_to, ("$listening", me))
        async with trio.open_nursery() as nursery:
            for sock in server.sockets:
                nursery.start_soon(_accept_loop, server, sock)
            nursery.start_soon(_sweep_sessions, server)
            nursery.start_soon(watch_heads, server)
            if isinstance(server.sessions, RedisSessions):
                nursery.start_soon(server.sessions.run)
            if server.workers is not None:
                server.workers.supervise_all(nursery)
            while True:
                match await actors.receive():
                    case ("$stop", timeout):
                        pass
                    case actors.Exit(pid, why) if pid == parent:
                        timeout, reason = None, why  # a supervisor's "shutdown"
                    case ("$replace_workers", _):
                        if server.workers is not None:
                            nursery.start_soon(_replace_workers, server, listeners)
                        continue
                    case _:
                        continue  # the Exit of a connection: nothing to do
                for listener in listeners:
                    listener.close()
                grace = server.options.shutdown_timeout if timeout is None else timeout
                async with trio.open_nursery() as draining:
                    if server.workers is not None:
                        draining.start_soon(server.workers.stop, grace)
                    await _drain(server, grace)
                if lifespan is not None:  # after the drain, as the spec says
                    await lifespan.shutdown(grace)
                nursery.cancel_scope.cancel()  # the accept loops, sweeper, supervisors
                break
    finally:
        for listener in listeners:
            listener.close()
        if server.workers is not None:
            server.workers.abandon()  # (after a drain, already done)
        _servers().pop(me, None)
    if reason != "normal":
        raise actors.ProcessExit(reason)


def _start_metrics(server: Server) -> None:
    """The metrics listener, linked to this one (it ends with it); with
    workers in a cluster, it asks their nodes too."""
    workers = server.workers
    options = Options.of(
        {
            "loop": metrics_handler(workers.node_names if workers is not None else list),
            "ip": server.options.ip,
            "port": server.metrics_port,
            "handle_signals": False,
            "shutdown_timeout": 1.0,
        }
    )
    sockets, server.metrics_sockets = server.metrics_sockets, []
    spawn_listener(options, sockets, link=True, counted=False)


async def _replace_workers(server: Server, listeners: list[Any]) -> None:
    """SIGHUP: a new worker for each old one, on the same socket, each
    ready before the old one drains; then this process's own share goes
    to a new worker too, and it stops accepting (its open connections end
    as in a drain), so that every request is served by the new code."""
    workers = server.workers
    assert workers is not None
    if not await workers.replace_all(own=server.serving):
        return  # a new worker could not start: the old ones go on serving
    if not server.serving:
        return
    server.serving = False
    for listener in listeners:
        listener.close()
    await _retire_connections(server, server.options.shutdown_timeout)


async def _retire_connections(server: Server, grace: float) -> None:
    """This process's connections end as in a drain (idle ones now, busy
    ones after their response, the rest after `grace`), while the listener
    goes on (it supervises the workers)."""
    old = list(server.connections.items())
    for pid, conn in old:
        conn.closing = True
        if not conn.busy or conn.upgraded:
            actors.exit(pid, "shutdown")
    server.all_closed = trio.Event()
    if not server.connections:
        server.all_closed.set()
    with trio.move_on_after(grace):
        await server.all_closed.wait()  # (it accepts no more: every one is old)
    server.all_closed = None
    for pid, _ in old:
        if pid in server.connections:
            actors.exit(pid, "kill")


async def _accept_loop(server: Server, listener: socket.socket) -> None:
    """Accept on `listener` (made non-blocking by its trio wrapper, whose
    `close` wakes the wait here): straight from the socket while it has
    connections waiting, a schedule point every `_ACCEPTS_PER_TURN`, and
    through trio only when the backlog is empty (trio's accept, around the
    same system call, cost a tenth of a WebSocket handshake)."""
    accepted = 0
    while True:
        try:
            sock, address = listener.accept()
        except BlockingIOError:
            accepted = 0
            try:
                await trio.lowlevel.wait_readable(listener)
            except trio.ClosedResourceError:
                return
            continue
        except OSError as exc:
            if exc.errno in _RESOURCE_ERRORS:
                logger.error("accept failed (%s); pausing 100 ms", exc)  # noqa: TRY400
                await trio.sleep(0.1)
                continue
            if exc.errno == errno.EBADF:
                return
            raise
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        actors.spawn(connection_main, server, stream, (address[0], address[1]), link=True)
        accepted += 1
        if accepted >= _ACCEPTS_PER_TURN:
            accepted = 0
            await trio.lowlevel.checkpoint()


async def _sweep_sessions(server: Server) -> None:
    while True:
        await trio.sleep(_SWEEP_EVERY)
        server.sessions.sweep()


async def _drain(server: Server, grace: float) -> None:
    """Idle connections close now; busy ones after their response; after the
    grace period, whatever is left is killed."""
    server.draining = True
    for pid, conn in list(server.connections.items()):
        conn.closing = True
        if not conn.busy or conn.upgraded:  # a WebSocket closes with 1001
            actors.exit(pid, "shutdown")
    with trio.move_on_after(grace):
        while server.connections:
            await actors.receive(actors.Exit)
    for pid in list(server.connections):
        actors.exit(pid, "kill")
    while server.connections:
        await actors.receive(actors.Exit)
