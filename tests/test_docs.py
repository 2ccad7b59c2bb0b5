"""The documentation site (mkdocs.yml, docs/): every Python block of every
page runs as written (tests/doc_blocks.py, as the README's), every public
name of the packages and both lowlevel modules has a docstring for the API
reference to show, and the site builds with `mkdocs build --strict`, its
reference listing every public name (when the docs extra is installed: CI's
.ci/run builds it)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RedisServer
from tests.doc_blocks import blocks, check_not_run_blocks, run_block
from tests.http_helpers import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS = [(page, i, code) for page in PAGES for i, code in enumerate(blocks(page.read_text()).run)]

# The modules the API reference shows, and its page for each.
REFERENCE = {
    "actors": "reference/actors",
    "actors.testing": "reference/actors-testing",
    "actors.lowlevel": "reference/actors-lowlevel",
    "httpserver": "reference/httpserver",
    "httpserver.lowlevel": "reference/httpserver-lowlevel",
    "websocket": "reference/websocket",
    "observer": "reference/observer",
}

# Public names of actors without a docstring yet: actors is the lead's to
# change. The test keeps this list exact, so that it only ever shrinks.
NO_DOCSTRING_YET: dict[str, set[str]] = {"actors": {"ANY"}}


def test_the_docs_have_pages_and_blocks() -> None:
    assert len(PAGES) >= 20
    assert len(BLOCKS) >= 20


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_blocks_that_are_not_run_say_why_and_are_few(page: Path) -> None:
    check_not_run_blocks(page.read_text(), str(page.relative_to(ROOT)))


@pytest.mark.parametrize(
    ("page", "index", "block"),
    BLOCKS,
    ids=[f"{page.relative_to(DOCS)}:{i}" for page, i, _ in BLOCKS],
)
async def test_a_docs_code_block_runs_as_written(
    page: Path, index: int, block: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    await run_block(block, redis_server.url(), tmp_path)


# -- docstrings --------------------------------------------------------------------


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _attribute_docstring(package: str, name: str) -> str | None:
    """The string right after a module-level `name = ...` in `package`: the
    docstring mkdocstrings shows for a value (ANY, NOREPLY, protocol)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None
    assert spec.origin is not None
    for path in sorted(Path(spec.origin).parent.rglob("*.py")):
        body = _tree(path).body
        for statement, following in zip(body, [*body[1:], None], strict=True):
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                return following.value.value
    return None


def docstring(module_name: str, name: str) -> str | None:
    """The docstring the reference shows for `module_name.name`: a class's
    or function's own (not one that NamedTuple or dataclass makes up), or a
    value's attribute docstring."""
    value: Any = getattr(importlib.import_module(module_name), name)
    if inspect.isclass(value):
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(value)))
        return ast.get_docstring(tree.body[0])  # type: ignore[arg-type]
    if inspect.isfunction(value) or inspect.ismethod(value) or inspect.ismodule(value):
        return inspect.getdoc(value)
    return _attribute_docstring(module_name.split(".")[0], name)


def missing_docstrings(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    return {name for name in module.__all__ if not (docstring(module_name, name) or "").strip()}


@pytest.mark.parametrize("module_name", sorted(REFERENCE))
def test_every_public_name_has_a_docstring_for_the_reference(module_name: str) -> None:
    assert missing_docstrings(module_name) == NO_DOCSTRING_YET.get(module_name, set())


# -- the site ----------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="the docs extra is not installed"
)
def test_the_site_builds_strict_and_its_reference_shows_every_public_name(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    for module_name, page in REFERENCE.items():
        html = (tmp_path / "site" / page / "index.html").read_text()
        for name in importlib.import_module(module_name).__all__:
            assert f'id="{module_name}.{name}"' in html, f"{module_name}.{name} not in {page}"
