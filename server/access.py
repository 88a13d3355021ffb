"""Which patients a user may see: a clinician their own teams' patients, everyone else all.

Patient data is scoped by team on every route that returns it, API and pages alike, and a
patient outside the user's teams is answered exactly like one that does not exist (404, not
403): a refusal would tell a clinician of one team that another team cares for that person.
The attempt is still audited (``patient_out_of_team``), so an administrator can see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from server.api.auth import Principal, Role
from server.store.models import Alert, AuditEvent, Patient, TeamMember


@dataclass(frozen=True)
class Scope:
    """The teams whose patients a user sees; ``teams is None`` means every team."""

    principal: Principal
    teams: frozenset[str] | None

    def sees(self, team: str) -> bool:
        return self.teams is None or team in self.teams

    def patients(self) -> ColumnElement[bool]:
        """A WHERE clause on ``Patient`` keeping only the patients in scope."""
        return true() if self.teams is None else Patient.team.in_(sorted(self.teams))


def teams_of(s: Session, username: str) -> frozenset[str]:
    return frozenset(s.scalars(select(TeamMember.team).where(TeamMember.username == username)))


def scope_of(s: Session, principal: Principal) -> Scope:
    """A clinician is scoped to their teams (none: no patients). Technicians and admins are
    not: a technician's routes (hubs, enrolment) serve every team, and an admin sees all."""
    if principal.role is Role.CLINICIAN:
        return Scope(principal, teams_of(s, principal.username))
    return Scope(principal, None)


def _refused(s: Session, scope: Scope, patient_id: str, what: str) -> None:
    """Audit the attempt in its own transaction: the caller's is about to fail (404) and
    roll back, and the record must outlive it."""
    with Session(s.get_bind()) as own:
        own.add(
            AuditEvent(
                actor=scope.principal.username,
                action="patient_out_of_team",
                target=patient_id,
                detail=f"{what}: answered as not found",
            )
        )
        own.commit()


def visible_patient(
    s: Session, principal: Principal, patient_id: str, what: str = "patient"
) -> Patient | None:
    """The patient if it exists and ``principal`` may see it, else None (answer 404).

    A patient that exists out of the user's teams is recorded in the audit trail."""
    patient = s.get(Patient, patient_id)
    if patient is None:
        return None
    scope = scope_of(s, principal)
    if not scope.sees(patient.team):
        _refused(s, scope, patient_id, what)
        return None
    return patient


def visible_alert(s: Session, principal: Principal, alert_id: int) -> Alert | None:
    """The alert if it exists and its patient is one ``principal`` may see, else None."""
    alert = s.get(Alert, alert_id)
    if alert is None:
        return None
    if visible_patient(s, principal, alert.patient_id, f"alert {alert_id}") is None:
        return None
    return alert


def visible_ids(s: Session, principal: Principal, patient_ids: Iterable[str]) -> set[str]:
    """Those of ``patient_ids`` the user may see (for filtering a list)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return set()
    scope = scope_of(s, principal)
    return set(s.scalars(select(Patient.id).where(Patient.id.in_(ids), scope.patients())))
