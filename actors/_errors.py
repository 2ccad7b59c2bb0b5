"""The error vocabulary of `actors`: small and flat, as trio's is."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CallExit",
    "ClusterError",
    "CallTimeout",
    "NameNotRegistered",
    "NotInProcess",
    "ProcessExit",
    "ReceiveTimeout",
    "RemoteError",
    "StartError",
]


class NameNotRegistered(LookupError):
    """`send` to a name that no live process has registered."""

    def __init__(self, name: object) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no process is registered as {self.name!r}"


class ReceiveTimeout(TimeoutError):
    """`receive(timeout=...)` found no matching message in time."""


class NotInProcess(RuntimeError):
    """An `actors` call that needs a process was made outside any node."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        what = self.what
        name = what if "." in what else f"actors.{what}"  # a layer above names its own
        return (
            f"{name}() must be called from a process: "
            "inside actors.run(), `async with actors.node()`, or a spawned function"
        )


class Interrupted(SystemExit, KeyboardInterrupt):
    """Ctrl-C (SIGINT) ended `actors.run`.

    Still a KeyboardInterrupt, so `except KeyboardInterrupt` goes on
    working; and a SystemExit with code 130 (128 + SIGINT, what a shell
    reports for a program Ctrl-C ended), so that, uncaught, the program
    ends with that status and without a traceback: `run` has already said
    in one line that it stopped.
    """

    def __init__(self) -> None:
        super().__init__(130)


class ProcessExit(BaseException):
    """The calling process is exiting with `reason`.

    Raised inside a process that is told to exit at once (`exit(self(), r)`,
    or linking to a dead process while not trapping exits), and out of
    `async with actors.node()` when the node's own process is killed by an
    exit signal. It derives from BaseException so that `except Exception`
    in user code does not swallow an exit.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"process exited: {self.reason!r}"


class CallTimeout(TimeoutError):
    """`call` got no reply in time. A reply that comes later is dropped."""


class CallExit(Exception):
    """`call` failed because the server died, or did not exist ("noproc")."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"the server exited: {self.reason!r}"


class StartError(Exception):
    """`start` / `start_link` of a process that did not start: its `init`
    raised (`reason` is the exception), returned `Stop(reason)`, or the
    process was killed before `init` returned."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"the process did not start: {self.reason!r}"


class RemoteError(Exception):
    """An exception from another node whose class this node may not decode
    (see `allow_remote`): `kind` is its `module.QualName`, `text` its str."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(kind, text)
        self.kind = kind
        self.text = text

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


class ClusterError(RuntimeError):
    """A node could not join its cluster: Redis unreachable, or its name
    already taken by a live node."""


def _register_wire_tags() -> None:
    """These errors travel between nodes (a call's failure, an exit reason)
    under their public names, whatever module defines them."""
    from ._wire import register_tag

    for name in __all__:
        register_tag(name, globals()[name])


_register_wire_tags()
