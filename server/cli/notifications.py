"""``carewatch server notifications …``: deliveries given up on, requeueing them once the cause
is fixed, and carrying over the SQLite outbox of a ticker from before migration 0011."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.cli import common

notifications_app = typer.Typer(
    help="Notification deliveries: what was given up on, requeue, carry over the old outbox.",
    no_args_is_help=True,
)


@notifications_app.command("failed")
def notifications_failed(limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """Deliveries given up on, newest first, with the last error (/health counts the last 24 h)."""
    from server.notifications.queue import DeliveryQueue

    failed = DeliveryQueue(common.db()).list_failed(limit)
    if not failed:
        typer.echo("no delivery has been given up on")
        return
    for d in failed:
        when = f"{d.last_attempt_at:%Y-%m-%d %H:%M:%S}" if d.last_attempt_at else "never tried"
        typer.echo(
            f"{d.delivery_id} {when} {d.channel.value} team {d.team} to {d.target} "
            f"after {d.attempts} attempt(s): {d.last_error}"
        )


@notifications_app.command("requeue")
def notifications_requeue(delivery_ids: list[str]) -> None:
    """Try failed deliveries again, with a fresh budget of attempts, once the cause is fixed
    (receivers see the same idempotency key, so one that did arrive is not acted on twice)."""
    from server.notifications.queue import DeliveryQueue
    from server.store.models import now

    queue = DeliveryQueue(common.db())
    missed = False
    for delivery_id in delivery_ids:
        if queue.requeue(delivery_id, now()):
            typer.echo(f"{delivery_id}: requeued; the ticker sends it at its next tick")
        else:
            typer.echo(f"{delivery_id}: not requeued: no failed delivery has this id", err=True)
            missed = True
    if missed:
        raise typer.Exit(2)


@notifications_app.command("import-outbox")
def notifications_import_outbox(
    file: Annotated[Path, typer.Argument(help="the old CAREWATCH_NOTIFICATIONS__OUTBOX_PATH file")],
) -> None:
    """Carry every delivery of a pre-0011 ticker's SQLite outbox into the database's queue
    (stop that ticker first). Safe to run twice: what is already there is left alone."""
    from server.notifications.legacy_outbox import LegacyOutboxError, import_outbox

    db = common.db()
    db.migrate()
    try:
        result = import_outbox(db, file)
    except LegacyOutboxError as e:
        raise common.fail(str(e)) from None
    added = ", ".join(f"{n} {status}" for status, n in sorted(result.added.items())) or "nothing"
    typer.echo(f"imported {added}; {result.already_present} already in the queue")
    for problem in result.unreadable:
        typer.echo(f"not imported: {problem}", err=True)
    if result.unreadable:
        raise typer.Exit(2)
