"""``carewatch hub enrol``: the technician's side of enrolment, on the hub (see
``gateway.enrolment.install`` for what it writes and ``bundle`` for what it reads)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gateway.config import HubConfig


def _load_config_or_exit(config: Path) -> HubConfig:
    from gateway.config import ConfigError, load_hub_config

    try:
        return load_hub_config(config)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def enrol(
    bundle_or_code: Annotated[
        str, typer.Argument(help="an enrolment bundle file, or the claim code shown to the technician")
    ],
    server: Annotated[
        str | None,
        typer.Option(help="the CareWatch server (https://...) to fetch the bundle from, with a claim code"),
    ] = None,
    config_dir: Annotated[Path, typer.Option(help="where the hub's configuration goes")] = Path(
        "/etc/carewatch"
    ),
    state_dir: Annotated[Path, typer.Option(help="the hub's outbox and state")] = Path(
        "/var/lib/carewatch-hub"
    ),
    server_ca: Annotated[
        Path | None, typer.Option(help="CA certificate to trust for --server (default: the system's)")
    ] = None,
) -> None:
    """Enrol this hub: write its configuration (hub.toml, the MQTT password, the broker's CA;
    mode 0600) from a bundle or a claim code, then check that the broker takes it.

    Exit status: 0 enrolled and the broker accepts the hub; 1 written but the broker check
    failed (what to do is printed); 2 nothing written (expired or damaged bundle, refused code)."""
    from datetime import UTC, datetime

    from common.mqtt import BrokerEndpoint
    from common.wire.vocabulary import CheckStatus
    from gateway.diagnostics.broker import probe_broker
    from gateway.diagnostics.certificates import certificates_check
    from gateway.enrolment.bundle import BundleError, read_bundle
    from gateway.enrolment.install import EnrolError, fetch_bundle_text, install, read_bundle_source

    try:
        text, from_file = read_bundle_source(bundle_or_code)
        if not from_file:
            if server is None:
                raise EnrolError(
                    f"{bundle_or_code!r} is not a file; to use it as a claim code, add --server https://..."
                )
            text = fetch_bundle_text(server, bundle_or_code.strip().upper(), cafile=server_ca)
        bundle = read_bundle(text, datetime.now(UTC))
        done = install(bundle, config_dir, state_dir)
    except (BundleError, EnrolError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"hub {done.hub_id} enrolled (bundle valid until {bundle.expires_at:%Y-%m-%d %H:%M} UTC)")
    for path in done.written:
        typer.echo(f"  wrote {path} (mode 0600)")
    for path in done.kept:
        typer.echo(f"  kept  {path} (same hub and broker)")
    cfg = _load_config_or_exit(config_dir / "hub.toml")
    endpoint = BrokerEndpoint(
        cfg.broker.host, cfg.broker.port, cfg.broker.ca_file, cfg.hub_id, cfg.password()
    )
    probe = probe_broker(endpoint)
    checks = [probe.broker, certificates_check(cfg.broker.ca_file, probe.certificate), probe.credentials]
    for check in checks:
        typer.echo(f"  {check.status.value:<8} {check.summary}")
        if check.fix:
            typer.echo(f"           what to do: {check.fix}")
    if any(c.status is CheckStatus.FAILED for c in checks):
        raise typer.Exit(1)
    typer.echo("the broker accepts this hub; start it with: systemctl restart carewatch-hub")
