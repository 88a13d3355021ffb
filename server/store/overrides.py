"""Per-patient rule overrides: stored as append-only versions, read back as effective rules.

A clinician's change to one patient's rules (a COPD patient's SpO2 band of 88–92 %) is a
clinical decision, so every version is kept with who made it and why; the newest version is
the one in force. Changes are validated against the defaults *before* they are stored, so a
stored override always compiled when it was set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.models import RuleSet, RuleSetError
from server.store.models import AuditEvent, RuleOverride

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


def current_rules(s: Session, patient_id: str) -> tuple[RuleSet, list[RuleOverride]]:
    """What the patient is judged by now, and every override version, newest first.

    A stored override that no longer applies falls back to the defaults (and logs), exactly
    as the judge does, so this shows what the patient is really judged by."""
    history = override_history(s, patient_id)
    effective = default_ruleset()
    if history:
        effective = effective_rules({patient_id: history[0]}).get(patient_id, effective)
    return effective, history


def set_override(
    s: Session, patient_id: str, changes: Mapping[str, Any], *, reason: str, set_by: str, at: datetime
) -> RuleOverride:
    """Validate ``changes`` on top of the defaults and store them as the newest version,
    with the audit record in the same transaction (no override without its who and why).

    Raises ``RuleSetError`` (nothing stored) when the merged rules do not validate.
    """
    apply_override(default_ruleset(), changes)
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


def effective_rules(overrides: Mapping[str, RuleOverride]) -> dict[str, RuleSet]:
    """Each overridden patient's rules: the defaults with the stored changes merged on top.

    A stored override that no longer validates (the defaults changed under it) must not
    stop readings being judged, so that patient falls back to the defaults and the problem
    is logged loudly for someone to re-set the override.
    """
    out: dict[str, RuleSet] = {}
    for patient_id, row in overrides.items():
        try:
            out[patient_id] = apply_override(default_ruleset(), row.changes)
        except RuleSetError as e:
            log.error(
                "patient %s: stored rule override %d no longer applies, judging on the defaults: %s",
                patient_id,
                row.id,
                e,
            )
    return out
