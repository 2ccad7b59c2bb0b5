"""What counts as an exit on purpose, in one place.

OTP treats `normal`, `shutdown` and `{shutdown, Term}` as exits on purpose:
a transient child is not restarted for them, and no crash is reported. The
supervisor and the layers above (a WebSocket closes with 1000 for them,
1011 otherwise) use this one definition.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_normal_exit"]


def is_normal_exit(reason: Any) -> bool:
    """`"normal"`, `"shutdown"` or `("shutdown", anything)`."""
    if type(reason) is str:
        return reason in ("normal", "shutdown")
    return type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"
