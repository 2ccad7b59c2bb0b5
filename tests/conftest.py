"""Shared helpers for the test suite: the older names of `actors.testing`'s helpers,
the run of every HTTP test on each request parser, and a real Redis for the
cluster tests."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from actors.testing import forever as _forever
from actors.testing import wait_exit as wait_down
from tests.http_helpers import PARSER_ENV, parsers_to_test, use_parser

__all__ = ["forever", "wait_down"]

# The modules whose every test runs once per parser (h11, and httptools when
# installed): HTTPSERVER_TEST_PARSER=h11 or =httptools picks one.
_PER_PARSER = ("tests.test_http_", "tests.test_hostile_edges")


def forever() -> Callable[[], Awaitable[None]]:
    """A process body that waits for a message it never gets."""
    return _forever


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__.startswith(_PER_PARSER):
        metafunc.parametrize("http_parser", parsers_to_test(), indirect=True)


@pytest.fixture(autouse=True)
def http_parser(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | None]:
    """The `http` option servers get when a test does not choose one: the
    test's parameter, here and in the programs it starts (see use_parser)."""
    kind: str | None = getattr(request, "param", None)
    if kind is None:
        yield None
        return
    with monkeypatch.context() as patch:
        use_parser(kind, patch.setattr)
        patch.setenv(PARSER_ENV, kind)
        yield kind


# -- a real Redis for the cluster tests ---------------------------------------


class RedisServer:
    """A redis-server this test session started, on a free port. Each test
    gets its own database (`url()`), so no test sees another's keys."""

    def __init__(self, *extra: str, tls: dict[str, str] | None = None) -> None:
        self.extra = extra  # more redis-server arguments, e.g. ("--requirepass", "pw")
        self.tls = tls  # {"cert", "key", "ca"} files: TLS only, on the same port
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: .ci/run installs it (apt-get)")
        self.port = _free_port()
        self._dbs = itertools.count(1)
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = binary
        self.start()

    def start(self) -> None:
        ports = ["--port", str(self.port)]
        if self.tls is not None:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            ports += ["--tls-cert-file", self.tls["cert"], "--tls-key-file", self.tls["key"]]
            ports += ["--tls-ca-cert-file", self.tls["ca"]]
        self.proc = subprocess.Popen(
            [
                self.binary,
                *ports,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--databases",
                "10000",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:  # wait for the port: it listens once it has started
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def url(self, db: int | None = None) -> str:
        return f"redis://127.0.0.1:{self.port}/{next(self._dbs) if db is None else db}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL with a database of its own."""
    return redis_server.url()
