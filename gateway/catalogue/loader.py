"""Reading the catalogue's YAML files, and where the shipped ones are.

The catalogue is validated completely when it is loaded, because a typo discovered per packet on a hub
in someone's home shows up as silently missing readings; a typo discovered at start-up is an error
message naming the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from gateway.catalogue.errors import CatalogueError
from gateway.catalogue.matching import Catalogue
from gateway.catalogue.models import DeviceModel

__all__ = [
    "CATALOGUE_ENV",
    "SHIPPED_DIRECTORY",
    "default_catalogue_dir",
    "load_catalogue",
    "load_model",
    "parse_model",
]

#: Environment variable naming the catalogue directory; wins over the shipped files so a site can add or
#: fix a model without a new release, and tests can point elsewhere.
CATALOGUE_ENV: Final = "CAREWATCH_DEVICE_CATALOGUE"
#: The shipped files, as package data of ``gateway.catalogue``. In a checkout it is a symlink to
#: ``firmware-config/devices``; in a wheel, a directory holding copies of the same files.
SHIPPED_DIRECTORY: Final = "devices"


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: ValidationError, source: str) -> CatalogueError:
    items = error.errors()
    lines = []
    for item in items:
        loc = tuple(item["loc"])
        # pydantic also reports "tuple too short" for a list whose only item failed: noise.
        if item["type"] == "too_short" and any(
            tuple(o["loc"])[: len(loc)] == loc != tuple(o["loc"]) for o in items
        ):
            continue
        message = item["msg"].removeprefix("Value error, ")
        # Cross-field checks run on the whole model; they start their message with the field to blame.
        field, sep, rest = message.partition(": ")
        if not loc and sep and field in DeviceModel.model_fields:
            loc, message = (field,), rest
        lines.append(f"{source}: field {_location(loc)}: {message}")
    return CatalogueError("\n".join(lines))


def parse_model(data: object, source: str = "<memory>") -> DeviceModel:
    """Validate one already-parsed YAML document; ``source`` names it in errors."""
    if not isinstance(data, Mapping):
        raise CatalogueError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    if "source" in data:
        raise CatalogueError(f"{source}: field source: set by the loader, do not write it")
    try:
        return DeviceModel.model_validate({**data, "source": source})
    except ValidationError as e:
        raise _explain(e, source) from None


def load_model(path: Path | str) -> DeviceModel:
    """Read and validate one YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CatalogueError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise CatalogueError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_model(data, str(path))


def default_catalogue_dir() -> Path:
    """``$CAREWATCH_DEVICE_CATALOGUE`` if set, else the files shipped with the package.

    Found through ``importlib.resources`` rather than by walking up from this file, so the same call
    works in a source checkout (the ``devices`` symlink) and in an installed wheel (its copy of the
    files), wherever either lives.
    """
    override = os.environ.get(CATALOGUE_ENV)
    if override:
        return Path(override)
    shipped = resources.files("gateway.catalogue") / SHIPPED_DIRECTORY
    if not isinstance(shipped, Path):
        # Only a zipped import gives something else; pip always installs a wheel unpacked.
        raise CatalogueError(
            f"{shipped}: the shipped device catalogue is inside an archive; "
            f"set {CATALOGUE_ENV} to a directory of device files"
        )
    return shipped


def load_catalogue(directory: Path | str | None = None) -> Catalogue:
    """Load and validate every ``*.yaml``/``*.yml`` in ``directory`` (default ``default_catalogue_dir()``).

    All files are checked before failing, so one run reports every broken file, not just the first.
    """
    root = Path(directory) if directory is not None else default_catalogue_dir()
    if not root.is_dir():
        raise CatalogueError(f"{root}: device catalogue directory does not exist")
    paths = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise CatalogueError(f"{root}: no device files (*.yaml)")
    models: list[DeviceModel] = []
    problems: list[str] = []
    for path in paths:
        try:
            models.append(load_model(path))
        except CatalogueError as e:
            problems.append(str(e))
    if problems:
        raise CatalogueError("\n".join(problems))
    return Catalogue(models)
