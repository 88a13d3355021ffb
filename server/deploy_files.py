"""The systemd units and the compose file, generated from :mod:`server.processes`.

``python -m server.deploy_files`` rewrites them in ``deploy/``; ``--check`` only says whether
the committed copies match (a test does the same). Generating them is what keeps a process
from running in one kind of deployment and silently not in another.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Final

from server.processes import PROCESSES, Need, Process

ROOT: Final = Path(__file__).resolve().parents[1]
DEPLOY: Final = ROOT / "deploy"
CAREWATCH_BIN: Final = "/opt/carewatch/.venv/bin/carewatch"
GENERATED: Final = (
    "Generated from server/processes.py by `python -m server.deploy_files`: do not edit by hand."
)

_AFTER: Final = {
    Need.BROKER: "mosquitto.service",
    Need.INFLUXDB: "influxdb.service",
    Need.DATABASE: "postgresql.service",  # ordering only: harmless where the database is elsewhere
}
# The compose file runs the broker and InfluxDB; the database is the one server.env names.
_COMPOSE_SERVICE: Final = {Need.BROKER: "mosquitto", Need.INFLUXDB: "influxdb"}


def unit_path(p: Process, deploy: Path = DEPLOY) -> Path:
    return deploy / "systemd" / f"carewatch-{p.name}.service"


def systemd_unit(p: Process) -> str:
    after = " ".join(["network-online.target", *(_AFTER[n] for n in p.needs)])
    exec_start = " ".join([CAREWATCH_BIN, *p.command(host="127.0.0.1")[1:]])
    stop = [] if p.stop_timeout_s is None else ["KillSignal=SIGTERM", f"TimeoutStopSec={p.stop_timeout_s}"]
    return "\n".join(
        [
            f"# {GENERATED}",
            "[Unit]",
            f"Description={p.description}",
            f"After={after}",
            "Wants=network-online.target",
            "# Restarted for ever, never given up on: /health says why it keeps failing.",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=simple",
            "User=carewatch",
            "Group=carewatch",
            "EnvironmentFile=/etc/carewatch/server.env",
            *([f"# {p.note}"] if p.note else []),
            f"ExecStart={exec_start}",
            "# It exits non-zero when it cannot go on: start it again, whatever the exit.",
            "Restart=always",
            "RestartSec=5",
            *stop,
            "NoNewPrivileges=true",
            "ProtectSystem=strict",
            "ProtectHome=true",
            "PrivateTmp=true",
            "ReadWritePaths=/var/lib/carewatch",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _flow(values: list[str]) -> str:
    """A YAML flow sequence (JSON is YAML), quoted so nothing is read as a number or a bool."""
    return json.dumps(values)


def _compose_service(p: Process) -> str:
    lines = [
        f"  {p.name}:",
        f"    # {p.description}",
        "    build: {context: .., dockerfile: deploy/Dockerfile}",
        "    image: carewatch-server",
        # Inside its container the API listens on every interface; the port is published on
        # the host's loopback only (ports:), for the reverse proxy.
        f"    command: {_flow(list(p.command(host='0.0.0.0')))}",  # noqa: S104
        "    env_file: /etc/carewatch/server.env",
    ]
    if Need.INFLUXDB in p.needs:
        lines += ["    environment:", "      CAREWATCH_INFLUX__URL: http://influxdb:8086"]
    lines.append(
        f"    volumes: {_flow(['/etc/carewatch:/etc/carewatch:ro', 'carewatch-data:/var/lib/carewatch'])}"
    )
    if p.http_port is not None:
        lines.append(f"    ports: {_flow([f'127.0.0.1:{p.http_port}:{p.http_port}'])}")
    depends = [_COMPOSE_SERVICE[n] for n in p.needs if n in _COMPOSE_SERVICE]
    if depends:
        lines.append(f"    depends_on: {_flow(depends)}")
    lines.append("    restart: unless-stopped")
    if p.stop_timeout_s is not None:
        lines.append(f"    stop_grace_period: {p.stop_timeout_s}s")
    return "\n".join(lines) + "\n"


_COMPOSE_HEAD: Final = f"""\
# {GENERATED}
# A container deployment of the server side. Not exercised by our CI (our machines have no
# container engine); the same processes run here as in `./dev demo` and the systemd units.
# The image is deploy/Dockerfile. The host's /etc/carewatch holds server.env, the CA
# certificate and the server's MQTT password, mounted read-only in every container, where
# they must be readable by the image's user (uid/gid 10001). The relational database is the one
# CAREWATCH_DATABASE_URL names (PostgreSQL), or SQLite in the carewatch-data volume.
# CAREWATCH_MQTT__HOST must be a name on the broker's certificate that reaches the
# mosquitto service.
services:
  mosquitto:
    image: eclipse-mosquitto:2
    ports: ["8883:8883"]
    volumes:
      - ./mosquitto/carewatch.conf:/mosquitto/config/mosquitto.conf:ro
      - ./mosquitto/acl:/etc/mosquitto/carewatch.acl:ro
      - /etc/carewatch/mosquitto/carewatch.passwd:/etc/mosquitto/carewatch.passwd:ro
      - /etc/carewatch/mosquitto/certs:/etc/mosquitto/certs:ro
      - mosquitto-data:/var/lib/mosquitto
    restart: unless-stopped
  influxdb:
    image: influxdb:1.8
    volumes: [influx-data:/var/lib/influxdb]
    environment:
      INFLUXDB_DB: carewatch
      INFLUXDB_REPORTING_DISABLED: "true"
    restart: unless-stopped
"""

_COMPOSE_TAIL: Final = """\
volumes:
  mosquitto-data:
  influx-data:
  carewatch-data:
"""


def compose_file() -> str:
    return _COMPOSE_HEAD + "".join(_compose_service(p) for p in PROCESSES) + _COMPOSE_TAIL


def generated(deploy: Path = DEPLOY) -> dict[Path, str]:
    """Every generated file (under ``deploy``) and what it must contain."""
    files = {unit_path(p, deploy): systemd_unit(p) for p in PROCESSES}
    files[deploy / "compose.yaml"] = compose_file()
    return files


def drifted(deploy: Path = DEPLOY) -> list[Path]:
    """Generated files whose copy differs from the definition (or is missing)."""
    return [
        path
        for path, text in generated(deploy).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print("usage: python -m server.deploy_files [--check]", file=sys.stderr)
        return 2
    if argv == ["--check"]:
        stale = drifted()
        for path in stale:
            print(f"{path.relative_to(ROOT)} differs from server/processes.py", file=sys.stderr)
        if stale:
            print("regenerate with: python -m server.deploy_files", file=sys.stderr)
        return 1 if stale else 0
    for path, text in generated().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
