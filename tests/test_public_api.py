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
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_contract_names_are_public(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in CONTRACT[module_name]:
        assert name in module.__all__, name
        assert hasattr(module, name), name


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_all_is_exact_and_without_duplicates(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__))
    public = {n for n in vars(module) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert public - submodules - {"annotations"} == set(module.__all__)
