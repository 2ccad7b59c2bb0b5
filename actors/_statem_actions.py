"""What a GenStatem callback returns: results (`Keep`, a state tuple, `Stop`)
and the transition actions, and how one list of actions becomes the options
of one state transition.

Actions are frozen dataclasses, not tuples, so that a result tuple
`(next_state, data)` can never be mistaken for an action, or one for the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ._gen_server import From, reply

__all__ = [
    "EventTimeout",
    "GenericTimeout",
    "Keep",
    "NextEvent",
    "Postpone",
    "Reply",
    "StateTimeout",
    "Transition",
    "parse_result",
]


def _check_seconds(seconds: float | None) -> None:
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"a time-out is seconds >= 0, or None to cancel it; got {seconds!r}")


@dataclass(frozen=True, slots=True)
class Keep:
    """Result: stay in the current state with `data` (no state change, so
    postponed events stay postponed and no enter call runs)."""

    data: Any
    actions: Any = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """Action: answer the call `from_` (from an event type `("call", from_)`)."""

    from_: From
    value: Any


@dataclass(frozen=True, slots=True)
class Postpone:
    """Action: keep the current event and handle it again after the next
    state change, before newer events."""


@dataclass(frozen=True, slots=True)
class NextEvent:
    """Action: handle `(event_type, content)` next, before any queued event."""

    event_type: Any
    content: Any = None


@dataclass(frozen=True, slots=True)
class StateTimeout:
    """Action: a `"state_timeout"` event after `seconds`, unless the state
    changes first. Set again, it restarts; `seconds=None` cancels it."""

    seconds: float | None
    content: Any = None

    def __post_init__(self) -> None:
        _check_seconds(self.seconds)


@dataclass(frozen=True, slots=True)
class EventTimeout:
    """Action: a `"timeout"` event after `seconds`, unless any event comes
    first (a queued, retried or inserted one counts)."""

    seconds: float | None
    content: Any = None

    def __post_init__(self) -> None:
        _check_seconds(self.seconds)


@dataclass(frozen=True, slots=True)
class GenericTimeout:
    """Action: a `("timeout", name)` event after `seconds`. Nothing cancels it
    but setting the same name again (`seconds=None` cancels)."""

    name: Any
    seconds: float | None
    content: Any = None

    def __post_init__(self) -> None:
        _check_seconds(self.seconds)


_ACTIONS = (Reply, Postpone, NextEvent, StateTimeout, EventTimeout, GenericTimeout)

Where = Literal["init", "event", "enter"]


class Transition:
    """The options that the actions of one transition set (OTP's
    transition options): the last setting of each kind wins."""

    __slots__ = ("events", "postpone", "timeouts")

    def __init__(self) -> None:
        self.postpone = False
        self.events: list[tuple[Any, Any]] = []  # NextEvent, in the order given
        # event type -> (seconds or None, content), in the order last set
        self.timeouts: dict[Any, tuple[float | None, Any]] = {}

    def add(self, actions: Any, where: Where) -> None:
        """Take one callback's actions; replies are sent at once, as OTP does."""
        if type(actions) in _ACTIONS:
            actions = (actions,)
        elif not isinstance(actions, list | tuple):
            raise TypeError(f"actions must be an action or a list of them, not {actions!r}")
        for action in actions:
            kind = type(action)
            if kind is Reply:
                reply(action.from_, action.value)
            elif kind is StateTimeout:
                self._time("state_timeout", action.seconds, action.content)
            elif kind is EventTimeout:
                self._time("timeout", action.seconds, action.content)
            elif kind is GenericTimeout:
                self._time(("timeout", action.name), action.seconds, action.content)
            elif kind is Postpone or kind is NextEvent:
                if where == "enter":
                    raise RuntimeError(
                        f"a state enter call cannot return {action!r}: it may reply and "
                        "set time-outs, but neither postpone nor insert events"
                    )
                if kind is NextEvent:
                    self.events.append((action.event_type, action.content))
                elif where == "event":  # from init there is no event: ignored, as OTP does
                    self.postpone = True
            else:
                raise TypeError(f"not a GenStatem action: {action!r}")

    def _time(self, event_type: Any, seconds: float | None, content: Any) -> None:
        self.timeouts.pop(event_type, None)
        self.timeouts[event_type] = (seconds, content)


def parse_result(result: Any, state: Any, who: str) -> tuple[Any, Any, Any]:
    """`(next_state, data, actions)` of a callback's result other than Stop."""
    if type(result) is Keep:
        return state, result.data, result.actions
    if type(result) is tuple and len(result) == 2:
        return result[0], result[1], ()
    if type(result) is tuple and len(result) == 3:
        return result[0], result[1], result[2]
    raise TypeError(
        f"{who} returned {result!r}; expected (next_state, data), "
        "(next_state, data, actions), Keep(data[, actions]) or Stop(reason)"
    )
