"""``carewatch hub …``: what a technician runs on a hub, and the simulator."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gateway.config import HubConfig

app = typer.Typer(
    help=(
        "Hub commands: run the hub, find and pair devices, inspect the hub and its outbox, simulate patients."
    ),
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="hub configuration (TOML)", envvar="CAREWATCH_HUB_CONFIG")
]


@app.command()
def status(config: ConfigOpt = Path("/etc/carewatch/hub.toml")) -> None:
    """Show the hub's identity, broker and how many readings wait in its outbox for the server's receipt."""
    from gateway.config import ConfigError, load_hub_config
    from gateway.outbox import Outbox

    try:
        cfg = load_hub_config(config)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    backlog = Outbox(cfg.outbox_path).backlog()
    typer.echo(f"hub id:   {cfg.hub_id}")
    typer.echo(f"broker:   {cfg.broker.host}:{cfg.broker.port} (TLS, CA {cfg.broker.ca_file})")
    typer.echo(
        f"outbox:   {cfg.outbox_path} — {backlog.depth} reading(s) not yet confirmed by the server"
        f" ({backlog.awaiting_receipt} sent, awaiting the server's receipt)"
    )
    if backlog.oldest is not None:
        typer.echo(f"          oldest stored {backlog.oldest:%Y-%m-%d %H:%M:%S %Z}")
    if backlog.quarantined:
        typer.echo(f"          {backlog.quarantined} unreadable row(s) kept aside in its quarantine table")


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
    rounds: Annotated[
        int | None, typer.Option(min=1, help="stop after this many rounds (default: until stopped)")
    ] = None,
    journal: Annotated[
        Path | None,
        typer.Option(help="append 'hub_id reading_id' for every reading the hubs took (for counting)"),
    ] = None,
    drain: Annotated[
        float, typer.Option(min=0, help="after the last round, wait this long for the server's receipts")
    ] = 0.0,
    receipt_timeout: Annotated[
        float, typer.Option(min=0.5, help="resend what the server has not confirmed after this many seconds")
    ] = 60.0,
) -> None:
    """Publish realistic readings for N patients through the real hub publishing code.

    Exits 0 when stopped (or, with --rounds and --drain, once every reading is confirmed by
    the server); 1 if --drain ran out with readings unconfirmed; 70 if a hub loop failed."""
    from common.mqtt import BrokerEndpoint
    from common.supervision import EXIT_LOOP_FAILED, Supervisor
    from common.wire.messages import Reading
    from gateway.outbox import ResendPolicy
    from gateway.simulator import SimulatedHub, run_simulation

    creds = [line.split() for line in credentials.read_text().splitlines() if line.strip()]
    if len(creds) < patients:
        typer.echo(f"error: {credentials} has {len(creds)} hub(s), {patients} requested", err=True)
        raise typer.Exit(2)
    supervisor = Supervisor()
    hubs = [
        SimulatedHub(
            hub_id,
            BrokerEndpoint(host, port, ca_file, hub_id, password),
            state_dir,
            resend=ResendPolicy(first_s=receipt_timeout),
            supervisor=supervisor,
        )
        for hub_id, password in creds[:patients]
    ]
    stop = threading.Event()
    supervisor.on_failure(stop.set)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    journal_file = journal.open("a", buffering=1) if journal is not None else None

    def taken(hub: SimulatedHub, reading: Reading) -> None:
        if journal_file is not None:
            journal_file.write(f"{hub.hub_id} {reading.reading_id}\n")
            journal_file.flush()
            os.fsync(journal_file.fileno())

    for hub in hubs:
        hub.start()
    typer.echo(f"simulating {patients} patient(s), a reading each every {interval:g}s; Ctrl-C to stop")
    drained = True
    try:
        sent = run_simulation(hubs, interval=interval, stop=stop, seed=seed, rounds=rounds, taken=taken)
        if drain and not stop.is_set():
            typer.echo(f"waiting up to {drain:g}s for the server to confirm every reading")
            drained = all(hub.wait_delivered(drain) for hub in hubs)
    finally:
        for hub in hubs:
            hub.stop()
        if journal_file is not None:
            journal_file.close()
    typer.echo(f"simulator stopped after {sent} reading(s)")
    if supervisor.failed.is_set():
        typer.echo(f"error: a hub loop failed: {supervisor.reason}", err=True)
        raise typer.Exit(EXIT_LOOP_FAILED)
    if not drained:
        typer.echo(
            "error: some readings were not confirmed by the server in time; they stay in the outboxes",
            err=True,
        )
        raise typer.Exit(1)


@app.command("new-password")
def new_password() -> None:
    """Print a strong random MQTT password for a new hub."""
    typer.echo(secrets.token_urlsafe(24))


def _load_config_or_exit(config: Path) -> HubConfig:
    from gateway.config import ConfigError, load_hub_config

    try:
        return load_hub_config(config)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run(config: ConfigOpt = Path("/etc/carewatch/hub.toml")) -> None:
    """Run the hub: collect readings from paired devices and deliver them to the server.

    Runs until stopped (systemd stop, SIGTERM or Ctrl-C), then disconnects devices and stops cleanly. Readings are on disk (the outbox) before anything else happens to them, so stopping loses nothing.
    """
    from gateway.ble.scanner import ScannerError
    from gateway.catalogue.errors import CatalogueError
    from gateway.config import ConfigError
    from gateway.daemon import run_hub_process

    _load_config_or_exit(config)
    try:
        status = run_hub_process(config)
    except (ConfigError, CatalogueError, ScannerError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if status:
        raise typer.Exit(status)


@app.command()
def doctor(
    config: ConfigOpt = Path("/etc/carewatch/hub.toml"),
    as_json: Annotated[
        bool, typer.Option("--json", help="print the checks as JSON (for scripts and monitoring)")
    ] = False,
) -> None:
    """Check everything the hub needs, and say what to do about what is wrong.

    Checks, in order: the system D-Bus; bluetoothd; the Bluetooth adapter (present, powered, not
    blocked by rfkill); scanning (something, normally the running hub, scans on the adapter: a warning
    when nothing does); the clock (synchronised by NTP); free disk space for the outbox; speech (espeak-ng
    renders a phrase in the hub's voice and ALSA has a sound card, when spoken feedback is on); the
    broker (reachable over TLS, its certificate trusted); the certificates (CA file and the broker's,
    expiry); the hub's credentials (a real MQTT CONNECT as the hub).

    Each line is ok, WARNING, FAILED, or '-' (not checked: a check it depends on failed, or what it
    checks is switched off), and
    every problem comes with what to do. Exit status: 0 if nothing failed (warnings allowed), 1 if a
    check failed, 2 if the configuration cannot be read.

    Safe to run beside a running hub: the credentials check keeps the hub's session and every message
    queued for it; the running hub is disconnected once and reconnects by itself.
    """
    from gateway.diagnostics.doctor import all_checks, any_failed, render_json, render_text

    cfg = _load_config_or_exit(config)
    checks = all_checks(cfg)
    typer.echo(render_json(cfg.hub_id, checks) if as_json else render_text(cfg.hub_id, checks))
    if any_failed(checks):
        raise typer.Exit(1)


def _radio_error(e: Exception, adapter: str) -> str:
    """A scan failure in plain words: the radio layer that is really broken and what to do,
    rather than bleak's view of it ("[Errno 2] No such file or directory" for a missing D-Bus)."""
    import asyncio

    from gateway.diagnostics.bluetooth import explain_radio_failure

    cause = asyncio.run(explain_radio_failure(adapter))
    return f"cannot scan on {adapter}: {cause}" if cause else str(e)


@app.command()
def scan(
    config: ConfigOpt = Path("/etc/carewatch/hub.toml"),
    seconds: Annotated[float, typer.Option(min=1, max=120, help="how long to listen")] = 10.0,
) -> None:
    """List supported devices in range: model, address, signal strength, and whether paired to this hub.

    Wake the device first (A&D: hold START until "Pr" blinks; others: take a reading). Then pair it with: carewatch hub pair ADDRESS
    """
    import asyncio

    from gateway.allowlist import Allowlist
    from gateway.ble.scanner import DeviceClassifier, ScannerError, scan_once
    from gateway.catalogue.errors import CatalogueError
    from gateway.catalogue.loader import load_catalogue

    cfg = _load_config_or_exit(config)
    try:
        catalogue = load_catalogue(cfg.catalogue_dir)
        allowlist = Allowlist(cfg.allowlist_path)
        typer.echo(f"listening on {cfg.adapter} for {seconds:g}s ...")
        found = asyncio.run(scan_once(cfg.adapter, DeviceClassifier(catalogue, allowlist), seconds))
    except ScannerError as e:
        typer.echo(f"error: {_radio_error(e, cfg.adapter)}", err=True)
        raise typer.Exit(2) from None
    except (CatalogueError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if not found:
        typer.echo("no supported device heard. Is it awake (in pairing mode) and within a few metres?")
        return
    typer.echo(f"{'ADDRESS':<18} {'RSSI':>5}  {'PAIRED':<6}  {'MODEL':<24} NAME")
    for sighting in sorted(found.values(), key=lambda s: -(s.rssi if s.rssi is not None else -999)):
        rssi = "?" if sighting.rssi is None else str(sighting.rssi)
        typer.echo(
            f"{sighting.address:<18} {rssi:>5}  {'yes' if sighting.allowlisted else 'no':<6}  "
            f"{sighting.model.id:<24} {sighting.name or ''}"
        )


@app.command()
def pair(
    address: Annotated[str, typer.Argument(help="the device's Bluetooth address, as shown by 'hub scan'")],
    config: ConfigOpt = Path("/etc/carewatch/hub.toml"),
    seconds: Annotated[
        float, typer.Option(min=0, max=120, help="how long to listen for the device first (0: do not)")
    ] = 10.0,
    force: Annotated[
        bool, typer.Option(help="pair even if the device is not heard or not recognised by the catalogue")
    ] = False,
) -> None:
    """Pair a device with this hub: the hub will then take its readings (and only paired devices').

    Wake the device first (pairing mode) so the hub can check it is a supported model. The running hub picks the change up within seconds, no restart needed; bonding happens on the device's first connection, through the hub's pairing agent.
    """
    import asyncio

    from gateway.allowlist import Allowlist, AllowlistError, normalize_address
    from gateway.ble.scanner import DeviceClassifier, ScannerError, scan_once
    from gateway.catalogue.errors import CatalogueError
    from gateway.catalogue.loader import load_catalogue

    cfg = _load_config_or_exit(config)
    try:
        wanted = normalize_address(address)
        catalogue = load_catalogue(cfg.catalogue_dir)
        allowlist = Allowlist(cfg.allowlist_path)
    except (AllowlistError, CatalogueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    model_id: str | None = None
    if seconds > 0:
        typer.echo(f"looking for {wanted} on {cfg.adapter} for up to {seconds:g}s ...")
        try:
            found = asyncio.run(
                scan_once(cfg.adapter, DeviceClassifier(catalogue, None), seconds, stop_on=wanted)
            )
        except ScannerError as e:
            typer.echo(f"error: {_radio_error(e, cfg.adapter)}", err=True)
            raise typer.Exit(2) from None
        sighting = found.get(wanted)
        if sighting is not None:
            model_id = sighting.model.id
            typer.echo(
                f"found {sighting.model.manufacturer} {sighting.model.model} ({model_id}), {sighting.name}"
            )
    if model_id is None and not force:
        typer.echo(
            f"error: {wanted} was not heard as a supported device. Wake it (pairing mode), check the "
            "address with 'carewatch hub scan', or use --force to pair it anyway.",
            err=True,
        )
        raise typer.Exit(1)
    allowlist.add(wanted, model_id=model_id)
    typer.echo(
        f"paired {wanted} with hub {cfg.hub_id} ({cfg.allowlist_path}); it is used from its next reading"
    )
    managed = _server_config_version(cfg.state_dir)
    if managed:
        typer.echo(
            f"note: this hub's devices are managed by the server (configuration version {managed}): the "
            "server's list replaces this one when its next configuration arrives. To keep this device, "
            f"pair it on the server too: carewatch server hub pair {cfg.hub_id} {wanted}, or on the hub's page."
        )


def _server_config_version(state_dir: Path) -> int:
    """The server configuration this hub applied if it listed the devices (0: none, or one
    that left the devices to the hub: its list is its own). One rule for who wins: once the
    server has sent a list, the server's list is the hub's list."""
    from gateway.remote_config import server_list_version

    return server_list_version(state_dir / "remote-config.json")


@app.command()
def unpair(
    address: Annotated[str, typer.Argument(help="the device's Bluetooth address")],
    config: ConfigOpt = Path("/etc/carewatch/hub.toml"),
) -> None:
    """Stop taking readings from a device (returned, replaced, or given to another patient)."""
    from gateway.allowlist import Allowlist, AllowlistError

    cfg = _load_config_or_exit(config)
    try:
        removed = Allowlist(cfg.allowlist_path).remove(address)
    except AllowlistError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"unpaired {address.upper()}" if removed else f"{address.upper()} was not paired to this hub")


def _enrol_command() -> Callable[..., None]:
    from gateway.enrolment.command import enrol

    return enrol


# carewatch hub enrol: its own module (gateway/enrolment/command.py), registered here.
app.command("enrol")(_enrol_command())
