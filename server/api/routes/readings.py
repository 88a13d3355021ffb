"""A patient's readings, read from InfluxDB with InfluxQL; every access is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from common.wire.vocabulary import MEASURES, ReadingKind
from server.access import visible_patient
from server.api.auth import audit
from server.api.deps import Clinician, Db, Influx
from server.api.params import StoreTime
from server.api.schemas import ReadingOut
from server.patient_ids import PATIENT_ID_PATTERN
from server.store.influx.errors import StoreUnavailable

router = APIRouter(tags=["readings"])


@router.get("/api/v1/patients/{patient_id}/readings", response_model=list[ReadingOut])
def patient_readings(
    principal: Clinician,
    db: Db,
    store: Influx,
    patient_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN)],
    kind: ReadingKind | None = None,
    since: StoreTime | None = None,
    until: StoreTime | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[ReadingOut]:
    with db.session() as s:
        if visible_patient(s, principal, patient_id, "readings") is None:
            raise HTTPException(404, f"no patient {patient_id!r}")
    try:
        rows = store.query_readings(patient_id, kind, since, until, limit)
    except StoreUnavailable as e:
        raise HTTPException(503, f"reading store unavailable: {e}") from None
    audit(
        db, principal, "readings_viewed", patient_id, f"kind={kind} since={since} until={until} n={len(rows)}"
    )
    return [
        ReadingOut(
            reading_id=str(r.reading_id),
            kind=r.kind,
            taken_at=r.taken_at,
            time_source=str(r.time_source),
            values=r.values,
            units={m: MEASURES[m].unit.ucum for m in r.values},
            flags=r.flags,
            device_model=r.device_model,
            hub_id=r.hub_id,
        )
        for r in rows
    ]
