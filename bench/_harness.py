"""The benchmarks' server harness: start a server in its own process, watch it, stop it.

Each server under test runs in a subprocess of its own session on 127.0.0.1
and a free port, pinned to a CPU apart from the load client's where it can
be (`placement`), its stderr kept in a file; `serving` waits until it
accepts and stops it on the way out with its own stop signal. `figure` and
`print_figures` are the record of one figure (ours beside an anchor, and
the ratio) and its table; `note` says something about a run on stderr.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds a server has to accept its first connection
STOP_TIMEOUT = 5.0  # seconds a server has to exit once asked

# -- where servers and the load client run ----------------------------------------


@dataclass
class Placement:
    """Where the servers and the load client run: a taskset prefix for each, and why."""

    server: list[str]
    client: list[str]
    note: str


@dataclass(frozen=True)
class PlacementNotes:
    """A bench's words for where things run: `one_cpu` is formatted with
    `cpus`, `pinned` with `server` and `client` (CPU numbers)."""

    one_cpu: str
    no_taskset: str
    pinned: str


def placement(notes: PlacementNotes) -> Placement:
    """Each server on the first CPU this process may use, the client on the
    second (`taskset -c`); both unpinned on one CPU or without taskset, and
    then a note on stderr says so."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset") is not None:
        server, client = cpus[0], cpus[1]
        return Placement(
            ["taskset", "-c", str(server)],
            ["taskset", "-c", str(client)],
            notes.pinned.format(server=server, client=client),
        )
    why = notes.one_cpu.format(cpus=cpus) if len(cpus) < 2 else notes.no_taskset
    note(why)
    return Placement([], [], why)


def note(text: str) -> None:
    """Say something about the run on stderr, apart from the figures."""
    print(f"note: {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# -- one server process -------------------------------------------------------------


@dataclass
class Server:
    """A server process under test; `workload`, where a bench has several per
    server, is part of its name in messages."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    stop_signal: signal.Signals
    workload: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind} ({self.workload})" if self.workload else self.kind

    def stderr_head(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[:lines])

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(
                f"server {self.name} exited with status {code}; its stderr begins:\n"
                f"{self.stderr_head()}"
            )

    def vm_rss(self) -> int:
        """The server process's resident memory, in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS in /proc/{self.proc.pid}/status")

    def cpu_seconds(self) -> float:
        """User+system CPU seconds the server process has used so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after the command name
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def default_sigint() -> None:
    """In the child before exec: SIGINT back to its default, so that Python
    turns it into KeyboardInterrupt even when the bench runs in the
    background of a shell (which starts it with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(server: Server) -> None:
    """Stop one server by its own Popen handle: its stop signal, then SIGKILL
    after STOP_TIMEOUT; then whatever it left in its own process group (the
    group was made for it at start: a worker process may live there)."""
    proc = server.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(server.stop_signal)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        try:
            os.killpg(proc.pid, 0)  # anyone left in the group?
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def wait_accepting(server: Server) -> None:
    """Poll-connect until the server accepts, for at most START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        server.check_alive()
        try:
            with socket.create_connection((HOST, server.port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"server {server.kind} did not accept on {HOST}:{server.port} "
                    f"within {START_TIMEOUT:.0f} s; its stderr begins:\n{server.stderr_head()}"
                ) from None
            time.sleep(0.05)


@contextlib.contextmanager
def serving(
    where: Placement,
    kind: str,
    command: Callable[[int], list[str]],
    workdir: Path,
    stop_signal: signal.Signals,
    *,
    workload: str = "",
    cwd: Path | None = None,
    reset_sigint: bool = False,
) -> Iterator[Server]:
    """Run `command(port)`, a server listening on HOST and a free port, in its
    own session and where `where` puts servers, its stderr in `workdir`;
    yield it once it accepts, and stop it with `stop_signal` on the way out.
    `reset_sigint` runs `default_sigint` in the child before exec."""
    port = free_port()
    name = f"{kind}-{workload}" if workload else kind
    stderr_path = workdir / f"{name}-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [*where.server, *command(port)],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own group: Ctrl-C here reaches us, not it
            preexec_fn=default_sigint if reset_sigint else None,
        )
    server = Server(kind, port, proc, stderr_path, stop_signal, workload)
    try:
        wait_accepting(server)
        yield server
    finally:
        stop(server)


# -- figures ------------------------------------------------------------------------


def figure(value: float, anchor: float, unit: str, higher_is_better: bool) -> dict[str, Any]:
    """One figure: ours, the anchor measured beside it, and ours/anchor."""
    return {
        "value": value,
        "anchor": anchor,
        "ratio": value / anchor,
        "unit": unit,
        "better": "higher" if higher_is_better else "lower",
    }


def print_figures(
    figures: dict[str, dict[str, Any]],
    name_width: int,
    *,
    ours: str = "ours",
    anchor: str = "anchor",
    value_width: int = 12,
    flag: Callable[[str], str] = lambda name: "",
) -> None:
    """The figures as a table, a line each; `flag(name)` ends its line."""
    print(
        f"{'figure':{name_width}} {ours:>{value_width}} {anchor:>{value_width}} {'ratio':>7}  unit"
    )
    for name, fig in figures.items():
        print(
            f"{name:{name_width}} {fig['value']:>{value_width},.2f} "
            f"{fig['anchor']:>{value_width},.2f} "
            f"{fig['ratio']:>6.2f}x  {fig['unit']} ({fig['better']} is better){flag(name)}"
        )
