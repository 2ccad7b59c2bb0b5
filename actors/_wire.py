"""How one value travels between nodes: pickled with stable tags, decoded
with an allow-list and a bound on what decoding may allocate.

Pickle by itself names every class by its module path, so moving a private
module would change the protocol, and it will call any callable a payload
names. Here, the objects of `actors` that messages carry travel as
persistent ids that name a tag, never a module: a Pid as
`("p", node, number, creation)`, a Ref as `("r", origin, number)`, a
registered constant as `("c", tag)` and an instance of a registered class
as `("t", tag, args)`. Each module registers the tags of what it owns
(`register_tag`), so the core knows no behaviour built on it. A user's
class travels by its module path once `allow_remote` lets it.

Decoding refuses every global but builtins' exceptions and a few plain
types (no callable that allocates what its arguments ask: no `bytearray`,
`list`, `range`, ...), and a payload bigger than `SCAN_ABOVE` bytes is
first scanned for what its opcodes would build, so that no message makes
the receiver allocate more than its bound.
"""

from __future__ import annotations

import builtins
import collections
import io
import pickle
import pickletools
import re
import types
from collections.abc import Callable
from typing import Any, Final

from ._ids import Down, Exit, NodeDown, Pid, Ref, _ref_from_wire

__all__ = [
    "SCAN_ABOVE",
    "Decoder",
    "Encoder",
    "FrameReader",
    "WireError",
    "allow_remote",
    "is_allowed",
    "register_tag",
    "sanitize_reason",
]

SCAN_ABOVE: Final = 64 * 1024
"""Payloads up to this many bytes decode at once: whatever their opcodes,
they cannot build more than a few MiB. Bigger ones are scanned first."""

_PROTOCOL: Final = 5
_SAFE_BUILTINS: Final = frozenset({"complex", "slice", "str", "bytes", "int", "float", "bool"})


class WireError(Exception):
    """A value from another node that this node refuses to decode."""


# -- tags ------------------------------------------------------------------------

_class_tags: dict[type, str] = {}  # class -> tag: its instances travel as ("t", tag, args)
_const_tags: dict[int, str] = {}  # id(constant) -> tag
_consts: dict[int, Any] = {}  # id(constant) -> the constant (keeps it alive)
_by_tag: dict[str, Any] = {}  # tag -> class or constant


def register_tag(tag: str, obj: Any) -> None:
    """Let `obj` travel between nodes under the stable name `tag`.

    A class (a NamedTuple or an exception) travels as its tag and its
    arguments; any other object is a constant that travels as its tag and
    decodes as this very object. Every node must register the same tags:
    the module that defines `obj` registers it when it is imported.
    """
    known = _by_tag.get(tag)
    if known is not None and known is not obj:
        raise ValueError(f"wire tag {tag!r} is already registered for {known!r}")
    _by_tag[tag] = obj
    if isinstance(obj, type):
        _class_tags[obj] = tag
    else:
        _const_tags[id(obj)] = tag
        _consts[id(obj)] = obj


for _tag, _cls in (("exit", Exit), ("down", Down), ("nodedown", NodeDown)):
    register_tag(_tag, _cls)

# (module, qualname) -> class, for what users allow and a few stdlib types
_allowed: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "deque"): collections.deque,
}


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


def is_allowed(obj: object) -> bool:
    """Whether `obj`'s class can be decoded by the other nodes."""
    cls = type(obj)
    if cls.__module__ == "builtins":
        return True
    return cls in _class_tags or (cls.__module__, cls.__qualname__) in _allowed


def sanitize_reason(reason: Any) -> Any:
    """An exit reason that the other node can decode: an exception of a
    class it may not know travels as `RemoteError` naming it."""
    if isinstance(reason, BaseException) and not is_allowed(reason):
        from ._errors import RemoteError

        cls = type(reason)
        return RemoteError(f"{cls.__module__}.{cls.__qualname__}", str(reason))
    return reason


# -- encoding -----------------------------------------------------------------------


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        cls = type(obj)
        if cls is Pid:
            return ("p", obj._node, obj._number, obj._creation)
        if cls is Ref:
            return ("r", *obj.__reduce__()[1])
        tag = _class_tags.get(cls)
        if tag is not None:
            args = obj.args if isinstance(obj, BaseException) else tuple(obj)
            return ("t", tag, args)
        if _const_tags:
            tag = _const_tags.get(id(obj))
            if tag is not None:
                return ("c", tag)
        return None


class _NotPlain(Exception):
    """A value holds an object that is not plain data (a Pid, a tagged type)."""


class _PlainPickler(pickle.Pickler):
    """Pickles plain data only: `reducer_override` is called for anything
    but None, bools and exact ints, floats, strs, bytes, lists, tuples,
    dicts and sets, and gives up at once."""

    def reducer_override(self, obj: Any) -> Any:
        raise _NotPlain


def _fast(pickler: pickle.Pickler) -> pickle.Pickler:
    """A pickler that memoizes nothing: a message is a value, as an Erlang
    term is (what it shares is copied, what refers to itself cannot go), and
    its pickle refers to nothing outside itself, so the frames of an entry
    decode one after the other with one unpickler (`Decoder.frames`)."""
    pickler.fast = True
    return pickler


_ENCODE_ERRORS: Final = (
    pickle.PicklingError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


class Encoder:
    """Pickles values for the wire, one at a time, reusing its picklers.

    Most messages are plain data: those go through a pickler that looks at
    nothing (what `persistent_id` costs, a Python call per object, it does
    not pay); a value holding a Pid, a Ref or a tagged object goes through
    the one that tags them."""

    __slots__ = ("_chunks", "_file", "_pickler", "_plain")

    def __init__(self) -> None:
        # The picklers write each pickle in one call (a big one in a few) to
        # a file whose write is a list's append: no buffer to reset per value.
        self._chunks: list[bytes] = []
        self._file = types.SimpleNamespace(write=self._chunks.append)
        self._pickler = _fast(_Pickler(self._file, _PROTOCOL))
        self._plain = _fast(_PlainPickler(self._file, _PROTOCOL))

    def encode(self, value: Any) -> bytes:
        """`value` as bytes; `TypeError` naming what cannot travel."""
        chunks = self._chunks
        chunks.clear()
        try:
            self._plain.dump(value)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except (_NotPlain, *_ENCODE_ERRORS):
            self._plain = _fast(_PlainPickler(self._file, _PROTOCOL))  # half way through
        chunks.clear()
        try:
            self._pickler.dump(value)
        except _ENCODE_ERRORS as exc:
            self._pickler = _fast(_Pickler(self._file, _PROTOCOL))
            why = "it refers to itself" if "cyclic" in str(exc) else str(exc)
            raise TypeError(f"cannot send {_short(value)} to another node: {why}") from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- decoding -----------------------------------------------------------------------


class _Unpickler(pickle.Unpickler):
    """The allow-list. Each Decoder makes a subclass that holds its node's
    `_make_pid`, so that making one costs no Python-level __init__."""

    _make_pid: Callable[..., Any]

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not tuple or not pid:
            raise WireError("a malformed persistent id")
        kind = pid[0]
        if kind == "p" and len(pid) == 4:
            _, node, number, creation = pid
            if type(node) is str and type(number) is int and type(creation) is int:
                return self._make_pid(node, number, None, creation)
        elif kind == "r" and len(pid) == 3:
            if type(pid[1]) is str and type(pid[2]) is int:
                return _ref_from_wire(pid[1], pid[2])
        elif kind == "c" and len(pid) == 2:
            obj = _by_tag.get(pid[1])
            if obj is not None and not isinstance(obj, type):
                return obj
            raise WireError(f"unknown wire constant {pid[1]!r}")
        elif kind == "t" and len(pid) == 3 and type(pid[2]) is tuple:
            cls = _by_tag.get(pid[1])
            if isinstance(cls, type):
                return cls(*pid[2])
            raise WireError(f"unknown wire type {pid[1]!r}")
        raise WireError(f"a malformed persistent id of kind {kind!r}")

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins":
            obj = getattr(builtins, name, None)
            if name in _SAFE_BUILTINS or (isinstance(obj, type) and issubclass(obj, BaseException)):
                return obj
        else:
            obj = _allowed.get((module, name))
            if obj is not None:
                return obj
        raise WireError(f"{module}.{name} is not allowed in a message between nodes")


class Decoder:
    """Decodes values from the wire, each on its own: one that fails costs
    nothing to the next."""

    __slots__ = ("_unpickler", "max_decoded")

    def __init__(self, make_pid: Callable[..., Any], max_decoded: int) -> None:
        self._unpickler = type("Unpickler", (_Unpickler,), {"_make_pid": staticmethod(make_pid)})
        self.max_decoded = max_decoded

    def decode(self, data: bytes | memoryview) -> Any:
        """The value in `data`; `WireError` if it is refused or broken."""
        return self.frames(data).value(0, len(data))

    def frames(self, data: bytes | memoryview) -> FrameReader:
        """A reader of the values that lie one after the other in `data`
        (the frames of an entry): one unpickler for all of them."""
        return FrameReader(self, data)


class FrameReader:
    """The values of one entry, each read where its frame says it lies.

    One unpickler reads them all: the pickles of honest nodes memoize
    nothing (`_fast`), and whatever a dishonest one leaves in the memo can
    only be read by the frames of its own entry. A value that fails leaves
    the next ones as they were: the unpickler starts each value afresh."""

    __slots__ = ("_buffer", "_data", "_decoder", "_unpickler")

    def __init__(self, decoder: Decoder, data: bytes | memoryview) -> None:
        self._decoder = decoder
        self._data = bytes(data)
        self._buffer = io.BytesIO(data)
        self._unpickler = decoder._unpickler(self._buffer)

    def value(self, start: int, end: int) -> Any:
        """The value in `data[start:end]`; `WireError` if refused or broken.
        (Once a message: kept to the few steps most values need.)"""
        data = self._data
        if end - start > SCAN_ABOVE or _SUSPECT_IN(data, start, end) is not None:
            self._check(start, end)
        buffer = self._buffer
        buffer.seek(start)
        try:
            value = self._unpickler.load()
        except WireError:
            self._unpickler = self._decoder._unpickler(buffer)
            raise
        except Exception as exc:  # anything a broken pickle raises, MemoryError too
            self._unpickler = self._decoder._unpickler(buffer)
            raise WireError(f"cannot decode: {exc!r}") from None
        if buffer.tell() != end:
            self._unpickler = self._decoder._unpickler(buffer)  # it may have read ahead
            raise WireError("a value that does not end where its frame does")
        return value

    def _check(self, start: int, end: int) -> None:
        """A big value: what it would build, within its bound; a value with
        the bytes of a memo store: it stores nothing."""
        if end - start <= SCAN_ABOVE:
            _refuse_memo_puts(self._data, start, end)
            return
        bound = self._decoder.max_decoded
        cost = decoded_size(self._data[start:end], bound)
        if cost > bound:
            raise WireError(
                f"a message of {end - start} bytes would build about {cost} bytes"
                f" (max_decoded {bound})"
            )


# A memo store (PUT, LONG_BINPUT) grows the C unpickler's memo to twice its
# index, all of it written: 5 bytes can make it write gigabytes. Honest
# values memoize nothing (`_fast`), so a value that holds a byte of those
# opcodes ("p", "r"), or of one with an 8-byte length (a bytearray is
# allocated whole before it is read), is walked first, opcode by opcode,
# and refused if it stores in the memo at all or announces more than it
# holds; the others (most, whose bytes have none of these) go straight to
# the C unpickler.
_SUSPECT: Final = re.compile(rb"[pr\x8d\x8e\x96]")  # a set of bytes: the fastest scan re has
_SUSPECT_IN: Final = _SUSPECT.search
_MEMO_PUTS: Final = frozenset(b"pqr")  # PUT, BINPUT, LONG_BINPUT
_FIXED, _LINE, _COUNTED, _TWO_LINES = range(4)


def _opcode_table() -> list[tuple[int, int] | None]:
    """For each opcode byte: how its argument is laid out, and its size."""
    table: list[tuple[int, int] | None] = [None] * 256
    for op in pickletools.opcodes:
        code = ord(op.code)
        arg = op.arg
        if arg is None:
            table[code] = (_FIXED, 0)
        elif arg.n >= 0:
            table[code] = (_FIXED, arg.n)
        elif arg.n == pickletools.UP_TO_NEWLINE:
            table[code] = (_LINE, 0)
        else:
            width = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT8U: 8}
            table[code] = (_COUNTED, width.get(arg.n, 4))
    table[ord("c")] = table[ord("i")] = (_TWO_LINES, 0)  # GLOBAL, INST: module and name
    return table


_OPCODES: Final = _opcode_table()


def _refuse_memo_puts(data: bytes, start: int, end: int) -> None:
    """`WireError` if the pickle in `data[start:end]` stores in its memo."""
    table, puts, index = _OPCODES, _MEMO_PUTS, start
    try:
        while index < end:
            op = data[index]
            if op in puts:
                raise WireError(
                    "a value that stores in the memo: no node of this cluster sends one"
                )
            entry = table[op]
            if entry is None:
                raise WireError(f"not a pickle: opcode {op:#x}")
            kind, size = entry
            index += 1
            if kind == _FIXED:
                index += size
            elif kind == _COUNTED:
                index += size + int.from_bytes(data[index : index + size], "little")
                if index > end:
                    raise WireError("not a pickle: a length that runs past its value")
            elif kind == _LINE:
                index = data.index(b"\n", index, end) + 1
            else:
                index = data.index(b"\n", data.index(b"\n", index, end) + 1, end) + 1
            if op == 0x2E:  # STOP
                return
    except ValueError:
        raise WireError("not a pickle: a line without its end") from None


# What each opcode that builds an object costs at most, in bytes (CPython,
# 64 bits): the object itself, or a slot in its container.
_BUILD_COST: Final = {
    "EMPTY_SET": 216,
    "FROZENSET": 216,
    "EMPTY_DICT": 64,
    "EMPTY_LIST": 56,
    "LIST": 56,
    "DICT": 64,
    "TUPLE": 40,
    "TUPLE1": 48,
    "TUPLE2": 56,
    "TUPLE3": 64,
    "BUILD": 64,
    "NEWOBJ": 64,
    "NEWOBJ_EX": 64,
    "REDUCE": 64,
    "BINPERSID": 64,
}


def decoded_size(data: bytes | memoryview, limit: int) -> int:
    """An upper bound of what unpickling `data` would allocate: the bytes
    of each string, and for each opcode that makes an object or adds to a
    container, that object's size (a pointer at least); it stops counting
    past `limit`, so a bomb costs its scan no more than its bound. Raises
    `WireError` for data that is not a pickle."""
    total = 0
    try:
        for opcode, arg, _ in pickletools.genops(bytes(data)):
            if total > limit:
                return total
            if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                return limit + 1  # a memo store: refused, whatever its index
            cost = _BUILD_COST.get(opcode.name)
            if cost is not None:
                total += cost
            elif isinstance(arg, (bytes, bytearray, str)):
                total += len(arg) + 64
            elif isinstance(arg, int):
                total += arg.bit_length() // 8 + 32
            else:
                total += 32  # a number, a memo slot, a mark, a pointer
    except Exception as exc:
        raise WireError(f"not a pickle: {exc}") from None
    return total
