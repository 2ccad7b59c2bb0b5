"""actors.testing: helpers for users' tests that fail with what they saw."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

import actors
from actors import ANY
from actors.testing import assert_receive, drain, forever, refute_receive, wait_exit

ROOT = Path(__file__).resolve().parent.parent


async def later(to: actors.Pid, delay: float, msg: object) -> None:
    await trio.sleep(delay)
    actors.send(to, msg)


async def test_assert_receive_returns_the_match_and_leaves_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        me = actors.self()
        actors.send(me, "first")
        actors.spawn(later, me, 0.5, ("reply", 7))
        assert await assert_receive(("reply", int)) == ("reply", 7)
        assert trio.current_time() == pytest.approx(0.5)
        assert await assert_receive() == "first"


async def test_assert_receive_fails_showing_what_the_mailbox_held(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        me = actors.self()
        for i in range(12):
            actors.send(me, ("reply", str(i)))
        with pytest.raises(AssertionError) as info:
            await assert_receive(("reply", int), "done", timeout=2)
        assert trio.current_time() == pytest.approx(2)
        text = str(info.value)
        assert "no message matching ('reply', <class 'int'>) or 'done' within 2 s" in text
        assert "the mailbox holds 12 messages:" in text
        assert "('reply', '0')" in text
        assert "('reply', '9')" in text
        assert "('reply', '10')" not in text
        assert "... and 2 more" in text
        assert actors.lowlevel.mailbox_len(me) == 12  # a failure takes nothing


async def test_assert_receive_on_an_empty_mailbox_says_so(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        with pytest.raises(AssertionError) as info:
            await assert_receive()
        assert str(info.value) == "no message matching anything within 1.0 s; the mailbox is empty"


async def test_refute_receive_passes_on_silence_and_keeps_other_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        me = actors.self()
        actors.send(me, "other")
        actors.spawn(later, me, 0.05, "also other")
        await refute_receive("unwanted")
        assert trio.current_time() == pytest.approx(0.1)
        assert await drain() == ["other", "also other"]


async def test_refute_receive_fails_when_a_match_comes_within_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        me = actors.self()
        actors.send(me, "other")
        actors.spawn(later, me, 0.5, ("error", "boom"))
        with pytest.raises(AssertionError, match=r"got \('error', 'boom'\), which matches"):
            await refute_receive(("error", ANY), timeout=1)
        assert trio.current_time() == pytest.approx(0.5)  # fails as soon as it comes
        assert await drain() == ["other"]


async def test_refute_receive_with_timeout_zero_only_looks() -> None:
    async with actors.node():
        me = actors.self()
        await refute_receive(timeout=0)
        actors.send(me, "here")
        with pytest.raises(AssertionError, match="got 'here', which matches anything"):
            await refute_receive(timeout=0)


async def test_wait_exit_returns_the_reason_of_each_kind_of_end() -> None:
    async def returns() -> None:
        pass

    async def crashes() -> None:
        raise ValueError("on purpose")

    async with actors.node():
        assert await wait_exit(actors.spawn(returns)) == "normal"
        reason = await wait_exit(actors.spawn(crashes))
        assert isinstance(reason, ValueError)
        victim = actors.spawn(forever)
        actors.exit(victim, "kill")
        assert await wait_exit(victim) == "killed"
        assert await wait_exit(victim) == "noproc"  # already dead
        named = actors.spawn(forever, name="named")
        actors.exit(named, "shutdown")
        assert await wait_exit("named") == "shutdown"
        assert await drain() == []  # each Down was taken


async def test_wait_exit_fails_on_a_live_process_and_leaves_no_monitor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        pid = actors.spawn(forever)
        with pytest.raises(AssertionError, match="is still alive after 3 s"):
            await wait_exit(pid, timeout=3)
        assert trio.current_time() == pytest.approx(3)
        info = actors.process_info(pid)
        assert info is not None
        assert info["monitored_by"] == []
        actors.exit(pid, "kill")
        await trio.testing.wait_all_tasks_blocked()
        assert await drain() == []  # no Down from the monitor it dropped


async def test_drain_takes_the_matches_without_waiting_and_keeps_the_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with actors.node():
        me = actors.self()
        for msg in [1, "a", 2, "b", 3.0]:
            actors.send(me, msg)
        start = trio.current_time()
        assert await drain(int, float) == [1, 2, 3.0]
        assert await drain("nothing like it") == []
        assert await drain() == ["a", "b"]
        assert trio.current_time() == start


async def test_forever_waits_in_receive_and_keeps_what_it_is_sent() -> None:
    async with actors.node():
        pid = actors.spawn(forever)
        actors.send(pid, "kept")
        await actors.lowlevel.wait_idle(pid)
        info = actors.process_info(pid)
        assert info is not None
        assert info["status"] == "waiting"
        assert info["message_queue_len"] == 1
        actors.exit(pid, "kill")
        assert await wait_exit(pid) == "killed"


def test_the_readme_testing_example_passes_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Testing your own processes\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    (tmp_path / "test_readme_example.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b2 passed\b", done.stdout), done.stdout
