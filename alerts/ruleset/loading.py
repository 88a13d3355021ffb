"""From rule documents to a validated :class:`~alerts.ruleset.models.RuleSet`: the defaults
file, and a patient's override merged on top of them.

Validation (pydantic) happens here on the merged *whole*; only :func:`load_ruleset` reads a
file, and it imports its YAML parser inside, so importing this module pulls in no parser.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerts.ruleset.models import PatientOverride, RuleSet, RuleSetError

__all__ = [
    "DEFAULTS_PATH",
    "apply_override",
    "default_ruleset",
    "load_ruleset",
    "merge_documents",
    "parse_ruleset",
]

DEFAULTS_PATH = Path(__file__).resolve().parent.parent / "rules" / "defaults.yaml"


def merge_documents(base: Any, changes: Any) -> Any:
    """``changes`` written over ``base``, key by key; an explicit None replaces (removes an edge)."""
    if isinstance(base, dict) and isinstance(changes, dict):
        out = dict(base)
        for key, value in changes.items():
            out[key] = merge_documents(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(changes)


def _validated(document: Mapping[str, Any], what: str) -> RuleSet:
    try:
        return RuleSet.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise RuleSetError(f"invalid {what}: {problems}") from None


def apply_override(defaults: RuleSet, override: PatientOverride | Mapping[str, Any]) -> RuleSet:
    """The patient's effective rules: ``defaults`` with the override's changes merged on top."""
    changes = override.changes if isinstance(override, PatientOverride) else dict(override)
    document = merge_documents(defaults.model_dump(mode="json"), changes)
    return _validated(document, "rule override")


def parse_ruleset(document: Mapping[str, Any]) -> RuleSet:
    """Validate an already-parsed rule document (e.g. from YAML or JSON)."""
    return _validated(document, "rule set")


def load_ruleset(path: Path | str = DEFAULTS_PATH) -> RuleSet:
    """Read and validate a YAML rule file: the only function here that does I/O."""
    import yaml  # imported here so that the pure modules never pull in a parser

    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RuleSetError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise RuleSetError(f"{source}: expected a mapping at the top level")
    try:
        return parse_ruleset(document)
    except RuleSetError as error:
        raise RuleSetError(f"{source}: {error}") from None


@cache
def default_ruleset() -> RuleSet:
    return load_ruleset(DEFAULTS_PATH)
