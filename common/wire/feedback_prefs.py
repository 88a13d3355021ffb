"""What a hub says to its patient, as the server sets it for that patient: part of the hub's
retained configuration (``RemoteConfig.patient_feedback``), because the hub serves one patient
and must keep speaking sensibly while it is offline.

Values are never read out unless ``speak_values`` is set: a reading spoken aloud is heard by
whoever is in the room.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from common.wire.vocabulary import ReadingKind

MAX_REMINDERS: Final = 24
LANGUAGE_PATTERN: Final = r"^[a-z]{2,3}$"
#: The languages the hub has a phrasebook for (``gateway/feedback/phrases/<language>.toml``),
#: with their names for the clinicians' pages. The one list: the hub refuses to start its voice
#: when its phrasebooks and this list differ, and the server refuses a language not in it. The
#: wire itself takes any code (``LANGUAGE_PATTERN``), so a hub running an older list speaks
#: English for a language it lacks instead of refusing its whole configuration.
SPOKEN_LANGUAGES: Final[dict[str, str]] = {"en": "English", "cy": "Welsh (Cymraeg)"}


class FeedbackEvent(StrEnum):
    """What the hub can tell the patient about."""

    RECEIVED = "received"  # the hub has the reading
    CONFIRMED = "confirmed"  # the server holds it: "your nurse's team has it"
    OFFLINE = "offline"  # the hub cannot reach the server; readings are kept (once per outage)
    REMINDER = "reminder"  # a scheduled reading is due and not yet taken
    RETAKE = "retake"  # the server asks for a reading again, and the reminder when it is time


class ReadingReminder(BaseModel):
    """A reading due every day at ``at`` (the household's local time). A reading of ``kind``
    taken up to ``window_min`` minutes before ``at`` counts, so an early riser is not nagged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ReadingKind
    at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, household time")
    window_min: int = Field(default=120, ge=0, le=720)


class PatientFeedback(BaseModel):
    """The patient's preferences; absent (``None`` in the configuration) means the hub's own defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    speak: list[FeedbackEvent] = Field(
        default_factory=lambda: list(FeedbackEvent), description="the events spoken aloud (default: all)"
    )
    speak_values: bool = Field(default=False, description="read the values out (default: never)")
    language: str | None = Field(
        default=None, pattern=LANGUAGE_PATTERN, description="e.g. en, cy (default: the hub's)"
    )
    reminders: list[ReadingReminder] = Field(default_factory=list, max_length=MAX_REMINDERS)
