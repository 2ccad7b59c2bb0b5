"""Edges of the hostile-client bounds found in review (issues 8 and 9): a
ping burst at the window's start, deliveries racing a failure, chunked
trailers, HTTP/1.0 expectations, fds per connection, absolute-form hosts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio

import actors
import httpserver
import websocket
from tests.http_helpers import http_server, raw
from tests.test_ws_rfc6455 import ws_server
from tests.ws_helpers import Closed, client_frame, open_ws

TEXT, PING = 0x1, 0x9


# -- WebSocket -----------------------------------------------------------------------


async def test_a_burst_of_1500_pings_in_one_write_is_closed_with_1008() -> None:
    """docs/guides/websockets.md: "more than 1,000 pings and pongs in a second close the socket
    with 1008". Limits._count starts its window only at the 1,001st frame
    (the window is -inf before), so the first second lets 2,000 through."""
    async with actors.node(), ws_server() as port, open_ws(port) as ws:
        await ws.send_raw(client_frame(PING, b"") * 1500)  # well under a second
        await ws.send("after")
        first = await ws.receive(timeout=10)  # the echo, or the close
        assert isinstance(first, Closed), first
        assert first.code == 1008


async def test_after_an_overflow_failure_no_browser_message_follows_closed() -> None:
    """docs/guides/websockets.md: when the server fails a connection, "nothing more reaches the
    handler". On overflow the failure is decided in the handler's ws.send
    (Socket.to_writer) and carried out later by the reader (`$overflow` ->
    `_Reader.fail`), which cancels the frame task's scope. But the frame task
    may already have been rescheduled (the handler's receive took it below
    ws_max_pending and fired its watch): Event.wait then returns normally
    despite the cancel, and `_read_frames` goes on delivering the events
    wsproto already has, up to the next checkpoint (256 events), after the
    handler was told "closed". trio orders a batch at random, so it shows in
    about half the attempts."""

    async def handler(ws: websocket.Ws) -> None:
        me = actors.self()
        while True:
            msg = await actors.receive()
            actors.send("test", ("got", me, msg))
            if isinstance(msg, tuple):
                ws.send(b"z" * (1024 * 1024))

    late: list[Any] = []
    async with (
        actors.node(),
        ws_server(
            ws_loop=handler,
            ws_autoexit=False,
            ws_max_queue=2 * 1024 * 1024,
            ws_max_pending=(8, 1 << 30),
        ) as port,
    ):
        actors.register("test")
        for _ in range(12):
            async with open_ws(port) as ws:
                await ws.send_raw(client_frame(TEXT, b"m") * 2000)  # never reading
                while True:
                    _, pid, msg = await actors.receive(("got", actors.ANY, actors.ANY), timeout=10)
                    if msg == "closed":
                        break
                with pytest.raises(actors.ReceiveTimeout):
                    while True:  # nothing may follow "closed"
                        got = await actors.receive(("got", pid, actors.ANY), timeout=0.2)
                        late.append(got[2])
            if late:
                break
    assert not late, f"{len(late)} messages reached the handler after 'closed': {late[:3]}"


# -- HTTP --------------------------------------------------------------------------------


async def _echo_path(req: httpserver.Req) -> None:
    await req.ok(f"path={req.path} body={len(await req.body())}")


async def test_a_chunked_trailer_with_obs_fold_or_a_control_character_is_refused() -> None:
    """_framing.py refuses obs-fold and control characters "in a head" so
    that a proxy and h11 cannot disagree, but the trailer section of a
    chunked body is a header block h11 parses the same lenient way (it folds
    obs-fold and lets \\x01 through) and it is never checked: the request is
    served and the connection kept alive for the next one."""
    async with actors.node(), http_server(loop=_echo_path) as port:
        for trailer in (b"X-A: a\r\n b\r\n", b"X-A: a\x01b\r\n"):
            out = await raw(
                port,
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1\r\nz\r\n0\r\n" + trailer + b"\r\n"
                b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            folded = trailer.startswith(b"X-A: a\r\n ")
            # A control character is refused; a fold, which h11 has already
            # unfolded, cannot be seen: that request is served, and closes.
            assert out.startswith(b"HTTP/1.1 200 " if folded else b"HTTP/1.1 400 "), out
            assert b"path=/second" not in out, out


async def test_rfc9110_10_1_1_an_http10_expect_100_continue_is_ignored() -> None:
    """RFC 9110 10.1.1: "A server that receives a 100-continue expectation
    in an HTTP/1.0 request MUST ignore that expectation." read_body sends
    "HTTP/1.1 100 Continue" whatever the request's version."""
    async with actors.node(), http_server(loop=_echo_path) as port:
        out = await raw(
            port, b"POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nab"
        )
        assert out.startswith(b"HTTP/1.1 200 "), out
        assert b"100 Continue" not in out, out


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("body", [1000, 70000])  # in memory (passes), spooled (fails)
async def test_a_connection_sending_a_file_holds_at_most_two_fds_even_with_a_spooled_body(
    tmp_path: Path, body: int
) -> None:
    """docs/guides/http.md / _fdlimit: "A connection speaking HTTP holds one fd, two
    while it sends a file or spools a body to disk", and the server counts
    two per HTTP connection against its fd limit on that basis.
    A GET to the static directory carrying a body over 64 KiB has the body
    spooled to a temporary file (auto_recv_body) that stays open until the
    response is done: the socket, the spool and the file are three fds, so
    a client that does not read holds three for send_timeout, and enough of
    them run the process out of fds (EMFILE: accept stalls, files 500)."""
    (tmp_path / "big.bin").write_bytes(b"x" * (8 * 1024 * 1024))
    async with actors.node(), http_server(loop=_echo_path, static=str(tmp_path)) as port:
        base = _open_fds()
        with trio.fail_after(10):
            stream = await trio.open_tcp_stream("127.0.0.1", port)  # one fd here, one there
            async with stream:
                await stream.send_all(
                    b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % body
                    + b"b" * body
                )
                assert (await stream.receive_some(100)).startswith(b"HTTP/1.1 200 ")
                # The server is now sending the file to a client that reads no more.
                held_by_server = _open_fds() - base - 1  # less the client's own socket
        assert held_by_server <= 2, f"the connection holds {held_by_server} fds"


async def test_rfc9112_3_2_2_an_absolute_form_target_s_authority_overrides_host() -> None:
    """RFC 9112 3.2.2: an origin server that receives an absolute-form target
    "MUST ignore the received Host header field (if any) and instead use the
    host information of the request-target". check_request_line reduces
    `GET http://a.example/x` to `/x` and drops the authority, so the handler
    (and anything building URLs from Host) sees the Host header a client
    chose, not the host the request was routed by."""

    async def host(req: httpserver.Req) -> None:
        await req.ok(f"host={req.headers.get('host')}")

    async with actors.node(), http_server(loop=host) as port:
        out = await raw(
            port,
            b"GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        )
        assert out.startswith(b"HTTP/1.1 200 "), out
        assert out.endswith(b"host=a.example"), out
