"""What is said and to whom is decided without I/O: ``message`` and ``routing`` stay pure.

Checked statically (every import on an allow-list, no open/print/eval) and dynamically
(importing them loads no I/O module that pydantic and zoneinfo had not already loaded).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = {
    "alerts/notify/message.py": {
        "__future__",
        "collections.abc",
        "dataclasses",
        "datetime",
        "enum",
        "json",
        "re",
        "typing",
        "unicodedata",
        "uuid",
        "zoneinfo",
        "alerts.severity",
    },
    "alerts/notify/routing.py": {
        "__future__",
        "dataclasses",
        "datetime",
        "enum",
        "typing",
        "uuid",
        "zoneinfo",
        "pydantic",
        "alerts.severity",
        "alerts.notify.message",
    },
    "alerts/notify/__init__.py": set(),
}
IO_MODULES = {
    "aiosmtpd", "asyncio", "email", "ftplib", "http", "httpx", "logging", "notifications_python_client",
    "requests", "selectors", "shutil", "smtplib", "socket", "sqlite3", "ssl", "subprocess", "tempfile",
    "threading", "urllib", "yaml", "alerts.notify.outbox", "alerts.notify.email", "alerts.notify.webhook",
    "alerts.notify.govuk_notify", "alerts.notify.config",
}  # fmt: skip


def _imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            names.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"__import__", "open", "print", "eval", "exec", "input"}, node.func.id
    return names


@pytest.mark.parametrize("path", sorted(PURE))
def test_only_allowed_modules_are_imported(path: str) -> None:
    assert _imports((ROOT / path).read_text(encoding="utf-8")) <= PURE[path]


def test_importing_message_and_routing_loads_no_io_module() -> None:
    probe = (
        "import json, sys, zoneinfo\n"
        "import pydantic\n"
        "class _M(pydantic.BaseModel):\n"
        "    u: pydantic.HttpUrl\n"
        "_M(u='https://x.example/')\n"
        "zoneinfo.ZoneInfo('Europe/London')\n"
        "before = set(sys.modules)\n"
        "import alerts.notify.message, alerts.notify.routing\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert "alerts.notify.routing" in loaded
    assert not ({name.partition(".")[0] for name in loaded} | loaded) & IO_MODULES, sorted(loaded)
