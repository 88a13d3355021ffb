"""Pure cores import no I/O library: the boundary between computation and shells, enforced."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE_MODULES = [
    "common.wire.vocabulary",
    "common.wire.topics",
    "common.wire.messages",
    "gateway.reading_builder",
    "alerts.severity",
    "alerts.lifecycle",
    "alerts.engine",
    "alerts.ruleset",
]
IO_LIBRARIES = {
    "bleak",
    "paho",
    "httpx",
    "influxdb_client",
    "sqlalchemy",
    "fastapi",
    "dbus_fast",
    "sqlite3",
    "urllib3",
}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io_library(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    loaded = set(
        json.loads(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        )
    )
    assert not loaded & IO_LIBRARIES, f"{module} pulls in {sorted(loaded & IO_LIBRARIES)}"
