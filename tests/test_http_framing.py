"""Request framing that cannot be smuggled (RFC 9112 2, 3, 5.2, 6; RFC 9110 5.5, 9.1),
each case over a real socket: what h11 lets through, the server refuses or makes safe."""

from __future__ import annotations

from pathlib import Path

import pytest

import actors
import httpserver
from tests.http_helpers import fetch, http_server, raw


async def echo(req: httpserver.Req) -> None:
    body = await req.body()
    await req.ok(f"{req.method} {req.uri} {req.path} {len(body)}")


# The chunked body ends at once; a front end that framed by Content-Length
# would see the GET as part of this body, we must not serve it as a request.
SMUGGLED = b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
        % len(SMUGGLED),
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["content-length-and-chunked", "http10-keep-alive-chunked"],
)
async def test_rfc9112_6_1_chunked_beside_content_length_or_in_http10_closes_after(
    head: bytes,
) -> None:
    async with actors.node(), http_server(loop=echo) as port:
        data = await raw(port, head + SMUGGLED)  # returns when the server closes
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close\r\n" in data
        assert data.endswith(b"POST / / 0")  # framed as chunked: an empty body
        assert data.count(b"HTTP/1.1 ") == 1  # /admin never answered
        assert b"/admin" not in data


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Transfer-Encoding:\r\n chunked\r\n\r\n" % len(SMUGGLED),
        b"POST / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tTransfer-Encoding: chunked\r\n"
        b"Content-Length: %d\r\n\r\n" % len(SMUGGLED),
    ],
    ids=["folded-transfer-encoding", "folded-into-another-header"],
)
async def test_rfc9112_5_2_obs_fold_is_refused_with_400(head: bytes) -> None:
    async with actors.node(), http_server(loop=echo) as port:
        data = await raw(port, head + SMUGGLED)
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"obs-fold" in data
        assert data.count(b"HTTP/1.1 ") == 1
        assert (await fetch(port, "/still")).status == 200


@pytest.mark.parametrize("version", [b"2.0", b"1.2", b"0.9", b"3.0"])
async def test_rfc9110_15_6_6_only_http10_and_http11_are_served(version: bytes) -> None:
    async with actors.node(), http_server(loop=echo) as port:
        data = await raw(port, b"GET / HTTP/%b\r\nHost: x\r\n\r\n" % version)
        assert data.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
        assert b"Connection: close" in data


@pytest.mark.parametrize("method", [b"get", b"Get", b"pOST"])
async def test_rfc9110_9_1_methods_are_case_sensitive_lowercase_is_501(method: bytes) -> None:
    called: list[str] = []

    async def handler(req: httpserver.Req) -> None:
        called.append(req.method)
        await req.ok("reached")

    async with actors.node(), http_server(loop=handler) as port:
        data = await raw(port, b"%b / HTTP/1.1\r\nHost: x\r\n\r\n" % method)
        assert data.startswith(b"HTTP/1.1 501 Not Implemented\r\n")
        assert called == []
        assert (await fetch(port, method="M-SEARCH")).text == "reached"  # an extension method


@pytest.mark.parametrize("value", [b"a\x0bb", b"a\x0cb", b"a\x01b", b"a\x1fb", b"a\x7fb"], ids=repr)
async def test_rfc9110_5_5_control_characters_in_a_header_value_are_400(value: bytes) -> None:
    # h11 already refuses VT and FF; the others it lets through.
    async with actors.node(), http_server(loop=echo) as port:
        data = await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-V: %b\r\n\r\n" % value)
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        ok = await raw(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nX-V: a\tb\xe9\r\nConnection: close\r\n\r\n"
        )
        assert ok.startswith(b"HTTP/1.1 200 OK\r\n")  # HTAB and obs-text are fine


async def test_rfc9112_3_2_2_absolute_form_is_reduced_to_its_path(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("static a")
    seen: list[tuple[str, str]] = []

    async def handler(req: httpserver.Req) -> None:
        seen.append((req.uri, req.path))
        await req.ok("handler")

    async with actors.node(), http_server(loop=handler, static=str(tmp_path)) as port:
        escape = await raw(
            port, b"GET http://evil/static/../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert escape.startswith(b"HTTP/1.1 403 Forbidden\r\n")  # the static route's check
        served = await raw(
            port, b"GET http://evil/static/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert served.endswith(b"static a")
        query = await raw(
            port, b"GET HTTPS://h:8/?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert query.endswith(b"handler")
        bare = await raw(port, b"GET http://h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert bare.endswith(b"handler")
        assert seen == [("/?q=1", "/"), ("/", "/")]


@pytest.mark.parametrize(
    "target", [b"evil:80", b"x/y", b"*"], ids=["authority-form", "relative", "asterisk-get"]
)
async def test_rfc9112_3_2_other_target_forms_are_400(target: bytes) -> None:
    async with actors.node(), http_server(loop=echo) as port:
        data = await raw(port, b"GET %b HTTP/1.1\r\nHost: x\r\n\r\n" % target)
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        star = await raw(port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert star.endswith(b"OPTIONS * * 0")


async def test_rfc9110_5_5_a_response_header_latin1_cannot_carry_fails_at_the_call() -> None:
    errors: list[Exception] = []

    async def handler(req: httpserver.Req) -> None:
        try:
            await req.ok("x", {"X-Name": "caf\u00e9 \u2713"})
        except ValueError as exc:
            errors.append(exc)
        try:
            await req.ok("x", {"X-Ctl": "a\x0bb"})
        except ValueError as exc:
            errors.append(exc)
        await req.ok("refused", {"X-Latin": "caf\u00e9"})  # latin-1 itself is fine

    async with actors.node(), http_server(loop=handler) as port:
        response = await fetch(port)
        assert response.status == 200
        assert response.header("x-latin") == "caf\u00e9"
    assert [type(e) for e in errors] == [ValueError, ValueError]
    assert "'X-Name'" in str(errors[0])
    assert "beyond latin-1" in str(errors[0])
    assert "'X-Ctl'" in str(errors[1])
    assert "control character" in str(errors[1])
