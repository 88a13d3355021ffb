"""A patient's record as the team keeps it: enrol, edit, discharge, give them a hub.

Every change is one transaction with its audit record, and a form is checked whole before
anything is stored: the page shows every problem at once, beside its box, in plain words.
The same checks guard the command line (``server.provisioning.add_patient`` checks the NHS
number and the team too).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from alerts.ruleset.models import RuleSetError
from common.wire.vocabulary import MEASURES, Condition, Measure
from server.hub_config import patient_changed
from server.nhs_number import InvalidNhsNumber, normalised
from server.provisioning import PatientDetails, ProvisioningError, add_patient
from server.store.database import Database
from server.store.discharged import refuse_if_discharged
from server.store.models import AuditEvent, Hub, HubAssignment, Patient, now
from server.teams import check_team

NAME_MAX = 200
PHONE_MAX = 32
GP_MAX = 200
_PHONE_CHARACTERS = set("0123456789 +()-")
_MEASURES = {m.value for m in Measure}


@dataclass(frozen=True)
class Problem:
    field: str | None  # the box to correct (its id); None when no one box is to blame
    text: str


class RecordError(Exception):
    """A change refused as a whole (nothing stored), with what to correct."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = problems


@dataclass
class PatientForm:
    """The enrolment and edit form, checked: each box as typed, and what it means."""

    name: str = ""
    nhs_number: str | None = None
    date_of_birth: date | None = None
    phone: str | None = None
    gp_practice: str | None = None
    team: str = ""
    conditions: list[Condition] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _date(day: str, month: str, year: str, problems: list[Problem], today: date) -> date | None:
    if not (day or month or year):
        problems.append(Problem("dob-day", "Enter the date of birth"))
        return None
    parts = {"day": day, "month": month, "year": year}
    missing = [name for name, v in parts.items() if not v]
    if missing:
        problems.append(Problem(f"dob-{missing[0]}", f"Date of birth must include a {missing[0]}"))
        return None
    if not all(v.isascii() and v.isdigit() for v in parts.values()) or len(year) != 4:
        problems.append(Problem("dob-day", "Date of birth must be a real date, for example 27 3 1947"))
        return None
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        problems.append(Problem("dob-day", "Date of birth must be a real date, for example 27 3 1947"))
        return None
    if born > today:
        problems.append(Problem("dob-day", "Date of birth must be in the past"))
    elif born.year < today.year - 130:
        problems.append(Problem("dob-year", "Date of birth must be after " + str(today.year - 130)))
    return born


def read_form(posted: Mapping[str, str], conditions: list[str], teams: list[str], today: date) -> PatientForm:
    """The posted form, checked box by box (``problems`` empty when it can be stored)."""
    form = PatientForm()
    problems = form.problems
    form.name = " ".join(posted.get("name", "").split())
    if not form.name:
        problems.append(Problem("name", "Enter the patient's full name"))
    elif len(form.name) > NAME_MAX or not form.name.isprintable():
        problems.append(
            Problem("name", f"Full name must be {NAME_MAX} characters or fewer, letters and spaces")
        )
    nhs = posted.get("nhs_number", "").strip()
    if not nhs:
        problems.append(Problem("nhs_number", "Enter the NHS number"))
    else:
        try:
            form.nhs_number = normalised(nhs)
        except InvalidNhsNumber as e:
            problems.append(Problem("nhs_number", str(e)))
    form.date_of_birth = _date(
        posted.get("dob_day", "").strip(),
        posted.get("dob_month", "").strip(),
        posted.get("dob_year", "").strip(),
        problems,
        today,
    )
    phone = posted.get("phone", "").strip()
    if phone and (
        not set(phone) <= _PHONE_CHARACTERS or len(phone) > PHONE_MAX or sum(c.isdigit() for c in phone) < 10
    ):
        problems.append(Problem("phone", "Enter a phone number, like 01632 960 001 or 07700 900 982"))
    form.phone = phone or None
    gp = " ".join(posted.get("gp_practice", "").split())
    if len(gp) > GP_MAX or not gp.isprintable():
        problems.append(Problem("gp_practice", f"GP practice must be {GP_MAX} characters or fewer"))
    form.gp_practice = gp or None
    form.team = posted.get("team", "").strip()
    if form.team not in teams:
        problems.append(Problem("team", "Select the team that cares for the patient"))
    known = {c.value: c for c in Condition}
    form.conditions = [known[c] for c in conditions if c in known]
    return form


def enrol(db: Database, form: PatientForm, *, actor: str) -> str:
    """Enrol the patient of a checked form; returns their new opaque id (never the NHS number)."""
    patient_id = "p-" + secrets.token_hex(5)
    try:
        add_patient(
            db,
            patient_id,
            form.name,
            actor=actor,
            nhs_number=form.nhs_number,
            team=form.team,
            conditions=form.conditions,
            details=PatientDetails(form.date_of_birth, form.phone, form.gp_practice),
        )
    except ProvisioningError as e:
        raise RecordError([Problem("nhs_number" if "NHS number" in str(e) else None, str(e))]) from None
    return patient_id


def _conditions_problem(error: RuleSetError) -> Problem:
    """Why the new conditions cannot be used, in a clinician's words: their profiles and the
    patient's personal alert limits would not make one valid set of rules (a personal SpO2
    red at 86 % above the hypercapnic profile's amber at 85 %)."""
    named = [
        MEASURES[Measure(m)].label for m in re.findall(r"thresholds\.(\w+)", str(error)) if m in _MEASURES
    ]
    limits = f"{' and '.join(dict.fromkeys(named))} alert limits" if named else "alert rules"
    return Problem(
        "conditions",
        f"These conditions cannot be used with the personal {limits} set for this patient: together "
        "they would contradict each other. Change or remove the personal limits on the patient's "
        "page first, then change the conditions",
    )


def update(db: Database, patient_id: str, form: PatientForm, *, actor: str, reason: str) -> None:
    """Change the record, audited with what changed (field names, never the values) and why.
    Conditions change through their own audited step: ``set_conditions``; conditions that
    cannot be used with the personal limits refuse the whole change (``RecordError``).
    A discharged patient's record is not changed (``PatientDischarged``)."""
    from server.store.overrides import set_conditions

    check_team(form.team)
    with db.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            raise LookupError(patient_id)
        refuse_if_discharged(patient)
        if (
            form.nhs_number
            and s.scalars(
                select(Patient.id).where(Patient.nhs_number == form.nhs_number, Patient.id != patient_id)
            ).first()
        ):
            raise RecordError([Problem("nhs_number", "Another patient already has this NHS number")])
        new = {
            "display_name": form.name,
            "nhs_number": form.nhs_number,
            "date_of_birth": form.date_of_birth,
            "phone": form.phone,
            "gp_practice": form.gp_practice,
            "team": form.team,
        }
        changed = sorted(k for k, v in new.items() if getattr(patient, k) != v)
        for k in changed:
            setattr(patient, k, new[k])
        if [c.value for c in form.conditions] != list(patient.conditions or []):
            try:
                set_conditions(s, patient_id, form.conditions, reason=reason, set_by=actor)
            except RuleSetError as e:  # the session rolls back: nothing of the form is stored
                raise RecordError([_conditions_problem(e)]) from None
        detail = json.dumps({"changed": changed, "reason": reason})
        s.add(AuditEvent(actor=actor, action="patient_edited", target=patient_id, detail=detail))


def readmit(db: Database, patient_id: str, *, actor: str, reason: str) -> None:
    """Reopen a discharged patient's record, audited with the reason and when they had been
    discharged. They come back with no hub (discharge released it): one is given as for a
    new patient, so no reading is attributed through a hub someone else now has."""
    with db.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            raise LookupError(patient_id)
        if patient.discharged_at is None:
            raise RecordError([Problem(None, "This patient has not been discharged")])
        detail = json.dumps({"reason": reason, "discharged_at": patient.discharged_at.isoformat()})
        patient.discharged_at = None
        s.add(AuditEvent(actor=actor, action="patient_readmitted", target=patient_id, detail=detail))


def discharge(db: Database, patient_id: str, *, actor: str, reason: str) -> list[str]:
    """Discharge: the record and every reading stay, the hub assignment ends now (so the hub
    can serve someone else). Returns the hubs released."""
    at = now()
    with db.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            raise LookupError(patient_id)
        if patient.discharged_at is not None:
            raise RecordError([Problem(None, "This patient has already been discharged")])
        patient.discharged_at = at
        released = []
        for assignment in s.scalars(
            select(HubAssignment).where(
                HubAssignment.patient_id == patient_id, HubAssignment.end_at.is_(None)
            )
        ):
            assignment.end_at = at
            released.append(assignment.hub_id)
        detail = json.dumps({"reason": reason, "hubs_released": released})
        s.add(AuditEvent(actor=actor, action="patient_discharged", target=patient_id, detail=detail))
        s.flush()
        for hub_id in released:  # the hub stops speaking as this patient wanted
            patient_changed(s, hub_id, actor=actor, why=f"patient {patient_id} discharged")
    return released


def free_hubs(db: Database) -> list[str]:
    """Hubs serving nobody now and still allowed on the broker: the ones a patient can be
    given. A revoked hub is left out: its readings would be refused at the broker, so the
    patient would press the button and nothing would arrive."""
    with db.session() as s:
        busy = select(HubAssignment.hub_id).where(HubAssignment.end_at.is_(None))
        free = select(Hub.id).where(Hub.id.not_in(busy), Hub.revoked_at.is_(None)).order_by(Hub.id)
        return list(s.scalars(free))


def give_hub(db: Database, patient_id: str, hub_id: str, *, actor: str) -> str | None:
    """Give the patient this hub from now, in place of the one they have (a swap); returns
    the hub it replaced. A hub serving someone else is refused: it must be released first,
    so that no reading is ever attributed to the wrong person."""
    at = now()
    with db.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            raise LookupError(patient_id)
        if patient.discharged_at is not None:
            raise RecordError([Problem("hub_id", "This patient has been discharged: enrol them again first")])
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise RecordError([Problem("hub_id", "Select a hub from the list")])
        if hub.revoked_at is not None:
            raise RecordError([Problem("hub_id", f"Hub {hub_id} has been revoked: choose another hub")])
        serving = s.scalars(
            select(HubAssignment).where(HubAssignment.hub_id == hub_id, HubAssignment.end_at.is_(None))
        ).first()
        if serving is not None and serving.patient_id != patient_id:
            raise RecordError([Problem("hub_id", f"Hub {hub_id} serves another patient: choose a free hub")])
        if serving is not None:
            return None  # already theirs
        replaced = None
        for current in s.scalars(
            select(HubAssignment).where(
                HubAssignment.patient_id == patient_id, HubAssignment.end_at.is_(None)
            )
        ):
            current.end_at = at
            replaced = current.hub_id
        s.add(HubAssignment(hub_id=hub_id, patient_id=patient_id, start_at=at))
        detail = f"patient={patient_id}" + (f" replacing {replaced}" if replaced else "")
        s.add(AuditEvent(actor=actor, action="hub_assigned", target=hub_id, detail=detail))
        s.flush()
        patient_changed(s, hub_id, actor=actor, why=f"now serves patient {patient_id}")
        if replaced:
            patient_changed(s, replaced, actor=actor, why=f"no longer serves patient {patient_id}")
    return replaced
