"""Enrolment in the browser: enrol a patient, read and edit their record, give them a hub,
discharge them (their record is then read-only until a clinician of the team readmits them);
and, for an administrator, the audit trail of one patient.

Technicians (and admins) change records; anyone signed in may read a record they may see
(a clinician only their teams' patients, ``server.access``). What is stored, and how, is
``server.enrolment``; this module reads forms and shows them again with their problems.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select

from common.wire.vocabulary import CONDITION_LABELS, Condition
from server.access import visible_patient
from server.api.auth import Principal, Role, audit, shown_in_list
from server.api.deps import Db
from server.enrolment import (
    PatientForm,
    Problem,
    RecordError,
    discharge,
    enrol,
    free_hubs,
    give_hub,
    read_form,
    readmit,
    update,
)
from server.hub_config import deliver_each
from server.nhs_number import formatted
from server.pages.render import PageRoute, WrongRole, clinician, discharged, not_found, page, technician
from server.pages.session import check_same_origin, signed_in
from server.patient_ids import PATIENT_ID_PATTERN
from server.settings import ServerSettings
from server.store.discharged import PatientDischarged
from server.store.models import Alert, AuditEvent, HubAssignment, Patient, now
from server.teams import all_teams

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PatientId = Annotated[str, PathParam(pattern=PATIENT_ID_PATTERN)]
CONDITIONS = [(c.value, CONDITION_LABELS[c]) for c in Condition]


async def _posted(request: Request) -> dict[str, Any]:
    form = await request.form()
    out: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    out["conditions"] = [v for v in form.getlist("conditions") if isinstance(v, str)]
    return out


Posted = Annotated[dict[str, Any], Depends(_posted)]


def _teams(db: Db) -> list[str]:
    with db.session() as s:
        return all_teams(s)


def _form_page(
    request: Request,
    db: Db,
    principal: Principal,
    status: int,
    patient_id: str | None,
    shown: dict[str, Any],
    problems: list[Problem],
) -> HTMLResponse:
    return page(
        request,
        "patient_form.html",
        status,
        user=principal,
        patient_id=patient_id,
        form=shown,
        teams=_teams(db),
        conditions=CONDITIONS,
        error_list=[{"field": p.field, "text": p.text} for p in problems],
        errors={p.field: p.text for p in problems if p.field},
    )


@router.get("/enrol", response_class=HTMLResponse)
def enrol_form(request: Request, db: Db) -> HTMLResponse:
    principal = technician(request, db)
    return _form_page(request, db, principal, 200, None, {"conditions": [], "team": ""}, [])


@router.post("/enrol", response_model=None)
def enrol_patient(request: Request, db: Db, posted: Posted) -> Response:
    check_same_origin(request)
    principal = technician(request, db)
    form = read_form(posted, posted["conditions"], _teams(db), now().date())
    if not form.problems:
        try:
            patient_id = enrol(db, form, actor=principal.username)
        except RecordError as e:
            form.problems.extend(e.problems)
        else:
            return RedirectResponse(f"/patients/{patient_id}/record", status_code=303)
    return _form_page(request, db, principal, 422, None, posted, form.problems)


def _record(db: Db, principal: Principal, patient_id: str) -> dict[str, Any] | None:
    with db.session() as s:
        patient = visible_patient(s, principal, patient_id, "record")
        if patient is None:
            return None
        hub = s.scalars(
            select(HubAssignment.hub_id).where(
                HubAssignment.patient_id == patient_id, HubAssignment.end_at.is_(None)
            )
        ).first()
        born = patient.date_of_birth
        return {
            "id": patient.id,
            "name": patient.display_name,
            "nhs_number": formatted(patient.nhs_number) if patient.nhs_number else "",
            "nhs_digits": patient.nhs_number or "",
            "date_of_birth": born.strftime("%-d %B %Y") if born else "",
            "dob": {"day": born.day, "month": born.month, "year": born.year} if born else {},
            "phone": patient.phone or "",
            "gp_practice": patient.gp_practice or "",
            "team": patient.team,
            "conditions": list(patient.conditions or []),
            "condition_labels": [
                CONDITION_LABELS[Condition(c)] for c in patient.conditions or [] if c in CONDITION_LABELS
            ],
            "hub_id": hub,
            "discharged_at": patient.discharged_at,
        }


@router.get("/patients/{patient_id}/record", response_class=HTMLResponse)
def record_page(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    principal = signed_in(request, db)
    record = _record(db, principal, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    audit(db, principal, "patient_record_viewed", patient_id, "page")
    return _record_page(request, principal, record, 200, "", [])


def _record_page(
    request: Request,
    principal: Principal,
    record: dict[str, Any],
    status: int,
    reason: str,
    problems: list[Problem],
) -> HTMLResponse:
    return page(
        request,
        "patient_record.html",
        status,
        user=principal,
        patient=record,
        may_change=principal.may_act_as(Role.TECHNICIAN),
        may_readmit=principal.may_act_as(Role.CLINICIAN),
        form={"reason": reason},
        errors={p.field: p.text for p in problems if p.field},
        error_list=[{"field": p.field, "text": p.text} for p in problems],
    )


@router.post("/patients/{patient_id}/readmit", response_model=None)
def readmit_patient(request: Request, db: Db, patient_id: PatientId, posted: Posted) -> Response:
    """The one change a discharged record takes: reopening it, by a clinician of the team (or
    an administrator), with a reason. They come back with no hub."""
    check_same_origin(request)
    principal = clinician(request, db)
    record = _record(db, principal, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    reason = " ".join(str(posted.get("reason", "")).split())
    problems = (
        []
        if len(reason) >= 3
        else [Problem("reason", "Enter the reason for readmission (at least 3 characters)")]
    )
    if not problems:
        try:
            readmit(db, patient_id, actor=principal.username, reason=reason)
        except RecordError as e:
            problems = e.problems
        else:
            return RedirectResponse(f"/patients/{patient_id}/record", status_code=303)
    return _record_page(
        request, principal, record, 409 if record["discharged_at"] is None else 422, reason, problems
    )


def _changing(request: Request, db: Db, patient_id: str) -> tuple[Principal, dict[str, Any] | None]:
    """A technician's (or admin's) change to a record: the patient's record, None if absent.
    Every page that changes a record answers a discharged one with ``_closed``."""
    principal = technician(request, db)
    record = _record(db, principal, patient_id)
    if record is not None:
        audit(
            db, principal, "patient_record_viewed", patient_id, f"page {request.url.path.rsplit('/', 1)[-1]}"
        )
    return principal, record


def _closed(request: Request, principal: Principal, record: dict[str, Any]) -> HTMLResponse | None:
    """The refusal of a change to a discharged patient's record, or None if it is open."""
    if record["discharged_at"] is None:
        return None
    return discharged(request, record["id"], record["discharged_at"], principal)


def _as_form(record: dict[str, Any]) -> dict[str, Any]:
    dob = record["dob"]
    return {
        "name": record["name"],
        "nhs_number": record["nhs_number"],
        "phone": record["phone"],
        "gp_practice": record["gp_practice"],
        "team": record["team"],
        "conditions": record["conditions"],
        "dob_day": str(dob.get("day", "")),
        "dob_month": str(dob.get("month", "")),
        "dob_year": str(dob.get("year", "")),
    }


@router.get("/patients/{patient_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    principal, record = _changing(request, db, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    if (closed := _closed(request, principal, record)) is not None:
        return closed
    return _form_page(request, db, principal, 200, patient_id, _as_form(record), [])


@router.post("/patients/{patient_id}/edit", response_model=None)
def edit_patient(request: Request, db: Db, patient_id: PatientId, posted: Posted) -> Response:
    check_same_origin(request)
    principal, record = _changing(request, db, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    if (closed := _closed(request, principal, record)) is not None:
        return closed
    form: PatientForm = read_form(posted, posted["conditions"], _teams(db), now().date())
    reason = " ".join(str(posted.get("reason", "")).split())
    if len(reason) < 3:
        form.problems.append(Problem("reason", "Enter the reason for the change (at least 3 characters)"))
    if not form.problems:
        try:
            update(db, patient_id, form, actor=principal.username, reason=reason)
        except PatientDischarged as e:  # discharged since the form was shown
            return discharged(request, patient_id, e.discharged_at, principal)
        except RecordError as e:
            form.problems.extend(e.problems)
        else:
            return RedirectResponse(f"/patients/{patient_id}/record", status_code=303)
    return _form_page(request, db, principal, 422, patient_id, posted, form.problems)


@router.get("/patients/{patient_id}/discharge", response_class=HTMLResponse)
def discharge_form(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    principal, record = _changing(request, db, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    if (closed := _closed(request, principal, record)) is not None:
        return closed
    return page(
        request, "patient_discharge.html", user=principal, patient=record, form={}, errors={}, error_list=[]
    )


@router.post("/patients/{patient_id}/discharge", response_model=None)
def discharge_patient(request: Request, db: Db, patient_id: PatientId, posted: Posted) -> Response:
    check_same_origin(request)
    principal, record = _changing(request, db, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    if (closed := _closed(request, principal, record)) is not None:
        return closed
    reason = " ".join(str(posted.get("reason", "")).split())
    problems = (
        []
        if len(reason) >= 3
        else [Problem("reason", "Enter the reason for discharge (at least 3 characters)")]
    )
    if not problems:
        try:
            released = discharge(db, patient_id, actor=principal.username, reason=reason)
        except RecordError as e:
            problems = e.problems
        else:
            _send_configurations(request, db, released)
            return RedirectResponse(f"/patients/{patient_id}/record", status_code=303)
    return page(
        request,
        "patient_discharge.html",
        422,
        user=principal,
        patient=record,
        form={"reason": reason},
        errors={p.field: p.text for p in problems if p.field},
        error_list=[{"field": p.field, "text": p.text} for p in problems],
    )


def _send_configurations(request: Request, db: Db, hub_ids: list[str]) -> None:
    """The hubs whose patient changed get their new configuration (the patient's spoken
    preferences, or none) now; one the broker does not take is kept and shown as waiting on
    the hubs' overview (``hub_config.deliver_each`` logs it)."""
    settings: ServerSettings = request.app.state.settings
    deliver_each(db, settings.mqtt.endpoint, hub_ids)


def _hub_page(
    request: Request,
    db: Db,
    principal: Principal,
    record: dict[str, Any],
    status: int,
    problems: list[Problem],
) -> HTMLResponse:
    return page(
        request,
        "patient_hub.html",
        status,
        user=principal,
        patient=record,
        hubs=free_hubs(db),
        errors={p.field: p.text for p in problems if p.field},
        error_list=[{"field": p.field, "text": p.text} for p in problems],
    )


@router.get("/patients/{patient_id}/hub", response_class=HTMLResponse)
def hub_form(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    principal, record = _changing(request, db, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    if (closed := _closed(request, principal, record)) is not None:
        return closed
    return _hub_page(request, db, principal, record, 200, [])


@router.post("/patients/{patient_id}/hub", response_model=None)
def assign_hub(request: Request, db: Db, patient_id: PatientId, posted: Posted) -> Response:
    check_same_origin(request)
    principal, record = _changing(request, db, patient_id)
    if record is None:
        return not_found(request, f"patient {patient_id}", principal)
    if (closed := _closed(request, principal, record)) is not None:
        return closed
    hub_id = str(posted.get("hub_id", "")).strip()
    try:
        if not hub_id:
            raise RecordError([Problem("hub_id", "Select a hub")])
        replaced = give_hub(db, patient_id, hub_id, actor=principal.username)
    except RecordError as e:
        return _hub_page(request, db, principal, record, 422, e.problems)
    _send_configurations(request, db, [hub_id, *([replaced] if replaced else [])])
    return RedirectResponse(f"/patients/{patient_id}/record", status_code=303)


@router.get("/patients/{patient_id}/audit", response_class=HTMLResponse)
def audit_trail(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    """Who looked at or changed this patient's data, newest first: for an administrator
    answering a subject access request or checking a concern."""
    principal = signed_in(request, db)
    if principal.role is not Role.ADMIN:
        raise WrongRole(principal, "administrators")
    with db.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            return not_found(request, f"patient {patient_id}", principal)
        alert_ids = [str(i) for i in s.scalars(select(Alert.id).where(Alert.patient_id == patient_id))]
        hubs = list(s.scalars(select(HubAssignment.hub_id).where(HubAssignment.patient_id == patient_id)))
        events = [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action.replace("_", " "),
                "target": e.target,
                "detail": e.detail,
            }
            for e in s.scalars(
                select(AuditEvent)
                .where(
                    or_(
                        AuditEvent.target == patient_id,
                        AuditEvent.target.in_(alert_ids) & AuditEvent.action.like("alert%"),
                        AuditEvent.target.in_(hubs) & AuditEvent.detail.like(f"patient={patient_id}%"),
                        shown_in_list(patient_id),
                    )
                )
                .order_by(AuditEvent.id.desc())
                .limit(1000)
            )
        ]
        name = patient.display_name
    audit(db, principal, "audit_trail_viewed", patient_id, f"page n={len(events)}")
    return page(
        request, "audit_trail.html", user=principal, patient={"id": patient_id, "name": name}, events=events
    )
