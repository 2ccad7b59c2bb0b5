"""Hostile clients (issue 9, part B): forged client addresses, session
floods, malformed validators, files that cannot be opened, raw UTF-8 forms."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import trio

import actors
import httpserver
from httpserver import _files
from httpserver._listener import _servers
from httpserver._sessions import Sessions
from tests.http_helpers import Response, exchange, fetch, http_server, raw

# -- files: RFC 9110 13.1.3, and opening before answering ----------------------------


@pytest.mark.parametrize(
    "since",
    [
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",  # a 20-digit year
        "Sun, 06 Nov 1994 08:49:37 GMT trailing garbage",
        "not a date at all",
        "Sun, 06 Nov 1994 99:99:99 GMT",
    ],
)
async def test_rfc9110_13_1_3_a_malformed_if_modified_since_is_ignored(
    tmp_path: Path, since: str
) -> None:
    (tmp_path / "page.html").write_text("<p>hi</p>")

    async def handler(req: httpserver.Req) -> None:
        await req.file(str(tmp_path / "page.html"))

    async with actors.node(), http_server(loop=handler, static=str(tmp_path)) as port:
        for path in ("/static/page.html", "/by-file"):
            response = await fetch(port, path, headers=[("If-Modified-Since", since)])
            assert (response.status, response.text) == (200, "<p>hi</p>"), path


async def test_rfc9110_13_1_3_if_none_match_outranks_if_modified_since(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>hi</p>")
    async with actors.node(), http_server(loop=_never, static=str(tmp_path)) as port:
        first = await fetch(port, "/static/page.html")
        modified = first.header("last-modified")
        assert modified is not None
        cached = await fetch(port, "/static/page.html", headers=[("If-Modified-Since", modified)])
        assert cached.status == 304
        both = await fetch(
            port,
            "/static/page.html",
            headers=[("If-Modified-Since", modified), ("If-None-Match", '"x"')],
        )
        assert both.status == 200


async def _never(req: httpserver.Req) -> None:
    raise AssertionError("the loop should not run")


@pytest.mark.parametrize(
    ("error", "status"),
    [(errno.EMFILE, 500), (errno.EACCES, 403), (errno.ENOENT, 404)],
)
async def test_a_file_that_cannot_be_opened_is_a_whole_error_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, status: int
) -> None:
    (tmp_path / "page.html").write_text("<p>hi</p>")

    async def cannot_open(path: str) -> object:
        raise OSError(error, "simulated", path)

    monkeypatch.setattr(_files, "open_file", cannot_open)

    async def handler(req: httpserver.Req) -> None:
        await req.file(str(tmp_path / "page.html"))

    async with actors.node(), http_server(loop=handler, static=str(tmp_path)) as port:
        for path in ("/static/page.html", "/by-file"):
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            data = await raw(port, request.encode())
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 %d " % status), (path, data[:80])
            assert b"200 OK" not in data
            length = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")]
            assert length == [b"Content-Length: %d" % len(body)]
        # the connection survives: the next request on a keep-alive socket is served
        data = await raw(
            port,
            b"GET /static/page.html HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /static/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert data.count(b"HTTP/1.1 ") == 2


# -- forms: raw UTF-8 in an urlencoded body ----------------------------------------


async def test_a_urlencoded_body_with_raw_utf8_is_decoded_as_utf8() -> None:
    async def handler(req: httpserver.Req) -> None:
        value = httpserver.get_variable("data", await req.parse_post())
        await req.ok(f"{value}|{len(value)}")

    form = [("Content-Type", "application/x-www-form-urlencoded")]
    async with actors.node(), http_server(loop=handler) as port:
        response = await fetch(port, "/", "POST", form, "data=こんにちは".encode())
        assert response.body.decode() == "こんにちは|5"
        escaped = await fetch(port, "/", "POST", form, b"data=%E3%81%93+x")
        assert escaped.body.decode() == "こ x|3"
        broken = await fetch(port, "/", "POST", form, b"data=\xff\xfe")
        assert broken.status == 200


# -- trusted proxies ---------------------------------------------------------------


async def _whoami(req: httpserver.Req) -> None:
    await req.ok(f"{req.peer[0]} {req.socket_peer[0]}")


async def fetch_from(
    source: str, port: int, path: str = "/", headers: list[tuple[str, str]] | None = None
) -> Response:
    """One request from the loopback address `source` (127.0.0.2, ...)."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
        async with stream:
            response, _ = await exchange(stream, path=path, headers=headers or [])
            return response


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    forged = [("X-Forwarded-For", "203.0.113.9"), ("X-Real-Ip", "198.51.100.7")]
    for trusted in ([], ["10.0.0.0/8", "::1"]):
        async with actors.node(), http_server(loop=_whoami, trusted_proxies=trusted) as port:
            assert (await fetch(port, headers=forged)).text == "127.0.0.1 127.0.0.1"


async def test_forwarding_headers_from_a_trusted_proxy_name_the_rightmost_untrusted() -> None:
    trusted = ["127.0.0.1", "10.0.0.0/8"]
    async with actors.node(), http_server(loop=_whoami, trusted_proxies=trusted) as port:
        chain = [("X-Forwarded-For", "203.0.113.9, 198.51.100.1"), ("X-Forwarded-For", "10.1.2.3")]
        assert (await fetch(port, headers=chain)).text == "198.51.100.1 127.0.0.1"
        real = [("X-Real-Ip", "198.51.100.7")]
        assert (await fetch(port, headers=real)).text == "198.51.100.7 127.0.0.1"
        garbage = [("X-Forwarded-For", "203.0.113.9, nonsense, 10.0.0.2")]
        assert (await fetch(port, headers=garbage)).text == "10.0.0.2 127.0.0.1"
        ported = [("X-Forwarded-For", "[2001:db8::1]:443, 198.51.100.2:8080")]
        assert (await fetch(port, headers=ported)).text == "198.51.100.2 127.0.0.1"
        # from 127.0.0.2, not trusted, the same headers prove nothing
        assert (await fetch_from("127.0.0.2", port, headers=chain)).text == "127.0.0.2 127.0.0.2"


async def session(req: httpserver.Req) -> None:
    """Answers with the request's session id (made if it has none)."""
    session_id, _state = await req.session()
    await req.ok(session_id)


async def test_a_stolen_session_cookie_with_a_forged_address_is_not_honoured() -> None:
    """The victim comes through the trusted proxy 127.0.0.1 from 198.51.100.7;
    the thief connects straight from 127.0.0.2, forging X-Forwarded-For."""

    victim = [("X-Forwarded-For", "198.51.100.7")]
    async with actors.node(), http_server(loop=session, trusted_proxies=["127.0.0.1"]) as port:
        first = await fetch(port, headers=victim)
        cookie = ("Cookie", f"misultin_session={first.text}")
        assert (await fetch(port, headers=[*victim, cookie])).text == first.text
        stolen = await fetch_from("127.0.0.2", port, headers=[*victim, cookie])
        assert stolen.text != first.text  # a fresh session, not the victim's
        # fixation: a session minted by the thief "for" the victim's address
        minted = await fetch_from("127.0.0.2", port, headers=victim)
        planted = ("Cookie", f"misultin_session={minted.text}")
        assert (await fetch(port, headers=[*victim, planted])).text != minted.text


async def test_the_proxy_line_is_honoured_only_from_a_trusted_proxy() -> None:
    line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    options = {"loop": _whoami, "proxy_protocol": True}
    async with actors.node(), http_server(**options, trusted_proxies=["10.0.0.0/8"]) as port:
        assert (await raw(port, line + request)).startswith(b"HTTP/1.1 400 ")
    async with actors.node(), http_server(**options, trusted_proxies=["127.0.0.1"]) as port:
        assert (await raw(port, line + request)).endswith(b"192.0.2.1 192.0.2.1")
    with pytest.raises(ValueError, match="trusted_proxies"):
        httpserver.start(port=0, loop=_whoami, proxy_protocol=True)
    with pytest.raises(ValueError, match="trusted_proxies"):
        httpserver.start(port=0, loop=_whoami, trusted_proxies=["not an address"])


# -- sessions: bounded in number and in time ------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_session_still_ends_at_its_absolute_lifetime() -> None:
    clock = FakeClock()
    sessions = Sessions(expire=10, max_age=30, limit=100, clock=clock)
    session_id = sessions.create("192.0.2.1")
    for _ in range(5):  # used every 5 s: never idle for 10
        clock.now += 5
        assert sessions.lookup(session_id, "192.0.2.1") is not None
    clock.now += 5.5  # 30.5 s after it began
    assert sessions.lookup(session_id, "192.0.2.1") is None
    assert len(sessions) == 0


def test_the_sweep_forgets_idle_sessions_and_stops_at_the_first_fresh_one() -> None:
    clock = FakeClock()
    sessions = Sessions(expire=10, max_age=3600, limit=10_000, clock=clock)
    old = [sessions.create("192.0.2.1") for _ in range(300)]
    clock.now += 6
    fresh = [sessions.create("192.0.2.1") for _ in range(200)]
    assert sessions.lookup(old[0], "192.0.2.1") is not None  # used: now among the fresh
    clock.now += 5  # the 299 other old ones are 11 s idle, the rest 5 s
    assert sessions.sweep() == 299
    assert sessions.sweep() == 0
    assert len(sessions) == 201
    assert all(sessions.lookup(s, "192.0.2.1") for s in [old[0], *fresh])


def test_past_sessions_max_the_least_recently_used_session_is_evicted() -> None:
    clock = FakeClock()
    sessions = Sessions(expire=600, max_age=3600, limit=3, clock=clock)
    a, b, c = (sessions.create("192.0.2.1") for _ in range(3))
    assert sessions.lookup(a, "192.0.2.1") is not None  # a is now the most recent
    d = sessions.create("192.0.2.1")
    assert len(sessions) == 3
    assert sessions.lookup(b, "192.0.2.1") is None  # b was the least recently used
    assert all(sessions.lookup(s, "192.0.2.1") for s in (a, c, d))
    assert sessions.evicted == 1


async def test_a_flood_of_cookieless_requests_keeps_at_most_sessions_max() -> None:
    options = {"loop": session, "sessions_max": 5, "sessions_max_age": 120}
    async with actors.node(), http_server(**options) as port:
        first = await fetch(port)
        cookie = first.header("set-cookie")
        assert cookie is not None
        assert "Max-Age=120" in cookie
        keep = ("Cookie", f"misultin_session={first.text}")
        for _ in range(20):
            await fetch(port)
            assert (await fetch(port, headers=[keep])).text == first.text  # kept: in use
        (server,) = _servers()
        info = httpserver.info(server)
        assert (info["sessions"], info["sessions_evicted"]) == (5, 16)


async def test_a_session_used_every_few_seconds_ends_at_sessions_max_age(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The server's clock is trio's: jumped here, never slept on."""

    options = {"loop": session, "sessions_expire": 10, "sessions_max_age": 30}
    async with actors.node(), http_server(**options) as port:
        first = await fetch(port)
        assert "Max-Age=30" in (first.header("set-cookie") or "")
        cookie = [("Cookie", f"misultin_session={first.text}")]
        for _ in range(5):  # 25 s of use, never 10 s idle
            mock_clock.jump(5)
            again = await fetch(port, headers=cookie)
            assert (again.text, again.header("set-cookie")) == (first.text, None)
        mock_clock.jump(6)  # 31 s after it began
        late = await fetch(port, headers=cookie)
        assert late.text != first.text
        assert late.header("set-cookie") is not None
