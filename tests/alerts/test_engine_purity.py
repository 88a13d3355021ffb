"""The engine, its rules and their oracle stay pure, like the NEWS2 scorer (test_purity.py).

Same two checks, extended to the new modules: every import on an allow-list, and importing
the engine pulls in no I/O module (nor pydantic or PyYAML, which only ``alerts.ruleset``
uses, PyYAML only inside its loader function).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.alerts.test_purity import ALLOWED_IMPORTS, IO_MODULES, _imports

ROOT = Path(__file__).resolve().parents[2]
PURE_FILES = [
    "alerts/engine.py",
    "alerts/columns.py",
    "alerts/rules/table.py",
    "alerts/rules/series.py",
    "alerts/rules/persistence.py",
    "alerts/rules/thresholds.py",
    "alerts/rules/trends.py",
    "alerts/rules/baseline.py",
    "alerts/rules/missed.py",
    "alerts/rules/device_flags.py",
    "alerts/reference/rules.py",
]
ALLOWED = ALLOWED_IMPORTS | {
    "alerts.columns",
    "alerts.severity",
    "alerts.rules",
    "alerts.rules.table",
    "alerts.rules.series",
    "alerts.rules.persistence",
    "alerts.reference.news2",
    "itertools",
    "alerts.ruleset",  # the oracle's type hints only, under TYPE_CHECKING (checked below)
}


@pytest.mark.parametrize("path", PURE_FILES)
def test_only_allowed_modules_are_imported(path: str) -> None:
    assert _imports((ROOT / path).read_text(encoding="utf-8")) <= ALLOWED


def test_the_oracle_imports_the_rule_models_for_typing_only() -> None:
    tree = ast.parse((ROOT / "alerts/reference/rules.py").read_text(encoding="utf-8"))
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert "alerts.ruleset" not in top_level


def test_ruleset_imports_yaml_only_inside_its_loader() -> None:
    tree = ast.parse((ROOT / "alerts/ruleset.py").read_text(encoding="utf-8"))
    top_level = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert "yaml" not in top_level


def test_importing_the_engine_loads_no_io_module() -> None:
    probe = (
        "import json, sys\n"
        "import numpy, numpy.typing\n"
        "before = set(sys.modules)\n"
        "import alerts.engine, alerts.reference.rules\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(completed.stdout)
    assert "alerts.engine" in loaded
    assert not {name.partition(".")[0] for name in loaded} & IO_MODULES, loaded
