"""The server's processes are defined once (server/processes.py): the systemd units and the
compose services are generated from that list, and a committed copy that drifts fails here."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from server.deploy_files import DEPLOY, ROOT, drifted, generated, main, unit_path
from server.processes import PROCESSES, TICKER, beating, process

CLI = [sys.executable, "-m", "carewatch"]
HARDENING = {
    "NoNewPrivileges": "true",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "ReadWritePaths": "/var/lib/carewatch",
}


def carewatch_help_exits_0(commands: list[list[str]]) -> dict[str, str]:
    """``carewatch ARGS --help`` for each argv (after ``carewatch``), in parallel: the failures."""
    runs = {
        " ".join(argv): subprocess.Popen(
            [*CLI, *argv, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for argv in commands
    }
    failed = {}
    for name, proc in runs.items():
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0 or "Usage" not in out:
            failed[name] = out
    return failed


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_the_committed_units_and_compose_file_are_generated_from_the_definition() -> None:
    assert drifted() == [], "regenerate with: python -m server.deploy_files"
    assert main(["--check"]) == 0
    assert set(generated()) == {unit_path(p) for p in PROCESSES} | {DEPLOY / "compose.yaml"}


def test_a_hand_edited_or_missing_copy_is_caught(tmp_path: Path) -> None:
    for path, text in generated(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert drifted(tmp_path) == []
    ticker = unit_path(process(TICKER), tmp_path)
    ticker.write_text(ticker.read_text().replace("Restart=always", "Restart=no"))
    (tmp_path / "compose.yaml").unlink()
    assert drifted(tmp_path) == [ticker, tmp_path / "compose.yaml"]


def test_every_server_unit_is_a_defined_process_restarted_and_hardened() -> None:
    server_units = {p.name for p in (DEPLOY / "systemd").glob("carewatch-*.service")} - {
        "carewatch-hub.service"
    }
    assert server_units == {f"carewatch-{p.name}.service" for p in PROCESSES}
    commands = []
    for p in PROCESSES:
        service = unit(unit_path(p))["Service"]
        assert service["Restart"] in ("always", "on-failure"), p.name
        assert float(service["RestartSec"]) <= 10, p.name
        assert {k: service.get(k) for k in HARDENING} == HARDENING, p.name
        assert service["User"] == "carewatch"
        binary, *argv = service["ExecStart"].split()
        assert binary == "/opt/carewatch/.venv/bin/carewatch"
        assert tuple(argv[: len(p.argv)]) == p.argv
        commands.append(argv)
    assert carewatch_help_exits_0(commands) == {}


def test_the_ticker_runs_wherever_the_workers_run() -> None:
    assert TICKER in beating()
    assert "carewatch-ticker.service" in {p.name for p in (DEPLOY / "systemd").glob("*.service")}
    assert unit(DEPLOY / "systemd" / "carewatch-ticker.service")["Service"]["ExecStart"].endswith(
        "carewatch server tick"
    )


def test_the_generator_command_runs_from_anywhere(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server.deploy_files", "--check"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
