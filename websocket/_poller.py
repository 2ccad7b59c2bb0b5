"""Where a reader's bytes come from, one message at a time: Erlang's
`{active, once}`, so that the reader is one task.

A reader must hear both its socket and its mailbox (the writer, the exits
of the handler and the listener, its timers). Waiting on the socket in a
helper task of its own costs every idle socket a task, a nursery and their
frames. Instead the reader only ever waits in `actors.receive`, and asks
for one notice at a time (`arm`):

  plain TCP  one poller process per node holds an epoll set of the sockets
             of every reader that asked; when one is readable it tells that
             reader (once: the reader asks again when it wants more) and the
             reader reads it, non-blocking. An idle socket costs an entry in
             a dict and in the kernel.
  TLS        the bytes must go through the TLS object, which may hold some
             already: a pump task per socket reads one chunk each time it
             is asked and sends it as ("$data", bytes). So does every socket
             where there is no epoll (not Linux).

The epoll set is edge-triggered: a socket is added once, and asking again
costs no system call (with EPOLLONESHOT every ask was an epoll_ctl). The
price is that an edge comes only when new bytes arrive, so the poller keeps
the sockets that had one while their reader was not asking (`_ready`), and a
reader that stopped before it read everything (a full buffer, a pause) says
so when it asks again (`more`): either way it is told at once, by a
READABLE message. The end of the stream is an edge too, and it may come in
the same edge as the last bytes: a reader is told when the peer has hung up
(`hup`, READABLE_HUP), and then reads on until the end, which no later edge
would announce.

How the poller tells a reader: it calls the reader's `readable()`, in the
poller's own task. A reader waiting in its mailbox with nothing else to do
reads and parses right there (a message from the browser then reaches the
handler with no task switch to the reader: one hop, not two); any other
reader, or anything the parse cannot finish at once (a close, a failure, a
full turn of frames), gets a message and carries on in its own task. The
poller handles at most `BATCH` sockets a turn, then lets others run.

The poller serves every plain socket of the node, so nothing one socket
does may take it down, and what takes it down anyway must not take the
sockets with it:

  a reader's bug  if `readable()` raises, its reader is sent
                  (CRASHED, exc) and fails that socket alone (1011, then a
                  crash report); the poller goes on with the others. (A try
                  costs nothing per call since Python 3.11; only a raise
                  does.) From then on that reader is told by message only
                  (`Messenger`): the poller calls none of its code again.
  its death       the `Poller` (the epoll set, who asked for what) is the
                  node's (a NodeVar), not its process's: the system process
                  "$websocket_poller" only runs it, and a supervisor of its
                  own, "$websocket_poller_sup", starts another when it ends,
                  at most RESTARTS times a PERIOD (one that dies at once
                  cannot spin). The new one gets a new epoll set with every
                  socket registered again, and an edge-triggered registration
                  reports the bytes already waiting (those a dying poller took
                  from the kernel and never handed on, too), so every reader
                  that had asked is told as if nothing happened, and none has
                  to ask again. The supervisor only monitors the poller: if it
                  is ended itself, the poller runs on, and the next socket to
                  ask for the poller (`poller()`) starts a supervisor again,
                  which takes the running poller over.
Both are system processes (actors.lowlevel.spawn_system): out of the
user's `actors.processes()`, and marked so that the observer neither shows
them by default nor kills them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

import trio

import actors
import actors.lowlevel

__all__ = [
    "BATCH",
    "CRASHED",
    "HAVE_EPOLL",
    "PERIOD",
    "READABLE",
    "READABLE_HUP",
    "RESTARTS",
    "Messenger",
    "Owner",
    "Poller",
    "Pump",
    "poller",
]

logger = logging.getLogger("websocket")

READABLE: Final = ("$readable",)
"""To a reader: your socket is readable (read it, then `arm` again)."""

READABLE_HUP: Final = ("$readable", "hup")
"""To a reader: your socket is readable, and the peer has hung up: read
until the end of the stream (no edge will come for it)."""

CRASHED: Final = "$crash"
"""To a reader, as (CRASHED, exc): your `readable()` raised `exc`."""

BATCH: Final = 64
"""Sockets the poller handles before it lets other tasks run."""

RESTARTS: Final = 3
PERIOD: Final = 1.0
"""The poller is started at most RESTARTS times in any PERIOD seconds."""


class Owner(Protocol):
    """A reader, as the poller sees it."""

    @property
    def pid(self) -> actors.Pid:
        """The reader's process, told by a READABLE message when its socket
        was readable already as it asked."""

    def readable(self, hup: int) -> None:
        """The socket is readable (`hup`, if true: and the peer has hung up, so read
        until the end): called once per `arm`, in the poller's task; must
        not wait. If it raises, the reader is sent (CRASHED, exc) and the
        poller goes on."""


class Messenger:
    """An owner told by a READABLE message only: a reader whose
    `readable()` raised asks so from then on."""

    __slots__ = ("pid",)

    def __init__(self, pid: actors.Pid) -> None:
        self.pid = pid

    def readable(self, hup: int) -> None:
        actors.send(self.pid, READABLE_HUP if hup else READABLE)


_NAME: Final = "$websocket_poller"
_SUP: Final = "$websocket_poller_sup"
HAVE_EPOLL: Final = hasattr(select, "epoll")
_MASK: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET if HAVE_EPOLL else 0
_HUP: Final = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR if HAVE_EPOLL else 0


class Poller:
    """The epoll set of one node's plain-TCP WebSocket readers, and the
    processes that run it."""

    __slots__ = (
        "_epoll",
        "_fds",
        "_hup",
        "_now",
        "_ready",
        "owners",
        "supervisor",
        "time",
        "worker",
    )

    def __init__(self) -> None:
        self._now: Callable[[], float] = trio.lowlevel.current_clock().current_time
        self.time = self._now()  # trio.current_time() as this batch of sockets began
        self._epoll = select.epoll()
        self._fds: set[int] = set()  # in the epoll set
        # fd -> the reader to tell. A reader told by `readable()` may ask
        # again by setting its own entry (its fd is registered, and is not
        # in `_ready`: the edge was the one it was told of), a call less.
        self.owners: dict[int, Owner] = {}
        self._ready: set[int] = set()  # had an edge while their reader was not asking
        self._hup: set[int] = set()  # ... and the peer had hung up
        self.worker: actors.Pid | None = None  # the process running `run`
        self.supervisor: actors.Pid | None = None

    def arm(self, fd: int, reader: Owner, more: bool = False) -> None:
        """Tell `reader` once, when `fd` has bytes (or its end): at once (by
        a READABLE message) if it had some while nobody asked, or if `more`
        (the reader stopped before it read everything); else by calling
        `reader.readable()` at the next edge."""
        if fd not in self._fds:
            self._fds.add(fd)
            # Tells of bytes already there, too. A set closed by a poller that
            # ended is renewed, with this socket, before the next one runs.
            with contextlib.suppress(ValueError):
                self._epoll.register(fd, _MASK)
        elif more or fd in self._ready:
            self._ready.discard(fd)
            hup = fd in self._hup
            if hup:
                self._hup.discard(fd)
            actors.send(reader.pid, READABLE_HUP if hup else READABLE)
            return
        self.owners[fd] = reader

    def forget(self, fd: int) -> None:
        """Before the socket closes: its number may soon be another's."""
        self.owners.pop(fd, None)
        self._ready.discard(fd)
        self._hup.discard(fd)
        if fd in self._fds:
            self._fds.discard(fd)
            with contextlib.suppress(OSError, ValueError):  # the set is closed
                self._epoll.unregister(fd)

    def renew(self) -> None:
        """A new epoll set, for the process that takes over from one that
        ended, with every socket of the last registered again."""
        epoll = select.epoll()  # OSError (out of descriptors): the supervisor retries
        with contextlib.suppress(OSError):
            self._epoll.close()  # closed already, unless its process never ran
        self._epoll = epoll
        for fd in list(self._fds):
            try:
                epoll.register(fd, _MASK)
            except OSError:  # not an open socket: its reader finds out by reading
                self._fds.discard(fd)
                reader = self.owners.pop(fd, None)
                if reader is not None:
                    _tell(reader, READABLE)

    async def run(self) -> None:
        """The poll loop: the body of "$websocket_poller"."""
        epoll = self._epoll
        owners = self.owners
        ready_now = self._ready
        hung_up = self._hup
        now = self._now
        poll = epoll.poll
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                while True:
                    ready = poll(0, BATCH)
                    self.time = now()  # one clock reading for the batch, not one a socket
                    for fd, events in ready:
                        reader = owners.pop(fd, None)
                        if reader is not None:
                            try:
                                reader.readable(events & _HUP)
                            except Exception as exc:  # that socket's bug, and its alone
                                _tell(reader, (CRASHED, exc))
                        else:
                            ready_now.add(fd)
                            if events & _HUP:
                                hung_up.add(fd)
                    if len(ready) < BATCH:
                        break
                    await trio.lowlevel.checkpoint()
        finally:
            epoll.close()


def _tell(reader: Owner, msg: Any) -> None:
    try:
        actors.send(reader.pid, msg)
    except Exception:  # not even its Pid: its own timers end the socket
        logger.exception("websocket: could not tell the reader %r %r", reader, msg)


def poller() -> Poller:
    """This node's poller, made by its first plain-TCP socket; its
    supervisor is started again here if it was ended."""
    found = _POLLER.get(None)
    if found is None:
        found = Poller()
        _POLLER.set(found)
    supervisor = found.supervisor
    if supervisor is None or (
        actors.whereis(_SUP) is not supervisor and actors.process_info(supervisor) is None
    ):
        found.supervisor = actors.lowlevel.spawn_system(_supervise, found, name=_free(_SUP))
    return found


_POLLER: Final[actors.lowlevel.NodeVar[Poller]] = actors.lowlevel.NodeVar("websocket.poller")


async def _supervise(poller: Poller) -> None:
    """The body of "$websocket_poller_sup": keep one process running
    `poller`. It only monitors that process, so that its own end leaves the
    poller running; its successor takes the running one over."""
    starts: deque[float] = deque(maxlen=RESTARTS)
    worker = poller.worker  # one running already, or dead (a monitor says so at once)
    if worker is None:
        worker = await _start(poller, starts, renew=False)
    ref = actors.monitor(worker)
    while True:
        msg = await actors.receive()  # anything else is dropped: the mailbox stays empty
        if type(msg) is actors.Down and msg.ref == ref:
            logger.warning("websocket: poller %r ended (%r); starting another", worker, msg.reason)
            worker = await _start(poller, starts, renew=True)
            ref = actors.monitor(worker)


async def _start(poller: Poller, starts: deque[float], renew: bool) -> actors.Pid:
    """Start a process running `poller` (on a new epoll set after the
    first), at most RESTARTS times a PERIOD."""
    while True:
        if len(starts) == RESTARTS:
            await trio.sleep_until(starts[0] + PERIOD)
        starts.append(trio.current_time())
        if renew:
            try:
                poller.renew()
            except OSError:
                logger.exception("websocket: no epoll set for the poller; trying again")
                continue
        poller.worker = actors.lowlevel.spawn_system(poller.run, name=_free(_NAME))
        return poller.worker


def _free(name: str) -> str | None:
    """`name`, if no process holds it (a system process goes unnamed
    rather than fail)."""
    return name if actors.whereis(name) is None else None


def read_now(fd: int, size: int) -> bytes | None:
    """What the socket has, without waiting: b"" at its end (or when it
    broke), None when it had nothing after all."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError:  # reset, and the like: as the end
        return b""


class Pump:
    """For a stream that is not a plain TCP socket (TLS): one chunk read
    and sent to the reader as ("$data", bytes) each time it is armed."""

    __slots__ = ("_armed", "_reader", "_size", "_stream")

    def __init__(self, stream: trio.abc.Stream, reader: actors.Pid, size: int) -> None:
        self._stream = stream
        self._reader = reader
        self._size = size
        self._armed = trio.Event()

    def arm(self) -> None:
        self._armed.set()

    async def run(self) -> Any:
        while True:
            await self._armed.wait()
            self._armed = trio.Event()
            try:
                data = await self._stream.receive_some(self._size)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            actors.send(self._reader, ("$data", bytes(data)))
            if not data:
                return
