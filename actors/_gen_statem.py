"""GenStatem: OTP's gen_statem behaviour, a state machine process.

The engine follows the steps of an OTP state transition: a callback's
actions are taken in order (replies go out at once); on a state change the
enter call runs and its actions join the same transition; a postponed event
is kept; a state change puts the postponed events back at the head of the
queue, in their order; inserted events go before everything queued; then
the time-outs are set.

Events come, in this order, from the internal queue (inserted and retried
events), from the queue of time-out-zero events, then from the mailbox and
the timers. A timer is an entry in a per-process dict and deadline heap, and
waiting is one `receive(timeout=...)` until the earliest deadline: no trio
task per time-out. `call` and `cast` are GenServer's, so they reach a
GenStatem exactly as they reach a GenServer.
"""

from __future__ import annotations

import heapq
import inspect
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Final

import trio

from ._call import CALL, CAST, reply
from ._errors import ReceiveTimeout
from ._gen_server import _NOTHING, Stop
from ._ids import Exit, Pid
from ._observed import for_caller
from ._process import RUNNING, current, receive
from ._start import Starter, start_process, starter
from ._statem_actions import Transition, parse_result
from ._sys import GET_STATE, ServerView, set_view

__all__ = ["GenStatem"]

_MODES: Final = ("handle_event_function", "state_functions")
# Attributes that a state of `state_functions` may not name.
_NOT_STATES: Final = frozenset(
    {"init", "terminate", "handle_event", "start", "start_link", "callback_mode"}
    | {"state_enter", "trap_exits"}
)

Event = tuple[Any, Any]  # (event_type, content)


class GenStatem:
    """Base class of a state machine process (OTP's gen_statem).

    - `init(*args)` returns `(state, data)`, `(state, data, actions)` or
      `Stop(reason)`; `start` / `start_link` return once it has returned.
    - `callback_mode = "handle_event_function"`: every event goes to
      `handle_event(event_type, content, state, data)`;
      `"state_functions"`: to the method named by the state (a str),
      `state(event_type, content, data)`.
    - A callback returns `(next_state, data[, actions])` (a state change iff
      `next_state != state`), `Keep(data[, actions])` or `Stop(reason)`.
    - `state_enter = True`: after each state change (and for the initial
      state) the callback is called with `("enter", old_state, ...)`.
    - `terminate(reason, state, data)` runs before the process stops because
      of `Stop`, because a callback raised, or because its parent exited
      while it traps exits.

    Callbacks may be `def` or `async def`.
    """

    callback_mode: ClassVar[str] = "handle_event_function"
    state_enter: ClassVar[bool] = False
    trap_exits: ClassVar[bool] = False

    # `init(self, *args)` is required and not declared here, as for GenServer:
    # its arguments are the subclass's own.

    def handle_event(self, event_type: Any, content: Any, state: Any, data: Any) -> Any:
        name = type(self).__name__
        raise NotImplementedError(
            f"{name} has callback_mode 'handle_event_function' but no handle_event "
            f"for {event_type!r} {content!r} in state {state!r}"
        )

    def terminate(self, reason: Any, state: Any, data: Any) -> Any:
        return None

    @classmethod
    @starter
    async def start(cls, *args: Any, name: object = None) -> Pid:
        """Start the machine as a new process; return its Pid once `init`
        has returned. `StartError(reason)` if `init` raised or stopped."""
        return await _start(cls, args, name, link=False)

    @classmethod
    @starter
    async def start_link(cls, *args: Any, name: object = None) -> Pid:
        """`start`, linked to the caller, which becomes the machine's parent.
        A failed start raises `StartError` and does not kill the caller."""
        return await _start(cls, args, name, link=True)


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _start(cls: type[GenStatem], args: tuple[Any, ...], name: object, link: bool) -> Pid:
    what = f"{cls.__name__}.start_link" if link else f"{cls.__name__}.start"
    if cls.callback_mode not in _MODES:
        raise ValueError(f"{cls.__name__}.callback_mode must be one of {_MODES}")
    if not hasattr(cls, "init"):
        raise TypeError(f"{cls.__name__} has no init() to give its initial state")
    return await start_process(
        what, _main, (cls, args), name=name, link=link, trap_exits=cls.trap_exits
    )


async def _main(cls: type[GenStatem], args: tuple[Any, ...], starter: Starter) -> None:
    """The body of every GenStatem process."""
    me = current("start")
    machine = cls()
    set_view(me, ServerView(machine, "gen_statem"))
    try:
        result = await _call(machine.init, *args)  # type: ignore[attr-defined]
        if type(result) is not Stop:
            state, data, actions = _initial(cls, result)
    except Exception as exc:
        starter.failed(exc)
        raise
    if type(result) is Stop:
        starter.failed(result.reason)
        me.die(result.reason)
    starter.started()
    engine = _Engine(machine, starter.parent, state, data)
    event: Event | None = None
    try:
        stop = await engine.transition((state, data, actions), None)
        while stop is None:
            got = await engine.next_event()
            if isinstance(got, Stop):
                stop = got
                break
            event = got
            result = await engine.dispatch(event[0], event[1])
            stop = await engine.transition(result, event)
        # gen_statem's stop_and_reply: the reply goes out before terminate.
        if stop.reply is not _NOTHING and event is not None and _is_call(event[0]):
            reply(event[0][1], stop.reply)
    except Exception as exc:
        if me.reason is RUNNING:  # not after an exit signal: that one wins
            await _call(machine.terminate, exc, engine.state, engine.data)
        raise
    if me.reason is RUNNING:
        await _call(machine.terminate, stop.reason, engine.state, engine.data)
    me.die(stop.reason)


def _initial(cls: type[GenStatem], result: Any) -> tuple[Any, Any, Any]:
    if type(result) is not tuple or len(result) not in (2, 3):
        raise TypeError(
            f"{cls.__name__}.init returned {result!r}; expected (state, data), "
            "(state, data, actions) or Stop(reason)"
        )
    return (*result, ()) if len(result) == 2 else (result[0], result[1], result[2])


def _is_call(event_type: Any) -> bool:
    return type(event_type) is tuple and len(event_type) == 2 and event_type[0] == "call"


class _Engine:
    """The queues, timers and transitions of one running GenStatem."""

    def __init__(self, machine: GenStatem, parent: Pid | None, state: Any, data: Any) -> None:
        self.machine = machine
        self.parent = parent
        self.state = state
        self.data = data
        self.enter = type(machine).state_enter
        self.by_state = type(machine).callback_mode == "state_functions"
        self.queue: deque[Event] = deque()  # inserted and retried events
        self.postponed: list[Event] = []
        self.zero: list[Event] = []  # time-out-zero events, before the mailbox
        self.timers: dict[Any, tuple[float, int, Any]] = {}  # type -> (deadline, seq, content)
        self.heap: list[tuple[float, int, Any]] = []  # (deadline, seq, type); stale ones skipped
        self.seq = 0

    # -- calling the machine --------------------------------------------------

    async def dispatch(self, event_type: Any, content: Any) -> Any:
        """Call the state callback with one event in the current state."""
        if self.by_state:
            return await _call(self._state_function(self.state), event_type, content, self.data)
        return await _call(self.machine.handle_event, event_type, content, self.state, self.data)

    def _state_function(self, state: Any) -> Callable[..., Any]:
        fn: Callable[..., Any] | None = None
        if type(state) is str and not state.startswith("_") and state not in _NOT_STATES:
            fn = getattr(self.machine, state, None)
        if not callable(fn):
            name = type(self.machine).__name__
            raise TypeError(
                f"{name} (callback_mode 'state_functions') has no method for state {state!r}"
            )
        return fn

    async def transition(self, result: Any, event: Event | None) -> Stop | None:
        """Apply a callback's result (`event` None: init's); Stop or None."""
        if type(result) is Stop:
            return result
        who = f"{type(self.machine).__name__} in state {self.state!r}"
        next_state, data, actions = parse_result(result, self.state, who)
        options = Transition()
        options.add(actions, "init" if event is None else "event")
        old = self.state
        self.state, self.data = next_state, data
        changed = event is None or next_state != old
        if changed and self.enter:
            entered = await self.dispatch("enter", old)
            if type(entered) is Stop:
                return entered
            who = f"the state enter call of {type(self.machine).__name__} in {next_state!r}"
            same, self.data, actions = parse_result(entered, next_state, who)
            if same != next_state:
                raise RuntimeError(f"{who} cannot change the state (to {same!r})")
            options.add(actions, "enter")
        if options.postpone:
            assert event is not None
            self.postponed.append(event)
        if changed and event is not None:
            self.cancel("state_timeout")
            if self.postponed:
                self.queue.extendleft(reversed(self.postponed))
                self.postponed = []
        if options.events:
            self.queue.extendleft(reversed(options.events))
        for event_type, (seconds, content) in options.timeouts.items():
            self.set_timer(event_type, seconds, content)  # an event time-out with
            # events queued is set too, and the next event cancels it, as OTP's
        return None

    # -- events and timers ------------------------------------------------------

    async def next_event(self) -> Event | Stop:
        """The next event to handle; any event cancels the event time-out."""
        if self.queue:
            event: Event | Stop = self.queue.popleft()
        elif self.zero:
            event = self.zero.pop(0)
        else:
            event = await self._wait()
        self.cancel("timeout")
        return event

    async def _wait(self) -> Event | Stop:
        heap, timers = self.heap, self.timers
        while True:
            timeout = None
            while heap:
                deadline, seq, event_type = heap[0]
                entry = timers.get(event_type)
                if entry is None or entry[1] != seq:
                    heapq.heappop(heap)  # cancelled or set again since
                    continue
                timeout = deadline - trio.current_time()
                if timeout <= 0:
                    heapq.heappop(heap)
                    del timers[event_type]
                    return event_type, entry[2]
                break
            try:
                msg = await receive(timeout=timeout)
            except ReceiveTimeout:
                continue
            if type(msg) is tuple and len(msg) == 3 and msg[0] is CALL and msg[2] is GET_STATE:
                # A system message, not an event: answered between two callbacks.
                reply(msg[1], for_caller(msg[1].pid, (self.state, self.data)))
                continue
            return self._decode(msg)

    def _decode(self, msg: Any) -> Event | Stop:
        if type(msg) is tuple:
            if len(msg) == 3 and msg[0] is CALL:
                return ("call", msg[1]), msg[2]
            if len(msg) == 2 and msg[0] is CAST:
                return "cast", msg[1]
        elif type(msg) is Exit and self.parent is not None and msg.pid == self.parent:
            return Stop(msg.reason)
        return "info", msg

    def set_timer(self, event_type: Any, seconds: float | None, content: Any) -> None:
        """Start (or restart, or with None cancel) the time-out `event_type`."""
        self.cancel(event_type)
        if seconds is None:
            return
        if seconds == 0:  # after what is queued, before anything not yet received
            self.zero.append((event_type, content))
            return
        self.seq += 1
        deadline = trio.current_time() + seconds
        self.timers[event_type] = (deadline, self.seq, content)
        heapq.heappush(self.heap, (deadline, self.seq, event_type))

    def cancel(self, event_type: Any) -> None:
        self.timers.pop(event_type, None)  # its heap entry is skipped later
        if self.zero:
            self.zero = [event for event in self.zero if event[0] != event_type]
