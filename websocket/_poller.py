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
READABLE message.

How the poller tells a reader: it calls the reader's `readable()`, in the
poller's own task. A reader waiting in its mailbox with nothing else to do
reads and parses right there (a message from the browser then reaches the
handler with no task switch to the reader: one hop, not two); any other
reader, or anything the parse cannot finish at once (a close, a failure, a
full turn of frames), gets a message and carries on in its own task. The
poller handles at most `BATCH` sockets a turn, then lets others run.
"""

from __future__ import annotations

import contextlib
import os
import select
from typing import Any, Final, Protocol

import trio

import actors

__all__ = ["BATCH", "HAVE_EPOLL", "READABLE", "Owner", "Pump", "Poller", "poller"]

READABLE: Final = ("$readable",)
"""To a reader: your socket is readable (read it, then `arm` again)."""

BATCH: Final = 64
"""Sockets the poller handles before it lets other tasks run."""


class Owner(Protocol):
    """A reader, as the poller sees it."""

    @property
    def pid(self) -> actors.Pid:
        """The reader's process, told by a READABLE message when its socket
        was readable already as it asked."""

    def readable(self) -> None:
        """The socket is readable: called once per `arm`, in the poller's
        task; must not raise, and must not wait."""


_NAME: Final = "$websocket_poller"
HAVE_EPOLL: Final = hasattr(select, "epoll")
_MASK: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET if HAVE_EPOLL else 0
_pollers: dict[actors.Pid, Poller] = {}


class Poller:
    """The epoll set of one node's plain-TCP WebSocket readers."""

    __slots__ = ("_epoll", "_fds", "_owners", "_ready")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._fds: set[int] = set()  # in the epoll set
        self._owners: dict[int, Owner] = {}  # fd -> the reader to tell
        self._ready: set[int] = set()  # had an edge while their reader was not asking

    def arm(self, fd: int, reader: Owner, more: bool = False) -> None:
        """Tell `reader` once, when `fd` has bytes (or its end): at once (by
        a READABLE message) if it had some while nobody asked, or if `more`
        (the reader stopped before it read everything); else by calling
        `reader.readable()` at the next edge."""
        if fd not in self._fds:
            self._fds.add(fd)
            self._epoll.register(fd, _MASK)  # tells of bytes already there, too
        elif more or fd in self._ready:
            self._ready.discard(fd)
            actors.send(reader.pid, READABLE)
            return
        self._owners[fd] = reader

    def forget(self, fd: int) -> None:
        """Before the socket closes: its number may soon be another's."""
        self._owners.pop(fd, None)
        self._ready.discard(fd)
        if fd in self._fds:
            self._fds.discard(fd)
            with contextlib.suppress(OSError, ValueError):  # the set is closed
                self._epoll.unregister(fd)

    async def run(self) -> None:
        epoll = self._epoll
        owners = self._owners
        ready_now = self._ready
        poll = epoll.poll
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                while True:
                    ready = poll(0, BATCH)
                    for fd, _ in ready:
                        reader = owners.pop(fd, None)
                        if reader is not None:
                            reader.readable()
                        else:
                            ready_now.add(fd)
                    if len(ready) < BATCH:
                        break
                    await trio.lowlevel.checkpoint()
        finally:
            epoll.close()


async def _poller_main(poller: Poller) -> None:
    try:
        await poller.run()
    finally:
        _pollers.pop(actors.self(), None)


def poller() -> Poller:
    """This node's poller, started by the first plain-TCP socket."""
    pid = actors.whereis(_NAME)
    found = _pollers.get(pid) if pid is not None else None
    if found is None:
        found = Poller()
        _pollers[actors.spawn(_poller_main, found, name=_NAME)] = found
    return found


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
