"""Just enough W3C WebDriver to drive headless Chromium through chromedriver:
start a session, open a page, read an element's text and attributes, click,
type, run a script, take a screenshot. (selenium would need
websocket-client, whose import name is `websocket`, which this project's
own package takes.)"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromedriver are not installed: run scripts/install-browser.sh",
)


@contextmanager
def headless(*flags: str) -> Iterator[Chromium]:
    """A headless Chromium with a throwaway profile, and `flags` besides."""
    assert CHROMIUM is not None
    assert CHROMEDRIVER is not None
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        with Chromium(CHROMIUM, CHROMEDRIVER, [*common, *flags, f"--user-data-dir={profile}"]) as c:
            yield c


class Chromium:
    """A headless Chromium under chromedriver; use as a context manager."""

    def __init__(self, chromium: str, chromedriver: str, flags: list[str]) -> None:
        self.chromium = chromium
        self.chromedriver = chromedriver
        self.flags = flags
        self.driver: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.session = ""

    def __enter__(self) -> Chromium:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.driver = subprocess.Popen(
            [self.chromedriver, f"--port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:  # chromedriver answers /status once it listens
            try:
                if self._call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        capabilities = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": self.chromium, "args": self.flags},
                }
            }
        }
        self.session = self._call("POST", "/session", capabilities)["value"]["sessionId"]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}")
        finally:
            assert self.driver is not None
            self.driver.terminate()
            self.driver.wait(timeout=10)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def open(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def _element(self, css: str) -> str:
        found = self._call(
            "POST", f"/session/{self.session}/element", {"using": "css selector", "value": css}
        )["value"]
        element: str = next(iter(found.values()))
        return element

    def text_of(self, css: str) -> str:
        element = self._element(css)
        text: str = self._call("GET", f"/session/{self.session}/element/{element}/text")["value"]
        return text

    def type_into(self, css: str, text: str) -> None:
        """Clear an input, then type `text` into it."""
        element = self._element(css)
        self._call("POST", f"/session/{self.session}/element/{element}/clear", {})
        self._call("POST", f"/session/{self.session}/element/{element}/value", {"text": text})

    def click(self, css: str) -> None:
        element = self._element(css)
        self._call("POST", f"/session/{self.session}/element/{element}/click", {})

    def attribute_of(self, css: str, name: str) -> str | None:
        """An attribute of the first element matching `css` (None if unset)."""
        element = self._element(css)
        path = f"/session/{self.session}/element/{element}/attribute/{name}"
        value: str | None = self._call("GET", path)["value"]
        return value

    def execute(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body; `arguments` holds `args`) in the
        page, in one go, and return what it returns."""
        body = {"script": script, "args": list(args)}
        return self._call("POST", f"/session/{self.session}/execute/sync", body)["value"]

    def screenshot(self, path: str) -> None:
        """Save the page as it looks now, as a PNG file."""
        data = self._call("GET", f"/session/{self.session}/screenshot")["value"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def wait_for_text(self, css: str, wanted: str, timeout: float = 15) -> str:
        """Wait until the element's text contains `wanted` (polling the
        page: the browser is the event source); return the text."""
        deadline = time.monotonic() + timeout
        text = self.text_of(css)
        while wanted not in text:
            if time.monotonic() > deadline:
                raise AssertionError(f"{wanted!r} never appeared in {css}; it shows:\n{text}")
            time.sleep(0.05)
            text = self.text_of(css)
        return text
