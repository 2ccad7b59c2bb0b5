"""The packages' seams: dependencies point one way
(observer -> websocket -> httpserver -> actors), and a package uses only
another package's public names (its `lowlevel` module included), as
trio's own tests check its exports: no import by name, no import at run
time (importlib.import_module("x")) reaches a layer above, and every name
taken from a layer below is in that module's `__all__`."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["actors", "httpserver", "websocket", "observer"]


def imports(package: str) -> list[tuple[str, str, int]]:
    """(module imported, file, line) for every import in `package`."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(alias.name, path.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((node.module, path.name, node.lineno))
                found += [
                    (f"{node.module}.{alias.name}", path.name, node.lineno)
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    return found


@pytest.mark.parametrize("package", [p for p in ORDER if (ROOT / p).is_dir()])
def test_a_package_imports_only_public_names_of_the_layers_below(package: str) -> None:
    below = ORDER[: ORDER.index(package)]
    above = ORDER[ORDER.index(package) + 1 :]
    for module, where, line in imports(package):
        parts = module.split(".")
        if parts[0] in above:
            pytest.fail(f"{package}/{where}:{line} imports {module}, a layer above it")
        if parts[0] in below and any(part.startswith("_") for part in parts[1:]):
            pytest.fail(f"{package}/{where}:{line} imports {module}, a private name")


_RUNTIME_IMPORTS = {"import_module", "__import__", "find_spec", "import_string"}


def runtime_imports(package: str) -> list[tuple[str, str, int]]:
    """(module named, file, line) for every import made at run time by a
    string: importlib.import_module("x"), __import__("x"), find_spec("x")."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            named = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if name in _RUNTIME_IMPORTS and named:
                found.append((first.value, path.name, node.lineno))  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("package", [p for p in ORDER if (ROOT / p).is_dir()])
def test_no_run_time_import_reaches_a_layer_above(package: str) -> None:
    above = ORDER[ORDER.index(package) + 1 :]
    for module, where, line in runtime_imports(package):
        if module.split(".")[0] in above:
            pytest.fail(f"{package}/{where}:{line} imports {module} at run time, a layer above it")


def _public(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    names = set(module.__all__)
    return names | {n for n in ("lowlevel", "testing") if hasattr(module, n)}


def lower_names_used(package: str) -> list[tuple[str, str, str, int]]:
    """(lower module, name, file, line) for each name taken from a package
    below: `from actors import x`, `actors.x`, `actors.lowlevel.x`."""
    below = ORDER[: ORDER.index(package)]
    used = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] in below:
                    used += [(node.module, a.name, path.name, node.lineno) for a in node.names]
            elif isinstance(node, ast.Attribute):
                chain = []
                current: ast.expr = node
                while isinstance(current, ast.Attribute):
                    chain.append(current.attr)
                    current = current.value
                if isinstance(current, ast.Name) and current.id in below:
                    chain.reverse()
                    module = current.id
                    if chain[0] in ("lowlevel", "testing") and len(chain) > 1:
                        module, chain = f"{module}.{chain[0]}", chain[1:]
                    used.append((module, chain[0], path.name, node.lineno))
    return used


@pytest.mark.parametrize("package", [p for p in ORDER[1:] if (ROOT / p).is_dir()])
def test_a_package_uses_only_names_a_lower_layer_lists_in_its_all(package: str) -> None:
    cache: dict[str, set[str]] = {}
    for module, name, where, line in lower_names_used(package):
        public = cache.setdefault(module, _public(module))
        if name not in public:
            pytest.fail(f"{package}/{where}:{line} uses {module}.{name}, missing from its __all__")


def test_httpserver_names_no_websocket_and_loads_it_only_through_the_entry_point() -> None:
    for path in sorted((ROOT / "httpserver").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not node.value.startswith("websocket."), (path.name, node.lineno)
    # A misultin server without ws_loop never loads it; one with it, or an
    # ASGI app, loads it through the entry point websocket declares.
    code = (
        "import sys, actors, httpserver\n"
        "async def hello(req): await req.ok('hi')\n"
        "async def main():\n"
        "    pid = httpserver.start(ip='127.0.0.1', port=0, loop=hello)\n"
        "    assert 'websocket' not in sys.modules, 'loaded for a plain server'\n"
        "    await httpserver.stop(pid)\n"
        "actors.run(main)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    points = entry_points(group="trio_misultin.upgrades")
    assert [(p.name, p.value) for p in points] == [("websocket", "websocket:protocol")]


# -- inside actors: the core knows no behaviour, as OTP's kernel knows no stdlib ----

BEHAVIOURS = {
    "_gen_server",
    "_gen_statem",
    "_statem_actions",
    "_supervisor",
    "_child_spec",
    "_start",
}
FACES = {"__init__", "lowlevel", "testing"}  # the public faces gather everything


def actors_graph() -> dict[str, set[str]]:
    """Each private module of actors -> the private modules it imports,
    at module level or inside a function (a late import is an import)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "actors").glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        graph[path.stem] = found
    return graph


def test_the_core_of_actors_imports_no_behaviour() -> None:
    """Processes, the node, the cluster, the wire and introspection reach
    no GenServer, GenStatem or Supervisor, however indirectly: a behaviour
    shows itself to introspection (actors._sys), and registers the wire
    tags of what it owns."""
    graph = actors_graph()
    core = set(graph) - BEHAVIOURS - FACES
    for module in sorted(core):
        seen, todo = set(), [module]
        while todo:
            current = todo.pop()
            for imported in graph.get(current, ()):
                if imported in BEHAVIOURS:
                    pytest.fail(f"actors.{module} reaches actors.{imported} (through {current})")
                if imported not in seen and imported not in FACES:
                    seen.add(imported)
                    todo.append(imported)
