"""The hub's voice as the hub runs it: events from other threads, words rendered by the real
espeak-ng on the worker thread into the WAV directory; the off switch, quiet hours, once per
outage, commands from the server, reminders, and a broken speaker that costs one log line."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.wire.commands import RetakeReason, RetakeRequest
from common.wire.feedback_prefs import FeedbackEvent, PatientFeedback, ReadingReminder
from common.wire.messages import ReceiptEntry, ReceiptOutcome
from common.wire.vocabulary import Measure, ReadingKind
from gateway.feedback.catalogue import load_phrasebooks
from gateway.feedback.outputs import AlsaSpeaker, PlaybackFailed, WavDirectory
from gateway.feedback.service import FeedbackService
from gateway.feedback.settings import FeedbackSettings
from gateway.feedback.sound import Voice, speak_to_wav
from tests.feedback.sox_stat import sox_stat
from tests.support.readings import make_reading

LONDON = ZoneInfo("Europe/London")
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=LONDON)
NIGHT = datetime(2026, 12, 3, 23, 30, tzinfo=LONDON)
BP: dict[Measure | str, float] = {Measure.SYSTOLIC: 128.0, Measure.DIASTOLIC: 82.0}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


@pytest.fixture
def made(tmp_path: Path) -> Iterator[list[FeedbackService]]:
    services: list[FeedbackService] = []
    yield services
    for s in services:
        s.stop()


def service(made: list[FeedbackService], wav_dir: Path, clock: Clock, **settings: object) -> FeedbackService:
    cfg = FeedbackSettings.model_validate(
        {"enabled": True, "output": "wav_dir", "wav_dir": wav_dir, "check_every_s": 0.2, **settings}
    )
    s = FeedbackService(
        cfg,
        hub_id="hub-0042",
        tz=LONDON,
        phrasebooks=load_phrasebooks(),
        speaker=WavDirectory(wav_dir),
        clock=clock,
    )
    made.append(s)
    s.start()
    return s


def said(s: FeedbackService, wav_dir: Path) -> list[str]:
    """What was said, in order, once everything queued is played (stop drains the queue)."""
    s.stop()
    return [p.name[5:-4] for p in sorted(wav_dir.glob("*.wav"))]


def test_a_reading_and_its_receipt_are_spoken(made: list[FeedbackService], tmp_path: Path) -> None:
    s = service(made, tmp_path, Clock(NOON))
    reading = make_reading(ReadingKind.BLOOD_PRESSURE, BP)
    s.reading_received(reading, connected=True)
    s.readings_confirmed([ReceiptEntry(reading_id=reading.reading_id, outcome=ReceiptOutcome.STORED)])
    s.readings_confirmed([ReceiptEntry(reading_id=uuid.uuid4(), outcome=ReceiptOutcome.REFUSED, reason="x")])
    assert said(s, tmp_path) == ["received", "confirmed"]
    assert sox_stat(tmp_path / "0001-received.wav").rms > 0.02


def test_receipts_batch_after_batch_are_said_once_a_minute(
    made: list[FeedbackService], tmp_path: Path
) -> None:
    clock = Clock(NOON)
    s = service(made, tmp_path, clock)
    stored = [ReceiptEntry(reading_id=uuid.uuid4(), outcome=ReceiptOutcome.STORED)]
    # A backlog confirmed in batches after an outage, then a new reading a minute later.
    for seconds, played in ((0, 1), (20, 1), (59, 1), (61, 2)):
        clock.now = NOON + timedelta(seconds=seconds)
        s.readings_confirmed(stored)
        _wait_until(lambda: s.played == played)  # noqa: B023 - waited on before it changes
    assert said(s, tmp_path) == ["confirmed", "confirmed"]


def test_aplay_plays_through_alsa_and_a_missing_device_is_named(tmp_path: Path) -> None:
    wav = speak_to_wav("Thank you.", Voice("en-gb"))
    AlsaSpeaker("null").play("received", wav)  # ALSA's null device: the real aplay, no sound card
    with pytest.raises(PlaybackFailed, match="aplay -D carewatch-no-such-device failed"):
        AlsaSpeaker("carewatch-no-such-device").play("received", wav)


def test_a_reading_just_after_the_hub_starts_is_not_called_offline(tmp_path: Path) -> None:
    from types import SimpleNamespace
    from typing import cast

    from gateway.feedback.attach import STARTUP_GRACE_S, HubFeedback
    from gateway.mqtt.session import MqttSession

    session = cast(MqttSession, SimpleNamespace(connected=threading.Event()))  # never connects
    hooks = HubFeedback(
        FeedbackService(
            FeedbackSettings(), hub_id="hub-0042", tz=LONDON, phrasebooks={}, speaker=WavDirectory(tmp_path)
        ),
        session,
    )
    assert hooks.connected()  # never connected yet, within the grace: not an outage
    hooks._started -= STARTUP_GRACE_S
    assert not hooks.connected()
    hooks._connected()
    hooks._started += STARTUP_GRACE_S
    assert not hooks.connected()  # it was connected once: now a disconnection is an outage


def test_the_off_switch_says_nothing(made: list[FeedbackService], tmp_path: Path) -> None:
    s = service(made, tmp_path, Clock(NOON), enabled=False)
    s.reading_received(make_reading(ReadingKind.BLOOD_PRESSURE, BP), connected=False)
    s.command(_retake(after_s=0))
    assert said(s, tmp_path) == []


def test_quiet_hours_say_nothing_aloud(made: list[FeedbackService], tmp_path: Path) -> None:
    clock = Clock(NIGHT)
    s = service(made, tmp_path, clock)
    s.reading_received(make_reading(ReadingKind.BLOOD_PRESSURE, BP), connected=True)
    s.command(_retake())
    assert said(s, tmp_path) == []
    daytime = service(made, tmp_path / "day", Clock(NIGHT), quiet_from=None, quiet_until=None)
    daytime.reading_received(make_reading(ReadingKind.BLOOD_PRESSURE, BP), connected=True)
    assert said(daytime, tmp_path / "day") == ["received"]


def test_offline_is_said_once_per_outage(made: list[FeedbackService], tmp_path: Path) -> None:
    s = service(made, tmp_path, Clock(NOON), quiet_from=None, quiet_until=None)
    for played, connected in ((2, False), (3, False), (4, False), (5, True), (7, False)):
        if played == 5:
            s.reconnected()  # the outage ends; the next one is said again
        s.reading_received(make_reading(ReadingKind.BLOOD_PRESSURE, BP), connected=connected)
        _wait_until(lambda: s.played == played)  # noqa: B023 - waited on before it changes
    assert said(s, tmp_path) == ["received", "offline", *["received"] * 4, "offline"]


def test_a_retake_command_is_said_once_then_reminded_when_due(
    made: list[FeedbackService], tmp_path: Path
) -> None:
    clock = Clock(NOON)
    s = service(made, tmp_path, clock)
    command = _retake(after_s=300)
    s.command(command)
    s.command(command)  # QoS 1 may deliver it twice: said once
    s.command(_retake(hub_id="hub-0043"))  # not ours
    s.command(b'{"schema": "carewatch.commands.v1", "command": "reboot"}')  # unknown: refused
    clock.now = NOON + timedelta(seconds=301)
    _wait_until(lambda: len(list(tmp_path.glob("*.wav"))) == 2)
    assert said(s, tmp_path) == ["retake", "retake_due"]


def test_a_scheduled_reading_not_taken_is_reminded(made: list[FeedbackService], tmp_path: Path) -> None:
    clock = Clock(NOON)
    s = service(made, tmp_path, clock)
    s.set_patient(PatientFeedback(reminders=[ReadingReminder(kind=ReadingKind.WEIGHT, at="12:00")]))
    _wait_until(lambda: any(tmp_path.glob("*-reminder.wav")))
    s.set_patient(
        PatientFeedback(
            speak=[FeedbackEvent.RETAKE], reminders=[ReadingReminder(kind=ReadingKind.SPO2, at="12:00")]
        )
    )
    assert said(s, tmp_path) == ["reminder"]  # the patient turned reminders off: the second is not said


def test_a_broken_speaker_is_logged_once_and_the_hub_goes_on(
    made: list[FeedbackService], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def play(self, key: str, wav: bytes) -> None:
            raise PlaybackFailed("no sound card")

    cfg = FeedbackSettings(enabled=True, quiet_from=None, quiet_until=None, check_every_s=0.2)
    s = FeedbackService(cfg, hub_id="hub-0042", tz=LONDON, phrasebooks=load_phrasebooks(), speaker=Broken())
    made.append(s)
    s.start()
    with caplog.at_level(logging.ERROR, logger="gateway.feedback"):
        for n in range(1, 4):
            s.reading_received(make_reading(ReadingKind.BLOOD_PRESSURE, BP), connected=True)
            _wait_until(lambda: s.failures == n)  # noqa: B023 - waited on before n changes
        s.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "no sound card" in errors[0], errors
    assert (s.played, s.failures) == (0, 3)


def _retake(*, after_s: int = 300, hub_id: str = "hub-0042") -> bytes:
    return RetakeRequest(
        command_id=uuid.uuid4(),
        hub_id=hub_id,
        issued_at=datetime.now(UTC),
        reading_id=uuid.uuid4(),
        kind=ReadingKind.BLOOD_PRESSURE,
        reason=RetakeReason.OUT_OF_RANGE,
        retake_after_s=after_s,
    ).to_json()


def _wait_until(predicate: object, timeout: float = 10.0) -> None:
    import time

    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
