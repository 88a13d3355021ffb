"""What the patient's hub says aloud, as a page: the events spoken, values read out or not,
the language and the daily reminders, changed by the patient's team. Stored, audited and
sent by ``server.patient_feedback`` and ``server.hub_config``, as the API does, so the page and
the API cannot differ on what a valid preference is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from common.wire.feedback_prefs import SPOKEN_LANGUAGES, FeedbackEvent, PatientFeedback
from server.access import visible_patient
from server.api.auth import Principal, audit
from server.api.deps import Db
from server.hub_config import deliver_each
from server.pages.render import PageRoute, clinician, discharged, not_found, page
from server.pages.session import check_same_origin
from server.patient_feedback import (
    FeedbackError,
    FeedbackProblem,
    FeedbackState,
    checked,
    parse_reminder,
    set_feedback,
    state,
)
from server.patient_ids import PATIENT_ID_PATTERN
from server.settings import ServerSettings
from server.store.discharged import PatientDischarged

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PatientId = Annotated[str, PathParam(pattern=PATIENT_ID_PATTERN)]

EVENTS = [
    (FeedbackEvent.RECEIVED, "The hub has the reading", "Said as soon as a device sends it"),
    (FeedbackEvent.CONFIRMED, "The team has the reading", "Said when the server holds it"),
    (FeedbackEvent.OFFLINE, "The hub cannot reach the team", "Once per outage; readings are kept"),
    (FeedbackEvent.REMINDER, "A reading is due", "At the reminder times below"),
    (FeedbackEvent.RETAKE, "Please take it again", "When the team's rules ask for a retake"),
]
EVENT_LABELS = {event.value: label for event, label, _ in EVENTS}


def summary(st: FeedbackState) -> dict[str, Any]:
    """The patient page's section, in words."""
    p = st.effective
    return {
        "set": st.preferences is not None,
        "events": [EVENT_LABELS[e.value] for e in p.speak],
        "values": p.speak_values,
        "language": SPOKEN_LANGUAGES.get(p.language, p.language) if p.language else None,
        "reminders": [f"{r.kind.value.replace('_', ' ')} at {r.at}" for r in p.reminders],
        "hub_id": st.hub_id,
        "waiting": st.hub_id is not None and st.hub_config_version == 0,
        "warnings": st.warnings,
    }


def feedback_summary(s: Any, patient_id: str) -> dict[str, Any]:
    return summary(state(s, patient_id))


def _form_of(p: PatientFeedback) -> dict[str, Any]:
    return {
        "speak": [e.value for e in p.speak],
        "speak_values": "yes" if p.speak_values else "no",
        "language": p.language or "",
        "reminders": "\n".join(f"{r.kind.value}@{r.at}" for r in p.reminders),
        "from_schedule": "",
    }


def _page(
    request: Request,
    db: Db,
    principal: Principal,
    patient_id: str,
    status: int,
    form: dict[str, Any] | None,
    problems: list[FeedbackProblem],
) -> HTMLResponse:
    with db.session() as s:
        patient = visible_patient(s, principal, patient_id, "feedback")
        if patient is None:
            return not_found(request, f"patient {patient_id}", principal)
        if patient.discharged_at is not None:  # the page is the change's form: closed
            return discharged(request, patient_id, patient.discharged_at, principal)
        st = state(s, patient_id)
        shown = {"id": patient.id, "name": patient.display_name}
    audit(db, principal, "feedback_viewed", patient_id, "page")
    return page(
        request,
        "patient_feedback.html",
        status,
        user=principal,
        patient=shown,
        form=form or _form_of(st.effective),
        events=EVENTS,
        languages=SPOKEN_LANGUAGES,
        summary=summary(st),
        error_list=[{"field": p.field, "text": p.text} for p in problems],
        errors={p.field: p.text for p in problems if p.field},
    )


@router.get("/patients/{patient_id}/feedback", response_class=HTMLResponse)
def feedback_form(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    return _page(request, db, clinician(request, db), patient_id, 200, None, [])


def _read(posted: dict[str, Any]) -> PatientFeedback:
    problems: list[FeedbackProblem] = []
    speak = posted["speak"]
    unknown = [e for e in speak if e not in EVENT_LABELS]
    if unknown:
        problems.append(FeedbackProblem("speak", f"Unknown event {unknown[0]!r}"))
    if posted.get("speak_values") not in ("yes", "no"):
        problems.append(FeedbackProblem("speak_values", "Select whether the values are read out"))
    reminders = []
    for line in str(posted.get("reminders", "")).splitlines():
        if not line.strip():
            continue
        try:
            reminders.append(parse_reminder(line))
        except FeedbackError as e:
            problems.extend(e.problems)
    if problems:
        raise FeedbackError(problems)
    return checked(
        {
            "speak": [e for e in EVENT_LABELS if e in speak],
            "speak_values": posted["speak_values"] == "yes",
            "language": str(posted.get("language", "")).strip() or None,
            "reminders": reminders,
        }
    )


@router.post("/patients/{patient_id}/feedback", response_model=None)
async def change_feedback(request: Request, db: Db, patient_id: PatientId) -> Response:
    check_same_origin(request)
    principal = clinician(request, db)
    raw = await request.form()
    posted: dict[str, Any] = {k: v for k, v in raw.items() if isinstance(v, str)}
    posted["speak"] = [v for v in raw.getlist("speak") if isinstance(v, str)]
    with db.session() as s:
        if visible_patient(s, principal, patient_id, "feedback") is None:
            return not_found(request, f"patient {patient_id}", principal)
    clear = posted.get("clear") == "yes"
    try:
        prefs = None if clear else _read(posted)
        with db.session() as s:
            st = set_feedback(
                s,
                patient_id,
                prefs,
                actor=principal.username,
                from_schedule=posted.get("from_schedule") == "yes",
            )
    except PatientDischarged as e:
        return discharged(request, patient_id, e.discharged_at, principal)
    except FeedbackError as e:
        form = {**posted, "speak": posted["speak"]}
        return _page(request, db, principal, patient_id, 422, form, e.problems)
    if st.sent and st.hub_id is not None:
        settings: ServerSettings = request.app.state.settings
        deliver_each(db, settings.mqtt.endpoint, [st.hub_id])
    return RedirectResponse(f"/patients/{patient_id}#feedback", status_code=303)
