"""Per-patient rule overrides: stored as append-only versions, read back as effective rules.

A clinician's change to one patient's rules (a COPD patient's SpO2 band of 88–92 %) is a
clinical decision, so every version is kept with who made it and why; the newest version is
the one in force. Changes are validated against the defaults *before* they are stored, so a
stored override always compiled when it was set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.ruleset.loading import default_ruleset
from alerts.ruleset.models import RuleSet, RuleSetError
from alerts.ruleset.profiles import rules_for
from common.wire.vocabulary import Condition
from server.store.discharged import refuse_if_discharged
from server.store.models import AuditEvent, Patient, RuleOverride

log = logging.getLogger(__name__)


def current_overrides(s: Session, patient_ids: Iterable[str]) -> dict[str, RuleOverride]:
    """The override in force for each of these patients that has one (newest version)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    newest = (
        select(func.max(RuleOverride.id))
        .where(RuleOverride.patient_id.in_(ids))
        .group_by(RuleOverride.patient_id)
        .scalar_subquery()
    )
    return {row.patient_id: row for row in s.scalars(select(RuleOverride).where(RuleOverride.id.in_(newest)))}


def override_history(s: Session, patient_id: str) -> list[RuleOverride]:
    """Every version for one patient, newest first."""
    return list(
        s.scalars(
            select(RuleOverride).where(RuleOverride.patient_id == patient_id).order_by(RuleOverride.id.desc())
        )
    )


def conditions_of(s: Session, patient_ids: Iterable[str]) -> dict[str, list[Condition]]:
    """Each patient's conditions (a condition this server does not know is logged, not used)."""
    ids = sorted(set(patient_ids))
    out: dict[str, list[Condition]] = {}
    for patient_id, stored in s.execute(select(Patient.id, Patient.conditions).where(Patient.id.in_(ids))):
        known = []
        for name in stored or []:
            try:
                known.append(Condition(name))
            except ValueError:
                log.error("patient %s: unknown condition %r ignored", patient_id, name)
        out[patient_id] = known
    return out


def current_rules(s: Session, patient_id: str) -> tuple[RuleSet, list[RuleOverride]]:
    """What the patient is judged by now, and every override version, newest first.

    A stored override that no longer applies falls back to the profiles (and logs), exactly
    as the judge does, so this shows what the patient is really judged by."""
    history = override_history(s, patient_id)
    conditions = conditions_of(s, [patient_id])
    current = {patient_id: history[0]} if history else {}
    effective = effective_rules(current, conditions).get(patient_id, default_ruleset())
    return effective, history


def set_override(
    s: Session, patient_id: str, changes: Mapping[str, Any], *, reason: str, set_by: str, at: datetime
) -> RuleOverride:
    """Validate ``changes`` on top of the patient's profiles and store them as the newest version,
    with the audit record in the same transaction (no override without its who and why).

    Raises ``RuleSetError`` (nothing stored) when the merged rules do not validate, and
    ``PatientDischarged`` for a discharged patient (their record is closed).
    """
    patient = s.get(Patient, patient_id)
    if patient is not None:
        refuse_if_discharged(patient)
    rules_for(conditions_of(s, [patient_id]).get(patient_id, []), changes)
    row = RuleOverride(patient_id=patient_id, changes=dict(changes), reason=reason, set_by=set_by, set_at=at)
    s.add(row)
    s.flush()
    s.add(
        AuditEvent(
            actor=set_by,
            action="rules_changed",
            target=patient_id,
            detail=json.dumps(
                {"version": row.id, "changes": dict(changes), "reason": reason}, sort_keys=True
            ),
        )
    )
    return row


def effective_rules(
    overrides: Mapping[str, RuleOverride], conditions: Mapping[str, Sequence[Condition]] | None = None
) -> dict[str, RuleSet]:
    """The rules of every patient with a condition or an override: the defaults, their
    condition profiles, then the stored changes on top (``alerts.ruleset.profiles``).

    A stored override that no longer validates (the defaults or a profile changed under it)
    must not stop readings being judged, so that patient falls back to the profiles and the
    problem is logged loudly for someone to re-set the override.
    """
    conditions = conditions or {}
    out: dict[str, RuleSet] = {}
    for patient_id in sorted(set(overrides) | {p for p, c in conditions.items() if c}):
        mine = conditions.get(patient_id, [])
        row = overrides.get(patient_id)
        try:
            out[patient_id] = rules_for(mine, None if row is None else row.changes)
        except RuleSetError as e:
            log.error(
                "patient %s: stored rule override %s no longer applies, judging on the profiles: %s",
                patient_id,
                None if row is None else row.id,
                e,
            )
            out[patient_id] = rules_for(mine)
    return out


def set_conditions(
    s: Session, patient_id: str, conditions: Iterable[Condition], *, reason: str, set_by: str
) -> list[Condition]:
    """Change the patient's conditions (and so their profiles), audited with the reason.

    The personal override must still apply on top of the new profiles, or nothing changes
    (``RuleSetError``): a clinician never silently loses a personal band. A discharged
    patient's conditions are not changed (``PatientDischarged``)."""
    patient = s.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id!r}")
    refuse_if_discharged(patient)
    wanted = sorted(set(conditions), key=list(Condition).index)
    current = current_overrides(s, [patient_id]).get(patient_id)
    rules_for(wanted, None if current is None else current.changes)
    before = list(patient.conditions or [])
    patient.conditions = [c.value for c in wanted]
    s.add(
        AuditEvent(
            actor=set_by,
            action="conditions_changed",
            target=patient_id,
            detail=json.dumps({"from": before, "to": patient.conditions, "reason": reason}, sort_keys=True),
        )
    )
    return wanted
