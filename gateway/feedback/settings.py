"""The ``[feedback]`` section of the hub's configuration file: how this hub speaks (the
household's side: speaker, voice, quiet hours, light). What is said to the patient comes
from the server (``RemoteConfig.patient_feedback``)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.wire.feedback_prefs import LANGUAGE_PATTERN
from gateway.feedback.core import QuietHours

_HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class FeedbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(default=False, description="the off switch: nothing is said or shown when false")
    output: Literal["alsa", "wav_dir"] = Field(
        default="alsa", description="alsa: play through aplay; wav_dir: write WAV files (tests, diagnosis)"
    )
    wav_dir: Path | None = Field(default=None, description="where output = wav_dir writes its files")
    alsa_device: str = Field(default="default", description="aplay -D device")
    language: str = Field(default="en", pattern=LANGUAGE_PATTERN, description="unless the patient's is set")
    voice: str | None = Field(default=None, description="espeak-ng voice instead of the language's own")
    rate_wpm: int = Field(default=140, ge=80, le=300, description="speaking rate; slower than espeak's 175")
    amplitude: int = Field(default=120, ge=10, le=200, description="espeak-ng -a")
    chime: bool = Field(default=True, description="a short chime before each message")
    quiet_from: str | None = Field(
        default="22:00", pattern=_HH_MM, description="no sound from (household time)"
    )
    quiet_until: str | None = Field(default="07:00", pattern=_HH_MM, description="no sound until")
    check_every_s: float = Field(default=20.0, ge=0.2, le=600, description="how often reminders are checked")
    led_pin: int | None = Field(default=None, ge=0, le=40, description="GPIO pin of an LED (gpiozero)")
    buzzer_pin: int | None = Field(default=None, ge=0, le=40, description="GPIO pin of a buzzer (gpiozero)")

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackSettings:
        if self.output == "wav_dir" and self.wav_dir is None:
            raise ValueError("output = 'wav_dir' needs wav_dir")
        if (self.quiet_from is None) != (self.quiet_until is None):
            raise ValueError("set both quiet_from and quiet_until, or neither")
        return self

    def quiet_hours(self) -> QuietHours | None:
        if self.quiet_from is None or self.quiet_until is None or self.quiet_from == self.quiet_until:
            return None
        return QuietHours(time.fromisoformat(self.quiet_from), time.fromisoformat(self.quiet_until))
