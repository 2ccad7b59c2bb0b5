"""Pages with their own WebSocket handlers, found by name in examples/pages/.

    python -m examples.page_dispatcher --port 8080
    then open http://localhost:8080/ in a browser

A page NAME is two files in examples/pages/: NAME.html, served at
/NAME.html, and NAME.py, which defines `async def handle_websocket(ws)`.
The page's script opens a socket at /ws/NAME; the server's one ws_loop
reads the name from the path, imports examples.pages.NAME and runs its
handler in the socket's handler process (so the ("browser", data)
messages reach it). Two pages come with it: echo (every message comes
back) and clock (the server's time, every second). GET / lists the pages.

A name must be a plain identifier (a lower-case letter, then lower-case
letters, digits or "_", at most 64): anything else, and a name with no
such file, is a 404 for the page. A socket at an unknown or unsafe
/ws/NAME is accepted (the upgrade is answered before any handler runs),
then closed at once with code 4404 and the reason "no such page". So
neither path can reach a file outside examples/pages/.
"""

from __future__ import annotations

import html
import importlib
import re
from pathlib import Path

import httpserver
import websocket
from examples._cli import serve_forever

PAGES = Path(__file__).resolve().parent / "pages"
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
PAGE_PATH = re.compile(r"/([^/]*)\.html")
SOCKET_PATH = re.compile(r"/ws/([^/]*)")
NO_SUCH_PAGE = 4404  # a private-use close code (4000-4999)


def page_file(name: str, suffix: str) -> Path | None:
    """examples/pages/NAME.SUFFIX if NAME is a safe name and the file is
    there, else None."""
    if NAME.fullmatch(name) is None:
        return None
    path = PAGES / f"{name}{suffix}"
    return path if path.is_file() else None


def page_names() -> list[str]:
    """The pages that have both their .html and their .py."""
    return sorted(
        path.stem
        for path in PAGES.glob("*.html")
        if page_file(path.stem, ".html") and page_file(path.stem, ".py")
    )


def index() -> str:
    links = "\n".join(
        f'<li><a href="/{name}.html">{html.escape(name)}</a></li>' for name in page_names()
    )
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"><title>pages</title></head>\n'
        f"<body>\n<h1>pages</h1>\n<ul>\n{links}\n</ul>\n</body>\n</html>\n"
    )


async def handle_http(req: httpserver.Req) -> None:
    if req.path == "/":
        await req.ok(index(), {"Content-Type": "text/html; charset=utf-8"})
        return
    found = PAGE_PATH.fullmatch(req.path)
    path = page_file(found[1], ".html") if found else None
    if path is None:
        raise httpserver.HttpError(404)
    await req.file(str(path))


async def handle_websocket(ws: websocket.Ws) -> None:
    """Run the handler of the page named by the socket's path."""
    found = SOCKET_PATH.fullmatch(ws.path)
    if found is None or page_file(found[1], ".py") is None:
        ws.close(NO_SUCH_PAGE, "no such page")
        return
    module = importlib.import_module(f"examples.pages.{found[1]}")
    handler = getattr(module, "handle_websocket", None)
    if handler is None:
        ws.close(NO_SUCH_PAGE, "no such page")
        return
    await handler(ws)


if __name__ == "__main__":
    serve_forever(__doc__, loop=handle_http, ws_loop=handle_websocket)
