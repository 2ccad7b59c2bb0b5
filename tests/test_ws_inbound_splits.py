"""The protocol backends read the same frames the same way however TCP cuts
them: a random sequence of client frames (text and binary messages, some
fragmented, pings and pongs between the fragments, a close at the end) is
fed to each backend cut at random places, through the reader's own loop
(`message()` first, `events()` once it gives up, anew after each read),
and must give the events it gives for the whole stream at once, and the
same events on both backends. (A short path that takes a data frame where
a control frame's payload was awaited would make up a message here.)"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from websocket._inbound import NOTHING, Inbound, backend, websockets_available

MAX_MESSAGE = 1 << 20
MAX_FRAGMENTS = 100


def frame(opcode: int, payload: bytes, key: bytes, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 5.2)."""
    first = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 65536:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return first + length + key + masked


keys = st.binary(min_size=4, max_size=4)
# A control frame's payload may itself read like a frame, and a zero mask
# sends it as it is: a reader that lost its place would take it for one.
frame_like = st.tuples(st.sampled_from([0x1, 0x2]), st.binary(max_size=60), keys).map(
    lambda t: frame(*t)
)
controls = st.tuples(
    st.sampled_from([0x9, 0xA]),
    st.one_of(st.binary(max_size=125), frame_like),
    st.one_of(keys, st.just(bytes(4))),
).map(lambda t: frame(*t))


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """One message, whole or in fragments, with control frames between."""
    if draw(st.booleans()):
        opcode, payload = 0x1, draw(st.text(max_size=300)).encode()
    else:
        opcode, payload = 0x2, draw(st.binary(max_size=300))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    out = b""
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        out += frame(opcode if index == 0 else 0x0, piece, draw(keys), fin=last)
        if not last and draw(st.booleans()):
            out += draw(controls)
    return out


streams = st.lists(st.one_of(messages(), controls), min_size=1, max_size=8).flatmap(
    lambda parts: st.tuples(
        st.just(b"".join(parts) + frame(0x8, (1000).to_bytes(2, "big"), b"\x01\x02\x03\x04")),
        st.lists(st.integers(1, 4000), max_size=12),
    )
)


def read(make: Any, data: bytes, cuts: list[int]) -> list[Any]:
    """What the reader's loop gets from `data` arriving cut at `cuts`."""
    inbound: Inbound = make(MAX_MESSAGE, MAX_FRAGMENTS, None, b"")
    got: list[Any] = []
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(bounds):
        inbound.receive_data(data[start:end])
        events = None
        while True:
            event = inbound.message() if events is None else None
            if event is None:
                if events is None:
                    events = inbound.events()
                event = next(events, NOTHING)
            if event is NOTHING:
                break
            got.append(tuple(bytes(x) if isinstance(x, bytearray) else x for x in event)
                       if isinstance(event, tuple) else event)  # fmt: skip
    return got


BACKENDS = ["wsproto", "websockets"]


@pytest.mark.skipif(not websockets_available(), reason="the websockets library is not installed")
@settings(
    max_examples=int(os.environ.get("WS_SPLIT_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(streams)
def test_both_backends_read_any_cut_of_a_stream_as_the_whole(
    stream: tuple[bytes, list[int]],
) -> None:
    data, cuts = stream

    async def check() -> None:  # (the control frames' rate reads trio's clock)
        whole = {name: read(backend(name)[1], data, []) for name in BACKENDS}
        assert whole["wsproto"] == whole["websockets"]
        assert whole["wsproto"][-1][0] != 3, whole["wsproto"][-1]  # (FAIL): the frames are valid
        for name in BACKENDS:
            assert read(backend(name)[1], data, cuts) == whole[name], name

    trio.run(check)
