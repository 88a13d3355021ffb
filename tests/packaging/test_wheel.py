"""The hub as a wheel installs it, not as the checkout runs it.

A wheel is built from a copy of the working tree (``pip wheel --no-deps``, with build isolation as
anyone's build has), installed with only the ``hub`` extra into a fresh venv, and that venv is asked
what a Raspberry Pi hub would ask of it: the console answers, the shipped device catalogue loads from
the installed package, and what ``carewatch hub run`` imports pulls in nothing of the server.

Why a copy: an in-tree build writes ``build/`` and ``*.egg-info`` into the checkout, and a stale
``build/lib`` can put modules that no longer exist into the wheel; two runs side by side would race.

Duration, on the project's 2-core machine: about 20 s (the wheel ~6 s, the hub's dependencies ~13 s
from pip's cache; the first run downloads them from PyPI). The venv is created without pip, because
ensurepip alone costs ~8 s; this interpreter's pip installs into it with ``--python``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.catalogue.loader import CATALOGUE_ENV

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "firmware-config" / "devices"
# What a developer's checkout holds beside the code; none of it is source of the wheel.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".state", "__pycache__", "*.egg-info", "build", "dist", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis", ".import_linter_cache", "node_modules",
)  # fmt: skip
# What a hub must never load: the server and its libraries, and the developer's stack.
SERVER_SIDE = {"server", "devstack", "fastapi", "sqlalchemy", "influxdb_client"}

pytestmark = pytest.mark.timeout(300)

# Run inside the hub's venv: import everything ``carewatch hub run`` imports (the console, the hub's
# commands, what ``run`` imports, and gateway.daemon with the imports inside its functions, read from
# the installed sources so a new import is checked without editing this test), then report.
_IMPORT_WHAT_HUB_RUN_IMPORTS = """
import ast, importlib, json, sys
from pathlib import Path

import carewatch.console, gateway, gateway.cli, gateway.daemon


def imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


cli = ast.parse(Path(gateway.cli.__file__).read_text(encoding="utf-8"))
run = next(n for n in cli.body if isinstance(n, ast.FunctionDef) and n.name == "run")
daemon = ast.parse(Path(gateway.daemon.__file__).read_text(encoding="utf-8"))
names = sorted({*imported(run), *imported(daemon)})
for name in names:
    importlib.import_module(name)
print(json.dumps({"gateway": gateway.__file__, "imported": names, "modules": sorted(sys.modules)}))
"""

_LOAD_THE_CATALOGUE = """
import json
from gateway.catalogue.loader import default_catalogue_dir, load_catalogue

print(json.dumps({"dir": str(default_catalogue_dir()), "ids": sorted(m.id for m in load_catalogue())}))
"""

_LOAD_THE_PHRASES = """
import json
from gateway.feedback.catalogue import load_phrasebooks

print(json.dumps({"languages": sorted(load_phrasebooks())}))
"""


@dataclass(frozen=True)
class HubInstall:
    wheel: Path
    venv: Path
    workdir: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """A command as a hub's shell would run it: no PYTHONPATH, no catalogue override, not from
        the checkout, so nothing of the repository can stand in for what the wheel lacks."""
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", CATALOGUE_ENV}}
        env.update(PYTHONNOUSERSITE="1", COLUMNS="200")
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def carewatch(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.venv / "bin" / "carewatch", *args)

    def python_json(self, code: str) -> dict[str, object]:
        result = self.run(self.python, "-I", "-c", code)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert isinstance(data, dict)
        return data


def _checked(args: list[str | Path], cwd: Path) -> None:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> HubInstall:
    """A wheel of the working tree, installed with only the hub extra in a venv of its own."""
    base = tmp_path_factory.mktemp("wheel")
    source, dist, venv, workdir = base / "source", base / "dist", base / "venv", base / "work"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCE)
    workdir.mkdir()
    _checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source], base)
    (wheel,) = dist.glob("carewatch-*.whl")
    _checked([sys.executable, "-m", "venv", "--without-pip", venv], base)
    _checked(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", f"{wheel}[hub]"],
        base,
    )
    return HubInstall(wheel, venv, workdir)


def test_the_wheel_ships_the_catalogue_and_none_of_the_developers_tools(hub: HubInstall) -> None:
    names = zipfile.ZipFile(hub.wheel).namelist()
    assert not [n for n in names if n.startswith(("devstack/", "tests/"))]
    shipped = {n.removeprefix("gateway/catalogue/devices/") for n in names if n.endswith(".yaml")}
    assert shipped >= {p.name for p in SHIPPED.glob("*.yaml")}


def test_the_wheel_ships_the_pages_with_their_design_system_and_docs(hub: HubInstall) -> None:
    """The pages' assets are vendored files in the package, so a server needs no Node and no CDN."""
    names = set(zipfile.ZipFile(hub.wheel).namelist())
    static = "server/pages/static/"
    assert {
        f"{static}nhsuk/nhsuk-frontend.min.css",
        f"{static}nhsuk/nhsuk-frontend.min.js",
        f"{static}nhsuk/images/favicon.ico",
        f"{static}nhsuk/images/nhsuk-icon-arrow-down.svg",
        f"{static}swagger-ui/swagger-ui-bundle.js",
        f"{static}swagger-ui/swagger-ui.css",
        f"{static}carewatch.js",
        f"{static}docs.js",
        "server/pages/templates/_nhs.html",
        "server/pages/templates/docs.html",
    } <= names


def test_the_console_lists_its_groups(hub: HubInstall) -> None:
    result = hub.carewatch("--help")
    assert result.returncode == 0, result.stderr
    for group in ("hub", "server", "demo"):
        assert f" {group} " in result.stdout


def test_the_hub_commands_answer(hub: HubInstall) -> None:
    result = hub.carewatch("hub", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_the_catalogue_loads_from_the_installed_package(hub: HubInstall) -> None:
    found = hub.python_json(_LOAD_THE_CATALOGUE)
    directory = Path(str(found["dir"]))
    assert directory.is_relative_to(hub.venv)
    assert not directory.is_symlink()  # copies of the files, not the checkout's link
    ids = found["ids"]
    assert isinstance(ids, list)
    assert ids == sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    assert {"and-ua-651ble", "omron-hem-7322t", "berrymed-bci", "generic-blood-pressure"} <= set(ids)


def test_what_the_hub_says_ships_in_every_language(hub: HubInstall) -> None:
    found = hub.python_json(_LOAD_THE_PHRASES)
    assert found["languages"] == sorted(p.stem for p in (ROOT / "gateway/feedback/phrases").glob("*.toml"))
    assert {"en", "cy"} <= set(found["languages"])


def test_what_hub_run_imports_loads_nothing_of_the_server(hub: HubInstall) -> None:
    found = hub.python_json(_IMPORT_WHAT_HUB_RUN_IMPORTS)
    assert Path(str(found["gateway"])).is_relative_to(hub.venv)
    imported = found["imported"]
    assert isinstance(imported, list)
    assert {"gateway.catalogue.loader", "gateway.ble.hub", "gateway.mqtt.session"} <= set(imported)
    modules = found["modules"]
    assert isinstance(modules, list)
    assert sorted({str(m).partition(".")[0] for m in modules} & SERVER_SIDE) == []


def test_the_server_commands_say_their_extra_is_missing(hub: HubInstall) -> None:
    result = hub.carewatch("server", "--help")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the server commands need the 'server' extra" in result.stderr
    assert "Traceback" not in result.stderr
