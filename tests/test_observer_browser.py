"""The observer in a real browser: examples.supervised_app runs with its
observer; headless Chromium opens the page, finds the supervision tree and
the flaky child, sees its restart count rise and the restart limit worded
as a limit beside the restarts it bounds, is refused a kill with a wrong
token, kills a worker with the right one and sees it come back, opens a
process's details, finds the global name "app.tally", shows the system
processes (hidden until asked, never with a kill button),
and saves a screenshot under the test's tmp dir."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import trio

from tests.http_helpers import example
from tests.webdriver import headless, needs_browser

pytestmark = needs_browser

LINE = re.compile(r"observer on (http://\S+/) kill token: (\S+)")
FLAKY = '#trees li[data-id="flaky"]'
FEEDER = '#trees li[data-id="feeder"]'
TALLY = '#trees li[data-id="tally"]'
# "5 restarts allowed within 10 s; 2 in the last 10 s, 7 in all": never
# "restarts made: 7 (limit 5 in 10 s)", which reads as a limit exceeded.
INTENSITY = re.compile(r"^5 restarts allowed within 10 s; (\d+) in the last 10 s, (\d+) in all$")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Poll the page (the browser is the event source) until `check` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened within {timeout} s")
        time.sleep(0.05)


def drive(url: str, token: str, screenshot: Path) -> None:
    with headless("--window-size=1400,1800") as page:
        page.open(url)
        page.wait_for_text("#status", "connected")
        page.wait_for_text("#trees", "flaky")
        assert page.attribute_of('#trees li.supervisor[data-id="app"]', "data-id") == "app"
        assert "one_for_one" in page.text_of('#trees li[data-id="app"] > .row')

        def restarts() -> int:
            return int(page.text_of(f"{FLAKY} > .row .restarts"))

        first = restarts()
        wait_until(lambda: restarts() > first, "flaky's restart count rising")
        assert "flaky crashed on purpose" in page.text_of(f"{FLAKY} > .row .last-exit")

        def intensity() -> tuple[int, int]:
            found = INTENSITY.match(page.text_of('#trees li[data-id="app"] > .row .made'))
            assert found is not None, page.text_of('#trees li[data-id="app"] > .row .made')
            return int(found[1]), int(found[2])

        wait_until(lambda: intensity()[0] >= 1, "a restart counted within the period")
        recent, total = intensity()
        assert recent <= 5  # a crash every 3 s: within the limit
        assert recent <= total
        assert "restarts made" not in page.text_of("#trees")

        # The global name the tally registered, in its own table and on its row.
        tally = page.attribute_of(TALLY, "data-pid")
        page.wait_for_text("#globals", "app.tally")
        assert page.execute(
            "return Array.from(document.querySelectorAll('#globals tbody tr'),"
            " (tr) => [tr.children[0].textContent, tr.children[1].textContent]);"
        ) == [["app.tally", tally]]

        # Read-only until a token is given; a wrong one is refused (403).
        worker = page.attribute_of(FEEDER, "data-pid")
        assert worker
        page.type_into("#token", "not-the-token")
        page.click("#unlock-button")
        page.click(f"{FEEDER} > .row button.kill")
        page.wait_for_text("#message", "kill refused (403)")
        assert page.attribute_of(FEEDER, "data-pid") == worker

        page.type_into("#token", token)
        page.click("#unlock-button")
        page.click(f"{FEEDER} > .row button.kill")
        page.wait_for_text("#message", f"killed {worker}")
        wait_until(
            lambda: page.attribute_of(FEEDER, "data-pid") not in (worker, "", None),
            "the killed worker coming back under a new pid",
        )
        assert int(page.text_of(f"{FEEDER} > .row .restarts")) == 1

        page.click(f"{TALLY} > .row .pid")
        page.wait_for_text("#detail", "process_info")
        page.wait_for_text("#detail", "show_state=True")  # the state stays hidden
        page.wait_for_text("#processes", "tally \u00b7 global: app.tally")
        page.click('#processes th[data-sort="received"]')  # sorted by messages received
        assert "desc" in (page.attribute_of('#processes th[data-sort="received"]', "class") or "")
        column = page.execute(  # read at one instant: the page updates every second
            "return Array.from(document.querySelectorAll('#processes td.received'),"
            " (cell) => Number(cell.textContent));"
        )
        assert len(column) > 5
        assert column == sorted(column, reverse=True)

        # System processes ("$inspect", the observer's own) are hidden until
        # asked for, and even then have no kill button.
        names = (
            "return Array.from(document.querySelectorAll('#processes td.name'),"
            " (cell) => cell.textContent);"
        )
        assert "$inspect" not in page.execute(names)
        page.click("#show-system")
        wait_until(lambda: "$inspect" in page.execute(names), "the system processes shown")
        assert page.execute(
            "return Array.from(document.querySelectorAll('#processes tr.system button.kill'))"
            ".every((b) => b.hidden && b.offsetParent === null);"
        )
        assert page.execute("return document.querySelectorAll('#processes tr.system').length") >= 3
        page.screenshot(str(screenshot))


async def test_the_supervised_app_under_the_observer_in_headless_chromium(
    tmp_path: Path,
) -> None:
    args = ("--observer", "0", "--crash-every", "3")
    with trio.fail_after(90):
        async with example("supervised_app", *args) as app:
            found = LINE.search(await app.wait_for("kill token: "))
            assert found is not None, app.output()
            url, token = found.groups()
            shot = tmp_path / "observer.png"
            await trio.to_thread.run_sync(drive, url, token, shot)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
