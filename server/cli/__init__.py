"""``carewatch server …``: run the API, the ingest worker and the ticker; provision patients,
hubs, users and the broker's identities; deal with what the server refused and with
notifications given up on; evaluate the alert engine on a synthetic cohort.

Settings come from ``CAREWATCH_*`` environment variables (see server/settings.py and the
README); heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import typer

from server.cli import dead_letters, evaluate, processes
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
