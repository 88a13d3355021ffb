"""What every ``carewatch server`` command shares: who acts, the database, how to fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from server.store.database import Database

ACTOR = "cli"


def db() -> Database:
    """The database the settings name (imported here, so ``--help`` stays fast)."""
    from server.settings import ServerSettings
    from server.store.database import Database

    return Database(ServerSettings().database_url)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)
