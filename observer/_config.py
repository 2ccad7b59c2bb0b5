"""One observer's settings and the little it shares between its processes.

The listener's connection processes, the page handlers and the collector
all read one `Config`; they live on one node, in one trio thread, so plain
attributes are enough. The token is here, never in the Observer server's
public state: `actors.get_state` shows attributes that do not start with
`_`, and the page itself may show states (`show_state=True`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import actors

from ._events import History

__all__ = ["Config", "running", "url_of"]


@dataclass(eq=False, repr=False)
class Config:
    ip: str
    port: int
    token: str
    show_state: bool
    interval: float
    max_processes: int
    inspect_timeout: float
    allowed_hosts: frozenset[str] = frozenset()  # Host names answered, besides loopback ones
    own: list[actors.Pid] = field(default_factory=list)  # its server, listener and collector
    listener: actors.Pid | None = None
    group: tuple[str, str] = ("$observer", "")  # the page handlers' process group
    collector: actors.Pid | None = None
    last: str | None = None  # the last snapshot sent, as JSON text: a new page gets it first
    # (node, str(pid)) -> Pid of what the last snapshot showed: how a page's
    # "<0.42.0>" finds its process again (to kill it, or to show it)
    pids: dict[tuple[str, str], actors.Pid] = field(default_factory=dict)
    kinds: dict[tuple[str, str], str] = field(default_factory=dict)  # "gen_server", ...
    # (node, str(pid)) -> whether it is a system process, for what the last
    # snapshot listed as a process or a supervision tree's entry
    system: dict[tuple[str, str], bool] = field(default_factory=dict)
    # node -> (monotonic time, messages) of its last sample: the message rate
    samples: dict[str, tuple[float, int]] = field(default_factory=dict)
    history: History = field(default_factory=History)  # recent crashes and restarts

    def __repr__(self) -> str:
        # Short, and without the token: the page's handlers are partials of
        # this config, and a process's current function may be shown as their
        # repr, to anyone who opens the page.
        return f"<observer {url_of(self.ip, self.port)}>"


_RUNNING: actors.lowlevel.NodeVar[dict[actors.Pid, Config]] = actors.lowlevel.NodeVar(
    "observer.running"
)


def running() -> dict[actors.Pid, Config]:
    """The observers of the calling process's node, by the Pid `start`
    returned (the node's state: two nodes in one OS process each have
    theirs); the collector removes its own when it ends, however it ends."""
    return _RUNNING.setdefault({})


def url_of(ip: str, port: int) -> str:
    """Where a browser on this machine finds the page."""
    address = ipaddress.ip_address(ip)
    if address.is_unspecified:
        host = "127.0.0.1" if address.version == 4 else "[::1]"
    else:
        host = ip if address.version == 4 else f"[{ip}]"
    return f"http://{host}:{port}/"
