"""Every message the hub can say, in every language, spoken by the real espeak-ng into a WAV
file (the directory sink, as a hub without a sound card uses it), then measured by sox: it
must be audible (RMS amplitude above a floor) and as long as its words, no more."""

from __future__ import annotations

import io
import wave
from datetime import time
from pathlib import Path

import pytest

from common.wire.commands import RetakeReason
from common.wire.feedback_prefs import PatientFeedback
from common.wire.vocabulary import ReadingKind
from gateway.feedback.catalogue import load_phrasebooks
from gateway.feedback.core import (
    Event,
    HubOffline,
    Policy,
    ReadingDue,
    ReadingReceived,
    ReadingsConfirmed,
    RetakeAsked,
    RetakeDue,
    Tone,
    decide,
)
from gateway.feedback.outputs import WavDirectory
from gateway.feedback.sound import SpeechUnavailable, Voice, chime_pcm, speak_to_wav, with_chime
from tests.feedback.sox_stat import sox_stat

#: Speech at espeak-ng's amplitude 120 measures about 0.07-0.1 RMS; silence measures 0.
RMS_FLOOR = 0.02
NOON = time(12)
EVENTS: list[Event] = [
    ReadingReceived(ReadingKind.BLOOD_PRESSURE, {"systolic": 128.0, "diastolic": 82.0}),
    ReadingsConfirmed(1),
    HubOffline(),
    ReadingDue(ReadingKind.BLOOD_PRESSURE),
    RetakeAsked(ReadingKind.BLOOD_PRESSURE, RetakeReason.OUT_OF_RANGE, 300),
    RetakeAsked(ReadingKind.SPO2, RetakeReason.QUALITY_FLAG, 300),
    RetakeDue(ReadingKind.WEIGHT),
]


@pytest.mark.parametrize("language", ["en", "cy"])
def test_each_message_is_spoken_audibly_and_at_a_plausible_length(language: str, tmp_path: Path) -> None:
    book = load_phrasebooks()[language]
    policy = Policy(True, PatientFeedback(speak_values=True), book)
    sink = WavDirectory(tmp_path)
    for event in EVENTS:
        said = decide(event, policy, NOON)
        assert said is not None
        sink.play(said.key, with_chime(speak_to_wav(said.text, Voice(book.voice)), said.tone))
    files = sorted(tmp_path.glob("*.wav"))
    assert [f.name for f in files] == [
        "0001-received.wav",
        "0002-confirmed.wav",
        "0003-offline.wav",
        "0004-reminder.wav",
        "0005-retake.wav",
        "0006-retake.wav",
        "0007-retake_due.wav",
    ]
    for event, path in zip(EVENTS, files, strict=True):
        said = decide(event, policy, NOON)
        assert said is not None
        words = len(said.text.split())
        stat = sox_stat(path)
        assert stat.rms > RMS_FLOOR, (path.name, stat)
        # At 140 words a minute a word takes about 0.43 s; the chime adds under a second.
        assert 0.2 * words < stat.seconds < 0.9 * words + 1.5, (path.name, words, stat)


def test_the_floor_tells_silence_from_speech(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(b"\0\0" * 22050 * 2)
    assert sox_stat(silent).rms < RMS_FLOOR
    chime = tmp_path / "chime.wav"
    with wave.open(str(chime), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(chime_pcm(Tone.ATTENTION, 22050))
    stat = sox_stat(chime)
    assert stat.rms > RMS_FLOOR and 0.5 < stat.seconds < 1.0


def test_the_chime_comes_before_the_words_in_one_file() -> None:
    speech = speak_to_wav("Thank you.", Voice("en-gb"))
    joined = with_chime(speech, Tone.GOOD)
    with wave.open(io.BytesIO(joined)) as w, wave.open(io.BytesIO(speech)) as s:
        assert w.getframerate() == s.getframerate()
        chime_frames = len(chime_pcm(Tone.GOOD, s.getframerate())) // 2
        assert w.getnframes() == chime_frames + len(s.readframes(2**31 - 1)) // 2
    assert with_chime(speech, None)[44:] == speech[44:]


def test_an_unknown_voice_is_a_named_error() -> None:
    with pytest.raises(SpeechUnavailable, match="voice 'xx-nowhere'"):
        speak_to_wav("hello", Voice("xx-nowhere"))
