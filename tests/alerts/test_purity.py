"""The scoring modules stay pure: no I/O, no logging, nothing that could block or leak data.

Purity is what lets the rules run on any worker, be re-run over history and be tested
exhaustively, so it is enforced rather than hoped for: statically (every import on an
allow-list) and dynamically (importing them pulls in no I/O module that NumPy had not).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import alerts.news2
import alerts.reference
import alerts.reference.news2
import alerts.rounding

PURE_MODULES = [alerts.news2, alerts.rounding, alerts.reference, alerts.reference.news2]
ALLOWED_IMPORTS = {
    "__future__",
    "collections.abc",
    "dataclasses",
    "decimal",
    "enum",
    "math",
    "numpy",
    "numpy.typing",
    "types",
    "typing",
    "common.wire.vocabulary",
    "alerts.rounding",  # itself pure: in PURE_MODULES
}
IO_MODULES = {
    "aiosmtpd", "asyncio", "email", "fastapi", "ftplib", "http", "httpx", "influxdb_client",
    "logging", "paho", "pydantic", "requests", "selectors", "shutil", "smtplib", "socket",
    "sqlalchemy", "sqlite3", "ssl", "subprocess", "tempfile", "threading", "urllib", "uvicorn",
    "yaml", "bleak", "psycopg",
}  # fmt: skip


def _imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports hide what is imported"
            assert node.module is not None
            names.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"__import__", "open", "print", "eval", "exec"}, node.func.id
    return names


@pytest.mark.parametrize("module", PURE_MODULES, ids=lambda module: module.__name__)
def test_only_allowed_modules_are_imported(module: object) -> None:
    path = Path(getattr(module, "__file__", ""))
    assert path.is_file()
    assert _imports(path.read_text(encoding="utf-8")) <= ALLOWED_IMPORTS


def test_importing_the_scorers_loads_no_io_module() -> None:
    probe = (
        "import json, sys\n"
        "import numpy, numpy.typing\n"
        "before = set(sys.modules)\n"
        "import alerts.news2, alerts.reference.news2\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(completed.stdout)
    assert "alerts.news2" in loaded
    assert not {name.partition(".")[0] for name in loaded} & IO_MODULES, loaded
