"""What a patient's hub says aloud (``server.patient_feedback``), read and changed by their
team's clinicians: access-checked and audited like the patient's conditions, and sent to the
hub serving the patient as a new configuration version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from common.wire.feedback_prefs import SPOKEN_LANGUAGES, PatientFeedback
from server.access import visible_patient
from server.api.auth import Principal, audit
from server.api.deps import Clinician, Db
from server.hub_config import deliver_each
from server.patient_feedback import FeedbackError, FeedbackState, set_feedback, state
from server.patient_ids import PATIENT_ID_PATTERN
from server.store.discharged import PatientDischarged

router = APIRouter(tags=["feedback"])

PatientId = Annotated[str, Path(pattern=PATIENT_ID_PATTERN)]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: PatientFeedback | None = Field(
        description="what the hub says; null: back to the hub's defaults (every event, no values)"
    )
    reminders_from_schedule: bool = Field(
        default=False,
        description="replace the reminders with one per missed-readings schedule, an hour before it is due",
    )


class FeedbackOut(BaseModel):
    patient_id: str
    preferences: PatientFeedback | None = Field(
        description="as set for the patient; null: the hub's defaults"
    )
    effective: PatientFeedback = Field(description="what the hub follows (the defaults filled in)")
    hub_id: str | None = Field(description="the hub serving the patient now")
    hub_config_version: int | None = Field(
        description="its configuration version on the server; 0: nothing sent to it yet (a hub whose "
        "devices were paired at the hub gets the preferences without a device list, keeping its own)"
    )
    delivery: str | None = Field(
        default=None,
        description="after a change: 'delivered', 'waiting' (no hub serving, or a revoked one) or "
        "why it is kept for later (`carewatch server hub push`)",
    )
    warnings: list[str] = Field(description="where the reminders and the missed-readings schedule disagree")
    languages: dict[str, str] = Field(default=SPOKEN_LANGUAGES, description="the languages the hub speaks")


def _out(st: FeedbackState, delivery: str | None = None) -> FeedbackOut:
    return FeedbackOut(
        patient_id=st.patient_id,
        preferences=st.preferences,
        effective=st.effective,
        hub_id=st.hub_id,
        hub_config_version=st.hub_config_version,
        delivery=delivery,
        warnings=st.warnings,
    )


def _visible(s: Session, principal: Principal, patient_id: str) -> None:
    """404 for a patient that does not exist or is out of the user's teams (audited)."""
    if visible_patient(s, principal, patient_id, "feedback") is None:
        raise HTTPException(404, f"no patient {patient_id!r}")


@router.get("/api/v1/patients/{patient_id}/feedback", response_model=FeedbackOut)
def patient_feedback(principal: Clinician, db: Db, patient_id: PatientId) -> FeedbackOut:
    with db.session() as s:
        _visible(s, principal, patient_id)
    with db.session() as s:
        out = _out(state(s, patient_id))
    audit(db, principal, "feedback_viewed", patient_id)
    return out


@router.put("/api/v1/patients/{patient_id}/feedback", response_model=FeedbackOut)
def set_patient_feedback(
    principal: Clinician, db: Db, request: Request, patient_id: PatientId, body: FeedbackIn
) -> FeedbackOut:
    """Change what the patient's hub says (audited); the hub serving them gets it as a new
    configuration version (with the devices paired at the hub left as they are, unless the
    server manages its device list)."""
    try:
        with db.session() as s:
            _visible(s, principal, patient_id)
            st = set_feedback(
                s,
                patient_id,
                body.preferences,
                actor=principal.username,
                from_schedule=body.reminders_from_schedule,
            )
    except FeedbackError as e:  # nothing was stored
        raise HTTPException(422, [{"field": p.field, "msg": p.text} for p in e.problems]) from None
    except PatientDischarged as e:
        raise HTTPException(409, str(e)) from None
    if not st.sent or st.hub_id is None:
        return _out(st, "waiting")
    problem = deliver_each(db, request.app.state.settings.mqtt.endpoint, [st.hub_id])[st.hub_id]
    return _out(st, problem or "delivered")
