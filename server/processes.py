"""The server's long-running processes, defined once.

The demo starts these, the systemd units and the compose services are generated from them
(``python -m server.deploy_files``), and ``/health`` expects a heartbeat from each one that
beats. A process added here and forgotten elsewhere is exactly how the ticker once ran in
the demo and nowhere else, so nobody in a real deployment was ever notified of an alert.

Imports nothing heavy: the generator and the demo read it without the server's libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Need(StrEnum):
    """What a process cannot work without (its systemd ordering and compose dependencies)."""

    BROKER = "broker"
    INFLUXDB = "influxdb"
    DATABASE = "database"


@dataclass(frozen=True, slots=True)
class Process:
    name: str  # unit carewatch-{name}.service, compose service {name}, heartbeat name
    description: str
    argv: tuple[str, ...]  # after ``carewatch``
    needs: tuple[Need, ...]
    beats: bool  # writes a heartbeat that /health reads
    http_port: int | None = None  # takes --host/--port; the port it listens on by default
    note: str = ""  # why this process is configured the way it is, for the generated files
    stop_timeout_s: int | None = None  # time to finish in-flight work after SIGTERM

    def command(self, *, host: str | None = None, port: int | None = None) -> tuple[str, ...]:
        """The ``carewatch`` argv, with the listen address for a process that serves HTTP."""
        argv = ("carewatch", *self.argv)
        if self.http_port is None:
            return argv
        if host is not None:
            argv += ("--host", host)
        return (*argv, "--port", str(self.http_port if port is None else port))


INGEST: Final = "ingest"
TICKER: Final = "ticker"
API: Final = "api"

# In start order: the workers first, so the API's first /health already sees them.
PROCESSES: Final[tuple[Process, ...]] = (
    Process(
        INGEST,
        "CareWatch MQTT ingest worker (readings -> InfluxDB, alerts)",
        ("server", "ingest"),
        (Need.BROKER, Need.INFLUXDB, Need.DATABASE),
        beats=True,
        note="Unacknowledged readings stay with the broker; a restart loses nothing.",
        stop_timeout_s=30,
    ),
    Process(
        TICKER,
        "CareWatch ticker (missed readings, silent hubs, escalation, every notification)",
        ("server", "tick"),
        (Need.DATABASE,),
        beats=True,
        note="Every notification leaves through this process: without it nobody is told of an alert.",
        stop_timeout_s=30,
    ),
    Process(
        API,
        "CareWatch API and clinicians' pages",
        ("server", "api"),
        (Need.INFLUXDB, Need.DATABASE),
        beats=False,
        http_port=8000,
        note="Bind to loopback; a reverse proxy (nginx) terminates TLS for the clinicians.",
    ),
)


def process(name: str) -> Process:
    """The process called ``name``; a KeyError names the ones that exist."""
    for p in PROCESSES:
        if p.name == name:
            return p
    raise KeyError(f"no process {name!r}; there are {', '.join(p.name for p in PROCESSES)}")


def beating() -> tuple[str, ...]:
    """Names of the processes /health expects a heartbeat from."""
    return tuple(p.name for p in PROCESSES if p.beats)
