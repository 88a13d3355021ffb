"""The container deployment, checked as far as a machine without a container engine can:
the Dockerfile copies only files that exist, the compose file parses, and every service runs
a real ``carewatch`` command under a restart policy, the ticker beside the API and ingest."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from server.deploy_files import DEPLOY, ROOT
from server.processes import API, INGEST, PROCESSES, TICKER
from tests.deploy.test_processes import carewatch_help_exits_0

DOCKERFILE = DEPLOY / "Dockerfile"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def carewatch_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if isinstance(svc.get("command"), list) and svc["command"][0] == "carewatch"
    }


def instructions() -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), shlex.split(rest)))
    return out


def test_the_compose_file_builds_from_this_dockerfile_and_context() -> None:
    for svc in carewatch_services().values():
        build = svc["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_every_file_the_dockerfile_copies_exists_and_it_runs_as_a_non_root_user() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", ["python:3.11-slim-bookworm"])
    copies = [args for word, args in steps if word == "COPY"]
    assert copies
    for args in copies:
        *sources, _dest = [a for a in args if not a.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {s.rstrip("/") for args in copies for s in args[:-1]} & set(ignored)
    runs = " ".join(" ".join(args) for word, args in steps if word == "RUN")
    assert 'pip install ".[server,postgres]"' in DOCKERFILE.read_text()
    assert "useradd" in runs
    [user] = [args for word, args in steps if word == "USER"]
    assert user[0].split(":")[0] not in ("root", "0")
    assert "NOT BUILT ON THIS PROJECT'S MACHINES: they have no container engine" in DOCKERFILE.read_text()


def test_every_compose_service_is_a_real_command_restarted_when_it_exits() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        assert svc.get("restart") in ("always", "unless-stopped", "on-failure"), name
    ours = carewatch_services()
    assert set(ours) == {p.name for p in PROCESSES}
    for p in PROCESSES:
        assert ours[p.name]["command"][: len(p.argv) + 1] == ["carewatch", *p.argv]
        for dependency in ours[p.name].get("depends_on", []):
            assert dependency in services
    assert carewatch_help_exits_0([svc["command"][1:] for svc in ours.values()]) == {}


def test_the_ticker_is_present_wherever_the_api_and_ingest_are() -> None:
    assert {API, INGEST, TICKER} <= set(carewatch_services())
    assert carewatch_services()[TICKER]["command"] == ["carewatch", "server", "tick"]


def test_the_image_gets_every_package_the_product_is_made_of() -> None:
    """A package added to the product and forgotten here gives an image without it (the
    console and the contract were, once)."""
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    wanted = {p.rstrip("*") for p in packages["include"]}
    copied = {
        a.rstrip("/")
        for word, args in instructions()
        if word == "COPY"
        for a in args[:-1]
        if not a.startswith("--")
    }
    assert wanted <= copied, f"not copied into the image: {sorted(wanted - copied)}"
