"""The page's "Recent crashes and restarts", kept so that no flood empties it.

Anyone who can make processes crash (a client whose requests crash a
server's connection processes, say) could otherwise push every real crash
and restart off a list of the newest 50. So the history keeps three lists
apart, each with its own bound: the restarts supervisors made, the crashes
of the user's processes, and the crashes of system processes (the
observer's own, the node's); and each list takes a burst of BURST events,
then RATE a second: the rest are counted, not kept. A real crash stays
listed until KEPT more of its own kind have been let in, which a flood
takes (KEPT - BURST) / RATE seconds to do, and a flood of one kind never
touches the others.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

__all__ = ["BURST", "KEPT", "RATE", "History"]

KEPT: Final = 50  # events per list
BURST: Final = 20  # events a list takes at once
RATE: Final = 1.0  # events a second a list takes after a burst

_LISTS: Final = ("restarts", "crashes", "system")


class _Bucket:
    """A token bucket: `take()` is True at most `burst` times at once,
    then `rate` times a second."""

    __slots__ = ("burst", "clock", "last", "rate", "tokens")

    def __init__(self, burst: int, rate: float, clock: Callable[[], float]) -> None:
        self.burst = burst
        self.rate = rate
        self.clock = clock
        self.tokens = float(burst)
        self.last = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class History:
    """The newest restarts, crashes and system crashes, each list bounded
    and rate-limited on its own (see the module docstring)."""

    def __init__(
        self,
        kept: int = KEPT,
        burst: int = BURST,
        rate: float = RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lists: dict[str, deque[dict[str, Any]]] = {name: deque(maxlen=kept) for name in _LISTS}
        self.buckets = {name: _Bucket(burst, rate, clock) for name in _LISTS}
        self.dropped = dict.fromkeys(_LISTS, 0)

    def record(self, entry: dict[str, Any]) -> None:
        """Keep `entry` (an event as the page shows it: "kind", "time", ...)
        in its list, or count it if its list took too many lately."""
        if entry.get("kind") == "restart":
            name = "restarts"
        elif entry.get("system") is True:
            name = "system"
        else:
            name = "crashes"
        if self.buckets[name].take():
            self.lists[name].append(entry)
        else:
            self.dropped[name] += 1

    def shown(self) -> dict[str, Any]:
        """What a snapshot carries: "events" (the user's crashes and the
        restarts, oldest first), "system_events", and "events_dropped"
        (how many of each list were counted, not kept)."""
        events = sorted([*self.lists["restarts"], *self.lists["crashes"]], key=_time)
        return {
            "events": events,
            "system_events": list(self.lists["system"]),
            "events_dropped": dict(self.dropped),
        }


def _time(entry: dict[str, Any]) -> float:
    value = entry.get("time")
    return value if isinstance(value, float) else 0.0
