"""Every HTTP example of examples/ started as a program and checked over real
sockets: each answers the requests its misultin twin answers, the same way."""

from __future__ import annotations

import gzip
import re
import signal
import ssl
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
import trio

from tests.http_helpers import ROOT, example, exchange, fetch, multipart_body, open_stream, raw

ASSETS = ROOT / "examples" / "assets"


def split_response(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """A raw response: (status line, headers by lowercased name, body as sent)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


async def read_until(stream: trio.abc.Stream, marker: bytes, count: int = 1) -> bytes:
    """Read `stream` until `marker` occurs `count` times in all it sent."""
    received = b""
    with trio.fail_after(10):
        while received.count(marker) < count:
            data = await stream.receive_some(65536)
            assert data, f"the server closed before {count} x {marker!r}: {received!r}"
            received += data
    return received


def cookie_pair(set_cookie: str) -> str:
    """`name=value` of a Set-Cookie header."""
    return set_cookie.split(";", 1)[0]


async def test_hello_world_answers_every_request() -> None:
    """examples.hello_world"""
    async with example("hello_world") as server:
        for path in ("/", "/anything?x=1"):
            response = await fetch(server.port, path)
            assert response.status == 200
            assert response.body == b"Hello World."


async def test_hello_world_nameless_is_stopped_by_its_pid() -> None:
    """examples.hello_world_nameless: SIGINT makes it stop its server by Pid."""
    async with example("hello_world_nameless") as server:
        response = await fetch(server.port)
        assert (response.status, response.body) == (200, b"Hello World.")
        server.process.send_signal(signal.SIGINT)
        out = await server.wait_for(" stopped")
        assert re.search(r"got SIGINT: stopping server <0\.\d+\.0>", out)
        assert re.search(r"server <0\.\d+\.0> stopped", out)
        with trio.fail_after(10):
            assert await server.process.wait() == 0
        with pytest.raises(OSError):
            await fetch(server.port)


async def test_multiple_servers_answer_each_with_its_name() -> None:
    """examples.multiple_servers: two named servers, two ports, one node."""
    async with example("multiple_servers", "--port2", "0") as server:
        out = await server.wait_for("misultin2 listening on ")
        await server.wait_for("/\n")
        ports = dict(re.findall(r"(misultin\d) listening on http://[^\s]+:(\d+)/", out))
        assert set(ports) == {"misultin1", "misultin2"}
        assert int(ports["misultin1"]) == server.port
        assert ports["misultin1"] != ports["misultin2"]
        for name, port in ports.items():
            response = await fetch(int(port), "/")
            assert response.status == 200
            assert response.text == f"Hello World from {name}"


async def test_get_variable_reads_value_from_the_query() -> None:
    """examples.get_variable"""
    async with example("get_variable") as server:
        response = await fetch(server.port, "/?value=hello%20there&other=1")
        assert response.status == 200
        assert response.header("content-type") == "text/xml"
        assert response.text == "<misultin_test><value>hello there</value></misultin_test>"
        response = await fetch(server.port, "/?other=1")
        assert response.text == "<misultin_test><error>no value specified</error></misultin_test>"
        response = await fetch(server.port, "/?value=%3Cb%3E%26")
        assert response.text == "<misultin_test><value>&lt;b&gt;&amp;</value></misultin_test>"


async def test_echo_returns_query_and_form_variables_as_xml() -> None:
    """examples.echo"""
    async with example("echo") as server:
        response = await fetch(server.port, "/?a=1&b=two+words")
        assert response.header("content-type") == "text/xml"
        assert response.text == (
            "<misultin_test><method>GET</method>"
            "<param><name>a</name><value>1</value></param>"
            "<param><name>b</name><value>two words</value></param>"
            "</misultin_test>"
        )
        form = [("Content-Type", "application/x-www-form-urlencoded")]
        response = await fetch(server.port, "/?ignored=1", "POST", form, b"x=%3C1%3E&y=")
        assert response.text == (
            "<misultin_test><method>POST</method>"
            "<param><name>x</name><value>&lt;1&gt;</value></param>"
            "<param><name>y</name><value></value></param>"
            "</misultin_test>"
        )
        multipart = (
            b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n--XyZ--\r\n'
        )
        headers = [("Content-Type", "multipart/form-data; boundary=XyZ")]
        response = await fetch(server.port, "/", "POST", headers, multipart)
        assert "<param><name>field</name><value>value</value></param>" in response.text
        response = await fetch(server.port, "/?a=1", "HEAD")
        assert (response.status, response.body) == (200, b"")
        assert response.header("content-length") == str(
            len("<misultin_test><method>HEAD</method>")
            + len("<param><name>a</name><value>1</value></param></misultin_test>")
        )
        response = await fetch(server.port, "/", "PUT", body=b"x")
        assert response.status == 405
        assert response.header("allow") == "GET, HEAD, POST"


async def test_rest_routes_on_lowercased_decoded_segments() -> None:
    """examples.rest"""
    async with example("rest") as server:
        expected = {
            "/": "Main home page.",
            "/users": "Main users root.",
            "/USERS/": "Main users root.",
            "/users/Bob": "This is bob's page.",
            "/users/John%20Doe/Messages": "This is john doe's messages page.",
            "/users/bob/messages/1": "Page not found.",
            "/elsewhere": "Page not found.",
        }
        for path, text in expected.items():
            response = await fetch(server.port, path)
            assert (response.status, response.text) == (200, text), path
            assert response.header("content-type") == "text/plain"
        response = await fetch(server.port, "/users", "POST", body=b"x")
        assert response.text == "Page not found."


async def test_rest_utf8_answers_utf8_pages() -> None:
    """examples.rest_utf8"""
    async with example("rest_utf8") as server:
        name = "こんにちは"
        response = await fetch(server.port, f"/users/{quote(name)}/messages")
        assert response.status == 200
        assert response.header("content-type") == "text/html; charset=utf-8"
        page = response.body.decode("utf-8")
        assert f"<body>This is {name}'s messages page.</body>" in page
        assert 'charset=UTF-8">' in page
        response = await fetch(server.port, "/users/%C3%89LODIE")
        assert "<body>This is élodie's page.</body>" in response.body.decode("utf-8")
        response = await fetch(server.port, "/x/y/z/w")
        assert "<body>Page not found.</body>" in response.text


async def test_unicode_form_posts_a_japanese_string() -> None:
    """examples.unicode"""
    async with example("unicode") as server:
        response = await fetch(server.port, "/")
        page = response.body.decode("utf-8")
        assert response.header("content-type") == "text/html; charset=utf-8"
        assert '<input type="hidden" name="data" value="こんにちは">' in page
        assert '<form action="/" method="post">' in page
        form = [("Content-Type", "application/x-www-form-urlencoded")]
        body = f"data={quote('こんにちは')}".encode()
        response = await fetch(server.port, "/", "POST", form, body)
        assert 'Unicode string is: "こんにちは", and its length is 5' in response.body.decode()
        raw_utf8 = await fetch(server.port, "/", "POST", form, "data=こんにちは".encode())
        assert 'Unicode string is: "こんにちは", and its length is 5' in raw_utf8.body.decode()
        response = await fetch(server.port, "/", "POST", form, b"other=1")
        assert response.text == "No data value submitted."
        response = await fetch(server.port, "/nowhere")
        assert response.text == "Page not found."


async def test_cookies_example_sets_then_deletes_its_cookie() -> None:
    """examples.cookies_example"""
    async with example("cookies_example") as server:
        first = await fetch(server.port)
        assert first.text == "A cookie has been set. Refresh the browser to see it."
        set_cookie = first.header("set-cookie")
        assert set_cookie is not None
        assert cookie_pair(set_cookie) == "misultin_test_cookie=value%20of%20the%20test%20cookie"
        assert "Max-Age=31536000" in set_cookie
        second = await fetch(server.port, headers=[("Cookie", cookie_pair(set_cookie))])
        assert second.text == (
            'The set cookie value was set to "value of the test cookie", and has now been'
            " removed. Refresh the browser to see this."
        )
        deleted = second.header("set-cookie")
        assert deleted is not None
        assert cookie_pair(deleted) == "misultin_test_cookie="
        assert "Max-Age=0" in deleted


async def test_sessions_example_counts_per_session() -> None:
    """examples.sessions_example"""
    async with example("sessions_example") as server:
        first = await fetch(server.port)
        set_cookie = first.header("set-cookie")
        assert set_cookie is not None
        pair = cookie_pair(set_cookie)
        name, session_id = pair.split("=")
        assert name == "misultin_session"
        assert re.fullmatch(r"[0-9a-f]{32}", session_id)
        assert first.text == f'Session Id is: "{session_id}", counter is: 1'
        for count in (2, 3):
            again = await fetch(server.port, headers=[("Cookie", pair)])
            assert again.text == f'Session Id is: "{session_id}", counter is: {count}'
            assert again.header("set-cookie") is None
        other = await fetch(server.port)
        assert other.text.endswith("counter is: 1")
        assert session_id not in other.text
        forged = await fetch(server.port, headers=[("Cookie", "misultin_session=" + "0" * 32)])
        assert forged.text.endswith("counter is: 1")


async def test_file_is_sent_as_an_attachment() -> None:
    """examples.file"""
    picture = (ASSETS / "1.png").read_bytes()
    async with example("file") as server:
        response = await fetch(server.port, "/whatever")
        assert response.status == 200
        assert response.body == picture
        assert response.body.startswith(b"\x89PNG\r\n\x1a\n")
        assert response.header("content-type") == "image/png"
        assert response.header("content-length") == str(len(picture))
        assert response.header("content-disposition") == 'attachment; filename="1.png"'
        modified = response.header("last-modified")
        assert modified is not None
        cached = await fetch(server.port, headers=[("If-Modified-Since", modified)])
        assert (cached.status, cached.body) == (304, b"")


async def test_static_serves_files_under_static_and_the_rest_to_the_handler(
    tmp_path: Path,
) -> None:
    """examples.static"""
    async with example("static") as server:
        response = await fetch(server.port, "/static/hello.txt")
        assert response.status == 200
        assert response.body == (ASSETS / "hello.txt").read_bytes()
        assert (response.header("content-type") or "").startswith("text/plain")
        response = await fetch(server.port, "/static/1.png")
        assert response.body == (ASSETS / "1.png").read_bytes()
        assert (await fetch(server.port, "/static/missing.txt")).status == 404
        assert (await fetch(server.port, "/static")).status == 403
        assert (await fetch(server.port, "/static/../static.py")).status == 403
        assert (await fetch(server.port, "/static/%2e%2e/static.py")).status == 403
        response = await fetch(server.port, "/index.html")
        assert (response.status, response.text) == (200, "Not a static file request.")
    (tmp_path / "page.html").write_text("<p>mine</p>")
    async with example("static", "--dir", str(tmp_path)) as server:
        response = await fetch(server.port, "/static/page.html")
        assert (response.status, response.text) == (200, "<p>mine</p>")
        assert response.header("content-type") == "text/html"
        assert (await fetch(server.port, "/static/hello.txt")).status == 404


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of a multipart/form-data request of (name, filename, data)."""
    boundary = "----example-boundary-7MA4YWxk"
    body = multipart_body(boundary, parts)
    return [("Content-Type", f"multipart/form-data; boundary={boundary}")], body


async def test_file_upload_saves_the_posted_file(tmp_path: Path) -> None:
    """examples.file_upload"""
    uploads = tmp_path / "uploads"
    async with example("file_upload", "--upload-dir", str(uploads)) as server:
        assert f"saving uploads in {uploads}" in server.output()
        page = await fetch(server.port, "/")
        assert page.status == 200
        assert '<form action="/" method="POST" enctype="multipart/form-data">' in page.text
        assert '<input type="file" name="file">' in page.text
        assert str(uploads) in page.text

        content = bytes(range(256)) * 300 + b"\r\n--not-the-boundary\r\n"
        headers, body = multipart(("file", "notes.bin", content))
        response = await fetch(server.port, "/", "POST", headers, body)
        assert response.status == 200
        saved = uploads / "notes.bin"
        assert response.text == f'File has been successfully saved to "{saved}".'
        assert saved.read_bytes() == content

        headers, body = multipart(("file", "../../escaped.txt", b"no way out"))
        response = await fetch(server.port, "/", "POST", headers, body)
        assert response.text == f'File has been successfully saved to "{uploads / "escaped.txt"}".'
        assert (uploads / "escaped.txt").read_bytes() == b"no way out"
        assert not (tmp_path / "escaped.txt").exists()

        headers, body = multipart(("file", "a.txt", b"a"), ("file2", "b.txt", b"b"))
        assert (await fetch(server.port, "/", "POST", headers, body)).status == 500
        headers, body = multipart(("text", None, b"not a file"))
        assert (await fetch(server.port, "/", "POST", headers, body)).status == 500
        assert (await fetch(server.port, "/other")).text == "Page not found."
        assert sorted(p.name for p in uploads.iterdir()) == ["escaped.txt", "notes.bin"]


async def test_body_recv_reads_plain_and_chunked_bodies() -> None:
    """examples.body_recv"""
    async with example("body_recv") as server:
        response = await fetch(server.port, "/", "POST", body=b"plain body")
        assert response.text == "received full body: b'plain body'"
        chunked = (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n"
            b"5\r\nfirst\r\n1\r\n-\r\n6\r\nsecond\r\n0\r\n\r\n"
        )
        status, _, body = split_response(await raw(server.port, chunked))
        assert status == "HTTP/1.1 200 OK"
        assert body == b"done receiving all body chunks: b'first-second'"
        big = b"x" * 300_000
        response = await fetch(server.port, "/", "POST", body=big)
        assert response.text == f"received full body: {big!r}"
        response = await fetch(server.port, "/")
        assert response.text == "received full body: b''"


async def test_ssl_answers_over_https_with_a_trusted_certificate(tmp_path: Path) -> None:
    """examples.ssl"""
    ca_file = tmp_path / "ca.pem"
    async with example("ssl", "--ca-file", str(ca_file)) as server:
        assert "listening on https://" in server.output()
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert "PRIVATE KEY" not in ca_file.read_text()
        trusting = ssl.create_default_context(cafile=str(ca_file))
        response = await fetch(server.port, tls=trusting)
        assert (response.status, response.text) == (200, "Hello World SSL.")
        # A client that does not trust the example's CA refuses the server.
        with pytest.raises(trio.BrokenResourceError) as refused:
            await fetch(server.port, tls=ssl.create_default_context())
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)


async def test_redirect_sends_302_to_redirected() -> None:
    """examples.redirect"""
    async with example("redirect") as server:
        response = await fetch(server.port, "/")
        assert response.status == 302
        assert response.header("location") == "/redirected"
        assert response.body == b""
        response = await fetch(server.port, "/redirected")
        assert (response.status, response.text) == (200, "You got temporarily redirected here.")
        response = await fetch(server.port, "/somewhere")
        assert response.text == "Page not found."


async def test_compress_answers_gzip_or_deflate_as_accepted() -> None:
    """examples.compress"""
    text = b"Hello World Compressed."
    async with example("compress") as server:
        response = await fetch(server.port, headers=[("Accept-Encoding", "gzip")])
        assert response.header("content-encoding") == "gzip"
        assert gzip.decompress(response.body) == text
        response = await fetch(
            server.port, headers=[("Accept-Encoding", "gzip;q=0.5, deflate;q=0.9")]
        )
        assert response.header("content-encoding") == "deflate"
        assert zlib.decompress(response.body) == text
        response = await fetch(server.port)
        assert response.header("content-encoding") is None
        assert response.body == text


async def test_access_log_prints_a_line_per_request() -> None:
    """examples.access_log"""
    async with example("access_log") as server:
        response = await fetch(server.port, "/x?y=1")
        assert response.text == "Hello World logged."
        out = await server.wait_for('"GET /x?y=1 HTTP/1.1"')
        await server.wait_for(" 19\n")
        line = re.compile(
            r"^127\.0\.0\.1 - - \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] "
            r'"GET /x\?y=1 HTTP/1\.1" 200 19$',
            re.MULTILINE,
        )
        assert line.search(server.output()), out
        await fetch(server.port, "/second?z", "POST", body=b"ignored")
        await server.wait_for('"POST /second?z HTTP/1.1" 200 19\n')


async def test_chunked_sends_three_chunks_then_the_end() -> None:
    """examples.chunked"""
    async with example("chunked", "--interval", "0.01") as server:
        request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, headers, body = split_response(await raw(server.port, request))
        assert status == "HTTP/1.1 200 OK"
        assert headers["transfer-encoding"] == "chunked"
        assert headers["content-type"] == "text/html"
        assert "content-length" not in headers
        assert (
            body
            == b"".join(b"14\r\nSending CHUNK %d<br/>\r\n" % n for n in (1, 2, 3)) + b"0\r\n\r\n"
        )
        # Kept alive: the next request on the same connection is answered too.
        async with await open_stream(server.port) as stream:
            first, client = await exchange(stream)
            second, _ = await exchange(stream, client=client)
        for response in (first, second):
            assert response.body == b"Sending CHUNK 1<br/>Sending CHUNK 2<br/>Sending CHUNK 3<br/>"


async def test_stream_sends_1_2_3_then_closes() -> None:
    """examples.stream"""
    async with example("stream", "--interval", "0.01") as server:
        data = await raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = split_response(data)
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-type"] == "text/plain"
        assert "content-length" not in headers
        assert "transfer-encoding" not in headers
        assert body == b"123"  # and then the server closed: raw() returned


async def test_comet_long_polling_answers_after_the_delay() -> None:
    """examples.comet_long_polling"""
    async with example("comet_long_polling", "--delay", "0.05") as server:
        page = await fetch(server.port, "/")
        assert page.status == 200
        assert 'fetch("/comet"' in page.text
        async with await open_stream(server.port) as stream:
            response, client = await exchange(stream, path="/comet")
            assert response.status == 200
            assert response.header("content-type") == "text/plain"
            assert response.text == (
                "Message received from Long Polling, next message in 0.05 seconds."
            )
            # The connection is kept alive after a comet request.
            response, _ = await exchange(stream, path="/nothing", client=client)
            assert response.text == "Page not found."


COMET_PUSH = b'<script>comet.printServerTime("Server current time is: '


async def test_comet_iframe_pushes_scripts_until_the_client_leaves() -> None:
    """examples.comet_iframe"""
    async with example("comet_iframe", "--interval", "0.01") as server:
        page = await fetch(server.port, "/")
        assert '<iframe src="/comet"' in page.text
        assert "printServerTime" in page.text
        async with await open_stream(server.port) as stream:
            await stream.send_all(b"GET /comet HTTP/1.1\r\nHost: x\r\n\r\n")
            received = await read_until(stream, COMET_PUSH, count=3)
        status, headers, body = split_response(received)
        assert status == "HTTP/1.1 200 OK"
        assert headers["cache-control"] == "no-cache, must-revalidate"
        assert headers["expires"] == "Mon, 26 Jul 1997 05:00:00 GMT"
        assert "content-length" not in headers
        assert body.startswith(b"<!DOCTYPE html>")
        assert body.index(b"window.parent.comet") < body.index(COMET_PUSH)
        assert re.search(
            rb"Server current time is: \d\d:\d\d:\d\d, will be updated in 0.01 seconds", body
        )
        # The handler of the closed connection is gone; the server serves on.
        assert (await fetch(server.port, "/nope")).text == "Page not found."


async def test_comet_iframe_event_handler_sees_the_client_leave() -> None:
    """examples.comet_iframe_event: with autoexit=False the handler gets
    "closed" and prints that it exits."""
    async with example("comet_iframe_event", "--interval", "0.05") as server:
        async with await open_stream(server.port) as stream:
            await stream.send_all(b"GET /comet HTTP/1.1\r\nHost: x\r\n\r\n")
            received = await read_until(stream, COMET_PUSH, count=2)
            assert "went away" not in server.output()
        assert b"will be updated in 0.05 seconds" in received
        out = await server.wait_for("went away")
        assert re.search(r"client of /comet went away: handler <0\.\d+\.0> exits", out)
        page = await fetch(server.port, "/")
        assert '<iframe src="/comet"' in page.text


async def test_proxy_protocol_greets_the_address_of_the_proxy_line() -> None:
    """examples.proxy_protocol"""
    async with example("proxy_protocol") as server:
        request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        proxied = b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\n" + request
        status, _, body = split_response(await raw(server.port, proxied))
        assert (status, body) == ("HTTP/1.1 200 OK", b"Hello 203.0.113.7")
        spoofed = request.replace(b"Host: x", b"Host: x\r\nX-Real-Ip: 10.6.6.6")
        proxied = b"PROXY TCP4 198.51.100.2 127.0.0.1 51234 80\r\n" + spoofed
        _, _, body = split_response(await raw(server.port, proxied))
        assert body == b"Hello 198.51.100.2"
        proxied = b"PROXY TCP6 2001:db8::5 ::1 51234 80\r\n" + request
        _, _, body = split_response(await raw(server.port, proxied))
        assert body == b"Hello 2001:db8::5"
        status, _, body = split_response(await raw(server.port, request))
        assert int(status.split()[1]) >= 400
        assert b"Hello" not in body
