"""The hub's speech check with the real espeak-ng: the voice each shipped language uses
renders, a sound card in ALSA's list (the kernel's ``/proc/asound/cards`` format, as a Pi
with its headphone jack and a USB speaker writes it) makes a speaker hub pass, none makes it
fail; and how long the check takes, since the telemetry runs it at every report."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from common.wire.vocabulary import CheckStatus
from gateway.diagnostics.speech import sound_cards, speech_check
from gateway.feedback.settings import FeedbackSettings

PI_CARDS = """\
 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [UACDemoV10     ]: USB-Audio - UACDemoV1.0
                      Jieli Technology UACDemoV1.0 at usb-0000:01:00.0-1.2, full speed
"""
NO_CARDS = "--- no soundcards ---\n"


def cards(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cards"
    path.write_text(text)
    return path


def test_alsa_card_names_are_read_from_the_kernels_list(tmp_path: Path) -> None:
    assert sound_cards(cards(tmp_path, PI_CARDS)) == ["bcm2835 Headphones", "UACDemoV1.0"]
    assert sound_cards(cards(tmp_path, NO_CARDS)) == []
    assert sound_cards(tmp_path / "no-alsa-here") is None


@pytest.mark.parametrize("language", ["en", "cy"])
def test_a_speaker_hub_with_a_sound_card_passes_in_each_language(tmp_path: Path, language: str) -> None:
    check = speech_check(
        FeedbackSettings(enabled=True, language=language), cards_file=cards(tmp_path, PI_CARDS)
    )
    assert check.status is CheckStatus.OK, check
    voice = {"en": "en-gb", "cy": "cy"}[language]
    assert check.summary.startswith(f"espeak-ng speaks (voice {voice}, a test phrase in ")
    assert check.summary.endswith("sound card: bcm2835 Headphones, UACDemoV1.0 (ALSA device default)")


def test_a_speaker_hub_without_a_sound_card_fails_with_what_to_do(tmp_path: Path) -> None:
    for cards_file in (cards(tmp_path, NO_CARDS), tmp_path / "no-alsa-here"):
        check = speech_check(FeedbackSettings(enabled=True), cards_file=cards_file)
        assert check.status is CheckStatus.FAILED
        assert check.summary == "no sound card: ALSA lists none, so the hub's speech is not heard"
        assert check.fix is not None and "dtparam=audio=on" in check.fix


def test_how_long_the_speech_check_takes(tmp_path: Path) -> None:
    """espeak-ng is started once per check: on this machine it must stay well inside a
    telemetry report's budget (the telemetry thread runs the checks before each report)."""
    settings = FeedbackSettings(enabled=True)
    card = cards(tmp_path, PI_CARDS)
    took = []
    for _ in range(5):
        started = time.perf_counter()
        assert speech_check(settings, cards_file=card).status is CheckStatus.OK
        took.append(time.perf_counter() - started)
    median = statistics.median(took)
    print(f"\nspeech check: median {median * 1000:.0f} ms, slowest {max(took) * 1000:.0f} ms (5 runs)")
    assert median < 1.0, took
