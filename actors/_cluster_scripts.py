"""The cluster's writes to Redis that touch what another node may own, as
Lua scripts: each checks ownership and writes in one atomic step, so no
start, leave, sweep or send ever removes or grows what a live node owns.

Keys (NAME a node's name):
- `actors:node:NAME`: its heartbeat, a signed value that changes each beat
  (`_membership.beat_value`), with a TTL of `missed` heartbeats;
- `actors:nodes`: the set of names, so that a dead node's leftovers are
  found and swept;
- `actors:inbox:NAME`: its inbox stream, trimmed by its own reader;
- `actors:globals:NAME`: the set of global-name keys it holds;
- `actors:global:<sha256 of the name>`: one global name, valued
  "NAME|creation|stamp|" + the sealed (name, pid, stamp).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BURY",
    "GLOBAL_REGISTER",
    "GLOBAL_RELEASE",
    "GLOBAL_TAKE",
    "LEAVE",
    "NODES",
    "SEND",
    "SET_IF",
    "global_key",
    "key_type",
    "inbox_key",
    "node_key",
    "owned_key",
]

NODES: Final = "actors:nodes"


def node_key(name: str) -> str:
    return f"actors:node:{name}"


def inbox_key(name: str) -> str:
    return f"actors:inbox:{name}"


def owned_key(name: str) -> str:
    return f"actors:globals:{name}"


def global_key(digest: str) -> str:
    return f"actors:global:{digest}"


def key_type(key: str) -> str | None:
    """The Redis type a key of the cluster holds (None: not one of ours)."""
    if key == NODES or key.startswith("actors:globals:"):
        return "set"
    if key.startswith(("actors:node:", "actors:global:")):
        return "string"
    if key.startswith("actors:inbox:"):
        return "stream"
    return None


SET_IF: Final = """
-- KEYS: node key, node set. ARGV: expected value ('' = none), new value, ttl ms, name.
-- Sets the heartbeat if it holds what we expect; else returns what it holds (0 if none).
-- (Each write that can fail on a key of the wrong type comes before the
-- others: a script that fails halfway keeps what it wrote.)
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SADD', KEYS[2], ARGV[4])
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if cur == false then return 0 end
return cur
"""

SEND: Final = """
-- KEYS: the receiver's inbox, its node key. ARGV: the inbox's bound, the entry.
-- -1: the receiver is not alive; 0: its inbox is full (it reads too slowly).
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], '*', 'm', ARGV[2])
return 1
"""

_RELEASE_OWNED: Final = """
for _, key in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local value = redis.call('GET', key)
  if value and string.sub(value, 1, #PREFIX) == PREFIX then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[4])
"""

BURY: Final = (
    """
-- KEYS: node key, node set, inbox, owned set. ARGV: name.
-- Sweeps a node whose heartbeat expired, unless it is back.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
local PREFIX = ARGV[1] .. '|'
"""
    + _RELEASE_OWNED
    + "return 1\n"
)

LEAVE: Final = (
    """
-- KEYS: node key, node set, inbox, owned set. ARGV: our heartbeat value, name, creation.
-- A clean exit: everything of ours goes, if the name is still ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
local PREFIX = ARGV[2] .. '|' .. ARGV[3] .. '|'
"""
    + _RELEASE_OWNED
    + "return 1\n"
)

GLOBAL_REGISTER: Final = """
-- KEYS: the name's key, our owned set. ARGV: the value.
-- 1 if the name is now ours; else what holds it.
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

GLOBAL_TAKE: Final = """
-- KEYS: the name's key, our owned set. ARGV: the value it must hold now ('' = none), ours.
-- After a netsplit: the earlier registration takes the name back from the later one.
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SADD', KEYS[2], KEYS[1])
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
if cur == false then return 0 end
return cur
"""

GLOBAL_RELEASE: Final = """
-- KEYS: the name's key, our owned set. ARGV: our prefix "NAME|creation|".
redis.call('SREM', KEYS[2], KEYS[1])
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
