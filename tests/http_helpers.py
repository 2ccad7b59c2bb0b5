"""HTTP test helpers: a small h11 client over real sockets, a raw exchange,
a server inside the test's node, and a runner for examples/ programs."""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import trio

import httpserver
from httpserver import _options
from httpserver._parsing import have_httptools

ROOT = Path(__file__).resolve().parent.parent

# -- which request parser the servers of a test use ------------------------------

PARSER_ENV = "HTTPSERVER_TEST_PARSER"


def parsers_to_test() -> list[str]:
    """h11 and (when installed) httptools, or the one HTTPSERVER_TEST_PARSER names."""
    chosen = os.environ.get(PARSER_ENV)
    if chosen:
        return [chosen]
    return ["h11", "httptools"] if have_httptools() else ["h11"]


def use_parser(kind: str, set_attr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make `kind` the default of the `http` server option in this process."""
    table = [
        (name, kind, *rest) if name == "http" else (name, default, *rest)
        for name, default, *rest in _options._TABLE
    ]
    set_attr(_options, "_TABLE", table)


def python_argv(*argv: str) -> list[str]:
    """`python -u ARGV...` (`-m MODULE ARGS`); under a test that chose a
    parser (HTTPSERVER_TEST_PARSER), the program's servers use it too."""
    kind = os.environ.get(PARSER_ENV)
    if kind is None or argv[:1] != ("-m",):
        return [sys.executable, "-u", *argv]
    return [sys.executable, "-u", "-c", _BOOT, kind, *argv[1:]]


_BOOT = (
    "import runpy, sys; from tests.http_helpers import use_parser;"
    " use_parser(sys.argv.pop(1)); del sys.argv[0];"
    " runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    http_version: str = "1.1"
    informational: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode()


async def open_stream(
    port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> trio.abc.Stream:
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    if tls is not None:
        stream = trio.SSLStream(stream, tls, server_hostname="localhost")
        await stream.do_handshake()
    return stream


async def exchange(
    stream: trio.abc.Stream,
    method: str = "GET",
    path: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    client: h11.Connection | None = None,
) -> tuple[Response, h11.Connection]:
    """One request and its response on an open stream (keep-alive aware)."""
    conn = client or h11.Connection(h11.CLIENT)
    if conn.our_state is h11.DONE:
        conn.start_next_cycle()
    hdrs = [("Host", "localhost"), *headers]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hdrs):
        hdrs.append(("Content-Length", str(len(body))))
    await stream.send_all(conn.send(h11.Request(method=method, target=path, headers=hdrs)))
    if body:
        await stream.send_all(conn.send(h11.Data(data=body)))
    await stream.send_all(conn.send(h11.EndOfMessage()))
    return await read_response(stream, conn), conn


async def read_response(stream: trio.abc.Stream, conn: h11.Connection) -> Response:
    informational: list[int] = []
    parts: list[bytes] = []
    response: h11.Response | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
            continue
        if type(event) is h11.InformationalResponse:
            informational.append(event.status_code)
        elif type(event) is h11.Response:
            response = event
        elif type(event) is h11.Data:
            parts.append(bytes(event.data))
        elif type(event) in (h11.EndOfMessage, h11.ConnectionClosed):
            break
    assert response is not None
    return Response(
        status=response.status_code,
        headers=[(k.decode(), v.decode("latin-1")) for k, v in response.headers],
        body=b"".join(parts),
        http_version=response.http_version.decode(),
        informational=informational,
    )


async def fetch(
    port: int,
    path: str = "/",
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> Response:
    """One request on a new connection."""
    with trio.fail_after(10):
        stream = await open_stream(port, host, tls)
        async with stream:
            response, _ = await exchange(stream, method, path, headers, body)
            return response


async def raw(port: int, data: bytes, host: str = "127.0.0.1", eof: bool = False) -> bytes:
    """Send `data` as is (then end our side, with `eof`); return everything
    the server sends until it closes."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await stream.send_all(data)
            if eof:
                await stream.send_eof()
            received = []
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    break
                if not chunk:
                    break
                received.append(chunk)
            return b"".join(received)


def multipart_body(
    boundary: str,
    parts: Iterable[tuple[str, str | None, bytes]],
    preamble: bytes = b"",
    epilogue: bytes = b"",
) -> bytes:
    """A multipart/form-data body of (name, filename or None, data) parts."""
    out = preamble
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode() + epilogue


@asynccontextmanager
async def http_server(**options: Any) -> AsyncIterator[int]:
    """Start a server on 127.0.0.1 and a free port inside the current node;
    yield the port; stop the server after."""
    options.setdefault("ip", "127.0.0.1")
    options.setdefault("port", 0)
    pid = httpserver.start(**options)
    try:
        yield httpserver.port(pid)
    finally:
        await httpserver.stop(pid, timeout=1)


@asynccontextmanager
async def example(name: str, *args: str, env: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """Run `python -m examples.NAME --port 0 ARGS`; wait for the line it prints
    when it listens ("... listening on http://HOST:PORT/"); yield an object
    with `.port` and `.output()` (stdout so far); stop it after."""
    import os

    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial_run_process,
            python_argv("-m", f"examples.{name}", "--port", "0", *args),
            {**os.environ, **(env or {})},
        )
        runner = _Running(process)
        with trio.fail_after(15):
            await runner.wait_listening()
        try:
            yield runner
        finally:
            process.terminate()
            nursery.cancel_scope.cancel()


async def partial_run_process(
    argv: list[str], env: dict[str, str], *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    import subprocess

    await trio.run_process(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
        task_status=task_status,
    )


LOOPBACK_PORT_0 = ("--ip", "127.0.0.1", "--port", "0")


@asynccontextmanager
async def listening(
    argv: list[str],
    cwd: Path | str = ROOT,
    env: dict[str, str] | None = None,
    where: tuple[str, ...] = LOOPBACK_PORT_0,
    **popen: Any,
) -> AsyncIterator[_Running]:
    """Run `argv` + `where` (a server's command line) until it prints where
    it listens (within 30 s); yield it; kill it after if it still runs
    (a test that stops it otherwise checks how, e.g. with `ended_by`)."""
    import subprocess

    process = await trio.lowlevel.open_process(
        [*argv, *where],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **popen,
    )
    runner = _Running(process)
    try:
        with trio.fail_after(30):
            await runner.wait_listening()
        yield runner
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class _Running:
    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._output = b""
        self.port = 0

    async def _read_more(self) -> bool:
        assert self.process.stdout is not None
        chunk = await self.process.stdout.receive_some(65536)
        self._output += chunk
        return bool(chunk)

    async def wait_listening(self) -> None:
        while b"listening on " not in self._output:
            if not await self._read_more():
                raise RuntimeError(f"the example exited before listening:\n{self._output.decode()}")
        line = self._output.split(b"listening on ", 1)[1].split(b"\n", 1)[0].decode()
        self.port = int(line.rstrip("/").rsplit(":", 1)[1].split("/")[0])

    async def wait_for(self, text: str, timeout: float = 10) -> str:
        """Read the example's output until `text` appears; return all of it."""
        with trio.fail_after(timeout):
            while text not in self._output.decode(errors="replace"):
                if not await self._read_more():
                    break
        return self.output()

    def output(self) -> str:
        return self._output.decode(errors="replace")

    async def ended_by(self, sig: int, timeout: float = 15) -> int:
        """Send `sig`, read the output to its end, and return the exit status."""
        self.process.send_signal(sig)
        with trio.fail_after(timeout):
            while await self._read_more():
                pass
            return await self.process.wait()
