"""The ``carewatch`` command: ``hub`` for the Raspberry Pi, ``server`` for the server, ``demo``
for a developer's machine.

Each group is imported when it is invoked, not before: ``carewatch hub run`` on a hub loads
the hub's code and nothing of the server's (whose libraries a hub does not even install), and
``carewatch --help`` lists the groups without loading any of them. A group whose extra is not
installed says which to install.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import re

import typer
import typer.main

app = typer.Typer(
    name="carewatch",
    help="CareWatch remote monitoring: hubs beside patients, a server for community teams.",
    no_args_is_help=True,
    add_completion=False,
)
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _not_installed(extra: str) -> list[str]:
    """The distributions ``extra`` needs that are not installed, read from CareWatch's own metadata
    (so pyproject.toml stays the one list). Why not rely on the import failing: a group imports its
    heavy libraries only in the commands that use them, so without this ``carewatch server --help``
    would answer in a hub's venv as if the server could run there. Empty when CareWatch is not
    installed (a checkout on ``sys.path``): then a failing import still says what is missing."""
    try:
        requirements = importlib.metadata.requires("carewatch") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
        if name is None or f'extra == "{extra}"' not in marker:
            continue
        try:
            importlib.metadata.distribution(name.group())
        except importlib.metadata.PackageNotFoundError:
            missing.append(name.group())
    return missing


def _group(name: str, module: str, attr: str, summary: str, missing: str, extra: str | None = None) -> None:
    """``carewatch NAME ...`` runs ``module.attr`` (a Typer app, or one command) with ``...``, once
    ``extra`` (the optional dependencies the group needs) is installed."""

    def forward(ctx: typer.Context) -> None:
        absent = _not_installed(extra) if extra is not None else []
        if absent:
            typer.echo(f"error: {missing} (not installed: {', '.join(absent)})", err=True)
            raise typer.Exit(2)
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
    extra="hub",
)
_group(
    "server",
    "server.cli",
    "app",
    "On the server: API, ingest worker, ticker; patients, hubs, users, broker, dead letters.",
    "the server commands need the 'server' extra: pip install 'carewatch[server]'",
    extra="server",
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
