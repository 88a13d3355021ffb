"""``carewatch server …``: run the API, the ingest worker and the ticker; provision patients,
hubs, users and the broker's identities; deal with what the server refused and with
notifications given up on; evaluate the alert engine on a synthetic cohort.

Settings come from ``CAREWATCH_*`` environment variables (see server/settings.py and the
README); heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from server.cli import common, dead_letters, evaluate, processes
from server.cli.broker import broker_app
from server.cli.hubs import hub_app
from server.cli.notifications import notifications_app
from server.cli.patients import patient_app
from server.cli.users import user_app

app = typer.Typer(
    help="Server commands: API, ingest worker, ticker, provisioning.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(processes.migrate)
app.command()(processes.api)
app.command()(processes.ingest)
app.command()(processes.tick)
app.command("dead-letters")(dead_letters.dead_letters)
app.command()(evaluate.evaluate)
app.add_typer(patient_app, name="patient")
app.add_typer(hub_app, name="hub")
app.add_typer(user_app, name="user")
app.add_typer(broker_app, name="broker")
app.add_typer(notifications_app, name="notifications")


@app.callback()
def _settings_first() -> None:
    # Wrong settings (a broker user outside the server's namespace, say) stop every command
    # at start-up in plain words, before anything connects, not with a traceback halfway.
    if {"--help", "-h"} & set(sys.argv):
        return
    from pydantic import ValidationError

    from server.settings import ServerSettings

    try:
        ServerSettings()
    except ValidationError as e:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in err['loc']) or 'settings'}: {err['msg']}"
            for err in e.errors()
        )
        raise common.fail(f"the server's settings (CAREWATCH_* variables) are wrong:\n{problems}") from None
