"""OTP's code lock, a GenStatem, behind a keypad page and two endpoints.

    python -m examples.code_lock --port 8080 [--code 1234] [--open-seconds 10]
    curl http://127.0.0.1:8080/press/1        # -> locked (or open)

    GET /              a keypad page
    GET /press/DIGIT   press a button; answers the state after it: locked or open
    GET /state         the state and how many buttons are pressed, e.g. "locked 2"

The lock has two states, "locked" and "open" (callback_mode
"state_functions": one method per state; state enter calls on). While
locked, each press is added to the last presses (as many as the code has
digits); when they equal the code the door opens. Entering "open" sets a
state time-out that locks the door again after --open-seconds; a state
change would cancel it. Unfinished presses are forgotten after
--forget-seconds without a press: a generic time-out named "forget",
restarted by every press. A button pressed while the door is open is
ignored. The door prints each time it locks or opens (a state enter call
knows the state it came from).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import actors
import httpserver
from actors import GenericTimeout, GenStatem, Keep, Reply, StateTimeout
from examples._cli import arguments, listening

TEXT = {"Content-Type": "text/plain; charset=utf-8"}
PAGE = """<!doctype html>
<meta charset="utf-8"><title>Code lock</title>
<h1>Code lock</h1>
<p>The door is <b id="state">locked</b>.</p>
<p>{keys}</p>
<script>
const show = (text) => {{ document.getElementById("state").textContent = text.split(" ")[0]; }};
async function press(digit) {{ show(await (await fetch("/press/" + digit)).text()); }}
setInterval(async () => show(await (await fetch("/state")).text()), 1000);
</script>
"""
KEYS = " ".join(f'<button onclick="press({d})">{d}</button>' for d in "1234567890")


class CodeLock(GenStatem):
    """The lock; its data is the list of buttons pressed so far."""

    callback_mode = "state_functions"
    state_enter = True

    def init(self, code: str, open_seconds: float, forget_seconds: float) -> Any:
        self.code = list(code)
        self.open_seconds = open_seconds
        self.forget_seconds = forget_seconds
        return "locked", []

    def locked(self, event_type: Any, content: Any, pressed: list[str]) -> Any:
        match event_type, content:
            case "enter", old_state:  # the old state: "locked" itself at start
                print(
                    "the door locks again" if old_state == "open" else "the door is locked",
                    flush=True,
                )
                return Keep([])
            case ("call", from_), ("button", digit):
                pressed = [*pressed, digit][-len(self.code) :]
                if pressed == self.code:
                    return "open", [], [Reply(from_, "open"), GenericTimeout("forget", None)]
                forget = GenericTimeout("forget", self.forget_seconds)
                return "locked", pressed, [Reply(from_, "locked"), forget]
            case ("timeout", "forget"), _:
                return Keep([])
            case ("call", from_), "state":
                return Keep(pressed, [Reply(from_, f"locked {len(pressed)}")])
        raise ValueError(f"the locked door got {event_type!r} {content!r}")

    def open(self, event_type: Any, content: Any, pressed: list[str]) -> Any:
        match event_type, content:
            case "enter", _:
                print("the door is open", flush=True)
                return Keep(pressed, [StateTimeout(self.open_seconds, "lock")])
            case "state_timeout", "lock":
                return "locked", []
            case ("call", from_), ("button", _):
                return Keep(pressed, [Reply(from_, "open")])
            case ("call", from_), "state":
                return Keep(pressed, [Reply(from_, "open 0")])
        raise ValueError(f"the open door got {event_type!r} {content!r}")


async def handle_http(req: httpserver.Req) -> None:
    match req.resource():
        case []:
            await req.ok(PAGE.format(keys=KEYS), {"Content-Type": "text/html; charset=utf-8"})
        case ["press", digit] if len(digit) == 1 and digit in "0123456789":
            await req.ok(await actors.call("code_lock", ("button", digit)) + "\n", TEXT)
        case ["state"]:
            await req.ok(await actors.call("code_lock", "state") + "\n", TEXT)
        case _:
            await req.respond(404, TEXT, "not found\n")


async def main(args: argparse.Namespace) -> None:
    await CodeLock.start_link(args.code, args.open_seconds, args.forget_seconds, name="code_lock")
    server = httpserver.start_link(ip=args.ip, port=args.port, loop=handle_http)
    listening(server)
    await actors.receive()  # run until interrupted


def code(text: str) -> str:
    if not text.isdigit() or not text.isascii():
        raise argparse.ArgumentTypeError(f"a code is digits, not {text!r}")
    return text


def cli() -> None:
    parser = arguments("OTP's code lock as a GenStatem.")
    parser.add_argument("--code", type=code, default="1234", help="the code (default 1234)")
    parser.add_argument("--open-seconds", type=float, default=10.0, help="relock after N s")
    parser.add_argument("--forget-seconds", type=float, default=30.0, help="forget presses")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        actors.run(main, args)


if __name__ == "__main__":
    cli()
