"""The command line, `python -m httpserver MODULE:FUNCTION --port N`, run as
a user runs it: a real OS process, fetched over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import trio

import actors
import httpserver
from httpserver import _cli
from httpserver._flag_help import DESCRIPTIONS
from httpserver._options import _TABLE
from httpserver._upgrades import shorthand_help, shorthand_rows
from tests import cli_app
from tests.cli_helpers import command_line, environment, run_command_line
from tests.http_helpers import ROOT, fetch, listening, python_argv
from tests.ws_helpers import Closed, open_ws


async def test_help_lists_every_server_option_of_the_table() -> None:
    done = await run_command_line("--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    for name, _default, _check, _good in [*_TABLE, *shorthand_rows()]:
        if name == "upgrades":
            continue  # objects: the --ws flags build the WebSocket one
        shown = "MODULE:FUNCTION" if name in ("loop", "asgi") else _cli.flag(name)
        assert shown in text, f"--help does not list the option {name}"
    for own_flag in ("--cluster", "--cookie", "--node", "--log-level", "--log-format"):
        assert own_flag in text
    for own_flag in ("--reload", "--reload-dir", "--no-access-log", "--interface"):
        assert own_flag in text


def _flag_helps() -> dict[str, str]:
    """Each flag of --help, and its help text (one line)."""
    helps: dict[str, str] = {}
    for action in _cli.parser()._actions:
        for option in action.option_strings:
            helps[option] = " ".join((action.help or "").split())
    return helps


def test_every_flag_says_what_it_does() -> None:
    helps = _flag_helps()
    described = {**DESCRIPTIONS, **shorthand_help()}
    for name, default, _check, _good in [*_TABLE, *shorthand_rows()]:
        if name in ("loop", "asgi", "upgrades"):
            continue
        text = helps[_cli.flag(name)]
        assert described.get(name), f"{name} has no description"
        assert text.startswith(described[name].split(" (")[0][:40]), (name, text)
        if not isinstance(default, bool):  # what to type, beside what it is for
            assert len(text) > len(described[name]) + 12, (name, text)
    for option, text in helps.items():
        assert text, f"{option} has no help"


def test_flag_helps_say_what_to_type_not_a_python_value() -> None:
    helps = _flag_helps()
    assert "SSLContext" not in helps["--ssl"]
    assert "cert.pem,key.pem" in helps["--ssl"]
    for option, text in helps.items():
        assert "['" not in text, (option, text)
        assert "{'" not in text, (option, text)
    assert "127.0.0.1,10.0.0.0/8" in helps["--trusted-proxies"]
    assert "(default: none)" in helps["--trusted-proxies"]
    assert "room for a burst" in helps["--backlog"]
    assert (
        helps["--compress"] == "gzip or deflate responses for clients that accept it (default: off)"
    )


async def test_it_serves_a_handler_named_module_colon_function() -> None:
    async with command_line("examples.hello_world:handle_http") as server:
        assert f"listening on http://127.0.0.1:{server.port}/" in server.output()
        response = await fetch(server.port, "/")
        assert response.status == 200
        assert response.text == "Hello World."
    assert "SIGTERM: draining 1 server(s), then exiting" in server.output()


async def test_ctrl_c_drains_and_ends_it_with_one_line() -> None:
    # As in a terminal: SIGINT raises KeyboardInterrupt (a test runner started
    # in the background may hand its children an ignored SIGINT).
    boot = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
        " sys.argv[0] = 'httpserver'; runpy.run_module('httpserver', run_name='__main__')"
    )
    argv = [sys.executable, "-u", "-c", boot, "examples.hello_world:handle_http"]
    async with listening(argv) as runner:
        with trio.fail_after(30):
            assert (await fetch(runner.port, "/")).status == 200
        assert await runner.ended_by(signal.SIGINT) == 0  # drained: a clean stop, as on SIGTERM
    lines = runner.output().strip().splitlines()
    # where it listened, the request's access line, and that it stopped
    assert len(lines) == 3, runner.output()
    assert lines[1].endswith('INFO httpserver.access: 127.0.0.1 "GET / HTTP/1.1" 200 12')
    assert lines[2].endswith("WARNING httpserver: SIGINT: draining 1 server(s), then exiting")


async def test_ws_serves_a_websocket_handler() -> None:
    args = ("examples.websocket_echo:no_http", "--ws", "examples.websocket_echo:echo")
    async with command_line(*args) as server:
        async with open_ws(server.port, "/") as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"
            await ws.send(b"\x00\x01")
            assert await ws.receive() == b"\x00\x01"
            assert await ws.close() == Closed(1000, "")
        assert (await fetch(server.port, "/")).status == 404


async def test_workers_2_serves_from_two_os_processes() -> None:
    async with command_line("tests.cli_app:which_process", "--workers", "2") as server:
        seen: set[str] = set()
        for _ in range(200):  # each request a new connection, which the kernel spreads
            seen.add((await fetch(server.port, "/")).text)
            if len(seen) == 2:
                break
        assert len(seen) == 2, seen


async def test_log_level_applies_in_every_worker() -> None:
    args = ("tests.cli_app:log_level", "--workers", "2", "--log-level", "info")
    async with command_line(*args) as server:
        seen: dict[str, str] = {}
        for _ in range(200):
            pid, level = (await fetch(server.port, "/")).text.split()
            seen[pid] = level
            if len(seen) == 2:
                break
        assert len(seen) == 2, seen
        assert set(seen.values()) == {"20"}, seen  # logging.INFO, in each


async def test_a_plain_def_handler_is_refused_at_start_naming_it() -> None:
    done = await run_command_line("tests.cli_app:plain", "--port", "0")
    assert done.returncode == 2
    last = done.stderr.decode().strip().splitlines()[-1]
    assert "bad server option loop=tests.cli_app.plain: it must be an async function" in last
    assert "declare it with `async def`" in last


async def test_a_handler_that_takes_no_argument_is_refused_at_start() -> None:
    done = await run_command_line("tests.cli_app:no_argument", "--port", "0")
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "bad server option loop=tests.cli_app.no_argument: it must be an async" in lines[0]
    assert "declare it `async def no_argument(req)`" in lines[0]
    async with actors.node():
        with pytest.raises(ValueError, match=r"no_argument\(\) cannot be called so"):
            httpserver.start_link(port=0, loop=cli_app.no_argument)  # type: ignore[arg-type]


_BROKEN_MODULES = [
    pytest.param(
        "import os\nvalue = undefined_name\n",
        "NameError: name 'undefined_name' is not defined",
        'broken.py", line 2, in <module>: value = undefined_name',
        id="name-error",
    ),
    pytest.param(
        "async def handle_http(req:\n    pass\n",
        "SyntaxError: ",
        'broken.py", line 1: async def handle_http(req:',
        id="syntax-error",
    ),
    pytest.param(
        "import a_module_nobody_has\n",
        "ModuleNotFoundError: No module named 'a_module_nobody_has'",
        'broken.py", line 1, in <module>: import a_module_nobody_has',
        id="its-import-not-found",
    ),
]


@pytest.mark.parametrize(("source", "error", "where"), _BROKEN_MODULES)
async def test_a_module_that_fails_to_import_is_two_lines_naming_where(
    tmp_path: Path, source: str, error: str, where: str
) -> None:
    (tmp_path / "broken.py").write_text(source)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = await run_command_line(
        "broken:handle_http", "--port", "0", env=environment(PYTHONPATH=path), timeout=15
    )
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 2, lines  # not a traceback through importlib and argparse
    assert lines[0].startswith("python -m httpserver: error: argument MODULE:FUNCTION:")
    assert f"cannot import 'broken': {error}" in lines[0]
    assert lines[1].startswith('  File "'), lines
    assert lines[1].endswith(where), lines


async def test_a_plain_def_is_refused_by_start_link_too() -> None:
    async with actors.node():
        with pytest.raises(ValueError, match=r"loop=tests\.cli_app\.plain: it must be an async"):
            httpserver.start_link(port=0, loop=cli_app.plain)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"ws_loop=tests\.cli_app\.plain: it must be"):
            httpserver.start_link(
                port=0,
                loop=cli_app.which_process,
                ws_loop=cli_app.plain,  # type: ignore[arg-type]
            )


async def test_a_handler_that_cannot_pickle_is_refused_with_workers_naming_it() -> None:
    async def local(req: httpserver.Req) -> None:
        pass

    async with actors.node():
        with pytest.raises(ValueError, match=r"loop=tests\.test_cli\..*local: workers=2 sends"):
            httpserver.start_link(port=0, loop=local, workers=2)


async def test_a_bad_value_is_refused_with_the_words_of_start() -> None:
    done = await run_command_line("examples.hello_world:handle_http", "--workers", "0")
    assert done.returncode == 2
    assert b"bad server option workers=0: it must be an int from 1 to 256" in done.stderr


async def test_a_cluster_needs_a_cookie() -> None:
    args = ("examples.hello_world:handle_http", "--cluster", "redis://127.0.0.1:1/0")
    done = await run_command_line(*args)
    assert done.returncode == 2
    assert b"--cluster needs --cookie" in done.stderr


# -- bad values, and secrets -------------------------------------------------------

PASSWORD = "redis-pa55w0rd"
COOKIE = "cookie-s3cret"
HELLO = "examples.hello_world:handle_http"

_BAD_VALUES = [
    pytest.param(
        ["--backlog", "99999999999999999999"],
        {},
        "bad server option backlog=99999999999999999999: it must be an int from 1 to 65535",
        id="backlog-huge",
    ),
    pytest.param(["--backlog", "-1"], {}, "bad server option backlog=-1", id="backlog-negative"),
    pytest.param(["--port", "70000"], {}, "bad server option port=70000", id="port-70000"),
    pytest.param(["--port", "eighty"], {}, "'eighty' is not a number", id="port-not-a-number"),
    pytest.param(["--workers", "0"], {}, "bad server option workers=0", id="workers-0"),
    pytest.param(["--recv-timeout", "nan"], {}, "recv_timeout=nan", id="recv-timeout-nan"),
    pytest.param(["--sessions-max-age", "inf"], {}, "sessions_max_age=inf", id="max-age-inf"),
    pytest.param(["--ws-max-pending", "0,1"], {}, "ws_max_pending=(0, 1)", id="ws-max-pending-0"),
    pytest.param(
        ["--cluster", "notaurl", "--cookie", COOKIE],
        {},
        "--cluster: cluster URL 'notaurl' is not a Redis URL",
        id="cluster-not-a-url",
    ),
    pytest.param(
        ["--cluster", f"http://:{PASSWORD}@127.0.0.1/0", "--cookie", COOKIE],
        {},
        "--cluster: cluster URL 'http://:***@127.0.0.1/0' is not a Redis URL",
        id="cluster-not-redis-with-a-password",
    ),
    pytest.param(
        ["--cluster", "redis://127.0.0.1/zero", "--cookie", COOKIE],
        {},
        "database 'zero' is not a number",
        id="cluster-database-not-a-number",
    ),
    pytest.param(
        [],
        {_cli.CLUSTER_ENV: f"redis://user:{PASSWORD}@127.0.0.1:99999/0", _cli.COOKIE_ENV: COOKIE},
        "$TRIO_MISULTIN_CLUSTER: cluster URL 'redis://user:***@127.0.0.1:99999/0': port 99999",
        id="cluster-from-the-environment-port-out-of-range",
    ),
    pytest.param(
        ["--cluster", "redis://127.0.0.1:1/0"],
        {},
        "--cluster needs --cookie (or $TRIO_MISULTIN_COOKIE)",
        id="cluster-without-a-cookie",
    ),
    pytest.param(
        ["--node", "web"], {}, "--node and --cookie need --cluster", id="node-without-a-cluster"
    ),
    pytest.param(
        ["--prot", "80"],
        {},
        "unrecognized arguments: --prot 80 (did you mean --port?)",
        id="unknown-flag-did-you-mean",
    ),
    pytest.param(
        ["--no-acess-log"],
        {},
        "unrecognized arguments: --no-acess-log (did you mean --no-access-log?)",
        id="unknown-flag-did-you-mean-a-negation",
    ),
    pytest.param(["--zzzzzz"], {}, "unrecognized arguments: --zzzzzz", id="unknown-flag-far"),
]


@pytest.mark.parametrize(("args", "variables", "expected"), _BAD_VALUES)
async def test_a_bad_value_ends_in_one_line_and_status_2(
    args: list[str], variables: dict[str, str], expected: str
) -> None:
    done = await run_command_line(
        HELLO, "--ip", "127.0.0.1", "--port", "0", *args, env=environment(**variables), timeout=15
    )
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("python -m httpserver: error: "), lines
    assert expected in lines[0]
    for secret in (PASSWORD, COOKIE):
        assert secret.encode() not in done.stdout + done.stderr


async def test_a_cluster_without_the_cluster_extra_names_the_extra_to_install(
    tmp_path: Path,
) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        'import sys\nsys.modules["coredis"] = None  # as if it were not installed\n'
    )
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    args = (HELLO, "--ip", "127.0.0.1", "--port", "0", "--cluster", "redis://127.0.0.1:1/0")
    done = await run_command_line(
        *args, "--cookie", COOKIE, env=environment(PYTHONPATH=path), timeout=15
    )
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "pip install 'trio-misultin[cluster]'" in lines[0]


async def test_help_names_the_variables_of_the_secrets_never_their_values() -> None:
    variables = {
        _cli.CLUSTER_ENV: f"redis://:{PASSWORD}@127.0.0.1:6379/0",
        _cli.COOKIE_ENV: COOKIE,
    }
    done = await run_command_line("--help", env=environment(**variables))
    assert done.returncode == 0
    text = " ".join(done.stdout.decode().split())
    assert "--cluster URL join this cluster" in text
    assert "(default: $TRIO_MISULTIN_CLUSTER" in text
    assert "--cookie SECRET the cluster's cookie (default: $TRIO_MISULTIN_COOKIE" in text
    for secret in (PASSWORD, COOKIE):
        assert secret.encode() not in done.stdout + done.stderr


async def test_a_cluster_that_cannot_be_joined_is_one_line_without_its_password() -> None:
    # Port 1: nothing listens there, so the join fails at once.
    variables = {
        _cli.CLUSTER_ENV: f"redis://:{PASSWORD}@127.0.0.1:1/0",
        _cli.COOKIE_ENV: COOKIE,
    }
    done = await run_command_line(
        HELLO, "--ip", "127.0.0.1", "--port", "0", env=environment(**variables), timeout=15
    )
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 1, lines
    assert len(lines) == 1, lines
    assert "error: cannot join the cluster at redis://:***@127.0.0.1:1/0" in lines[0]
    for secret in (PASSWORD, COOKIE):
        assert secret.encode() not in done.stdout + done.stderr


async def test_a_secret_given_on_the_command_line_is_warned_of_and_never_shown() -> None:
    args = ("--cluster", f"redis://:{PASSWORD}@127.0.0.1:1/0", "--cookie", COOKIE)
    done = await run_command_line(HELLO, "--ip", "127.0.0.1", "--port", "0", *args, timeout=15)
    text = done.stderr.decode()
    assert done.returncode == 1, text
    assert "the Redis password of --cluster is on the command line" in text
    assert "give it in $TRIO_MISULTIN_CLUSTER instead" in text
    assert "the cookie of --cookie is on the command line" in text
    assert "give it in $TRIO_MISULTIN_COOKIE instead" in text
    for secret in (PASSWORD, COOKIE):
        assert secret.encode() not in done.stdout + done.stderr


def test_the_console_script_is_the_command_line() -> None:
    (script,) = entry_points(group="console_scripts", name="trio-misultin")
    assert script.load() is _cli.main
    assert sys.executable  # (installed by `pip install -e .`, beside python)


async def test_fd_serves_an_inherited_listening_socket() -> None:
    """systemd's socket activation: the socket is bound by the parent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        fd = sock.fileno()
        argv = python_argv("-m", "httpserver", HELLO, "--fd", str(fd))
        async with listening(argv, where=(), pass_fds=(fd,)) as runner:
            assert runner.port == port
            with trio.fail_after(30):
                assert (await fetch(port, "/")).text == "Hello World."
            assert await runner.ended_by(signal.SIGTERM) == 0


async def test_fd_that_is_no_listening_socket_is_one_line() -> None:
    with socket.socket() as sock:  # bound, not listening
        sock.bind(("127.0.0.1", 0))
        fd = sock.fileno()
        argv = python_argv("-m", "httpserver", HELLO, "--fd", str(fd))
        with trio.fail_after(30):
            done = await trio.run_process(
                argv,
                cwd=ROOT,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                pass_fds=(fd,),
            )
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 1, lines
    assert len(lines) == 1, lines
    assert f"cannot serve fd={fd}: it is not a listening TCP socket" in lines[0]
