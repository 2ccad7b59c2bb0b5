"""Erlang-style processes on trio: spawn, send, selective receive, links,
monitors, exit signals, a registry, process groups, and the OTP behaviours
GenServer, GenStatem and Supervisor.

    import actors

    async def echo():
        while True:
            match await actors.receive():
                case ("ping", sender):
                    actors.send(sender, "pong")
                case "stop":
                    return

    async def main():
        pid = actors.spawn(echo)
        actors.send(pid, ("ping", actors.self()))
        assert await actors.receive("pong", timeout=1.0) == "pong"

    actors.run(main)
"""

from . import lowlevel as lowlevel
from . import testing as testing
from ._api import demonitor as demonitor
from ._api import exit as exit  # noqa: A004 - Erlang's name, used as actors.exit
from ._api import join as join
from ._api import leave as leave
from ._api import link as link
from ._api import members as members
from ._api import monitor as monitor
from ._api import process_info as process_info
from ._api import processes as processes
from ._api import receive as receive
from ._api import register as register
from ._api import registered as registered
from ._api import self as self
from ._api import send as send
from ._api import spawn as spawn
from ._api import spawn_link as spawn_link
from ._api import spawn_monitor as spawn_monitor
from ._api import trap_exits as trap_exits
from ._api import unlink as unlink
from ._api import unregister as unregister
from ._api import whereis as whereis
from ._call import From as From
from ._call import call as call
from ._call import cast as cast
from ._call import reply as reply
from ._child_spec import ChildInfo as ChildInfo
from ._child_spec import ChildSpec as ChildSpec
from ._child_spec import child as child
from ._cluster_api import Global as Global
from ._cluster_api import monitor_node as monitor_node
from ._cluster_api import node_name as node_name
from ._cluster_api import nodes as nodes
from ._cluster_api import register_global as register_global
from ._cluster_api import unregister_global as unregister_global
from ._cluster_api import whereis_global as whereis_global
from ._errors import CallExit as CallExit
from ._errors import CallTimeout as CallTimeout
from ._errors import ClusterError as ClusterError
from ._errors import NameNotRegistered as NameNotRegistered
from ._errors import NotInProcess as NotInProcess
from ._errors import ProcessExit as ProcessExit
from ._errors import ReceiveTimeout as ReceiveTimeout
from ._errors import RemoteError as RemoteError
from ._errors import StartError as StartError
from ._gen_server import NOREPLY as NOREPLY
from ._gen_server import GenServer as GenServer
from ._gen_server import Stop as Stop
from ._gen_statem import GenStatem as GenStatem
from ._ids import Down as Down
from ._ids import Exit as Exit
from ._ids import NodeDown as NodeDown
from ._ids import Pid as Pid
from ._ids import Ref as Ref
from ._introspect import get_state as get_state
from ._node import Node as Node
from ._node import node as node
from ._patterns import ANY as ANY
from ._start import starter as starter
from ._statem_actions import EventTimeout as EventTimeout
from ._statem_actions import GenericTimeout as GenericTimeout
from ._statem_actions import Keep as Keep
from ._statem_actions import NextEvent as NextEvent
from ._statem_actions import Postpone as Postpone
from ._statem_actions import Reply as Reply
from ._statem_actions import StateTimeout as StateTimeout
from ._supervisor import Supervisor as Supervisor
from ._supervisor import count_children as count_children
from ._supervisor import delete_child as delete_child
from ._supervisor import restart_child as restart_child
from ._supervisor import start_child as start_child
from ._supervisor import terminate_child as terminate_child
from ._supervisor import which_children as which_children
from ._terminate import run as run
from ._wire import allow_remote as allow_remote

__all__ = [
    "ANY",
    "ClusterError",
    "Global",
    "NodeDown",
    "RemoteError",
    "allow_remote",
    "monitor_node",
    "node_name",
    "nodes",
    "register_global",
    "unregister_global",
    "whereis_global",
    "NOREPLY",
    "CallExit",
    "CallTimeout",
    "ChildInfo",
    "ChildSpec",
    "Down",
    "EventTimeout",
    "Exit",
    "From",
    "GenServer",
    "GenStatem",
    "GenericTimeout",
    "Keep",
    "NameNotRegistered",
    "NextEvent",
    "Node",
    "NotInProcess",
    "Pid",
    "Postpone",
    "ProcessExit",
    "ReceiveTimeout",
    "Ref",
    "Reply",
    "StartError",
    "StateTimeout",
    "Stop",
    "Supervisor",
    "call",
    "cast",
    "child",
    "count_children",
    "delete_child",
    "demonitor",
    "exit",
    "get_state",
    "join",
    "leave",
    "link",
    "members",
    "monitor",
    "node",
    "process_info",
    "processes",
    "receive",
    "register",
    "registered",
    "reply",
    "restart_child",
    "run",
    "self",
    "send",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "start_child",
    "starter",
    "terminate_child",
    "trap_exits",
    "unlink",
    "unregister",
    "whereis",
    "which_children",
]
