"""What a patient's hub says aloud, as their team sets it: checked, stored on the patient,
audited, and sent to the hub serving them (``server.hub_config``).

Reminders and the missed-readings rule speak of the same readings, so they are compared
here. The rule's schedule (a weight expected between 00:00 and 11:00) is the team's clinical
decision and already alerts them; a reminder is the patient's nudge before that deadline. A
team may derive the reminders from the schedule (``reminders_from_schedule``): one reminder
per scheduled kind, an hour before it is due, counting every reading the rule counts. The
derived reminders are stored like any others, not recomputed later: what the hub says is an
explicit, audited choice, and a change of the rules does not silently change what a patient
hears. Instead, every read of the preferences lists where they and the schedule disagree
(``disagreements``), so a drift shows on the patient's page and in the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.ruleset.models import ScheduleRule
from common.wire.feedback_prefs import (
    MAX_REMINDERS,
    SPOKEN_LANGUAGES,
    FeedbackEvent,
    PatientFeedback,
    ReadingReminder,
)
from common.wire.vocabulary import ReadingKind
from server.hub_config import patient_changed, stored_feedback
from server.store.discharged import refuse_if_discharged
from server.store.models import AuditEvent, Hub, HubAssignment, Patient
from server.store.overrides import current_rules

#: A derived reminder comes this long before the schedule's deadline: time to take the
#: reading before the team is alerted.
REMINDER_LEAD_S = 3600
#: The hub counts readings up to 12 hours before a reminder (``ReadingReminder.window_min``).
MAX_WINDOW_MIN = 720
#: Short names accepted for a reading kind ("bp@08:00"), besides the kinds' own names.
KIND_ALIASES: dict[str, ReadingKind] = {
    "bp": ReadingKind.BLOOD_PRESSURE,
    "oximeter": ReadingKind.SPO2,
    "temp": ReadingKind.TEMPERATURE,
}
_REMINDER = re.compile(r"^\s*([a-z_0-9]+)\s*@\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class FeedbackProblem:
    field: str | None  # the form's box or the API's field to correct
    text: str


class FeedbackError(ValueError):
    """The preferences cannot be stored as asked; each problem names its field."""

    def __init__(self, problems: list[FeedbackProblem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class FeedbackState:
    """A patient's preferences (None: the hub's defaults), the hub they go to, and where they
    disagree with the patient's missed-readings schedule."""

    patient_id: str
    preferences: PatientFeedback | None
    hub_id: str | None
    hub_config_version: int | None
    warnings: list[str] = field(default_factory=list)
    sent: bool = False  # a new configuration version was made for the hub by this change

    @property
    def effective(self) -> PatientFeedback:
        return self.preferences or PatientFeedback()


def parse_event(name: str) -> FeedbackEvent:
    try:
        return FeedbackEvent(name.strip().lower())
    except ValueError:
        known = ", ".join(e.value for e in FeedbackEvent)
        raise FeedbackError(
            [FeedbackProblem("speak", f"Unknown event {name!r}: choose from {known}")]
        ) from None


def parse_reminder(text: str) -> ReadingReminder:
    """``kind@HH:MM`` (``bp@08:00``, ``weight@9:30``) as a daily reminder."""
    match = _REMINDER.match(text.lower())
    if match is None:
        raise FeedbackError(
            [FeedbackProblem("reminders", f"Reminder {text!r} must be KIND@HH:MM, for example bp@08:00")]
        )
    name, hours, minutes = match.groups()
    kind = KIND_ALIASES.get(name)
    if kind is None:
        try:
            kind = ReadingKind(name)
        except ValueError:
            known = ", ".join([*KIND_ALIASES, *(k.value for k in ReadingKind)])
            raise FeedbackError(
                [FeedbackProblem("reminders", f"Unknown reading {name!r} in {text!r}: choose from {known}")]
            ) from None
    if int(hours) > 23 or int(minutes) > 59:
        raise FeedbackError(
            [FeedbackProblem("reminders", f"{hours}:{minutes} in {text!r} is not a 24-hour time")]
        )
    return ReadingReminder(kind=kind, at=f"{int(hours):02d}:{minutes}")


def checked(raw: Mapping[str, object]) -> PatientFeedback:
    """Preferences as the API or a form sends them, validated for this server: the wire's
    rules, and a language the hub has a phrasebook for."""
    problems: list[FeedbackProblem] = []
    try:
        prefs = PatientFeedback.model_validate(raw)
    except ValidationError as e:
        for err in e.errors():
            where = str(err["loc"][0]) if err["loc"] else None
            problems.append(FeedbackProblem(where, f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"))
        raise FeedbackError(problems) from None
    if prefs.language is not None and prefs.language not in SPOKEN_LANGUAGES:
        offered = ", ".join(f"{code} ({name})" for code, name in SPOKEN_LANGUAGES.items())
        problems.append(
            FeedbackProblem("language", f"The hub cannot speak {prefs.language!r}: choose from {offered}")
        )
    seen = set()
    for r in prefs.reminders:
        if (r.kind, r.at) in seen:
            problems.append(
                FeedbackProblem("reminders", f"The {r.kind.value} reminder at {r.at} is listed twice")
            )
        seen.add((r.kind, r.at))
    if problems:
        raise FeedbackError(problems)
    return prefs


def schedule_of(s: Session, patient_id: str) -> dict[ReadingKind, ScheduleRule]:
    """The missed-readings schedules the patient is judged by (enabled ones only)."""
    effective, _ = current_rules(s, patient_id)
    return {kind: rule for kind, rule in effective.missed_readings.items() if rule.enabled}


def reminders_from_schedule(schedule: Mapping[ReadingKind, ScheduleRule]) -> list[ReadingReminder]:
    """One reminder per scheduled kind, ``REMINDER_LEAD_S`` before its deadline (never before
    its window opens), counting the window's readings (up to the hub's 12 hours)."""
    out = []
    for kind, rule in sorted(schedule.items(), key=lambda item: list(ReadingKind).index(item[0])):
        at_s = max(rule.window_start_s, rule.due_by_s - REMINDER_LEAD_S)
        window = min(MAX_WINDOW_MIN, (at_s - rule.window_start_s) // 60)
        out.append(
            ReadingReminder(kind=kind, at=f"{at_s // 3600:02d}:{at_s % 3600 // 60:02d}", window_min=window)
        )
    return out[:MAX_REMINDERS]


def disagreements(prefs: PatientFeedback | None, schedule: Mapping[ReadingKind, ScheduleRule]) -> list[str]:
    """Where the reminders and the missed-readings schedule tell different stories."""
    reminders = [] if prefs is None else prefs.reminders
    out = []
    for r in reminders:
        rule = schedule.get(r.kind)
        if rule is None:
            out.append(
                f"The {r.kind.value} reminder at {r.at} is for a reading the team is not alerted about "
                "when it is missed (no missed-readings schedule for it)"
            )
        elif not rule.window_start <= r.at < rule.due_by:
            out.append(
                f"The {r.kind.value} reminder at {r.at} is outside the time the reading is expected "
                f"({rule.window_start} to {rule.due_by})"
            )
    spoken = prefs is None or FeedbackEvent.REMINDER in prefs.speak
    for kind, rule in schedule.items():
        if not any(r.kind is kind for r in reminders):
            out.append(
                f"The {kind.value} reading is expected by {rule.due_by} but the hub has no reminder for it"
            )
        elif not spoken:
            out.append(
                f"Reminders are not spoken, so the {kind.value} reading due by {rule.due_by} is never prompted"
            )
    return out


def _serving_hub(s: Session, patient_id: str) -> tuple[str | None, int | None]:
    row = s.execute(
        select(Hub.id, Hub.config_version)
        .join(HubAssignment, HubAssignment.hub_id == Hub.id)
        .where(HubAssignment.patient_id == patient_id, HubAssignment.end_at.is_(None))
        .order_by(HubAssignment.start_at.desc())
        .limit(1)
    ).first()
    return (None, None) if row is None else (row[0], row[1])


def state(s: Session, patient_id: str, *, sent: bool = False) -> FeedbackState:
    patient = s.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id!r}")
    prefs = stored_feedback(patient)
    hub_id, version = _serving_hub(s, patient_id)
    return FeedbackState(
        patient_id, prefs, hub_id, version, disagreements(prefs, schedule_of(s, patient_id)), sent
    )


def set_feedback(
    s: Session,
    patient_id: str,
    prefs: PatientFeedback | None,
    *,
    actor: str,
    from_schedule: bool = False,
) -> FeedbackState:
    """Store the patient's preferences (None: back to the hub's defaults), audited, and make
    a new configuration version for the hub serving them, all in the caller's transaction.
    ``from_schedule`` replaces the reminders with those derived from their schedule."""
    patient = s.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id!r}")
    refuse_if_discharged(patient)  # their hub was released: nothing would speak it
    if from_schedule:
        derived = reminders_from_schedule(schedule_of(s, patient_id))
        prefs = (prefs or PatientFeedback()).model_copy(update={"reminders": derived})
    if prefs is not None:
        prefs = checked(prefs.model_dump(mode="json"))
    before = patient.feedback
    patient.feedback = None if prefs is None else prefs.model_dump(mode="json")
    s.add(
        AuditEvent(
            actor=actor,
            action="feedback_changed",
            target=patient_id,
            detail=json.dumps({"from": before, "to": patient.feedback}, sort_keys=True),
        )
    )
    s.flush()
    hub_id, _ = _serving_hub(s, patient_id)
    sent = hub_id is not None and patient_changed(
        s, hub_id, actor=actor, why=f"spoken feedback of patient {patient_id} changed"
    )
    return state(s, patient_id, sent=sent)
