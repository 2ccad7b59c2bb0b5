"""The packages' seams: dependencies point one way
(observer -> websocket -> httpserver -> actors), and a package uses only
another package's public names (its `lowlevel` module included), as
trio's own tests check its exports."""

from __future__ import annotations

import ast
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
