"""The Req API: forms and multipart, cookies, sessions, files and static,
compression, streaming, peers, comet; pure parsers checked on their own."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
import httpserver
from httpserver._compress import choose_encoding
from httpserver._cookies import format_set_cookie, parse
from httpserver._errors import HttpError
from httpserver._forms import MultipartParser, parse_content_type
from httpserver._proxy import ProxyProtocolError, parse_proxy_line
from tests.http_helpers import exchange, fetch, http_server, multipart_body, open_stream, raw

# -- multipart ------------------------------------------------------------------


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    return multipart_body(boundary, parts, b"preamble to ignore\r\n", b"epilogue")


@settings(max_examples=150, deadline=None)
@given(
    datas=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 64), max_size=40),
)
def test_multipart_parses_the_same_however_the_body_is_split(
    datas: list[bytes], cuts: list[int]
) -> None:
    boundary = "----b0undary"
    datas = [d.replace(b"\r\n------b0undary", b"") for d in datas]
    parts = [(f"f{i}", f"f{i}.bin" if i % 2 else None, d) for i, d in enumerate(datas)]
    body = multipart(boundary, parts)
    parser = MultipartParser(boundary.encode())
    at = 0
    for cut in cuts:
        parser.feed(body[at : at + cut])
        at += cut
    parser.feed(body[at:])
    got = parser.finish()
    assert [(p.name, p.filename, p.read()) for p in got] == parts


def test_multipart_errors_are_400() -> None:
    parser = MultipartParser(b"xyz")
    parser.feed(b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nunfinished')
    with pytest.raises(HttpError) as info:
        parser.finish()
    assert info.value.status == 400
    bad = MultipartParser(b"xyz")
    with pytest.raises(HttpError):
        bad.feed(b"--xyz\r\nNo-Colon-Here\r\n\r\n")


def test_large_parts_are_spooled_to_disk() -> None:
    big = os.urandom(2 * 1024 * 1024)
    parser = MultipartParser(b"B")
    parser.feed(multipart("B", [("upload", "big.bin", big)]))
    (part,) = parser.finish()
    assert part.size == len(big)
    assert part.file._rolled  # type: ignore[attr-defined]
    assert part.read() == big


def test_content_type_parameters() -> None:
    assert parse_content_type('multipart/form-data; boundary="a;b\\"c"; x=1') == (
        "multipart/form-data",
        {"boundary": 'a;b"c', "x": "1"},
    )
    assert parse_content_type(None) == ("", {})


async def test_parse_post_urlencoded_multipart_octet_stream_other() -> None:
    async def handler(req: httpserver.Req) -> None:
        form = await req.parse_post()
        if isinstance(form, bytes):
            await req.ok(f"bytes {len(form)}")
        else:
            await req.ok(
                repr([(p.name, p.read()) if isinstance(p, httpserver.Part) else p for p in form])
            )

    async with actors.node(), http_server(loop=handler) as port:
        urlencoded = await fetch(
            port, method="POST", body=b"a=1&b=%E2%82%AC&c",
            headers=[("Content-Type", "application/x-www-form-urlencoded")],
        )  # fmt: skip
        assert urlencoded.text == "[('a', '1'), ('b', '€'), ('c', '')]"
        body = multipart("zz", [("field", None, b"value"), ("file", "a.txt", b"x\r\ny")])
        multi = await fetch(
            port, method="POST", body=body,
            headers=[("Content-Type", "multipart/form-data; boundary=zz")],
        )  # fmt: skip
        assert multi.text == "[('field', b'value'), ('file', b'x\\r\\ny')]"
        octets = await fetch(
            port, method="POST", body=b"\x00\x01",
            headers=[("Content-Type", "application/octet-stream")],
        )  # fmt: skip
        assert octets.text == "bytes 2"
        other = await fetch(
            port, method="POST", body=b"{}", headers=[("Content-Type", "application/json")]
        )
        assert other.text == "[]"


# -- query, resource, peer -------------------------------------------------------


async def test_query_resource_and_peer() -> None:
    async def handler(req: httpserver.Req) -> None:
        await req.ok(
            repr(
                (
                    req.path,
                    req.query,
                    req.parse_qs(),
                    req.resource(),
                    req.resource(lowercase=True),
                    req.resource(urldecode=False),
                    req.peer[0],
                    req.socket_peer[0],
                )
            )
        )

    async with actors.node(), http_server(loop=handler) as port:
        plain = await fetch(port, "/USERS/B%C3%B6b/?x=1+2&y=%41&z")
        assert plain.text == repr(
            (
                "/USERS/Böb/",
                "x=1+2&y=%41&z",
                [("x", "1 2"), ("y", "A"), ("z", "")],
                ["USERS", "Böb"],
                ["users", "böb"],
                ["USERS", "B%C3%B6b"],
                "127.0.0.1",
                "127.0.0.1",
            )
        )
        # 127.0.0.1 is no trusted proxy here: its forwarding headers are ignored
        forwarded = await fetch(port, "/", headers=[("X-Forwarded-For", "203.0.113.9, 10.0.0.1")])
        assert "'127.0.0.1', '127.0.0.1'" in forwarded.text


# -- cookies and sessions -----------------------------------------------------------


def test_cookie_parsing_and_formatting() -> None:
    assert parse(['a=1; b="two"; c=%20x', "a=ignored; d="]) == {
        "a": "1",
        "b": "two",
        "c": " x",
        "d": "",
    }
    line = format_set_cookie("k", "v a;l", 60, "/", None, True, True, "Lax")
    assert line.startswith(b"Set-Cookie: k=v%20a%3Bl; Expires=")
    assert line.endswith(b"; Max-Age=60; Path=/; SameSite=Lax; Secure; HttpOnly\r\n")
    with pytest.raises(ValueError, match="cookie name"):
        format_set_cookie("bad name", "v", None, None, None, False, False, None)
    with pytest.raises(ValueError, match="cookie name"):
        format_set_cookie("k\n", "v", None, None, None, False, False, None)
    with pytest.raises(ValueError, match="Path"):
        format_set_cookie("k", "v", None, "/\r\nX: y", None, False, False, None)


async def test_sessions_persist_per_client_and_bind_to_its_network() -> None:
    async def counter(req: httpserver.Req) -> None:
        session_id, state = await req.session()
        count = (state or 0) + 1
        await req.save_session_state(session_id, count)
        await req.ok(str(count))

    # 127.0.0.1 stands for a proxy here, so X-Real-Ip can name another network
    async with actors.node(), http_server(loop=counter, trusted_proxies=["127.0.0.1"]) as port:
        first = await fetch(port)
        cookie = first.header("set-cookie")
        assert cookie is not None
        assert cookie.startswith("misultin_session=")
        session = cookie.split(";")[0]
        again = await fetch(port, headers=[("Cookie", session)])
        assert (first.text, again.text) == ("1", "2")
        assert again.header("set-cookie") is None
        elsewhere = await fetch(port, headers=[("Cookie", session), ("X-Real-Ip", "192.0.2.1")])
        assert elsewhere.text == "1"  # another network: a new session
        assert elsewhere.header("set-cookie") is not None


async def test_save_session_state_with_an_unknown_id_raises() -> None:
    errors: list[str] = []

    async def handler(req: httpserver.Req) -> None:
        try:
            await req.save_session_state("0" * 32, "x")
        except ValueError as exc:
            errors.append(str(exc))
        await req.ok("ok")

    async with actors.node(), http_server(loop=handler) as port:
        await fetch(port)
    assert errors == [f"invalid session id {'0' * 32!r}"]


# -- files and static ---------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "page.html").write_text("<p>hi</p>")
    (tmp_path / "site" / "sub").mkdir()
    (tmp_path / "site" / "sub" / "data.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path / "site"


async def test_static_serves_files_and_refuses_to_leave_its_directory(site: Path) -> None:
    async def handler(req: httpserver.Req) -> None:
        await req.ok(f"loop saw {req.path}")

    async with actors.node(), http_server(loop=handler, static=str(site)) as port:
        page = await fetch(port, "/static/page.html")
        assert (page.status, page.text, page.header("content-type")) == (
            200,
            "<p>hi</p>",
            "text/html",
        )
        assert (await fetch(port, "/static/sub/data.json")).header(
            "content-type"
        ) == "application/json"
        for path in (
            "/static",
            "/static/",
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/sub/..%2f..%2fsecret.txt",
        ):
            assert (await fetch(port, path)).status == 403, path
        assert (await fetch(port, "/static/missing.html")).status == 404
        assert (await fetch(port, "/staticky")).text == "loop saw /staticky"
        assert (
            await fetch(port, "/static/page.html", method="POST")
        ).text == "loop saw /static/page.html"
        modified = page.header("last-modified")
        assert modified is not None
        cached = await fetch(port, "/static/page.html", headers=[("If-Modified-Since", modified)])
        assert (cached.status, cached.body) == (304, b"")


async def test_file_sends_in_blocks_with_length_and_attachment(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(300_000))

    async def handler(req: httpserver.Req) -> None:
        await req.file(str(big), attachment=req.path == "/download")

    async with actors.node(), http_server(loop=handler) as port:
        stream = await open_stream(port)
        async with stream:
            first, client = await exchange(stream, path="/view")
            second, _ = await exchange(stream, path="/download", client=client)
        assert first.body == big.read_bytes()
        assert first.header("content-length") == "300000"
        assert first.header("content-type") == "application/octet-stream"
        assert first.header("content-disposition") is None
        assert second.header("content-disposition") == 'attachment; filename="big.bin"'


# -- compression -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, None),
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip;q=0.5, deflate", "deflate"),
        ("gzip;q=0, deflate;q=0", None),
        ("br", None),
        ("*", "gzip"),
        ("*;q=0.1, gzip;q=0", "deflate"),
        ("GZIP ; Q=1", "gzip"),
    ],
)
def test_accept_encoding_with_q_values(accept: str | None, chosen: str | None) -> None:
    assert choose_encoding(accept) == chosen


async def test_compress_option_compresses_whole_bodies() -> None:
    text = "Hello World. " * 50

    async def handler(req: httpserver.Req) -> None:
        await req.ok(text)

    async with actors.node(), http_server(loop=handler, compress=True) as port:
        gz = await fetch(port, headers=[("Accept-Encoding", "gzip")])
        assert gz.header("content-encoding") == "gzip"
        assert gzip.decompress(gz.body).decode() == text
        zl = await fetch(port, headers=[("Accept-Encoding", "deflate")])
        assert zlib.decompress(zl.body).decode() == text
        plain = await fetch(port)
        assert plain.header("content-encoding") is None
        assert plain.text == text
        assert plain.header("vary") == "Accept-Encoding"


# -- streaming and chunked ----------------------------------------------------------------


async def test_stream_is_close_delimited_and_chunks_are_chunked() -> None:
    async def handler(req: httpserver.Req) -> None:
        if req.path == "/stream":
            await req.stream_head(headers={"Content-Type": "text/plain"})
            for piece in ("1", "2", "3"):
                await req.stream(piece)
            await req.stream_close()
        else:
            await req.chunk_head()
            for piece in ("a", "", "bc"):
                await req.chunk(piece)
            await req.chunk_end()

    async with actors.node(), http_server(loop=handler) as port:
        streamed = await raw(port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = streamed.partition(b"\r\n\r\n")
        assert b"Content-Length" not in head
        assert b"Connection: close" in head
        assert body == b"123"
        chunked = await raw(port, b"GET /chunk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = chunked.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        assert body == b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"
        old = await raw(port, b"GET /chunk HTTP/1.0\r\n\r\n")
        assert old.partition(b"\r\n\r\n")[2] == b"abc"  # close-delimited for HTTP/1.0


async def test_a_chunked_body_left_open_is_ended_for_the_next_request() -> None:
    async def handler(req: httpserver.Req) -> None:
        await req.chunk_head()
        await req.chunk(req.path)

    async with actors.node(), http_server(loop=handler) as port:
        stream = await open_stream(port)
        async with stream:
            first, client = await exchange(stream, path="/one")
            second, _ = await exchange(stream, path="/two", client=client)
        assert (first.text, second.text) == ("/one", "/two")


# -- access log, PROXY, comet ----------------------------------------------------------------


async def test_access_log_gets_misultins_fields() -> None:
    entries: list[httpserver.AccessLog] = []

    async def handler(req: httpserver.Req) -> None:
        await req.ok("nineteen bytes here")

    async with actors.node(), http_server(loop=handler, access_log=entries.append) as port:
        await fetch(port, "/x?y=1")
        await raw(port, b"GARBAGE\r\n\r\n")
    (entry,) = entries
    assert entry.peer == "127.0.0.1"
    assert entry.request_line == "GET /x?y=1 HTTP/1.1"
    assert (entry.status, entry.content_length) == (200, 19)
    assert entry.time.endswith(" UTC")


def test_proxy_v1_lines() -> None:
    assert parse_proxy_line(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n") == (
        "192.0.2.1",
        56324,
    )
    assert parse_proxy_line(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n") == ("2001:db8::1", 1)
    for bad in (
        b"GET / HTTP/1.1\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
        b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 99999 2\r\n",
    ):
        with pytest.raises(ProxyProtocolError):
            parse_proxy_line(bad)


async def test_proxy_protocol_sets_the_peer_and_refuses_a_missing_line() -> None:
    async def handler(req: httpserver.Req) -> None:
        await req.ok(f"{req.socket_peer}")

    async with (
        actors.node(),
        http_server(loop=handler, proxy_protocol=True, trusted_proxies=["127.0.0.1"]) as port,
    ):
        data = await raw(
            port,
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert data.endswith(b"('192.0.2.1', 56324)")
        refused = await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize("autoexit", [True, False])
async def test_comet_sees_the_client_leave(autoexit: bool) -> None:
    waiting = trio.Event()
    outcome: list[str] = []

    async def handler(req: httpserver.Req) -> None:
        req.options(comet=True)
        try:
            waiting.set()
            outcome.append(await actors.receive("closed"))
        finally:
            outcome.append("handler ended")

    async with actors.node(), http_server(loop=handler, autoexit=autoexit) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /comet HTTP/1.1\r\nHost: x\r\n\r\n")
        await waiting.wait()
        await stream.aclose()
        with trio.fail_after(5):
            while "handler ended" not in outcome:
                await trio.testing.wait_all_tasks_blocked()
    assert outcome == (["handler ended"] if autoexit else ["closed", "handler ended"])


def test_packed_headers_read_back_as_the_list_they_were() -> None:
    from httpserver._headers import PackedHeaders, packed

    raw = [(b"host", b"x"), (b"x-empty", b""), (b"x-twice", b"a"), (b"x-twice", b"b")]
    kept = packed(raw)
    assert isinstance(kept, PackedHeaders)
    assert list(kept) == raw
    assert len(kept) == 4
    assert kept[1] == (b"x-empty", b"")
    assert list(packed([])) == []
    assert len(packed([])) == 0
    with_nul = [(b"x", b"a\0b")]
    assert packed(with_nul) is with_nul  # ambiguous packed: kept as it is
