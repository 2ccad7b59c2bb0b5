"""Redis high availability under a cluster: a Sentinel that fails the
primary over to its replica while a node streams to another, and a
Redis reached over TLS with a password (rediss://). Real servers, all
started here: a primary, a replica, a sentinel (redis-server --sentinel)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import actors
from actors.testing import wait_node
from tests.cluster_helpers import COOKIE, agent_node
from tests.conftest import RedisServer, _free_port
from tests.test_cluster_faults import check_delivery, flood, pid_of, report

pytestmark = pytest.mark.timeout(120)

SLOW = {"heartbeat": 0.2, "missed": 5}  # a TTL of 1 s: a failover takes about that
AGENT = ("heartbeat=0.2", "missed=5")


class Sentinel:
    """A redis-server in Sentinel mode, watching one primary as "mymaster"."""

    def __init__(self, tmp: Path, primary: int) -> None:
        self.port = _free_port()
        config = tmp / "sentinel.conf"
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"sentinel monitor mymaster 127.0.0.1 {primary} 1\n"
            "sentinel down-after-milliseconds mymaster 400\n"
            "sentinel failover-timeout mymaster 2000\n"
            "sentinel parallel-syncs mymaster 1\n"
        )
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "the sentinel did not start"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def sentinel_pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer, Sentinel]]:
    primary = RedisServer()
    replica = RedisServer("--replicaof", "127.0.0.1", str(primary.port))
    sentinel = Sentinel(tmp_path, primary.port)
    try:
        yield primary, replica, sentinel
    finally:
        sentinel.stop()
        replica.stop()
        primary.stop()


async def test_a_sentinel_failover_loses_nothing_in_silence(
    sentinel_pair: tuple[RedisServer, RedisServer, Sentinel],
) -> None:
    primary, _replica, sentinel = sentinel_pair
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0"
    async with (
        actors.node(name="a", cluster=url, cookie=COOKIE, **SLOW),
        agent_node("b", url, *AGENT) as b,
    ):
        await wait_node("b", timeout=10)
        sink = await pid_of(b, "sink")

        async def fail_over() -> None:
            await trio.sleep(0.5)
            assert primary.proc is not None
            primary.proc.send_signal(signal.SIGKILL)  # the primary dies: the sentinel promotes

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail_over)
            reported = await flood(sink, 4000, 10)
        got = await report(sink, reported, 4000)
        check_delivery(got, 4000, reported)
        assert got, "nothing arrived"
        assert reported, "the primary died: the link must have said noconnection"
        # and the cluster goes on, on the new primary
        assert actors.nodes() == ["b"]
        actors.send(sink, ("n", "after"))
        last: Any = (await report(sink, reported, 4000))[-1]
        assert last == "after"


async def test_rediss_with_a_password_joins_over_tls(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
    }
    ca.cert_pem.write_to_path(files["ca"])
    cert.cert_chain_pems[0].write_to_path(files["cert"])
    cert.private_key_pem.write_to_path(files["key"])
    paths = {name: str(path) for name, path in files.items()}
    tls = RedisServer("--requirepass", "s3cret", tls=paths)
    try:
        url = f"rediss://:s3cret@127.0.0.1:{tls.port}/0?ssl_ca_certs={files['ca']}"
        async with (
            actors.node(name="a", cluster=url, cookie=COOKIE, **SLOW),
            agent_node("b", url, *AGENT) as b,
        ):
            await wait_node("b", timeout=10)
            assert await pid_of(b)
        with pytest.raises(actors.ClusterError) as raised:
            bad = f"rediss://:guess@127.0.0.1:{tls.port}/0?ssl_ca_certs={files['ca']}"
            async with actors.node(name="c", cluster=bad, cookie=COOKIE, **SLOW):
                pass
        assert "guess" not in str(raised.value)
    finally:
        tls.stop()
