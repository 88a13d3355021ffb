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
    except LookupError as e:
        raise common.fail(str(e)) from None
    except RuleSetError as e:
        raise common.fail(f"not changed: the personal override would no longer apply: {e}") from None
    typer.echo(f"patient {patient_id}: " + (", ".join(c.value for c in wanted) or "no conditions"))
