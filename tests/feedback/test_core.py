"""What the hub says, decided with plain values: the words per event and kind, the off
switch, quiet hours, the patient's choices, values only when asked, once per outage, and
when reminders and retakes fall due."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.wire.commands import RetakeReason
from common.wire.feedback_prefs import FeedbackEvent, PatientFeedback, ReadingReminder
from common.wire.vocabulary import ReadingKind
from gateway.feedback.catalogue import load_phrasebooks
from gateway.feedback.core import (
    Event,
    HubOffline,
    OutageMemory,
    Policy,
    QuietHours,
    ReadingDue,
    ReadingReceived,
    ReadingsConfirmed,
    RetakeAsked,
    RetakeDue,
    Tone,
    decide,
    spoken_number,
)
from gateway.feedback.phrasebook import Phrasebook
from gateway.feedback.schedule import ReadingSchedule

BOOKS = load_phrasebooks()
EN = BOOKS["en"]
LONDON = ZoneInfo("Europe/London")
BP = ReadingReceived(ReadingKind.BLOOD_PRESSURE, {"systolic": 128.0, "diastolic": 82.0, "pulse": 61.0})
NOON = time(12, 0)


def policy(**prefs: object) -> Policy:
    return Policy(True, PatientFeedback.model_validate(prefs), EN, QuietHours(time(22), time(7)))


def test_a_reading_is_acknowledged_without_its_values_by_default() -> None:
    said = decide(BP, policy(), NOON)
    assert said is not None
    assert (said.key, said.tone, said.audible) == ("received", Tone.GOOD, True)
    assert said.text == "Thank you. Your blood pressure reading has been received."
    assert "128" not in said.text


def test_values_are_read_only_when_the_patient_asked_for_them() -> None:
    said = decide(BP, policy(speak_values=True), NOON)
    assert said is not None and said.text.endswith("received: 128 over 82.")
    weight = decide(ReadingReceived(ReadingKind.WEIGHT, {"weight": 81.04}), policy(speak_values=True), NOON)
    assert weight is not None and weight.text.endswith("81 kilograms.")
    assert [spoken_number(v) for v in (128.0, 37.25, 36.96, 0.04)] == ["128", "37.2", "37", "0"]


@pytest.mark.parametrize(
    ("kind", "reason", "after_s", "words"),
    [
        (
            ReadingKind.BLOOD_PRESSURE,
            RetakeReason.OUT_OF_RANGE,
            300,
            "Please sit quietly, and take your blood pressure again in 5 minutes.",
        ),
        (
            ReadingKind.BLOOD_PRESSURE,
            RetakeReason.QUALITY_FLAG,
            290,
            "That reading may not be right. Please sit quietly, and take your blood pressure again in 5 minutes.",
        ),
        (ReadingKind.SPO2, RetakeReason.QUALITY_FLAG, 60, "measure your oxygen level again in one minute."),
        (ReadingKind.WEIGHT, RetakeReason.OUT_OF_RANGE, 10, "Please weigh yourself again now."),
    ],
)
def test_a_retake_request_is_worded_for_its_kind_and_reason(
    kind: ReadingKind, reason: RetakeReason, after_s: int, words: str
) -> None:
    said = decide(RetakeAsked(kind, reason, after_s), policy(), NOON)
    assert said is not None and said.key == "retake" and said.tone is Tone.ATTENTION
    assert said.text.endswith(words)


def test_every_event_has_words_in_every_language() -> None:
    events: list[Event] = [BP, ReadingsConfirmed(2), HubOffline(), ReadingDue(ReadingKind.TEMPERATURE)]
    events += [RetakeAsked(k, r, 300) for k in ReadingKind for r in RetakeReason]
    events += [RetakeDue(k) for k in ReadingKind]
    assert set(BOOKS) >= {"en", "cy"}
    for book in BOOKS.values():
        p = Policy(True, PatientFeedback(speak_values=True), book)
        texts = [decide(e, p, NOON) for e in events]
        assert all(t is not None and t.text and "{" not in t.text for t in texts), book.language
    cy = Policy(True, PatientFeedback(), BOOKS["cy"])
    said = decide(RetakeAsked(ReadingKind.BLOOD_PRESSURE, RetakeReason.OUT_OF_RANGE, 300), cy, NOON)
    assert said is not None and said.text.endswith("chymerwch eich pwysedd gwaed eto mewn 5 munud.")


def test_the_off_switch_silences_everything() -> None:
    off = Policy(False, PatientFeedback(), EN)
    assert [decide(e, off, NOON) for e in (BP, HubOffline(), RetakeDue(ReadingKind.SPO2))] == [None] * 3


@pytest.mark.parametrize(
    ("at", "audible"),
    [
        (time(21, 59), True),
        (time(22, 0), False),
        (time(3, 0), False),
        (time(6, 59), False),
        (time(7, 0), True),
    ],
)
def test_quiet_hours_across_midnight_keep_it_silent(at: time, audible: bool) -> None:
    said = decide(BP, policy(), at)
    assert said is not None and said.audible is audible
    assert QuietHours(time(13), time(14)).contains(time(13, 30))
    assert not QuietHours(time(13), time(14)).contains(time(14))


def test_the_patient_chooses_what_is_said() -> None:
    p = policy(speak=[FeedbackEvent.RETAKE])
    assert decide(BP, p, NOON) is None
    assert decide(ReadingsConfirmed(1), p, NOON) is None
    assert decide(RetakeDue(ReadingKind.SPO2), p, NOON) is not None


def test_offline_is_said_once_per_outage() -> None:
    outage = OutageMemory()
    assert [outage.reading_while(connected=c) for c in (True, False, False, False)] == [
        False,
        True,
        False,
        False,
    ]
    outage.reconnected()
    assert [outage.reading_while(connected=c) for c in (True, False, False)] == [False, True, False]


def test_an_incomplete_catalogue_is_refused() -> None:
    data = EN.model_dump()
    data["retake"] = {**data["retake"], "spo2": "Please measure your oxygen again."}  # no {when}
    with pytest.raises(ValueError, match=r"retake\.spo2 must use exactly"):
        Phrasebook.model_validate(data)
    data = EN.model_dump()
    del data["reminder"]["weight"]
    with pytest.raises(ValueError, match="lacks"):
        Phrasebook.model_validate(data)


def local(hh: int, mm: int, day: int = 3) -> datetime:
    return datetime(2026, 12, day, hh, mm, tzinfo=LONDON)


MORNING_BP = ReadingReminder(kind=ReadingKind.BLOOD_PRESSURE, at="08:30", window_min=60)


def test_a_scheduled_reading_not_taken_is_reminded_once() -> None:
    schedule = ReadingSchedule()
    assert schedule.due([MORNING_BP], local(8, 29)) == []
    assert schedule.due([MORNING_BP], local(8, 31)) == [ReadingDue(ReadingKind.BLOOD_PRESSURE)]
    assert schedule.due([MORNING_BP], local(8, 45)) == []  # once a day
    assert schedule.due([MORNING_BP], local(8, 31, day=4)) == [ReadingDue(ReadingKind.BLOOD_PRESSURE)]


def test_a_reading_taken_in_the_window_or_a_long_overdue_one_is_not_reminded() -> None:
    schedule = ReadingSchedule()
    schedule.reading(ReadingKind.BLOOD_PRESSURE, local(7, 45))  # early riser, within the hour
    schedule.reading(ReadingKind.WEIGHT, local(7, 45))  # another kind does not count
    assert schedule.due([MORNING_BP], local(8, 31)) == []
    late = ReadingSchedule()
    assert late.due([MORNING_BP], local(10, 31)) == []  # the hub started hours later: not said


def test_a_retake_falls_due_unless_it_was_taken_meanwhile() -> None:
    schedule = ReadingSchedule()
    asked = local(9, 0)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert schedule.ask_retake(first, ReadingKind.BLOOD_PRESSURE, asked, 300)
    assert not schedule.ask_retake(first, ReadingKind.BLOOD_PRESSURE, asked, 300)  # redelivered
    assert schedule.ask_retake(second, ReadingKind.SPO2, asked, 300)
    assert schedule.due([], asked + timedelta(seconds=299)) == []
    schedule.reading(ReadingKind.SPO2, asked + timedelta(seconds=120))  # retaken early
    assert schedule.due([], asked + timedelta(seconds=300)) == [RetakeDue(ReadingKind.BLOOD_PRESSURE)]
    assert schedule.due([], asked + timedelta(seconds=400)) == []
    assert schedule.pending_retakes == []
