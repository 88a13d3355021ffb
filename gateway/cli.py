"""``carewatch hub …``: what a technician runs on a hub, and the simulator."""

from __future__ import annotations

import secrets
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Hub commands: inspect the hub and its outbox, simulate patients.", no_args_is_help=True
)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="hub configuration (TOML)", envvar="CAREWATCH_HUB_CONFIG")
]


@app.command()
def status(config: ConfigOpt = Path("/etc/carewatch/hub.toml")) -> None:
    """Show the hub's identity, broker and how many readings wait in its outbox."""
    from gateway.config import ConfigError, load_hub_config
    from gateway.outbox import Outbox

    try:
        cfg = load_hub_config(config)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    outbox = Outbox(cfg.outbox_path)
    typer.echo(f"hub id:   {cfg.hub_id}")
    typer.echo(f"broker:   {cfg.broker.host}:{cfg.broker.port} (TLS, CA {cfg.broker.ca_file})")
    typer.echo(f"outbox:   {cfg.outbox_path} — {outbox.depth()} reading(s) waiting")


@app.command()
def simulate(
    patients: Annotated[
        int, typer.Option(min=1, max=1000, help="number of simulated patients (one hub each)")
    ] = 5,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between rounds of readings")] = 10.0,
    host: Annotated[str, typer.Option(help="broker host")] = "localhost",
    port: Annotated[int, typer.Option(help="broker TLS port")] = 8883,
    ca_file: Annotated[Path, typer.Option(exists=True, help="CA certificate of the broker")] = Path(
        "/etc/carewatch/ca.crt"
    ),
    credentials: Annotated[
        Path,
        typer.Option(exists=True, help="file of 'hub_id password' lines, one per simulated hub (mode 0600)"),
    ] = Path("/etc/carewatch/sim-hubs.txt"),
    state_dir: Annotated[Path, typer.Option(help="where the simulated hubs keep their outboxes")] = Path(
        "/var/lib/carewatch-sim"
    ),
    seed: Annotated[int | None, typer.Option(help="random seed for repeatable runs")] = None,
) -> None:
    """Publish realistic readings for N patients through the real hub publishing code."""
    from gateway.mqtt.session import BrokerEndpoint
    from gateway.simulator import SimulatedHub, run_simulation

    creds = [line.split() for line in credentials.read_text().splitlines() if line.strip()]
    if len(creds) < patients:
        typer.echo(f"error: {credentials} has {len(creds)} hub(s), {patients} requested", err=True)
        raise typer.Exit(2)
    hubs = [
        SimulatedHub(hub_id, BrokerEndpoint(host, port, ca_file, hub_id, password), state_dir)
        for hub_id, password in creds[:patients]
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for hub in hubs:
        hub.start()
    typer.echo(f"simulating {patients} patient(s), a reading each every {interval:g}s; Ctrl-C to stop")
    try:
        sent = run_simulation(hubs, interval=interval, stop=stop, seed=seed)
    finally:
        for hub in hubs:
            hub.stop()
    typer.echo(f"simulator stopped after {sent} reading(s)")


@app.command("new-password")
def new_password() -> None:
    """Print a strong random MQTT password for a new hub."""
    typer.echo(secrets.token_urlsafe(24))
