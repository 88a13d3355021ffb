"""gateway.catalogue and gateway.measurements must stay pure: the BLE session calls them from its event
loop, and the simulator, server-side tools and tests use them without any radio or network."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gateway

FORBIDDEN = {"bleak", "asyncio", "paho", "socket", "sqlite3", "httpx", "dbus_fast", "threading", "subprocess"}
GATEWAY = Path(gateway.__file__).parent
PURE_MODULES = ["gateway.catalogue", "gateway.measurements"]
# What these modules are built on. pydantic (through common.wire.messages) loads ``socket`` for e-mail
# validation; that is the wire contract's business, not a use of the network here.
BASELINE = ["yaml", "pydantic", "gateway.gatt", "common.wire.messages", "gateway.reading_builder"]


def loaded_after(imports: list[str]) -> set[str]:
    script = (
        "import importlib, json, sys\n"
        f"for name in {imports!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_importing_adds_no_io_modules() -> None:
    baseline = loaded_after(BASELINE)
    ours = loaded_after(BASELINE + PURE_MODULES)
    added = {name.split(".")[0] for name in ours - baseline}
    assert not added & FORBIDDEN
    assert not {"bleak", "asyncio", "paho", "dbus_fast"} & {name.split(".")[0] for name in ours}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_no_forbidden_import_statements(module: str) -> None:
    path = GATEWAY / f"{module.split('.')[-1]}.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN | {"logging", "time"}, (module, name)
            if name.startswith("gateway."):
                assert name.split(".")[1] in {"gatt", "wire", "reading_builder", "catalogue"}, (module, name)
