"""When a reading is due: the patient's daily reminders and the retakes the server asked for,
decided without I/O from the readings the hub has seen and the time (``service.py`` asks it
every few seconds).

A daily reminder at ``at`` is said once that day, and only if no reading of its kind was taken
from ``window_min`` before it.

"Taken" is when the hub *received* the reading (``received_at``, the hub's clock), never the
device's own timestamp: cuffs' clocks are often wrong (a cuff left at 2019, or a day behind since
its batteries were changed), and the question is whether the patient used the device since the
reminder's window opened or the retake was asked, both of which are hub times too. One more than ``LATE_LIMIT`` overdue is not said (a hub started
in the evening does not announce the morning's reading; the server's missed-reading rule
covers that). A retake is said when its time comes, unless a reading of its kind was taken
after it was asked. Pending retakes outlive a restart: ``retake_file.py`` keeps them on disk
and gives them back through ``restore``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from uuid import UUID

from common.wire.feedback_prefs import ReadingReminder
from common.wire.vocabulary import ReadingKind
from gateway.feedback.core import ReadingDue, RetakeDue

LATE_LIMIT: Final = timedelta(hours=2)
#: How many command ids are remembered to recognise a redelivered command.
REMEMBERED_COMMANDS: Final = 256


@dataclass(frozen=True, slots=True)
class PendingRetake:
    kind: ReadingKind
    asked_at: datetime
    due_at: datetime


class ReadingSchedule:
    """The hub's memory of readings taken, reminders said and retakes pending (one process's
    life, but for the pending retakes, which the service saves and restores: a restart says
    at most one daily reminder again)."""

    def __init__(self) -> None:
        self.last_taken: dict[ReadingKind, datetime] = {}
        self._said: set[tuple[ReadingKind, date, str]] = set()
        self._retakes: dict[UUID, PendingRetake] = {}
        self._commands: deque[UUID] = deque(maxlen=REMEMBERED_COMMANDS)

    def reading(self, kind: ReadingKind, received_at: datetime) -> bool:
        """Note a reading by when the hub received it (see above); True if it answered a
        pending retake (which is then forgotten)."""
        last = self.last_taken.get(kind)
        if last is None or received_at > last:
            self.last_taken[kind] = received_at
        answered = [c for c, r in self._retakes.items() if r.kind is kind and received_at >= r.asked_at]
        for command_id in answered:
            del self._retakes[command_id]
        return bool(answered)

    def ask_retake(self, command_id: UUID, kind: ReadingKind, now: datetime, after_s: int) -> bool:
        """Record a retake request; False if this command was already heard (a redelivery)."""
        if command_id in self._commands:
            return False
        self._commands.append(command_id)
        self._retakes[command_id] = PendingRetake(kind, now, now + timedelta(seconds=after_s))
        return True

    def restore(self, command_id: UUID, retake: PendingRetake) -> None:
        """A retake asked before a restart: pending again, and its command known (the broker
        may deliver it once more)."""
        if command_id not in self._commands:
            self._commands.append(command_id)
        self._retakes[command_id] = retake

    @property
    def pending_retakes(self) -> list[PendingRetake]:
        return list(self._retakes.values())

    def retakes_by_command(self) -> dict[UUID, PendingRetake]:
        return dict(self._retakes)

    def due(self, reminders: list[ReadingReminder], now: datetime) -> list[ReadingDue | RetakeDue]:
        """What should be said at ``now`` (aware, in the household's zone); each said once."""
        out: list[ReadingDue | RetakeDue] = []
        for command_id, retake in list(self._retakes.items()):
            if self._taken_since(retake.kind, retake.asked_at):
                del self._retakes[command_id]
            elif now >= retake.due_at:
                del self._retakes[command_id]
                out.append(RetakeDue(retake.kind))
        today = now.date()
        self._said = {s for s in self._said if s[1] >= today - timedelta(days=1)}
        for reminder in reminders:
            at = datetime.combine(today, time.fromisoformat(reminder.at), tzinfo=now.tzinfo)
            said = (reminder.kind, today, reminder.at)
            if now < at or said in self._said:
                continue
            self._said.add(said)
            if now - at > LATE_LIMIT:
                continue
            if not self._taken_since(reminder.kind, at - timedelta(minutes=reminder.window_min)):
                out.append(ReadingDue(reminder.kind))
        return out

    def _taken_since(self, kind: ReadingKind, since: datetime) -> bool:
        last = self.last_taken.get(kind)
        return last is not None and last >= since
