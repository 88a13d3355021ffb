"""How long the hub takes to put each message into words: espeak-ng rendering plus the chime,
per language, and the length of what the patient hears (the delay between a reading and the
first sound is the render time; playing then takes the audio's length).

Run: ``.venv/bin/python bench/feedback_speech.py [--repeat N]``. Prints figures; no assertions,
the numbers are for comparing machines (a Raspberry Pi hub against a laptop).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.wire.commands import RetakeReason
from common.wire.feedback_prefs import PatientFeedback
from common.wire.vocabulary import ReadingKind
from gateway.feedback.catalogue import load_phrasebooks
from gateway.feedback.core import (
    Event,
    HubOffline,
    ReadingDue,
    ReadingReceived,
    ReadingsConfirmed,
    RetakeAsked,
    RetakeDue,
    compose,
)
from gateway.feedback.sound import Voice, speak_to_wav, with_chime

EVENTS: list[Event] = [
    ReadingReceived(ReadingKind.BLOOD_PRESSURE, {"systolic": 128.0, "diastolic": 82.0}),
    ReadingsConfirmed(1),
    HubOffline(),
    ReadingDue(ReadingKind.BLOOD_PRESSURE),
    RetakeAsked(ReadingKind.BLOOD_PRESSURE, RetakeReason.QUALITY_FLAG, 300),
    RetakeDue(ReadingKind.BLOOD_PRESSURE),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = PatientFeedback()
    print(f"{'lang':4} {'message':11} {'render ms (median)':>18} {'audio s':>8}")
    for language, book in sorted(load_phrasebooks().items()):
        for event in EVENTS:
            key, text, tone = compose(event, book, speak_values=settings.speak_values)
            times, wav = [], b""
            for _ in range(args.repeat):
                start = time.perf_counter()
                wav = with_chime(speak_to_wav(text, Voice(book.voice)), tone)
                times.append(time.perf_counter() - start)
            with wave.open(io.BytesIO(wav)) as w:
                seconds = w.getnframes() / w.getframerate()
            print(f"{language:4} {key:11} {statistics.median(times) * 1000:18.0f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
