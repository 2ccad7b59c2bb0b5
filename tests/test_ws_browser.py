"""The seed example in a real browser: headless Chromium opens the page,
which connects, says "hello server!", and shows what the server answers
and, about 5 s later, pushes. The server listens on 127.0.0.2, which the
name localhost does not reach: the page opens its socket to the host it
came from. (scripts/install-browser.sh installs Debian's chromium and
chromium-driver where they are missing.)"""

from __future__ import annotations

import time

import trio

from tests.http_helpers import example
from tests.webdriver import headless, needs_browser

pytestmark = needs_browser


def watch_page(url: str) -> dict[str, float]:
    """Open `url` in headless Chromium; return when each expected line
    appeared on the page (seconds after the page was opened)."""
    quiet = ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with headless(*quiet, "--disable-quic") as browser:
        browser.open(url)
        opened = time.monotonic()
        seen: dict[str, float] = {}
        status = ""
        for line in ("websocket connected!", "received 'hello server!'", "pushing!"):
            deadline = time.monotonic() + 15
            while line not in status:  # polling the page: the browser is the event source
                if time.monotonic() > deadline:
                    raise AssertionError(f"{line!r} never appeared; the page shows:\n{status}")
                time.sleep(0.05)
                status = browser.text_of("#status")
            seen[line] = time.monotonic() - opened
    assert "sent message to server: 'hello server!'" in status
    return seen


async def test_the_seed_example_in_headless_chromium() -> None:
    async with example("websocket_example", "--ip", "127.0.0.2") as server:
        with trio.fail_after(60):
            seen = await trio.to_thread.run_sync(watch_page, f"http://127.0.0.2:{server.port}/")
    assert seen["websocket connected!"] <= seen["received 'hello server!'"]
    pushed_after = seen["pushing!"] - seen["received 'hello server!'"]
    assert 4.0 <= pushed_after <= 7.0, pushed_after
