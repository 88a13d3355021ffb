"""What the import contracts (pyproject.toml, tests/test_architecture.py) cannot see about the
engine's purity: imports that exist but must not run when the engine is imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_oracle_imports_the_rule_models_for_typing_only() -> None:
    tree = ast.parse((ROOT / "alerts/reference/rules.py").read_text(encoding="utf-8"))
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert "alerts.ruleset.models" not in top_level


def test_ruleset_imports_yaml_only_inside_its_loader() -> None:
    for module in sorted((ROOT / "alerts/ruleset").glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        top_level = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        assert "yaml" not in top_level
