"""Where an announcement goes: the speaker through ALSA's ``aplay`` (Debian ``alsa-utils``), a
directory of WAV files (tests, and a technician diagnosing a hub without listening at the
bedside), and an optional LED and buzzer on the Raspberry Pi's GPIO through ``gpiozero``."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Protocol

from gateway.feedback.core import Tone

log = logging.getLogger(__name__)


class PlaybackFailed(RuntimeError):
    """The sound could not be played or written; the message says why."""


class Speaker(Protocol):
    def play(self, key: str, wav: bytes) -> None: ...


class AlsaSpeaker:
    """``aplay -q -D DEVICE -`` with the WAV on its standard input."""

    def __init__(self, device: str = "default", *, timeout: float = 60.0) -> None:
        self.device = device
        self.timeout = timeout

    def play(self, key: str, wav: bytes) -> None:
        exe = shutil.which("aplay")
        if exe is None:
            raise PlaybackFailed("aplay is not installed (Debian package 'alsa-utils')")
        try:
            done = subprocess.run(
                [exe, "-q", "-D", self.device, "-"],
                input=wav,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PlaybackFailed(f"aplay took longer than {self.timeout:.0f}s") from None
        except OSError as e:
            raise PlaybackFailed(f"cannot run aplay: {e}") from None
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()[:200]
            raise PlaybackFailed(f"aplay -D {self.device} failed with status {done.returncode}: {detail}")


class WavDirectory:
    """Each announcement as ``NNNN-<key>.wav``, numbered in the order said; written under a
    temporary name and renamed, so whoever watches the directory never reads half a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        existing = sorted(directory.glob("[0-9][0-9][0-9][0-9]-*.wav")) if directory.is_dir() else []
        first = int(existing[-1].name[:4]) + 1 if existing else 1
        self._numbers = itertools.count(first)

    def play(self, key: str, wav: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            final = self.directory / f"{next(self._numbers) % 10000:04d}-{key}.wav"
            partial = final.with_suffix(".partial")
            partial.write_bytes(wav)
            os.replace(partial, final)
        except OSError as e:
            raise PlaybackFailed(f"cannot write to {self.directory}: {e}") from None


class Light(Protocol):
    def show(self, tone: Tone, *, audible: bool) -> None: ...


#: LED blinks per tone (on, off, count); the buzzer beeps the same pattern when sound is allowed.
_BLINKS: dict[Tone, tuple[float, float, int]] = {Tone.GOOD: (0.6, 0.2, 2), Tone.ATTENTION: (0.2, 0.2, 6)}


class GpioLight:
    """An LED (and a buzzer) on GPIO pins. gpiozero is imported only here, on first use: a hub
    without it (or not a Pi) goes on speaking, with one log line saying the light is off."""

    def __init__(self, led_pin: int | None, buzzer_pin: int | None) -> None:
        self.led: Any = None
        self.buzzer: Any = None
        try:
            import gpiozero  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            log.info("gpiozero is not installed: no feedback light or buzzer (pip install gpiozero on a Pi)")
            return
        try:
            self.led = gpiozero.LED(led_pin) if led_pin is not None else None
            self.buzzer = gpiozero.Buzzer(buzzer_pin) if buzzer_pin is not None else None
        except Exception as e:  # noqa: BLE001 - gpiozero raises many kinds off a Pi; all mean "no light"
            log.info("no feedback light or buzzer: %s", e)
            self.led = self.buzzer = None

    def show(self, tone: Tone, *, audible: bool) -> None:
        on, off, n = _BLINKS[tone]
        if self.led is not None:
            self.led.blink(on_time=on, off_time=off, n=n, background=True)
        if audible and self.buzzer is not None:
            self.buzzer.beep(on_time=min(on, 0.2), off_time=off, n=n, background=True)
