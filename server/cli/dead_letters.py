"""``carewatch server dead-letters``: what the server refused; replay once the cause is fixed, or dismiss."""

from __future__ import annotations

from typing import Annotated

import typer

from server.cli import common


def _replay(letter_ids: list[int]) -> None:
    from server.ingest.processor import IngestProcessor
    from server.ingest.replay import ReplayError
    from server.ingest.replay import replay as replay_letter
    from server.settings import ServerSettings
    from server.store.database import Database, DatabaseUnavailable
    from server.store.influx.errors import StoreError
    from server.store.influx.store import InfluxStore

    settings = ServerSettings()
    processor = IngestProcessor(
        Database(settings.database_url), InfluxStore(settings.influx), tz=settings.zone
    )
    failed = False
    for letter_id in letter_ids:
        try:
            done = replay_letter(processor, letter_id, actor=common.ACTOR)
        except (ReplayError, StoreError, DatabaseUnavailable) as e:
            typer.echo(f"#{letter_id}: not replayed: {e}", err=True)
            failed = True
            continue
        r = done.result
        verdict = f"still refused: {done.still_refused}" if done.still_refused else "replayed"
        typer.echo(
            f"#{letter_id}: {verdict} (stored {r.stored}, duplicate {r.duplicates}, "
            f"refused {r.refused}, alerts {len(r.alerts)})"
        )
        for reason in r.refusals if not done.still_refused else []:
            typer.echo(f"    refused: {reason}")
    if failed:
        raise typer.Exit(2)


def dead_letters(
    limit: Annotated[int, typer.Option(min=1)] = 20,
    replay: Annotated[
        list[int] | None,
        typer.Option(help="process dead letter ID again, once its cause is fixed (repeatable)"),
    ] = None,
    dismiss: Annotated[
        int | None, typer.Option(help="close dead letter ID for good (needs --reason); it is kept")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="why it is dismissed (audited)")] = None,
) -> None:
    """List refused messages and readings, newest first, with the reason; replay some once
    their cause is fixed, or dismiss one that never will be (/health counts readings no
    clinician has seen until then)."""
    from sqlalchemy import select

    from server.ingest.dead_letters import NotDismissed
    from server.ingest.dead_letters import dismiss as dismiss_letter
    from server.store.models import DeadLetter

    if replay:
        _replay(replay)
        return
    if dismiss is not None:
        try:
            with common.db().session() as s:
                dismiss_letter(s, dismiss, actor=common.ACTOR, reason=reason or "")
        except NotDismissed as e:
            raise common.fail(str(e)) from None
        typer.echo(f"#{dismiss}: dismissed")
        return
    with common.db().session() as s:
        rows = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))
        for d in rows:
            code = f" {d.reason_code}" if d.reason_code else ""
            typer.echo(f"#{d.id} {d.received_at:%Y-%m-%d %H:%M:%S} {d.topic} [{d.status}]{code} {d.reason}")
    if not rows:
        typer.echo("no dead letters")
