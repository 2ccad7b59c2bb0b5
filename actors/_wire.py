"""What travels between nodes: a batch of messages, pickled, signed with the
cluster cookie, and decoded with an allow-list of types.

The HMAC is the trust boundary: a node without the cookie can neither send
a message the others accept nor read their sender's identity into a Pid.
The allow-list is the second wall: even a signed message never names a
function or class outside it, so a leaked cookie gives a way to send
messages, not to run code through pickle.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import io
import logging
import pickle
from collections.abc import Callable
from typing import Any, Final

from ._ids import Down, Exit, NodeDown, _ref_from_wire

__all__ = ["WireError", "allow_remote", "decode", "encode", "sanitize_reason"]

logger = logging.getLogger("actors")

_MAC_SIZE: Final = 32
_SAFE_BUILTINS: Final = frozenset(
    {"set", "frozenset", "bytearray", "complex", "range", "slice", "list", "dict", "tuple"}
    | {"str", "bytes", "int", "float", "bool", "object"}
)

# (module, name) -> the object unpickling may use. Pid is resolved by the
# decoding node (see `decode`), so it is not in here.
_allowed: dict[tuple[str, str], Any] = {
    ("actors._ids", "_ref_from_wire"): _ref_from_wire,
    ("actors._ids", "Exit"): Exit,
    ("actors._ids", "Down"): Down,
    ("actors._ids", "NodeDown"): NodeDown,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("collections", "deque"): __import__("collections").deque,
}


class WireError(Exception):
    """A batch from another node failed its HMAC or its allow-list."""


def allow_remote(*classes: type) -> None:
    """Let instances of `classes` travel between nodes in messages.

    Decoding uses an allow-list: builtins, Pid, Ref, Exit, Down, NodeDown,
    the exceptions of `actors` and of builtins, and what is allowed here.
    Call it with the same classes on every node.
    """
    for cls in classes:
        if not isinstance(cls, type):
            raise TypeError(f"allow_remote takes classes, not {cls!r}")
        _allowed[(cls.__module__, cls.__qualname__)] = cls


def allow_name(module: str, name: str, obj: Any) -> None:
    """Allow one module-level object by name (a constant of `actors`)."""
    _allowed[(module, name)] = obj


def is_allowed(obj: object) -> bool:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return True
    return (cls.__module__, cls.__qualname__) in _allowed


def sanitize_reason(reason: Any) -> Any:
    """An exit reason that the other node can decode: an exception of a
    class it may not know travels as `RemoteError` naming it."""
    if isinstance(reason, BaseException) and not is_allowed(reason):
        from ._errors import RemoteError

        cls = type(reason)
        return RemoteError(f"{cls.__module__}.{cls.__qualname__}", str(reason))
    return reason


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, make_pid: Callable[..., Any]) -> None:
        super().__init__(io.BytesIO(data))
        self._make_pid = make_pid

    def find_class(self, module: str, name: str) -> Any:
        if module == "actors._ids" and name == "Pid":
            return self._make_pid
        if module == "builtins":
            obj = getattr(builtins, name, None)
            if name in _SAFE_BUILTINS or (isinstance(obj, type) and issubclass(obj, BaseException)):
                return obj
        else:
            obj = _allowed.get((module, name))
            if obj is not None:
                return obj
        raise WireError(f"{module}.{name} is not allowed in a message between nodes")


def encode(key: bytes, envelope: Any) -> bytes:
    """Pickle `envelope` and sign it: HMAC-SHA256 (32 bytes), then the pickle."""
    payload = pickle.dumps(envelope, protocol=pickle.HIGHEST_PROTOCOL)
    return hmac.new(key, payload, hashlib.sha256).digest() + payload


def decode(key: bytes, data: bytes, make_pid: Callable[..., Any]) -> Any:
    """Check the signature, then unpickle with the allow-list; `WireError`
    if either fails. `make_pid(node, number, proc, creation)` builds Pids."""
    mac, payload = data[:_MAC_SIZE], data[_MAC_SIZE:]
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
        raise WireError("bad signature: not signed with this cluster's cookie")
    try:
        return _Unpickler(payload, make_pid).load()
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"cannot decode: {exc!r}") from exc
