"""What the hub says to its patient for each event, decided without I/O: the shell
(``service.py``) renders and plays it, so these choices are tested with plain values.

The patient never touches a keyboard and the hub has no screen, so sound and a light are all
they learn from: that a reading arrived, that their nurse's team has it, that the hub is
offline but keeps it, that a reading is due, or that they should sit quietly and take it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from common.wire.commands import RetakeReason
from common.wire.feedback_prefs import FeedbackEvent, PatientFeedback
from common.wire.vocabulary import ReadingKind
from gateway.feedback.phrasebook import Phrasebook


class Tone(StrEnum):
    """The chime (and light pattern) before the words: good news, or something to do."""

    GOOD = "good"
    ATTENTION = "attention"


@dataclass(frozen=True, slots=True)
class ReadingReceived:
    kind: ReadingKind
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ReadingsConfirmed:
    count: int


@dataclass(frozen=True, slots=True)
class HubOffline:
    """Said once per outage, with the first reading taken during it."""


@dataclass(frozen=True, slots=True)
class ReadingDue:
    kind: ReadingKind


@dataclass(frozen=True, slots=True)
class RetakeAsked:
    kind: ReadingKind
    reason: RetakeReason
    after_s: int


@dataclass(frozen=True, slots=True)
class RetakeDue:
    kind: ReadingKind


Event = ReadingReceived | ReadingsConfirmed | HubOffline | ReadingDue | RetakeAsked | RetakeDue


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From ``start`` until ``end``, household time; wraps midnight when ``start > end``."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything that decides what is said: the off switch, the patient's preferences, the
    language and the household's quiet hours."""

    enabled: bool
    prefs: PatientFeedback
    phrasebook: Phrasebook
    quiet: QuietHours | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    """``key`` names it (in logs and file names); ``audible`` is False in quiet hours, when only
    the light may show it."""

    key: str
    text: str
    tone: Tone
    audible: bool


def decide(event: Event, policy: Policy, local_time: time) -> Announcement | None:
    """The announcement for ``event``, or None when the hub should stay silent and dark."""
    if not policy.enabled or _topic(event) not in policy.prefs.speak:
        return None
    key, text, tone = compose(event, policy.phrasebook, speak_values=policy.prefs.speak_values)
    audible = policy.quiet is None or not policy.quiet.contains(local_time)
    return Announcement(key, text, tone, audible)


def _topic(event: Event) -> FeedbackEvent:
    match event:
        case ReadingReceived():
            return FeedbackEvent.RECEIVED
        case ReadingsConfirmed():
            return FeedbackEvent.CONFIRMED
        case HubOffline():
            return FeedbackEvent.OFFLINE
        case ReadingDue():
            return FeedbackEvent.REMINDER
        case RetakeAsked() | RetakeDue():
            return FeedbackEvent.RETAKE


def compose(event: Event, book: Phrasebook, *, speak_values: bool = False) -> tuple[str, str, Tone]:
    """The words for ``event`` in ``book``'s language: (key, text, tone)."""
    match event:
        case ReadingReceived(kind=kind, values=values):
            spoken = values_phrase(book, kind, values) if speak_values else None
            if spoken is None:
                return "received", book.messages["received"].format(what=book.what[kind]), Tone.GOOD
            text = book.messages["received_values"].format(what=book.what[kind], values=spoken)
            return "received", text, Tone.GOOD
        case ReadingsConfirmed():
            return "confirmed", book.messages["confirmed"], Tone.GOOD
        case HubOffline():
            return "offline", book.messages["offline"], Tone.ATTENTION
        case ReadingDue(kind=kind):
            return "reminder", book.reminder[kind], Tone.ATTENTION
        case RetakeAsked(kind=kind, reason=reason, after_s=after_s):
            text = book.retake[kind].format(when=when_phrase(book, after_s))
            if reason is RetakeReason.QUALITY_FLAG:
                text = f"{book.messages['quality_intro']} {text}"
            return "retake", text, Tone.ATTENTION
        case RetakeDue(kind=kind):
            return "retake_due", book.retake[kind].format(when=book.when["now"]), Tone.ATTENTION


def when_phrase(book: Phrasebook, seconds: int) -> str:
    """ "now", "in one minute", "in 5 minutes": to the nearest minute, as people say it."""
    minutes = round(seconds / 60)
    if minutes <= 0:
        return book.when["now"]
    if minutes == 1:
        return book.when["one_minute"]
    return book.when["minutes"].format(n=minutes)


def values_phrase(book: Phrasebook, kind: ReadingKind, values: Mapping[str, float]) -> str | None:
    """The values as spoken ("128 over 82"), or None if the reading lacks one the sentence needs."""
    try:
        return book.values[kind].format_map({name: spoken_number(v) for name, v in values.items()})
    except KeyError:
        return None


def spoken_number(value: float) -> str:
    """A whole number when it is one (a speech engine reads "128.0" as "128 point 0"), else one decimal."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


class OutageMemory:
    """ "Offline, but your readings are kept" is said once per outage, not with every reading."""

    def __init__(self) -> None:
        self._told = False

    def reading_while(self, *, connected: bool) -> bool:
        """A reading arrived; True if the patient should now be told the hub is offline."""
        if connected or self._told:
            return False
        self._told = True
        return True

    def reconnected(self) -> None:
        self._told = False
