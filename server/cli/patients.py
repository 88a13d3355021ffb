"""``carewatch server patient …``: patients."""

from __future__ import annotations

from typing import Annotated

import typer

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
) -> None:
    """Register a patient."""
    from server.provisioning import ProvisioningError, add_patient

    try:
        add_patient(common.db(), patient_id, name, actor=common.ACTOR, nhs_number=nhs_number, team=team)
    except ProvisioningError as e:
        raise common.fail(str(e)) from None
    typer.echo(f"patient {patient_id} added")
