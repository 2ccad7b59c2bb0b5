"""Where a reader's bytes come from, one message at a time: Erlang's
`{active, once}`, so that the reader is one task.

A reader must hear both its socket and its mailbox (the writer, the exits
of the handler and the listener, its timers). Waiting on the socket in a
helper task of its own costs every idle socket a task, a nursery and their
frames. Instead the reader only ever waits in `actors.receive`, and asks
for one notice at a time (`arm`):

  plain TCP  one poller process per node holds an epoll set of the sockets
             of every reader that asked; when one is readable it tells that
             reader (the socket is then out of the set until asked again,
             EPOLLONESHOT) and the reader reads it, non-blocking. An idle
             socket costs an entry in a dict and in the kernel.
  TLS        the bytes must go through the TLS object, which may hold some
             already: a pump task per socket reads one chunk each time it
             is asked and sends it as ("$data", bytes). So does every socket
             where there is no epoll (not Linux).

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

    def readable(self) -> None:
        """The socket is readable: called once per `arm`, in the poller's
        task; must not raise, and must not wait."""


_NAME: Final = "$websocket_poller"
HAVE_EPOLL: Final = hasattr(select, "epoll")
_MASK: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT if HAVE_EPOLL else 0
_pollers: dict[actors.Pid, Poller] = {}


class Poller:
    """The epoll set of one node's plain-TCP WebSocket readers."""

    __slots__ = ("_epoll", "_owners")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._owners: dict[int, Owner] = {}  # fd -> the reader to tell

    def arm(self, fd: int, reader: Owner) -> None:
        """Call `reader.readable()` once, when `fd` has bytes (or its end)."""
        self._owners[fd] = reader
        try:
            self._epoll.modify(fd, _MASK)
        except FileNotFoundError:  # the first time
            self._epoll.register(fd, _MASK)

    def forget(self, fd: int) -> None:
        """Before the socket closes: its number may soon be another's."""
        self._owners.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):  # never armed, or the set is closed
            self._epoll.unregister(fd)

    async def run(self) -> None:
        epoll = self._epoll
        owners = self._owners
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
