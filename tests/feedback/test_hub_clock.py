"""Reminders and retake prompts go by when the hub received a reading, not by the cuff's own
clock: cuffs' clocks are often wrong (one left at 2019, one two days behind since its batteries
were changed), and a patient who has just used the cuff must not be told to take the reading
they just took. Real services (the hub's voice as ``carewatch hub run`` builds it, espeak-ng
into a WAV directory, the retakes file in its state directory)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.wire.feedback_prefs import PatientFeedback, ReadingReminder
from common.wire.messages import DeviceIdentity, Reading, TimeSource
from common.wire.vocabulary import Measure, ReadingKind
from gateway.feedback.retake_file import FILE_NAME
from gateway.reading_builder import build_reading
from tests.feedback.test_retake_restart import NOON, Clock, Start, retake, said, start, wait_until

__all__ = ["start"]  # the fixture, used by name

CUFF = DeviceIdentity(address="00:09:1F:8A:12:34", model="and-ua-651ble")

#: What a cuff's clock can say when the patient takes a reading at ``now``.
WRONG_CLOCKS: dict[str, Callable[[datetime], datetime]] = {
    "set to 2019": lambda now: datetime(2019, 6, 1, 9, 0),
    "two days behind": lambda now: now - timedelta(days=2),
}


def from_cuff(clock: Clock, device_clock: datetime) -> Reading:
    """A reading as the hub builds it, received now by the hub's clock, stamped by the cuff's."""
    measured = device_clock if device_clock.tzinfo else device_clock.replace(tzinfo=NOON.tzinfo)
    return build_reading(
        kind=ReadingKind.BLOOD_PRESSURE,
        values={Measure.SYSTOLIC: 128.0, Measure.DIASTOLIC: 82.0},
        device=CUFF,
        received_at=clock(),
        measured_at=measured,
    )


@pytest.mark.parametrize("wrong", list(WRONG_CLOCKS))
def test_a_retake_is_answered_by_a_reading_received_after_it_whatever_the_cuffs_clock_says(
    start: Start, tmp_path: Path, wrong: str
) -> None:
    clock = Clock(NOON)
    voice = start(tmp_path / "said", clock)
    voice.command(retake(after_s=300))
    clock.now = NOON + timedelta(seconds=60)  # the patient takes it again a minute later
    reading = from_cuff(clock, WRONG_CLOCKS[wrong](clock.now))
    assert reading.measured_at is not None and reading.measured_at < NOON  # the cuff: before the ask
    voice.reading_received(reading, connected=True)
    wait_until(lambda: json.loads((tmp_path / "state" / FILE_NAME).read_text()) == {"retakes": []})
    clock.now = NOON + timedelta(seconds=301)
    time.sleep(0.6)  # three checks of what is due
    assert said(voice, tmp_path / "said") == ["retake", "received"]  # no "please take it again"


@pytest.mark.parametrize("wrong", list(WRONG_CLOCKS))
def test_a_reading_received_in_the_reminders_window_counts_as_taken_today_whatever_the_cuffs_clock_says(
    start: Start, tmp_path: Path, wrong: str
) -> None:
    clock = Clock(NOON - timedelta(minutes=30))
    voice = start(tmp_path / "said", clock)
    voice.set_patient(
        PatientFeedback(
            reminders=[ReadingReminder(kind=ReadingKind.BLOOD_PRESSURE, at="12:00", window_min=60)]
        )
    )
    reading = from_cuff(clock, WRONG_CLOCKS[wrong](clock.now))
    assert reading.time_source is (TimeSource.HUB if wrong == "set to 2019" else TimeSource.DEVICE)
    voice.reading_received(reading, connected=True)
    clock.now = NOON + timedelta(minutes=1)
    time.sleep(0.6)  # three checks of what is due
    assert said(voice, tmp_path / "said") == ["received"]  # no reminder


def test_without_a_reading_the_reminder_is_said(start: Start, tmp_path: Path) -> None:
    """The control: the same reminder, nothing received, is said."""
    clock = Clock(NOON + timedelta(minutes=1))
    voice = start(tmp_path / "said", clock)
    voice.set_patient(
        PatientFeedback(
            reminders=[ReadingReminder(kind=ReadingKind.BLOOD_PRESSURE, at="12:00", window_min=60)]
        )
    )
    wait_until(lambda: any((tmp_path / "said").glob("*.wav")))
    assert said(voice, tmp_path / "said") == ["reminder"]
