"""Request headers: h11's list of (lowercased name, value) bytes, read as str."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import overload

__all__ = ["Headers", "PackedHeaders", "packed"]


class Headers:
    """Case-insensitive, read-only view of a request's headers (in order)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, or `default`."""
        key = name.lower().encode("latin-1")
        for k, v in self._raw:
            if k == key:
                return v.decode("latin-1")
        return default

    def getall(self, name: str) -> list[str]:
        """Every value of `name`, in order."""
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._raw if k == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> list[tuple[str, str]]:
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw]

    def __iter__(self) -> Iterator[str]:
        return (k.decode("latin-1") for k, _ in self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as h11 parsed them: lowercased names, bytes."""
        raw = self._raw
        return raw if type(raw) is list else list(raw)


class PackedHeaders(Sequence[tuple[bytes, bytes]]):
    """A request's header list packed into one bytes object, unpacked each
    time it is read: for a request kept for a connection's life (a
    WebSocket's handshake, which its `Ws` keeps), where a list of tuples of
    bytes costs three to four times the memory, and idle sockets are many."""

    __slots__ = ("_blob", "_count")

    def __init__(self, blob: bytes, count: int | None = None) -> None:
        self._blob = blob  # name NUL value NUL name ...: NUL is in no header (RFC 9110 5.5)
        # (2n - 1 NULs for n headers: no header has an empty name)
        self._count = (blob.count(b"\0") + 1) // 2 if count is None else count

    @property
    def blob(self) -> bytes:
        """The packed bytes: `PackedHeaders(blob)` reads them back."""
        return self._blob

    def _pairs(self) -> list[tuple[bytes, bytes]]:
        if not self._count:
            return []
        parts = self._blob.split(b"\0")
        return list(zip(parts[0::2], parts[1::2], strict=True))

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self._pairs())

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> tuple[bytes, bytes]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[bytes, bytes]]: ...
    def __getitem__(self, index: int | slice) -> tuple[bytes, bytes] | list[tuple[bytes, bytes]]:
        return self._pairs()[index]


def packed(raw: Sequence[tuple[bytes, bytes]]) -> Sequence[tuple[bytes, bytes]]:
    """`raw` as `PackedHeaders`, or as it is if a NUL in it (which the
    parsers refuse anyway) would make the packing ambiguous: the blob then
    holds more NULs than the separators. (One join and one count: `b"\0" in
    value` tried the byte as an int first, and raised and cleared a
    TypeError for each name and value.)"""
    if type(raw) is not list:
        return raw
    blob = b"\0".join(chain.from_iterable(raw))
    if raw and blob.count(b"\0") != 2 * len(raw) - 1:
        return raw
    return PackedHeaders(blob, len(raw))
