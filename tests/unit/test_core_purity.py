"""Architecture test: ``keeper.core`` is pure -- no chain, database, scheduler, environment or files.

Every module under ``keeper/core`` is imported (it must import cleanly) and its
AST is checked for forbidden imports and for environment access. ``arch`` (with
its pandas/scipy baggage) is allowed only in the GARCH model module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import keeper.core

CORE_DIR = Path(keeper.core.__file__).parent
MODULES = sorted(p for p in CORE_DIR.glob("*.py"))

FORBIDDEN_ROOTS = {
    "web3", "hexbytes", "sqlite3", "apscheduler", "requests", "httpx", "aiohttp", "websockets",
    "socket", "subprocess", "urllib", "http", "pydantic", "pydantic_settings", "tomllib",
}
ENV_ATTRS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
ALLOWED_ONLY_IN = {"arch": {"vol.py"}, "pandas": set(), "scipy": set()}


def _imported_roots(tree: ast.AST) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], node.lineno))
    return found


def test_every_core_module_imports() -> None:
    names = [m.name for m in pkgutil.iter_modules([str(CORE_DIR)])]
    assert "options" in names
    for name in names:
        importlib.import_module(f"keeper.core.{name}")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_io_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for root, line in _imported_roots(tree):
        assert root not in FORBIDDEN_ROOTS, f"{path.name}:{line} imports {root}"
        assert not root.startswith("eth_"), f"{path.name}:{line} imports {root}"
        if root in ALLOWED_ONLY_IN:
            assert path.name in ALLOWED_ONLY_IN[root], f"{path.name}:{line} imports {root}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_environment_or_file_access(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            assert node.attr not in ENV_ATTRS, f"{path.name}:{node.lineno} uses os.{node.attr}"
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            bad = {a.name for a in node.names} & ENV_ATTRS
            assert not bad, f"{path.name}:{node.lineno} imports {bad} from os"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "input"}, f"{path.name}:{node.lineno} calls {node.func.id}()"


def test_the_checker_catches_violations() -> None:
    bad = ast.parse("import web3\nfrom eth_abi import encode\nimport os\nx = os.environ['A']\n")
    roots = {r for r, _ in _imported_roots(bad)}
    assert "web3" in roots
    assert "eth_abi" in roots
    attrs = [n.attr for n in ast.walk(bad) if isinstance(n, ast.Attribute)]
    assert "environ" in attrs
