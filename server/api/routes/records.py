"""A patient's record through the API: the readmission of a discharged patient.

A discharged record is read-only everywhere (``server.store.discharged``); readmitting is
the one change it takes, by a clinician of the patient's team or an administrator, with a
reason kept in the audit trail, as the record page does it (``server.enrolment.readmit``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from server.access import visible_patient
from server.api.deps import Clinician, Db
from server.api.schemas import PersonText
from server.enrolment import RecordError, readmit
from server.patient_ids import PATIENT_ID_PATTERN

router = APIRouter(tags=["patients"])

PatientId = Annotated[str, Path(pattern=PATIENT_ID_PATTERN)]


class ReadmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PersonText = Field(min_length=3, max_length=2000, description="why (kept in the audit trail)")


@router.post(
    "/api/v1/patients/{patient_id}/readmit",
    status_code=204,
    responses={404: {"description": "no such patient in your teams"}, 409: {"description": "not discharged"}},
)
def readmit_patient(principal: Clinician, db: Db, patient_id: PatientId, body: ReadmitIn) -> Response:
    """Reopen a discharged patient's record (audited as ``patient_readmitted``). They come
    back with no hub: discharge released it."""
    with db.session() as s:
        if visible_patient(s, principal, patient_id, "readmit") is None:
            raise HTTPException(404, f"no patient {patient_id!r}")
    try:
        readmit(db, patient_id, actor=principal.username, reason=body.reason)
    except RecordError as e:
        raise HTTPException(409, str(e)) from None
    return Response(status_code=204)
