"""Words and chimes as WAV: speech from ``espeak-ng`` (Debian package ``espeak-ng``), the chime
synthesised here, joined into one file so a player plays one thing and a test checks one thing.

espeak-ng runs as a child process with the text as one argument (never through a shell), and
within a time limit: a speech engine that hangs must not hold the feedback worker forever.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import wave
from array import array
from dataclasses import dataclass

from gateway.feedback.core import Tone

ESPEAK = "espeak-ng"


class SpeechUnavailable(RuntimeError):
    """espeak-ng is missing, failed, or took too long; the message says which."""


@dataclass(frozen=True, slots=True)
class Voice:
    voice: str
    rate_wpm: int = 140
    amplitude: int = 120


def speak_to_wav(text: str, voice: Voice, *, timeout: float = 20.0) -> bytes:
    """``text`` spoken by espeak-ng, as WAV bytes (16-bit mono; espeak's 22 050 Hz)."""
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise SpeechUnavailable("espeak-ng is not installed (Debian package 'espeak-ng')")
    args = [exe, "-v", voice.voice, "-s", str(voice.rate_wpm), "-a", str(voice.amplitude), "--stdout", text]
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SpeechUnavailable(f"espeak-ng took longer than {timeout:.0f}s") from None
    except OSError as e:
        raise SpeechUnavailable(f"cannot run espeak-ng: {e}") from None
    if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
        detail = done.stderr.decode(errors="replace").strip()[:200]
        raise SpeechUnavailable(
            f"espeak-ng (voice {voice.voice!r}) failed with status {done.returncode}: {detail}"
        )
    return done.stdout


#: (frequency in Hz, seconds) per note: rising for good news, two even notes for "something to do".
_NOTES: dict[Tone, tuple[tuple[float, float], ...]] = {
    Tone.GOOD: ((660.0, 0.12), (880.0, 0.18)),
    Tone.ATTENTION: ((740.0, 0.15), (0.0, 0.08), (740.0, 0.15)),
}


def chime_pcm(tone: Tone, rate: int, *, level: float = 0.35) -> bytes:
    """The chime as 16-bit mono PCM at ``rate``, each note faded in and out (no clicks),
    followed by a short pause before the words."""
    samples = array("h")
    for freq, seconds in (*_NOTES[tone], (0.0, 0.25)):
        n = int(rate * seconds)
        fade = max(1, int(rate * 0.01))
        for i in range(n):
            envelope = min(1.0, i / fade, (n - i) / fade)
            value = math.sin(2 * math.pi * freq * i / rate) if freq else 0.0
            samples.append(int(32767 * level * envelope * value))
    return samples.tobytes()


def with_chime(speech_wav: bytes, tone: Tone | None) -> bytes:
    """``speech_wav`` with the chime before it (or as it is, for no chime), as one WAV."""
    with wave.open(io.BytesIO(speech_wav), "rb") as src:
        params = src.getparams()
        # espeak-ng's --stdout header gives an unknown length; count what is really there.
        frames = src.readframes(2**31 - 1)
    if params.sampwidth != 2 or params.nchannels != 1:
        raise SpeechUnavailable(
            f"unexpected speech format: {params.nchannels} channel(s), {params.sampwidth * 8} bit"
        )
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setnchannels(1)
        dst.setsampwidth(2)
        dst.setframerate(params.framerate)
        if tone is not None:
            dst.writeframes(chime_pcm(tone, params.framerate))
        dst.writeframes(frames)
    return out.getvalue()
