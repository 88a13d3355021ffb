"""Can the hub speak to its patient? Spoken feedback ("your reading has reached your nurse's
team") needs espeak-ng to turn words into sound and, for a speaker, ALSA with a sound card.
Either missing makes the hub silent without any other symptom: readings still flow, so
nobody notices until a patient says the hub stopped talking.

The check renders a short phrase with the voice the hub would use (the one named in hub.toml,
or the language's own), the same call an announcement makes, so a voice espeak-ng does not
have fails here rather than at the bedside. ALSA is asked through ``/proc/asound/cards``,
which is what ``aplay -l`` lists. Spoken feedback switched off is said as such and skipped:
nothing to fix.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Final

from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics.results import failed, ok, skipped
from gateway.feedback.catalogue import DEFAULT_LANGUAGE, load_phrasebooks
from gateway.feedback.phrasebook import PhrasebookError
from gateway.feedback.settings import FeedbackSettings
from gateway.feedback.sound import ESPEAK, SpeechUnavailable, Voice, speak_to_wav

SPEECH: Final = HubCheckName.SPEECH
DEFAULT_ASOUND_CARDS: Final = Path("/proc/asound/cards")
#: Short, in every shipped voice's reach; never a patient's words.
TEST_PHRASE: Final = "CareWatch hub"
RENDER_TIMEOUT_S: Final = 10.0
_REINSTALL: Final = (
    "Install it again: 'apt-get install --reinstall espeak-ng' (or run the hub's install.sh again)."
)


def sound_cards(cards_file: Path = DEFAULT_ASOUND_CARDS) -> list[str] | None:
    """The sound cards ALSA knows (their long names), or None when the kernel has no ALSA."""
    try:
        text = cards_file.read_text(errors="replace")
    except OSError:
        return None
    names = []
    for line in text.splitlines():
        # " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones"; continuation lines are indented further
        index, bracket, rest = line.strip().partition(" [")
        if index.isdigit() and bracket:
            names.append(rest.partition(" - ")[2].strip() or rest.partition("]")[0].strip())
    return names


def _voice(settings: FeedbackSettings) -> str:
    if settings.voice:
        return settings.voice
    try:
        books = load_phrasebooks()
    except PhrasebookError:
        return settings.language  # the service reports its broken catalogue; espeak knows languages
    book = books.get(settings.language) or books[DEFAULT_LANGUAGE]
    return book.voice


def speech_check(settings: FeedbackSettings, *, cards_file: Path = DEFAULT_ASOUND_CARDS) -> HubCheck:
    if not settings.enabled:
        return skipped(SPEECH, "spoken feedback is switched off in hub.toml ([feedback] enabled = false)")
    if shutil.which(ESPEAK) is None:
        return failed(
            SPEECH,
            "espeak-ng is not installed: the hub cannot speak",
            "Install it: 'apt-get install espeak-ng' (or run the hub's install.sh again).",
        )
    voice = _voice(settings)
    started = time.monotonic()
    try:
        wav = speak_to_wav(
            TEST_PHRASE, Voice(voice, settings.rate_wpm, settings.amplitude), timeout=RENDER_TIMEOUT_S
        )
    except SpeechUnavailable as e:
        return failed(
            SPEECH,
            f"espeak-ng cannot speak with voice {voice!r}: {e}",
            f"Check [feedback] voice/language in hub.toml against 'espeak-ng --voices'. {_REINSTALL}",
        )
    took_ms = (time.monotonic() - started) * 1000
    rendered = f"espeak-ng speaks (voice {voice}, a test phrase in {took_ms:.0f} ms, {len(wav)} bytes)"
    if settings.output == "wav_dir":
        return ok(SPEECH, f"{rendered}; announcements are written to {settings.wav_dir}, not played")
    if shutil.which("aplay") is None:
        return failed(
            SPEECH,
            "aplay is not installed: the hub's speech cannot reach a speaker",
            "Install ALSA's player: 'apt-get install alsa-utils' (or run the hub's install.sh again).",
        )
    cards = sound_cards(cards_file)
    if not cards:
        return failed(
            SPEECH,
            "no sound card: ALSA lists none, so the hub's speech is not heard",
            "Plug in the speaker (a USB speaker shows up at once), or switch on the Pi's own audio with "
            "'dtparam=audio=on' in /boot/firmware/config.txt and reboot; 'aplay -l' should then list it.",
        )
    return ok(SPEECH, f"{rendered}; sound card: {', '.join(cards)} (ALSA device {settings.alsa_device})")
