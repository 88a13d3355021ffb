"""Reading the routing configuration from disk, kept out of ``routing`` so that stays pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from alerts.notify.routing import RoutingConfig


def parse_routing_config(text: str, *, fmt: str = "yaml") -> RoutingConfig:
    """YAML is a superset of JSON, but JSON is parsed as JSON so its errors read as JSON's."""
    data: Any = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    return RoutingConfig.model_validate(data)


def load_routing_config(path: Path) -> RoutingConfig:
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return parse_routing_config(path.read_text(encoding="utf-8"), fmt=fmt)
