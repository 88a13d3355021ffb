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


def _show(letter_id: int) -> None:
    import json

    from server.store.models import DeadLetter

    with common.db().session() as s:
        d = s.get(DeadLetter, letter_id)
        if d is None:
            raise common.fail(f"no dead letter #{letter_id}")
        typer.echo(f"#{d.id} {d.received_at:%Y-%m-%d %H:%M:%S} {d.topic} [{d.status}] {d.reason_code or ''}")
        typer.echo(f"hub: {d.hub_id or 'unknown'}; reading or packet id: {d.reading_id or 'none'}")
        typer.echo(f"reason: {d.reason}")
        try:
            body = json.dumps(json.loads(d.payload), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:  # not JSON (what made it a dead letter): its bytes, in hexadecimal
            body = d.payload.hex()
        typer.echo(body)


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
    code: Annotated[
        str | None, typer.Option(help="list only this reason code, e.g. undecodable_packet")
    ] = None,
    show: Annotated[
        int | None, typer.Option(help="print dead letter ID whole: what was refused, as it came")
    ] = None,
) -> None:
    """List refused messages and readings, newest first, with the reason; replay some once
    their cause is fixed, or dismiss one that never will be (/health counts readings no
    clinician has seen until then). A packet a hub could not decode (undecodable_packet) keeps
    its bytes and the decoder's error: --show prints them; it is dismissed, not replayed."""
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
    if show is not None:
        _show(show)
        return
    with common.db().session() as s:
        query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if code is not None:
            query = query.where(DeadLetter.reason_code == code)
        rows = list(s.scalars(query))
        for d in rows:
            code = f" {d.reason_code}" if d.reason_code else ""
            typer.echo(f"#{d.id} {d.received_at:%Y-%m-%d %H:%M:%S} {d.topic} [{d.status}]{code} {d.reason}")
    if not rows:
        typer.echo("no dead letters")
