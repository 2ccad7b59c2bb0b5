"""ASGI apps over HTTP (asgiref's www spec, the `http` and `lifespan`
scopes), over real sockets; each test runs on both request parsers."""

from __future__ import annotations

import json
import logging
from typing import Any

import h11
import pytest
import trio
import trio.testing

import actors
import httpserver
from actors.testing import assert_receive, wait_exit
from httpserver._lifespan import STARTUP_FAILED
from tests import asgi_apps
from tests.http_helpers import exchange, fetch, http_server, open_stream, raw, read_response


async def scope_of(port: int, path: str = "/", **kwargs: Any) -> dict[str, Any]:
    response = await fetch(port, path, **kwargs)
    assert response.status == 200, response
    found: dict[str, Any] = json.loads(response.body)
    return found


# -- the scope ----------------------------------------


async def test_the_http_scope_has_every_key_a_server_provides() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.scope_app) as port:
        scope = await scope_of(
            port, "/a%20b/c%2Fd?x=1&y=%20", headers=[("X-Two", "1"), ("X-Two", "2")]
        )
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/a b/c/d"  # percent-decoded
    assert scope["raw_path"] == "/a%20b/c%2Fd"  # as sent, without the query
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert ["x-two", "1"] in scope["headers"]
    assert ["x-two", "2"] in scope["headers"]
    assert ["host", "localhost"] in scope["headers"]
    assert scope["client"][0] == "127.0.0.1"
    assert isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", port]
    assert scope["state_keys"] == []


async def test_root_path_is_in_the_scope_and_prefixes_the_path() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.scope_app, root_path="/api") as port:
        scope = await scope_of(port, "/items?q=1")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items"
    assert scope["raw_path"] == "/api/items"


async def test_a_trusted_proxy_feeds_client_scheme_and_root_path() -> None:
    forwarded = [
        ("X-Forwarded-For", "203.0.113.7, 127.0.0.1"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Prefix", "/shop/"),
    ]
    async with actors.node():
        async with http_server(asgi=asgi_apps.scope_app, trusted_proxies=["127.0.0.1"]) as port:
            trusted = await scope_of(port, "/cart", headers=forwarded)
        async with http_server(asgi=asgi_apps.scope_app) as port:
            untrusted = await scope_of(port, "/cart", headers=forwarded)
    assert trusted["client"][0] == "203.0.113.7"
    assert trusted["scheme"] == "https"
    assert (trusted["root_path"], trusted["path"]) == ("/shop", "/shop/cart")
    # From anyone else the same headers are headers, nothing more.
    assert untrusted["client"][0] == "127.0.0.1"
    assert untrusted["scheme"] == "http"
    assert (untrusted["root_path"], untrusted["path"]) == ("", "/cart")


# -- the request body ----------------------------------------


async def test_a_body_read_ahead_comes_in_64_kib_messages() -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: past the 64 KiB spool
    async with actors.node(), http_server(asgi=asgi_apps.echo_app) as port:
        response = await fetch(port, "/", "POST", body=body)
    assert response.status == 200
    assert response.body == body
    assert int(response.header("x-messages") or 0) == 4


async def test_a_streamed_body_comes_in_several_messages_as_it_arrives() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.scope_app, auto_recv_body=False) as port:
        stream = await open_stream(port)
        client = h11.Connection(h11.CLIENT)
        async with stream:
            head = [("Host", "x"), ("Transfer-Encoding", "chunked")]
            await stream.send_all(client.send(h11.Request(method="POST", target="/", headers=head)))
            await stream.send_all(client.send(h11.Data(data=b"hello")))
            with trio.fail_after(10):
                # The server reads the first piece before the rest is sent.
                await trio.testing.wait_all_tasks_blocked(0.05)
                await stream.send_all(client.send(h11.Data(data=b" world")))
                await stream.send_all(client.send(h11.EndOfMessage()))
                response = await read_response(stream, client)
    scope = json.loads(response.body)
    assert scope["body"] == "hello world"
    assert len(scope["messages"]) >= 2
    assert scope["messages"][-1][1] is False
    assert all(more for _, more in scope["messages"][:-1])


async def test_a_content_length_body_ends_with_its_last_bytes_not_an_empty_message() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.scope_app, auto_recv_body=False) as port:
        scope = await scope_of(port, "/", method="POST", body=b"abc")
    assert scope["messages"] == [[3, False]]


# -- the response ----------------------------------------


async def test_a_whole_response_gets_its_content_length_and_keeps_alive() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.echo_app) as port:
        stream = await open_stream(port)
        async with stream:
            first, client = await exchange(stream, "POST", "/", body=b"one")
            second, _ = await exchange(stream, "POST", "/", body=b"two", client=client)
    assert (first.body, second.body) == (b"one", b"two")
    assert first.header("content-length") == "3"
    assert first.header("server")
    assert first.header("date")


async def test_a_streamed_response_is_chunked_and_a_head_request_gets_no_body() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.stream_app) as port:
        got = await fetch(port, "/")
        head = await raw(port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        old = await raw(port, b"GET / HTTP/1.0\r\n\r\n")
    assert got.body == b"one two three"
    assert got.header("transfer-encoding") == "chunked"
    assert head.startswith(b"HTTP/1.1 200 ")
    assert head.endswith(b"\r\n\r\n")
    # HTTP/1.0 has no chunks: the body ends with the connection.
    assert old.split(b"\r\n\r\n", 1)[1] == b"one two three"
    assert b"Connection: close" in old


async def test_http_disconnect_arrives_when_the_client_goes_away() -> None:
    async with actors.node():
        actors.register("watcher", actors.self())
        async with http_server(asgi=asgi_apps.disconnect_app) as port:
            stream = await open_stream(port)
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await assert_receive("waiting", timeout=10)
            await stream.aclose()
            assert await assert_receive(("received", actors.ANY), timeout=10) == (
                "received",
                "http.disconnect",
            )


# -- protocol violations ----------------------------------------


@pytest.mark.parametrize(
    ("app", "words"),
    [
        (asgi_apps.body_before_start, "http.response.body before http.response.start"),
        (asgi_apps.second_start, "a second http.response.start"),
        (asgi_apps.unknown_type, "an unknown message type 'http.response.teapot'"),
        (asgi_apps.no_response, "returned without sending http.response.start"),
        (asgi_apps.bad_header, "an invalid response header"),
        (asgi_apps.too_long, "a body of 3 bytes where Content-Length says 2"),
        (asgi_apps.raises, "raised ValueError"),
    ],
)
async def test_a_violation_before_anything_was_sent_is_a_500_and_one_log_line(
    app: Any, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with actors.node(), http_server(asgi=app, lifespan="off") as port:
        answer = await raw(port, b"GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert b"Connection: close" in answer
        assert b"too early" not in answer
        assert b"a\r\nb: c" not in answer
        # The server goes on serving.
        again = await raw(port, b"GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
        assert again.startswith(b"HTTP/1.1 500 ")
    records = [r for r in caplog.records if r.name == "httpserver" and "ASGI app" in r.message]
    assert len(records) == 2, [r.message for r in caplog.records]
    assert words in records[0].message
    assert "GET /v" in records[0].message
    assert not [r for r in caplog.records if r.name == "actors"]  # no crash report


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"text/plain"), (b"connection", b"close\r\nx-injected: 1")],
        [(b"transfer-encoding", b"chunked\r\nx-injected: 1")],
        [(b"server", b"s\nx-injected: 1"), (b"content-type", b"text/plain")],
        [(b"date", b"d\x00")],
        [(b"content-type", b"text/plain"), (b"x injected", b"1")],
        [(b"content-type", b"text/plain"), (b"content-type:", b"1")],
    ],
    ids=["connection", "transfer-encoding", "server", "date", "name-space", "name-colon"],
)
async def test_every_response_header_is_checked_whatever_its_name_or_place(
    headers: list[tuple[bytes, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    # The names the server acts on (and drops) are checked as any other, and
    # a name seen valid before does not vouch for its value.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async with actors.node(), http_server(asgi=app, lifespan="off") as port:
        answer = await raw(port, b"GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"x-injected" not in answer
    assert any("an invalid response header" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("app", "words"),
    [
        (asgi_apps.unknown_type_mid_stream, "an unknown message type"),
        (asgi_apps.raises_mid_stream, "raised ValueError"),
    ],
)
async def test_a_violation_after_the_head_closes_the_connection_mid_body(
    app: Any, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with actors.node(), http_server(asgi=app, lifespan="off") as port:
        answer = await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"5\r\nbegun\r\n"  # no last chunk: the client sees it cut short
    records = [r for r in caplog.records if r.name == "httpserver" and "ASGI app" in r.message]
    assert len(records) == 1
    assert words in records[0].message
    assert "closing the connection" in records[0].message


# -- the misultin rules, for ASGI apps too ----------------------------------------


async def test_a_trickled_head_gets_408_within_recv_timeout() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.echo_app, recv_timeout=0.4) as port:
        stream = await open_stream(port)
        start = trio.current_time()
        async with stream:
            with trio.fail_after(5):
                received = b""
                try:
                    for byte in b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: abc\r\n" * 50:
                        await stream.send_all(bytes([byte]))
                        await trio.sleep(0.05)  # the slowness under test
                except trio.BrokenResourceError:
                    pass
                while data := await stream.receive_some(4096):
                    received += data
    assert received.startswith(b"HTTP/1.1 408 ")
    assert trio.current_time() - start < 2


async def test_a_body_over_post_max_size_is_413_before_and_while_the_app_reads() -> None:
    async with actors.node():
        async with http_server(asgi=asgi_apps.echo_app, post_max_size=1000) as port:
            declared = await raw(
                port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001
            )
        async with http_server(
            asgi=asgi_apps.echo_app, post_max_size=1000, auto_recv_body=False
        ) as port:
            chunks = b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(8))
            streamed = await raw(
                port,
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks,
            )
    assert declared.startswith(b"HTTP/1.1 413 ")
    assert streamed.startswith(b"HTTP/1.1 413 ")


async def test_cl_te_is_read_as_chunked_and_the_connection_closes_after() -> None:
    smuggled = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    async with actors.node(), http_server(asgi=asgi_apps.scope_app) as port:
        answer = await raw(port, smuggled)
    assert answer.count(b"HTTP/1.1 ") == 1  # the smuggled request is never served
    assert b"Connection: close" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["body"] == ""


# -- lifespan ----------------------------------------


async def test_lifespan_startup_comes_before_the_first_request_and_shutdown_after_the_drain() -> (
    None
):
    async with actors.node():
        actors.register("watcher", actors.self())
        server = httpserver.start(ip="127.0.0.1", port=0, asgi=asgi_apps.counter_app)
        port = httpserver.port(server)
        async with trio.open_nursery() as nursery:
            results: list[Any] = []

            async def slow() -> None:
                results.append(await fetch(port, "/slow"))

            nursery.start_soon(slow)
            assert await assert_receive(("lifespan", actors.ANY), timeout=10) == (
                "lifespan",
                "startup",
            )
            _, _, connection = await assert_receive(("request", "begun", actors.ANY), timeout=10)
            stopping = actors.spawn(httpserver.stop, server)
            await trio.testing.wait_all_tasks_blocked()  # the drain has begun
            actors.send(connection, "go")
            # The request in flight is served before shutdown is asked for.
            first = await actors.receive(("request", "done"), ("lifespan", "shutdown"), timeout=10)
            assert first == ("request", "done")
            await assert_receive(("lifespan", "shutdown"), timeout=10)
        await wait_exit(stopping, timeout=10)
    assert results[0].status == 200
    assert results[0].body == b"1"


async def test_a_route_calls_a_gen_server_started_at_startup_under_50_concurrent_requests() -> None:
    async with actors.node(), http_server(asgi=asgi_apps.counter_app) as port:
        answers: list[int] = []

        async def one() -> None:
            response = await fetch(port, "/")
            assert response.status == 200
            answers.append(int(response.body))

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for _ in range(50):
                    nursery.start_soon(one)
    assert sorted(answers) == list(range(1, 51))  # each call counted once, none lost


async def test_a_failed_startup_ends_the_listener_before_it_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with actors.node():
        server = httpserver.start(ip="127.0.0.1", port=0, asgi=asgi_apps.failing_startup)
        port = httpserver.port(server)
        reason = await wait_exit(server, timeout=10)
        assert reason == STARTUP_FAILED
        with pytest.raises(OSError), trio.fail_after(5):
            await trio.open_tcp_stream("127.0.0.1", port)
    lines = [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["the ASGI app's lifespan startup failed: no database"]


async def test_an_app_without_lifespan_is_served_all_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with actors.node(), http_server(asgi=asgi_apps.no_lifespan) as port:
        assert (await fetch(port, "/")).body == b"served"
    assert "does not support the lifespan scope" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_loop_and_asgi_are_told_apart_at_start() -> None:
    async def main() -> None:
        with pytest.raises(
            ValueError, match="it takes \\(scope, receive, send\\), so it is an ASGI"
        ):
            httpserver.start(port=0, loop=asgi_apps.echo_app)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="'loop' or 'asgi', not both"):
            httpserver.start(
                port=0,
                loop=asgi_apps.echo_app,  # type: ignore[arg-type]
                asgi=asgi_apps.echo_app,
            )

    trio.run(_in_node, main)


async def _in_node(fn: Any) -> None:
    async with actors.node():
        await fn()
