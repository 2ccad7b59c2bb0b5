"""Every public name is exported once, and the contract's names exist."""

from __future__ import annotations

import importlib

import pytest

CONTRACT = {
    "actors": [
        "run", "node", "spawn", "spawn_link", "spawn_monitor", "self", "send", "receive",
        "ANY", "link", "unlink", "monitor", "demonitor", "exit", "trap_exits", "register",
        "unregister", "whereis", "registered", "join", "leave", "members", "processes",
        "process_info", "Exit", "Down", "Pid", "Ref", "NameNotRegistered", "ReceiveTimeout",
        "GenStatem", "Keep", "Stop", "Reply", "Postpone", "NextEvent", "StateTimeout",
        "EventTimeout", "GenericTimeout", "StartError", "get_state",
    ],
    "observer": ["start", "start_link", "info"],
    "httpserver": ["start", "start_link", "stop", "Req", "Options", "HttpError"],
    "httpserver.lowlevel": ["switch_protocols", "Takeover", "UpgradeProtocol", "asgi_scope"],
    "websocket": ["Ws", "broadcast", "protocol"],
    "actors.lowlevel": ["end_process", "mailbox_len", "wait_idle", "wait_mailbox_below"],
}  # fmt: skip

# Every package and both lowlevel modules, as trio's test of its exports.
MODULES = [
    "actors",
    "actors.lowlevel",
    "httpserver",
    "httpserver.lowlevel",
    "websocket",
    "observer",
]


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_contract_names_are_public(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in CONTRACT[module_name]:
        assert name in module.__all__, name
        assert hasattr(module, name), name


@pytest.mark.parametrize("module_name", MODULES)
def test_every_name_the_package_defines_is_exported_once(module_name: str) -> None:
    """What a module holds of its own package (not an import of trio's or
    typing's) is in its `__all__`, once, and every name listed exists."""
    module = importlib.import_module(module_name)
    root = module_name.split(".")[0]
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), name
    exported_by_root = set(importlib.import_module(root).__all__) if "." in module_name else set()
    unlisted = []
    for name, value in vars(module).items():
        if name.startswith("_") or type(value).__name__ == "module" or name in exported_by_root:
            continue  # (a lowlevel module may use its package's public names)
        owner = getattr(value, "__module__", None)
        if isinstance(owner, str) and owner.split(".")[0] == root and name not in module.__all__:
            unlisted.append(name)
    assert not unlisted, f"public in {module_name} but not in its __all__: {unlisted}"


@pytest.mark.parametrize("module_name", ["actors", "httpserver", "websocket", "observer"])
def test_all_is_exact_and_without_duplicates(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__))
    public = {n for n in vars(module) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert public - submodules - {"annotations"} == set(module.__all__)
