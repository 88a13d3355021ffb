"""``carewatch server patient …``: patients."""

from __future__ import annotations

from typing import Annotated

import typer

from common.wire.vocabulary import Condition
from server.cli import common

patient_app = typer.Typer(help="Patients.", no_args_is_help=True)


@patient_app.command("add")
def patient_add(
    patient_id: Annotated[str, typer.Argument(help="opaque id, e.g. p-0001 (never the NHS number)")],
    name: Annotated[str, typer.Argument(help="display name for the clinical team")],
    nhs_number: Annotated[str | None, typer.Option(help="10-digit NHS number")] = None,
    team: Annotated[
        str, typer.Option(help="the community team that receives this patient's alerts")
    ] = "default",
    condition: Annotated[
        list[Condition] | None,
        typer.Option(help="a long-term condition; repeat for several (chooses the condition profiles)"),
    ] = None,
) -> None:
    """Register a patient, with the conditions whose alert profiles apply to them."""
    from server.provisioning import ProvisioningError, add_patient

    try:
        add_patient(
            common.db(),
            patient_id,
            name,
            actor=common.ACTOR,
            nhs_number=nhs_number,
            team=team,
            conditions=condition or [],
        )
    except ProvisioningError as e:
        raise common.fail(str(e)) from None
    typer.echo(f"patient {patient_id} added")


@patient_app.command("conditions")
def patient_conditions(
    patient_id: Annotated[str, typer.Argument(help="the patient's id")],
    condition: Annotated[
        list[Condition] | None,
        typer.Option(help="a condition the patient has; repeat for several; none clears them all"),
    ] = None,
    reason: Annotated[str, typer.Option(help="why the conditions change (kept in the audit trail)")] = "",
) -> None:
    """Set a patient's long-term conditions, and with them their alert profiles.

    Without --condition (and without --reason) it shows the current ones."""
    from alerts.ruleset.models import RuleSetError
    from server.store.discharged import PatientDischarged
    from server.store.overrides import conditions_of, set_conditions

    db = common.db()
    if condition is None and not reason:
        with db.session() as s:
            current = conditions_of(s, [patient_id])
        if patient_id not in current:
            raise common.fail(f"no patient {patient_id!r}")
        typer.echo(
            ", ".join(c.value for c in current[patient_id]) or "(no conditions: the service defaults apply)"
        )
        return
    if len(reason.strip()) < 3:
        raise common.fail("say why with --reason (it is kept in the audit trail)")
    try:
        with db.session() as s:
            wanted = set_conditions(s, patient_id, condition or [], reason=reason, set_by=common.ACTOR)
    except (LookupError, PatientDischarged) as e:
        raise common.fail(str(e)) from None
    except RuleSetError as e:
        raise common.fail(f"not changed: the personal override would no longer apply: {e}") from None
    typer.echo(f"patient {patient_id}: " + (", ".join(c.value for c in wanted) or "no conditions"))


@patient_app.command("feedback")
def patient_feedback(
    patient_id: Annotated[str, typer.Argument(help="the patient's id")],
    speak: Annotated[
        str | None,
        typer.Option(
            help="the events spoken aloud, comma-separated, from: received (the hub has the reading), "
            "confirmed (the team has it), offline (the hub cannot reach the server), reminder (a "
            "scheduled reading is due), retake (the team asks for one again); 'none' for silence"
        ),
    ] = None,
    speak_values: Annotated[
        bool | None,
        typer.Option(
            "--speak-values/--no-speak-values",
            help="read the values out (whoever is in the room hears them; default: never)",
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="en (English) or cy (Welsh); default: the hub's")
    ] = None,
    reminder: Annotated[
        list[str] | None,
        typer.Option(help="a daily reminder KIND@HH:MM (household time), e.g. bp@08:00; repeat for several"),
    ] = None,
    reminders_from_schedule: Annotated[
        bool,
        typer.Option(
            "--reminders-from-schedule",
            help="one reminder per missed-readings schedule the patient is judged by, an hour before it is due",
        ),
    ] = False,
    no_reminders: Annotated[bool, typer.Option("--no-reminders", help="remove every reminder")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="back to the hub's defaults")] = False,
) -> None:
    """What the patient's hub says aloud. Options not given keep their current setting;
    without any option it shows the current ones.

    The hub serving the patient gets the change as a new configuration version (a hub whose
    devices were paired at the hub keeps them: the configuration carries no device list).
    Values are never read out unless --speak-values is given."""
    from server.hub_config import deliver_each
    from server.patient_feedback import (
        FeedbackError,
        checked,
        parse_event,
        parse_reminder,
        set_feedback,
        state,
    )
    from server.settings import ServerSettings
    from server.store.discharged import PatientDischarged

    db = common.db()
    asked = (speak, speak_values, language, reminder)
    if clear and (any(a is not None for a in asked) or reminders_from_schedule or no_reminders):
        raise common.fail("--clear goes alone: it returns the patient to the hub's defaults")
    try:
        with db.session() as s:
            current = state(s, patient_id)
            if not clear and all(a is None for a in asked) and not (reminders_from_schedule or no_reminders):
                _show(current)
                return
            update: dict[str, object] = {}
            if speak is not None:
                names = [n for n in speak.split(",") if n.strip()]
                update["speak"] = [] if speak.strip() == "none" else [parse_event(n) for n in names]
            if speak_values is not None:
                update["speak_values"] = speak_values
            if language is not None:
                update["language"] = language.strip().lower() or None
            if reminder is not None or no_reminders:
                update["reminders"] = [parse_reminder(r) for r in reminder or []]
            prefs = None if clear else checked({**dict(current.effective), **update})
            done = set_feedback(
                s, patient_id, prefs, actor=common.ACTOR, from_schedule=reminders_from_schedule
            )
    except (LookupError, PatientDischarged) as e:
        raise common.fail(str(e)) from None
    except FeedbackError as e:
        raise common.fail("not changed: " + "; ".join(p.text for p in e.problems)) from None
    _show(done)
    if not done.sent or done.hub_id is None:
        typer.echo(
            "no hub gets it yet: "
            + (
                f"hub {done.hub_id} is revoked; it goes to a hub given to the patient (a replacement)"
                if done.hub_id
                else "no hub serves this patient"
            )
        )
        return
    problem = deliver_each(db, ServerSettings().mqtt.endpoint, [done.hub_id])[done.hub_id]
    if problem:
        typer.echo(
            f"saved, not delivered to hub {done.hub_id} yet: {problem}\n"
            f"run `carewatch server hub push {done.hub_id}` when the broker is reachable",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"sent to hub {done.hub_id} (configuration version {done.hub_config_version})")


def _show(st: object) -> None:
    from server.patient_feedback import FeedbackState

    assert isinstance(st, FeedbackState)
    p = st.effective
    typer.echo(f"patient {st.patient_id}: " + ("the hub's defaults" if st.preferences is None else "set"))
    typer.echo("  spoken: " + (", ".join(e.value for e in p.speak) or "nothing"))
    typer.echo("  values read out: " + ("yes" if p.speak_values else "no"))
    typer.echo("  language: " + (p.language or "the hub's"))
    typer.echo("  reminders: " + (", ".join(f"{r.kind.value}@{r.at}" for r in p.reminders) or "none"))
    for warning in st.warnings:
        typer.echo(f"  note: {warning}")
