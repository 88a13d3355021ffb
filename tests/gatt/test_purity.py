"""gateway.gatt must stay pure: it runs in the hub, the simulator and the server alike."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import gateway.gatt

FORBIDDEN = {"bleak", "asyncio", "socket", "paho", "sqlite3", "httpx", "dbus_fast"}
PACKAGE_DIR = Path(gateway.gatt.__file__).parent


def module_names() -> list[str]:
    return ["gateway.gatt"] + [f"gateway.gatt.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE_DIR)])]


def test_no_io_modules_get_imported() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {module_names()!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_no_forbidden_import_statements() -> None:
    assert len(module_names()) >= 13
    for path in PACKAGE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root not in FORBIDDEN | {"logging", "threading", "os", "subprocess"}, (path.name, name)
                if root == "gateway":
                    assert name.startswith("gateway.gatt"), (path.name, name)
