"""The ``carewatch`` command: ``hub`` for the Raspberry Pi, ``server`` and ``demo`` for the rest.

A hub installs only the ``hub`` extra, so the server commands are attached only when the
server's libraries are importable; ``carewatch --help`` says what is missing otherwise.
"""

from __future__ import annotations

import logging
import os

import typer

from gateway.cli import app as hub_app

app = typer.Typer(
    name="carewatch",
    help="CareWatch remote monitoring: hubs beside patients, a server for community teams.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(hub_app, name="hub")

try:
    from server.cli import app as server_app
    from server.demo import demo_command
except ImportError as e:  # a hub install: no FastAPI, InfluxDB client or SQLAlchemy
    _missing = str(e)

    @app.command("server", help="Not available: install carewatch[server].")
    def _server_missing() -> None:
        typer.echo(
            f"the server commands need the 'server' extra: pip install 'carewatch[server]' ({_missing})"
        )
        raise typer.Exit(2)
else:
    app.add_typer(server_app, name="server")
    app.command("demo")(demo_command)


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("CAREWATCH_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; InfluxQL in a URL names patients. Keep it out.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
