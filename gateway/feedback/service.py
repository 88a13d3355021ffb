"""The hub's voice, run beside its main work: events come in from any thread (the radio's
loop, paho's network thread) and are decided at once by the pure core; rendering and playing
happen on one worker thread, so a slow speaker never delays a reading, and a failure (no
espeak-ng, no sound card) is logged once and never stops the hub. Retakes still to be
reminded are kept in ``retakes_file`` (``retake_file.py``) and taken back at ``start``."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from pydantic import ValidationError

from common.wire.commands import parse_command
from common.wire.feedback_prefs import PatientFeedback
from common.wire.messages import Reading, ReceiptEntry, ReceiptOutcome, summarise_validation
from gateway.feedback.catalogue import DEFAULT_LANGUAGE
from gateway.feedback.core import (
    Announcement,
    Event,
    HubOffline,
    OutageMemory,
    Policy,
    ReadingReceived,
    ReadingsConfirmed,
    RetakeAsked,
    RetakeDue,
    decide,
)
from gateway.feedback.outputs import Light, PlaybackFailed, Speaker
from gateway.feedback.phrasebook import Phrasebook
from gateway.feedback.retake_file import load_retakes, save_retakes
from gateway.feedback.schedule import ReadingSchedule
from gateway.feedback.settings import FeedbackSettings
from gateway.feedback.sound import SpeechUnavailable, Voice, speak_to_wav, with_chime

log = logging.getLogger(__name__)

#: Announcements waiting to be said; beyond this the newest are dropped (with a log line):
#: a patient does not need a backlog of chimes after a long replay.
QUEUE_LIMIT = 16
#: After an outage, receipts arrive batch after batch: "your nurse's team has it" once, not per batch.
CONFIRMED_REPEAT_S = 60.0


class FeedbackService:
    def __init__(
        self,
        settings: FeedbackSettings,
        *,
        hub_id: str,
        tz: tzinfo,
        phrasebooks: dict[str, Phrasebook],
        speaker: Speaker,
        light: Light | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retakes_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.hub_id = hub_id
        self.tz = tz
        self.speaker = speaker
        self.light = light
        self.clock = clock
        self._books = phrasebooks
        self._prefs = PatientFeedback()
        self._schedule = ReadingSchedule()
        self._outage = OutageMemory()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Announcement | None] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._queued: set[str] = set()
        self._last_confirmed: datetime | None = None
        self._failures: set[str] = set()
        self._stop = threading.Event()
        self._retakes_file = retakes_file
        self._save_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="feedback", daemon=True)
        self.played = 0  # announcements played (or written)
        self.failures = 0  # announcements that could not be said

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        log.info(
            "patient feedback on: %s, language %s, quiet hours %s",
            f"WAV files in {self.settings.wav_dir}" if self.settings.output == "wav_dir" else "ALSA",
            self.settings.language,
            f"{self.settings.quiet_from}-{self.settings.quiet_until}"
            if self.settings.quiet_hours()
            else "none",
        )
        if self._retakes_file is not None:
            restored = load_retakes(self._retakes_file, self.clock())
            with self._lock:
                for command_id, retake in restored.items():
                    self._schedule.restore(command_id, retake)
            if restored:
                log.info("%d retake(s) asked before the restart will be reminded", len(restored))
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("patient feedback still busy at stop; what it had not said is dropped")
            return
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- events (any thread; quick, never raise) ------------------------------------------
    def reading_received(self, reading: Reading, *, connected: bool) -> None:
        with self._lock:
            # By the hub's clock, not the device's: see ``schedule``.
            answered = self._schedule.reading(reading.kind, reading.received_at)
            offline = self._outage.reading_while(connected=connected)
        if answered:
            self._save_retakes()
        self._announce(ReadingReceived(reading.kind, {m.value: q.value for m, q in reading.values.items()}))
        if offline:
            self._announce(HubOffline())

    def readings_confirmed(self, entries: list[ReceiptEntry]) -> None:
        held = sum(1 for e in entries if e.outcome is not ReceiptOutcome.REFUSED)
        if not held:
            return
        now = self.clock()
        with self._lock:
            last = self._last_confirmed
            if last is not None and (now - last).total_seconds() < CONFIRMED_REPEAT_S:
                return
            self._last_confirmed = now
        self._announce(ReadingsConfirmed(held))

    def reconnected(self) -> None:
        with self._lock:
            self._outage.reconnected()

    def command(self, payload: bytes) -> None:
        """One message from the hub's ``commands`` topic."""
        try:
            request = parse_command(payload)
        except ValidationError as e:
            log.warning(
                "ignoring a command the hub does not understand: %s", summarise_validation(e, what="command")
            )
            return
        if request.hub_id != self.hub_id:
            log.warning("ignoring a command addressed to hub %r", request.hub_id)
            return
        with self._lock:
            new = self._schedule.ask_retake(
                request.command_id, request.kind, self.clock(), request.retake_after_s
            )
        if not new:
            log.info("command %s heard again; already acted on", request.command_id)
            return
        self._save_retakes()
        log.info("the server asks for the %s reading to be taken again (%s)", request.kind, request.reason)
        self._announce(RetakeAsked(request.kind, request.reason, request.retake_after_s))

    def set_patient(self, prefs: PatientFeedback | None) -> None:
        """The patient's preferences from the server's configuration (None: the defaults)."""
        with self._lock:
            self._prefs = prefs or PatientFeedback()

    # -- deciding ---------------------------------------------------------------------------
    def policy(self) -> Policy:
        with self._lock:
            prefs = self._prefs
        language = prefs.language or self.settings.language
        book = self._books.get(language)
        if book is None:
            self._fail_once(f"language:{language}", f"no phrases for language {language!r}; speaking English")
            book = self._books[DEFAULT_LANGUAGE]
        return Policy(self.settings.enabled, prefs, book, self.settings.quiet_hours())

    def _announce(self, event: Event) -> None:
        try:
            decision = decide(event, self.policy(), self.clock().astimezone(self.tz).time())
        except Exception:  # a wrong phrase must never reach the radio's loop; logged with its trace
            log.exception("could not decide what to say for %s", type(event).__name__)
            return
        if decision is None:
            return
        if not decision.audible:
            log.info("quiet hours: %s not said aloud", decision.key)
            if self.light is None:
                return
        with self._lock:
            if decision.key in self._queued:  # already waiting to be said: once is enough
                return
            try:
                self._queue.put_nowait(decision)
            except queue.Full:
                self._fail_once("queue", f"feedback queue full; {decision.key} and later messages dropped")
                return
            self._queued.add(decision.key)

    # -- saying (the worker thread) -------------------------------------------------------
    def _run(self) -> None:
        """Say what is queued, in order, and check what falls due; at ``stop`` what was
        already queued is still said (the stop's marker comes after it)."""
        while True:
            try:
                item = self._queue.get(timeout=self.settings.check_every_s)
            except queue.Empty:
                item = None
            else:
                if item is None:
                    return
            try:
                if item is not None:
                    with self._lock:
                        self._queued.discard(item.key)
                    self._play(item)
                if not self._stop.is_set():
                    self._check_due()
            except Exception:  # the voice must never stop the hub; logged with its trace
                log.exception("patient feedback failed")

    def _check_due(self) -> None:
        with self._lock:
            reminders = list(self._prefs.reminders)
            due = self._schedule.due(reminders, self.clock().astimezone(self.tz))
        for event in due:
            self._announce(event)
        if any(isinstance(event, RetakeDue) for event in due):
            self._save_retakes()

    def _save_retakes(self) -> None:
        """The pending retakes to disk (one writer at a time, each writing the latest)."""
        if self._retakes_file is None:
            return
        with self._save_lock:
            with self._lock:
                pending = self._schedule.retakes_by_command()
            try:
                save_retakes(self._retakes_file, pending)
            except OSError as e:
                self._fail_once(
                    "retakes-file", f"pending retakes not saved ({e}); a restart would forget them"
                )

    def _play(self, a: Announcement) -> None:
        if self.light is not None:
            self.light.show(a.tone, audible=a.audible)
        if not a.audible:
            return
        book = self.policy().phrasebook
        voice = (
            self.settings.voice
            if self.settings.voice and book.language == self.settings.language
            else book.voice
        )
        try:
            wav = speak_to_wav(a.text, Voice(voice, self.settings.rate_wpm, self.settings.amplitude))
            self.speaker.play(a.key, with_chime(wav, a.tone if self.settings.chime else None))
        except (SpeechUnavailable, PlaybackFailed) as e:
            self.failures += 1
            self._fail_once(type(e).__name__, f"{a.key} not said: {e}")
            return
        self.played += 1
        log.info("said %s", a.key)  # the key only: the words may carry the patient's values

    def _fail_once(self, what: str, message: str) -> None:
        """Log a failure the first time only: a hub without a speaker would otherwise log the
        same line with every reading."""
        if what in self._failures:
            log.debug("%s", message)
            return
        self._failures.add(what)
        log.error("%s (said once; the hub goes on without it)", message)
