"""Every example in examples/ is started by a test and its output checked."""

from __future__ import annotations

import sys
from pathlib import Path

import trio
import trio.testing

ROOT = Path(__file__).resolve().parent.parent


async def run_example(*argv: str, timeout: float = 30) -> str:
    with trio.fail_after(timeout):
        result = await trio.run_process(
            [sys.executable, "-m", *argv], cwd=ROOT, capture_stdout=True, capture_stderr=True
        )
    return result.stdout.decode()


async def test_ping_pong_prints_each_exchange_and_how_both_ended() -> None:
    out = await run_example("examples.ping_pong", "--count", "3")
    lines = out.splitlines()
    assert lines[0].startswith("spawned pong <0.")
    assert sum("got ping from" in line for line in lines) == 3
    assert sum(line.strip().endswith("got pong") for line in lines) == 3
    assert any(line.startswith("ping <0.") and "'normal'" in line for line in lines)
    assert any(line.startswith("pong <0.") and "'normal'" in line for line in lines)
    assert "3 round trips" in lines[-1]


async def test_supervised_app_crashes_comes_back_and_keeps_working() -> None:
    argv = ("--duration", "2.2", "--crash-every", "0.6", "--job-every", "0.3")
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-m", "examples.supervised_app", *argv],
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
        )
    out = result.stdout.decode()
    # Each report is printed once, as one line, as the docstring says: not
    # also by the handler `actors.run` installs (with its traceback).
    assert result.stderr.decode() == ""
    lines = out.splitlines()
    assert "started its children: tally, pool, flaky, feeder" in lines[0]
    crashes = [line for line in lines if "crashing on purpose now" in line]
    assert len(crashes) >= 2
    assert any("back again, generation 3" in line for line in lines)
    restarts = [line for line in lines if "restarting 'flaky' (one_for_one)" in line]
    assert len(restarts) == len(crashes)
    reports = [line for line in lines if "crash report" in line and "ZeroDivisionError" in line]
    assert len(reports) == len(crashes)
    assert not [line for line in lines if "Traceback" in line]
    jobs = [line for line in lines if "tally: job" in line]
    assert len(jobs) >= 4
    assert "job 2 done" in jobs[1]
    assert "2² = 4" in jobs[1]
    summary = next(line for line in lines if "stopping the app" in line)
    assert f"'flaky crashes': {len(crashes)}" in summary
    assert lines[-1].endswith("the app supervisor stopped: 'shutdown'")


async def test_bench_actors_runs_and_prints_every_figure_with_a_ratio() -> None:
    """The bench stays runnable; its figures are not judged here."""
    import json

    out = await run_example("bench.actors_bench", "--quick", "--rounds", "1", "--json", timeout=120)
    figures = json.loads(out)
    for name in ("ping_pong_vs_lowlevel", "ring_vs_lowlevel", "memory_per_process_vs_lowlevel"):
        assert figures[name]["ratio"] > 0
        assert figures[name]["anchor"] > 0


def test_examples_have_a_test() -> None:
    here = (ROOT / "tests").glob("test_*.py")
    tested = "\n".join(path.read_text() for path in here)
    for example in (ROOT / "examples").glob("*.py"):
        if not example.stem.startswith("_"):
            assert f"examples.{example.stem}" in tested, f"{example.name} is started by no test"


async def test_supervised_app_brings_its_killed_web_listener_back_on_the_same_port() -> None:
    from tests.http_helpers import example, fetch

    async with example("supervised_app", "--crash-every", "60", "--duration", "30") as app:
        first = await fetch(app.port, "/")
        assert "'jobs done'" in first.text
        killed = await fetch(app.port, "/kill-web")
        assert "comes back on the same port" in killed.text
        output = await app.wait_for("restarting 'web' (one_for_one)")
        assert "exited with 'killed'" in output
        with trio.fail_after(10):
            while True:  # the new listener is bound when the restart is done
                try:
                    again = await fetch(app.port, "/")
                    break
                except OSError:
                    await trio.testing.wait_all_tasks_blocked()
        assert "'flaky crashes': 0" in again.text


async def test_code_lock_opens_on_its_code_and_its_state_timeout_locks_it_again() -> None:
    """examples.code_lock: the last presses must equal the code; the open
    state's state time-out locks the door again by itself."""
    from tests.http_helpers import example, fetch

    args = ("--code", "123", "--open-seconds", "1", "--forget-seconds", "60")
    async with example("code_lock", *args) as app:
        assert "Code lock" in (await fetch(app.port, "/")).text
        assert (await fetch(app.port, "/state")).text == "locked 0\n"
        for digit in "912":
            assert (await fetch(app.port, f"/press/{digit}")).text == "locked\n"
        assert (await fetch(app.port, "/state")).text == "locked 3\n"
        assert (await fetch(app.port, "/press/3")).text == "open\n"  # 1, 2, 3
        assert (await fetch(app.port, "/state")).text == "open 0\n"
        assert (await fetch(app.port, "/press/x")).status == 404
        output = await app.wait_for("the door locks again")
        assert "the door locks again" in output
        assert output.count("the door is open") == 1
        assert (await fetch(app.port, "/state")).text == "locked 0\n"
