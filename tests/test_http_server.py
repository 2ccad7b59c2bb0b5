"""Server lifecycle: ports, several servers, IPv6, TLS, graceful stop,
supervision, and several worker processes on one port."""

from __future__ import annotations

import os
import socket
import ssl

import pytest
import trio
import trustme

import actors
import httpserver
from tests.http_helpers import exchange, fetch, http_server, open_stream, raw


async def hello(req: httpserver.Req) -> None:
    await req.ok(f"hello from {req.path}")


async def answer_pid(req: httpserver.Req) -> None:
    """Module level, so that worker processes can import it."""
    await req.ok(str(os.getpid()))


async def test_port_zero_picks_a_port_that_is_readable() -> None:
    async with actors.node():
        server = httpserver.start(ip="127.0.0.1", port=0, loop=hello)
        port = httpserver.port(server)
        assert port > 0
        assert httpserver.info(server)["port"] == port
        assert (await fetch(port, "/x")).text == "hello from /x"
        await httpserver.stop(server)
        assert actors.process_info(server) is None
        with pytest.raises(LookupError):
            httpserver.port(server)


async def test_several_servers_in_one_node_by_name() -> None:
    async def other(req: httpserver.Req) -> None:
        await req.ok("other")

    async with actors.node():
        first = httpserver.start(ip="127.0.0.1", port=0, loop=hello, name="web1")
        second = httpserver.start(ip="127.0.0.1", port=0, loop=other, name="web2")
        assert actors.whereis("web1") == first
        assert (await fetch(httpserver.port("web1"))).text == "hello from /"
        assert (await fetch(httpserver.port("web2"))).text == "other"
        await httpserver.stop("web1")
        assert (await fetch(httpserver.port(second))).text == "other"
        await httpserver.stop(second)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6() -> None:
    async def peer(req: httpserver.Req) -> None:
        await req.ok(req.peer[0])

    async with actors.node(), http_server(ip="::1", loop=peer) as port:
        assert (await fetch(port, host="::1")).text == "::1"


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(certificate_authority: trustme.CA, tmp_path: os.PathLike[str]) -> dict[str, str]:
    cert = certificate_authority.issue_cert("localhost", "127.0.0.1")
    certfile = os.path.join(tmp_path, "cert.pem")
    keyfile = os.path.join(tmp_path, "key.pem")
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    return {"certfile": certfile, "keyfile": keyfile}


async def test_tls_from_cert_and_key_files(
    certificate_authority: trustme.CA, tls_files: dict[str, str]
) -> None:
    client = ssl.create_default_context()
    certificate_authority.configure_trust(client)
    async with actors.node(), http_server(loop=hello, ssl=tls_files) as port:
        stream = await open_stream(port, tls=client)
        async with stream:
            first, conn = await exchange(stream, path="/secure")
            second, _ = await exchange(stream, path="/again", client=conn)
        assert (first.text, second.text) == ("hello from /secure", "hello from /again")
        # a client that does not trust the certificate is refused by the handshake
        with pytest.raises(trio.BrokenResourceError):
            await fetch(port, tls=ssl.create_default_context())
        plain = await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not TLS: no answer
        assert not plain.startswith(b"HTTP/1.1 200")


async def test_graceful_stop_finishes_requests_in_flight_and_closes_the_rest() -> None:
    entered = trio.Event()
    release = trio.Event()

    async def slow(req: httpserver.Req) -> None:
        if req.path == "/slow":
            entered.set()
            await release.wait()
        await req.ok(req.path)

    async with actors.node():
        server = httpserver.start(ip="127.0.0.1", port=0, loop=slow, shutdown_timeout=5)
        port = httpserver.port(server)
        idle = await open_stream(port)
        _, idle_client = await exchange(idle, path="/warm")
        busy = await open_stream(port)
        results: list[httpserver.Req | object] = []

        async def in_flight() -> None:
            response, _ = await exchange(busy, path="/slow")
            results.append(response)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_flight)
            await entered.wait()

            async def stopper() -> None:
                await httpserver.stop(server)
                results.append("stopped")

            nursery.start_soon(stopper)
            with trio.fail_after(5):  # the idle connection is closed at once
                assert await idle.receive_some(100) == b""
            with pytest.raises(OSError):  # no new connections
                await trio.open_tcp_stream("127.0.0.1", port)
            release.set()
        response = results[0]
        assert getattr(response, "text", None) == "/slow"
        assert getattr(response, "header")("connection") == "close"  # noqa: B009
        assert results[1] == "stopped"
        assert idle_client is not None


async def test_graceful_stop_kills_what_outlives_the_grace_period() -> None:
    entered = trio.Event()

    async def forever(req: httpserver.Req) -> None:
        entered.set()
        await trio.sleep_forever()

    async with actors.node():
        server = httpserver.start(ip="127.0.0.1", port=0, loop=forever)
        port = httpserver.port(server)
        stream = await open_stream(port)
        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(stream.send_all, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await entered.wait()
            with trio.fail_after(5):
                await httpserver.stop(server, timeout=0.2)
                assert await stream.receive_some(100) == b""


async def test_the_listener_under_a_supervisor_comes_back_on_the_same_port() -> None:
    from functools import partial

    async with actors.node():
        actors.trap_exits()
        probe = httpserver.start(ip="127.0.0.1", port=0, loop=hello)
        port = httpserver.port(probe)
        await httpserver.stop(probe)
        sup = await actors.Supervisor.start_link(
            [
                actors.child(
                    partial(
                        httpserver.start_link, ip="127.0.0.1", port=port, loop=hello, name="web"
                    ),
                    id="web",
                )
            ]
        )
        with trio.fail_after(5):
            while actors.whereis("web") is None:
                await trio.testing.wait_all_tasks_blocked()
        first = actors.whereis("web")
        assert (await fetch(port, "/1")).text == "hello from /1"
        assert first is not None
        actors.exit(first, "kill")
        with trio.fail_after(5):
            while actors.whereis("web") in (None, first):
                await trio.testing.wait_all_tasks_blocked()
        assert (await fetch(port, "/2")).text == "hello from /2"
        actors.exit(sup, "shutdown")
        await actors.receive(actors.Exit(sup, actors.ANY), timeout=5)


async def test_workers_serve_one_port_from_several_os_processes() -> None:
    async with actors.node():
        server = httpserver.start(ip="127.0.0.1", port=0, loop=answer_pid, workers=2)
        port = httpserver.port(server)
        seen: set[str] = set()
        with trio.fail_after(30):
            while len(seen) < 2:
                try:
                    seen.add((await fetch(port)).text)
                except (OSError, trio.BrokenResourceError):
                    continue  # a worker still starting
        assert str(os.getpid()) in seen
        await httpserver.stop(server)


def test_a_start_outside_any_process_names_the_call_made() -> None:
    for start, name in ((httpserver.start, "start"), (httpserver.start_link, "start_link")):
        with pytest.raises(actors.NotInProcess, match=rf"^httpserver\.{name}\(\) must be called"):
            start(port=0, loop=hello)


async def test_the_listener_accepts_a_burst_straight_from_its_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections waiting in the backlog are taken with the socket's own
    accept (trio's wrapper around it cost a tenth of a WebSocket handshake);
    trio only waits for the next one, and stop still ends the accept loop."""

    async def no_trio_accept(self: object) -> None:
        raise AssertionError("trio's accept was used")

    with socket.socket() as plain:
        trio_socket_class = type(trio.socket.from_stdlib_socket(plain))
    monkeypatch.setattr(trio_socket_class, "accept", no_trio_accept)
    async with actors.node():
        server = httpserver.start(ip="127.0.0.1", port=0, loop=hello)
        port = httpserver.port(server)
        async with trio.open_nursery() as nursery:
            for n in range(10):
                nursery.start_soon(fetch, port, f"/{n}")
        assert (await fetch(port, "/x")).text == "hello from /x"
        with trio.fail_after(5):
            await httpserver.stop(server)
        assert actors.process_info(server) is None
