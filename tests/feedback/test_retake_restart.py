"""A retake the server asked for outlives a restart of the hub's voice: the prompt is said
before it, the reminder after it, at its time, by a new service reading the same state
directory (as ``carewatch hub run`` does after a power cut). Words rendered by the real
espeak-ng into WAV directories, one per life of the service."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.wire.commands import RetakeReason, RetakeRequest
from common.wire.vocabulary import Measure, ReadingKind
from gateway.feedback.attach import build_feedback
from gateway.feedback.retake_file import FILE_NAME, STALE_AFTER
from gateway.feedback.service import FeedbackService
from gateway.feedback.settings import FeedbackSettings
from tests.support.readings import make_reading

LONDON = ZoneInfo("Europe/London")
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=LONDON)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


Start = Callable[[Path, Clock], FeedbackService]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """A hub's voice as ``carewatch hub run`` builds it, with the state directory ``tmp_path/state``."""
    made: list[FeedbackService] = []

    def run(wav_dir: Path, clock: Clock) -> FeedbackService:
        settings = FeedbackSettings.model_validate(
            {"enabled": True, "output": "wav_dir", "wav_dir": wav_dir, "check_every_s": 0.2}
        )
        s = build_feedback(settings, "hub-0042", LONDON, tmp_path / "state")
        s.clock = clock
        made.append(s)
        s.start()
        return s

    yield run
    for s in made:
        s.stop()


def said(s: FeedbackService, wav_dir: Path) -> list[str]:
    s.stop()
    return [p.name[5:-4] for p in sorted(wav_dir.glob("*.wav"))]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def retake(after_s: int = 300) -> bytes:
    return RetakeRequest(
        command_id=uuid.uuid4(),
        hub_id="hub-0042",
        issued_at=datetime.now(UTC),
        reading_id=uuid.uuid4(),
        kind=ReadingKind.BLOOD_PRESSURE,
        reason=RetakeReason.OUT_OF_RANGE,
        retake_after_s=after_s,
    ).to_json()


def test_a_retake_asked_before_a_restart_is_reminded_after_it(start: Start, tmp_path: Path) -> None:
    clock = Clock(NOON)
    first = start(tmp_path / "before", clock)
    command = retake(after_s=300)
    first.command(command)
    assert said(first, tmp_path / "before") == ["retake"]
    saved = json.loads((tmp_path / "state" / FILE_NAME).read_text())
    assert [r["kind"] for r in saved["retakes"]] == ["blood_pressure"]

    clock.now = NOON + timedelta(seconds=120)  # the hub is back before the retake's time
    second = start(tmp_path / "after", clock)
    second.command(command)  # the broker delivers the command again: not prompted twice
    clock.now = NOON + timedelta(seconds=301)
    wait_until(lambda: any((tmp_path / "after").glob("*.wav")))
    assert said(second, tmp_path / "after") == ["retake_due"]
    assert json.loads((tmp_path / "state" / FILE_NAME).read_text()) == {"retakes": []}

    third = start(tmp_path / "later", clock)  # reminded once: not again after another restart
    clock.now = NOON + timedelta(seconds=400)
    time.sleep(0.6)  # three checks of what is due
    assert said(third, tmp_path / "later") == []


def test_a_retake_answered_before_the_restart_is_not_reminded(start: Start, tmp_path: Path) -> None:
    clock = Clock(NOON)
    first = start(tmp_path / "before", clock)
    first.command(retake(after_s=300))
    clock.now = NOON + timedelta(seconds=60)
    values: dict[Measure | str, float] = {Measure.SYSTOLIC: 128.0, Measure.DIASTOLIC: 82.0}
    first.reading_received(make_reading(ReadingKind.BLOOD_PRESSURE, values, clock()), connected=True)
    assert said(first, tmp_path / "before") == ["retake", "received"]

    second = start(tmp_path / "after", clock)
    clock.now = NOON + timedelta(seconds=301)
    time.sleep(0.6)
    assert said(second, tmp_path / "after") == []


def test_a_retake_long_past_at_the_restart_is_dropped(start: Start, tmp_path: Path) -> None:
    clock = Clock(NOON)
    first = start(tmp_path / "before", clock)
    first.command(retake(after_s=300))
    wait_until(lambda: first.played == 1)
    first.command(retake(after_s=3600))
    assert said(first, tmp_path / "before") == ["retake", "retake"]

    # Off for the night: back just past the limit for the first, just within it for the second.
    clock.now = NOON + timedelta(seconds=300) + STALE_AFTER + timedelta(seconds=1)
    second = start(tmp_path / "after", clock)
    wait_until(lambda: any((tmp_path / "after").glob("*.wav")))
    time.sleep(0.6)
    assert said(second, tmp_path / "after") == ["retake_due"]  # the second one's, once


def test_an_unreadable_file_costs_the_reminders_not_the_voice(start: Start, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / FILE_NAME).write_text("{not json")
    clock = Clock(NOON)
    s = start(tmp_path / "wav", clock)
    s.command(retake(after_s=0))
    wait_until(lambda: len(list((tmp_path / "wav").glob("*.wav"))) == 2)
    assert said(s, tmp_path / "wav") == ["retake", "retake_due"]
