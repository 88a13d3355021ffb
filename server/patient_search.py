"""Finding a patient by name or NHS number: the caseload's search, and the technicians'.

A technician gives a patient a hub, swaps a broken one, or discharges them, so they must be
able to find the patient; they have no business with the patient's readings, alerts or
limits. ``find_patients`` returns only what identifies a patient and their hub, never a
clinical field, and is scoped by ``server.access`` like every list (a technician's scope is
every team, as their hubs and enrolment serve every team).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from server.access import Scope
from server.nhs_number import formatted
from server.store.models import HubAssignment, Patient

#: At most this many found patients are listed; more asks for a closer search.
FOUND_MAX = 50


def matching(text: str) -> list[ColumnElement[bool]]:
    """WHERE clauses for a search by name, or by NHS number when the text is digits (spaces
    and dashes allowed: '943 476 5919')."""
    text = text.strip()
    if not text:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    digits = "".join(c for c in text if c.isdigit())
    by_name = Patient.display_name.ilike(pattern, escape="\\")
    if len(digits) >= 3 and len(digits) == len(text.replace(" ", "").replace("-", "")):
        return [or_(by_name, Patient.nhs_number.like(f"%{digits}%"))]
    return [by_name]


@dataclass(frozen=True)
class Found:
    """A patient as a technician sees them: who, which team, which hub. Nothing clinical."""

    patient_id: str
    name: str
    nhs_number: str
    team: str
    hub_id: str | None
    discharged_at: datetime | None


def find_patients(s: Session, scope: Scope, text: str) -> tuple[list[Found], int]:
    """The patients in ``scope`` matching ``text`` (none for an empty search), by name, at
    most ``FOUND_MAX``; and how many matched in all."""
    where = matching(text)
    if not where:
        return [], 0
    where.append(scope.patients())
    hub = (
        select(HubAssignment.hub_id)
        .where(HubAssignment.patient_id == Patient.id, HubAssignment.end_at.is_(None))
        .limit(1)
        .scalar_subquery()
    )
    rows = s.execute(
        select(Patient.id, Patient.display_name, Patient.nhs_number, Patient.team, hub, Patient.discharged_at)
        .where(*where)
        .order_by(Patient.display_name, Patient.id)
    ).all()
    found = [
        Found(pid, name, formatted(nhs) if nhs else "", team, hub_id, discharged)
        for pid, name, nhs, team, hub_id, discharged in rows[:FOUND_MAX]
    ]
    return found, len(rows)
