"""``carewatch server broker …``: the MQTT broker's identities and roles (Mosquitto's dynamic-security plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.cli import common

broker_app = typer.Typer(
    help="The MQTT broker's identities and roles (Mosquitto dynamic-security plugin).", no_args_is_help=True
)


@broker_app.command("init")
def broker_init(
    dynsec_file: Annotated[
        Path, typer.Option(help="the plugin's file, as plugin_opt_config_file in mosquitto.conf names it")
    ] = Path("/var/lib/mosquitto/dynamic-security.json"),
    secrets_dir: Annotated[
        Path, typer.Option(help="where the server's two MQTT password files go (mode 0600)")
    ] = Path("/etc/carewatch"),
) -> None:
    """Set up a new broker's security file, before Mosquitto first starts with the plugin:
    the server's control identity and the ingest worker's, each with a new password."""
    import os

    from server.broker import dynsec_file as dynsec
    from server.broker.identities import control_role, ingest_identity, ingest_role, server_identity

    control_pw, ingest_pw = dynsec.new_password(), dynsec.new_password()
    try:
        dynsec.write_new(
            dynsec_file,
            {server_identity(): control_pw, ingest_identity(): ingest_pw},
            [control_role(), ingest_role()],
        )
    except dynsec.DynsecFileExists as e:
        raise common.fail(f"{e}; nothing changed") from None
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for name, password in (("mqtt-password", control_pw), ("mqtt-ingest-password", ingest_pw)):
        fd = os.open(secrets_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    typer.echo(f"wrote {dynsec_file} (make it readable by the mosquitto user only)")
    typer.echo(
        f"wrote {secrets_dir / 'mqtt-password'} (API, command line) and {secrets_dir / 'mqtt-ingest-password'}"
    )
    typer.echo(
        "start Mosquitto with deploy/mosquitto/carewatch.conf, then add hubs: carewatch server hub add HUB_ID"
    )


@broker_app.command("sync")
def broker_sync() -> None:
    """Bring every role on the broker up to date with this version (e.g. a new channel a hub
    must hear); passwords are not touched. Safe to run again."""
    from sqlalchemy import select

    from server.broker.admin import BrokerAdmin, BrokerAdminError
    from server.broker.identities import control_role, hub_role, ingest_role
    from server.settings import ServerSettings
    from server.store.models import Hub

    with common.db().session() as s:
        hub_ids = list(s.scalars(select(Hub.id)))
    try:
        with BrokerAdmin(ServerSettings().mqtt.endpoint()) as admin:
            for role in (control_role(), ingest_role(), *(hub_role(h) for h in hub_ids)):
                admin.ensure_role(role)
    except (BrokerAdminError, OSError) as e:
        raise common.fail(f"not synchronised: {e}") from None
    typer.echo(f"broker roles up to date: the server's two and {len(hub_ids)} hub(s)")
