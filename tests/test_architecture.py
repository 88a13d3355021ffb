"""The house as contracts: the layers, the independent parts and the pure cores are written
once, as import-linter contracts in pyproject.toml, and checked here (and by the test
command). These tests also show that the contracts bite, by breaking each kind on a copy of
the tree, and check what import-linter cannot see: a pure core calling open() or print().
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT], cwd=where, capture_output=True, text=True, check=False, timeout=120)


def test_the_house_keeps_its_contracts() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("file", "line", "broken"),
    [
        ("alerts/severity.py", "import gateway.outbox", "Layers"),  # the rules reaching into the hub
        ("common/wire/topics.py", "import server.settings", "Layers"),  # the contract importing the server
        ("gateway/ble/scanner.py", "import gateway.mqtt.session", "meet only in the hub process"),
        ("server/api/deps.py", "import server.pages.render", "The API knows nothing of the pages"),
        ("common/wire/vocabulary.py", "import sqlite3", "import no I/O"),
        ("alerts/rules/series.py", "import logging", "Scoring is pure"),
        ("server/pages/charts/svg.py", "import server.store.models", "Trend charts are drawn without I/O"),
    ],
)
def test_each_contract_bites(tmp_path: Path, file: str, line: str, broken: str) -> None:
    for name in CONFIG["root_packages"]:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / file).open("a") as f:
        f.write(f"\n{line}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1
    assert broken in result.stdout.replace("\n", " ")


PURE = sorted(
    {
        name
        for contract in CONFIG["contracts"]
        if contract["type"] == "forbidden" and "logging" in contract["forbidden_modules"]
        for name in contract["source_modules"]
    }
)
IMPURE_CALLS = {"open", "print", "eval", "exec", "__import__", "input"}


def _files(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    origin = Path(spec.origin)
    if origin.name != "__init__.py":
        return [origin]
    return sorted(p for p in origin.parent.rglob("*.py") if p.name != "__main__.py")  # entry points print


@pytest.mark.parametrize("module", PURE)
def test_pure_cores_call_no_io_builtins(module: str) -> None:
    for path in _files(module):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in IMPURE_CALLS, (str(path.relative_to(ROOT)), node.func.id)
