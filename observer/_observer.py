"""The observer's own process, and how it starts: `start_link` is a starter,
so an observer can sit in a supervision tree; it returns once the page is
served. `info(pid)` tells where the page is and the kill token."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from functools import partial, update_wrapper
from typing import Any, Final

import actors
import actors.lowlevel
import httpserver

from ._access import check_bind, is_loopback
from ._collect import collect
from ._config import Config, running, url_of
from ._web import handle_http, handle_ws

logger = logging.getLogger("observer")

MAX_REQUEST: Final = 4096
"""Bytes in a request body (a kill) or a message from a page (a question
about one process): what the page sends is far smaller, so anything past
it is refused by the server (413, or close code 1009) before it is read."""

__all__ = ["Observer", "info", "start", "start_link"]

_token: list[str] = []  # this OS process's token, made once: a restart keeps it


def _default_token() -> str:
    if not _token:
        _token.append(secrets.token_urlsafe(16))
    return _token[0]


class Observer(actors.GenServer):
    """The observer's own process: it owns its HTTP listener and its
    collector (both linked: if either dies, the observer restarts whole).
    Its public state holds nothing secret."""

    def init(self, config: Config, announce: bool, handle_signals: bool) -> None:
        self._config = config
        me = actors.self()
        actors.lowlevel.mark_system()  # the page never kills the observer itself
        server = httpserver.start_link(
            ip=config.ip,
            port=config.port,
            loop=_bound(handle_http, config),
            ws_loop=_bound(handle_ws, config),
            handle_signals=handle_signals,
            post_max_size=MAX_REQUEST,
            ws_max_message=MAX_REQUEST,
        )
        config.port = httpserver.port(server)
        # A group name no other observer of the cluster has: broadcasts span nodes.
        config.group = ("$observer", f"{actors.node_name()}/{me}")
        config.listener = server
        config.own = [me, server, actors.spawn_link(collect, config, me)]
        for pid in config.own:
            actors.lowlevel.mark_system(pid)
        running()[me] = config
        self.url = url_of(config.ip, config.port)
        self.show_state = config.show_state
        self.listener = server
        if not is_loopback(config.ip):
            logger.warning(
                "observer: %s listens on %s, which other machines reach; it answers "
                "only to the Host names %s (and loopback ones), and a kill needs the token",
                self.url,
                config.ip,
                ", ".join(sorted(config.allowed_hosts)),
            )
        if announce:
            print(f"observer on {self.url} kill token: {config.token}", flush=True)


def _bound(fn: Callable[..., Any], config: Config) -> Callable[..., Any]:
    """`fn` with `config` as its first argument, named as `fn` itself: a
    process's current function then reads "observer._web.handle_ws", not a
    partial's repr with its arguments."""
    return update_wrapper(partial(fn, config), fn)


def _config(
    port: int,
    ip: str,
    show_state: bool,
    token: str | None,
    interval: float,
    max_processes: int,
    inspect_timeout: float,
    allowed_hosts: Iterable[str] | None,
) -> Config:
    if not (isinstance(interval, int | float) and interval > 0):
        raise ValueError(f"interval must be seconds > 0; got {interval!r}")
    if not (isinstance(max_processes, int) and max_processes >= 1):
        raise ValueError(f"max_processes must be an int >= 1; got {max_processes!r}")
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        raise ValueError("token must be a str of 8 characters or more (None makes one)")
    allowed = check_bind(ip, token, allowed_hosts)
    return Config(
        ip=ip,
        port=port,
        token=token if token is not None else _default_token(),
        show_state=bool(show_state),
        interval=float(interval),
        max_processes=max_processes,
        inspect_timeout=float(inspect_timeout),
        allowed_hosts=allowed,
    )


@actors.starter
async def start_link(
    *,
    port: int = 8090,
    ip: str = "127.0.0.1",
    show_state: bool = False,
    token: str | None = None,
    interval: float = 1.0,
    max_processes: int = 1000,
    inspect_timeout: float = 2.0,
    allowed_hosts: Iterable[str] | None = None,
    announce: bool = True,
    handle_signals: bool = False,
    name: object = None,
) -> actors.Pid:
    """Start an observer linked to the caller; return its Pid once its page
    is served (a starter: `child(partial(observer.start_link, port=8090))`
    puts it in a supervision tree).

    `ip` defaults to 127.0.0.1: the page shows the whole system, so it
    stays on this machine unless you say otherwise; on any other address
    it needs `token` and `allowed_hosts` (the Host names it answers to,
    besides loopback ones: a page elsewhere cannot then read it through a
    visitor's browser), and logs a warning. `token` is what the
    kill button needs (default: a random one, made once per OS process, so
    a restarted observer keeps it); `announce` prints the URL and the
    token. `show_state=True` also shows message contents and servers'
    states. `interval`: seconds between snapshots while a page is open;
    `max_processes`: rows sent per snapshot (the busiest, when there are
    more); `inspect_timeout`: how long a node may take to answer.
    `handle_signals` as for httpserver (off: an observer inside an
    application leaves SIGTERM and SIGINT to it).
    """
    config = _config(
        port, ip, show_state, token, interval, max_processes, inspect_timeout, allowed_hosts
    )
    return await Observer.start_link(config, announce, handle_signals, name=name)


async def start(
    *,
    port: int = 8090,
    ip: str = "127.0.0.1",
    show_state: bool = False,
    token: str | None = None,
    interval: float = 1.0,
    max_processes: int = 1000,
    inspect_timeout: float = 2.0,
    allowed_hosts: Iterable[str] | None = None,
    announce: bool = True,
    handle_signals: bool = False,
    name: object = None,
) -> actors.Pid:
    """`start_link`, not linked to the caller."""
    config = _config(
        port, ip, show_state, token, interval, max_processes, inspect_timeout, allowed_hosts
    )
    return await Observer.start(config, announce, handle_signals, name=name)


def info(pid: actors.Pid) -> dict[str, Any]:
    """A running observer's `url`, `ip`, `port`, `token` and `show_state`;
    LookupError if `pid` is not one (or it has ended)."""
    try:
        config = running().get(pid)
    except actors.NotInProcess:
        raise actors.NotInProcess("observer.info") from None
    if config is None:
        raise LookupError(f"{pid!r} is not a running observer")
    return {
        "url": url_of(config.ip, config.port),
        "ip": config.ip,
        "port": config.port,
        "token": config.token,
        "show_state": config.show_state,
    }
