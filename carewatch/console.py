"""The ``carewatch`` command: ``hub`` for the Raspberry Pi, ``server`` for the server, ``demo``
for a developer's machine.

Each group is imported when it is invoked, not before: ``carewatch hub run`` on a hub loads
the hub's code and nothing of the server's (whose libraries a hub does not even install), and
``carewatch --help`` lists the groups without loading any of them. A group whose extra is not
installed says which to install.
"""

from __future__ import annotations

import importlib
import logging
import os

import typer
import typer.main

app = typer.Typer(
    name="carewatch",
    help="CareWatch remote monitoring: hubs beside patients, a server for community teams.",
    no_args_is_help=True,
    add_completion=False,
)
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _group(name: str, module: str, attr: str, summary: str, missing: str) -> None:
    """``carewatch NAME ...`` runs ``module.attr`` (a Typer app, or one command) with ``...``."""

    def forward(ctx: typer.Context) -> None:
        try:
            target = getattr(importlib.import_module(module), attr)
        except ImportError as e:
            typer.echo(f"error: {missing} ({e})", err=True)
            raise typer.Exit(2) from None
        if not isinstance(target, typer.Typer):
            single = typer.Typer(add_completion=False)
            single.command()(target)
            target = single
        command = typer.main.get_command(target)
        command.main(args=ctx.args, prog_name=f"carewatch {name}")

    app.command(name, help=summary, context_settings=_PASS_THROUGH, add_help_option=False)(forward)


_group(
    "hub",
    "gateway.cli",
    "app",
    "On the hub: run it, find and pair devices, inspect its outbox, simulate patients.",
    "the hub commands need the 'hub' extra: pip install 'carewatch[hub]'",
)
_group(
    "server",
    "server.cli",
    "app",
    "On the server: API, ingest worker, ticker; patients, hubs, users, broker, dead letters.",
    "the server commands need the 'server' extra: pip install 'carewatch[server]'",
)
_group(
    "demo",
    "devstack.demo",
    "demo_command",
    "The whole system on this machine, on loopback (from a source checkout: ./dev demo).",
    "the demo runs from a source checkout of CareWatch: ./dev demo",
)


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("CAREWATCH_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; InfluxQL in a URL names patients. Keep it out.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
