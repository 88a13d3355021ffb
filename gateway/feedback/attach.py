"""The hub's voice plugged into a running hub: readings from the radio, receipts and commands
from the broker, the patient's preferences from the server's configuration. Kept apart from
``gateway/daemon.py`` so the daemon gains three lines, not thirty."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import TypeVar

from common.wire.messages import Reading
from common.wire.topics import Channel, topic
from common.wire.undecoded import UndecodedPacket
from gateway.feedback.catalogue import load_phrasebooks
from gateway.feedback.outputs import AlsaSpeaker, GpioLight, Speaker, WavDirectory
from gateway.feedback.phrasebook import PhrasebookError
from gateway.feedback.retake_file import FILE_NAME as RETAKES_FILE
from gateway.feedback.service import FeedbackService
from gateway.feedback.settings import FeedbackSettings
from gateway.mqtt.publisher import OutboxPublisher
from gateway.mqtt.session import MqttSession
from gateway.remote_config import RemoteConfigApplier

log = logging.getLogger(__name__)

#: A hub just switched on has not reached the broker yet: a reading in its first seconds is not
#: "offline" (a false "cannot reach your nurse" alarms a patient more than silence would).
STARTUP_GRACE_S = 60.0

#: What the sink ``watching`` wraps takes: readings and undecoded packets (the radio's sink,
#: ``gateway.ble``'s, not imported so this module needs no radio), or readings alone (a simulated hub's).
_Item = TypeVar("_Item", bound=Reading | UndecodedPacket)


def build_feedback(
    settings: FeedbackSettings, hub_id: str, tz: tzinfo, state_dir: Path | None = None
) -> FeedbackService:
    """The service with the outputs its settings name (the catalogues checked now, at start);
    pending retakes kept in ``state_dir`` across restarts."""
    speaker: Speaker
    if settings.output == "wav_dir":
        assert settings.wav_dir is not None  # the settings' validator requires it
        speaker = WavDirectory(settings.wav_dir)
    else:
        speaker = AlsaSpeaker(settings.alsa_device)
    light = None
    if settings.led_pin is not None or settings.buzzer_pin is not None:
        light = GpioLight(settings.led_pin, settings.buzzer_pin)
    return FeedbackService(
        settings,
        hub_id=hub_id,
        tz=tz,
        phrasebooks=load_phrasebooks(),
        speaker=speaker,
        light=light,
        retakes_file=state_dir / RETAKES_FILE if state_dir is not None else None,
    )


class HubFeedback:
    """The service and its hooks into a hub process. ``None`` from ``attach`` when switched off."""

    def __init__(self, service: FeedbackService, session: MqttSession) -> None:
        self.service = service
        self.session = session
        self._started = time.monotonic()
        self._ever_connected = False

    @classmethod
    def attach(
        cls,
        settings: FeedbackSettings,
        hub_id: str,
        tz: tzinfo,
        session: MqttSession,
        publisher: OutboxPublisher,
        state_dir: Path | None = None,
    ) -> HubFeedback | None:
        """Call before ``session.start``: commands are heard from the first connection."""
        if not settings.enabled:
            log.info("patient feedback is off ([feedback] enabled = false)")
            return None
        try:
            service = build_feedback(settings, hub_id, tz, state_dir)
        except PhrasebookError as e:  # the hub's first job is the readings: it runs silent instead
            log.error("patient feedback is off: its message catalogue is broken: %s", e)
            return None
        session.subscribe(topic(hub_id, Channel.COMMANDS), service.command)
        publisher.on_receipt = service.readings_confirmed
        hooks = cls(service, session)
        session.on_connected(hooks._connected)
        return hooks

    def _connected(self) -> None:
        self._ever_connected = True
        self.service.reconnected()

    def connected(self) -> bool:
        """Whether the hub can reach the server, for telling the patient (the start's grace counts)."""
        if self.session.connected.is_set():
            return True
        return not self._ever_connected and time.monotonic() - self._started < STARTUP_GRACE_S

    def watching(self, sink: Callable[[_Item], object]) -> Callable[[_Item], None]:
        """``sink`` that also tells the patient: the reading is stored first, then announced. A
        packet the hub could not decode is stored and not announced: "received" would promise the
        patient a reading their team will not see as one."""

        def store_then_announce(reading: _Item) -> None:
            sink(reading)
            if isinstance(reading, Reading):
                self.service.reading_received(reading, connected=self.connected())

        return store_then_announce

    def follow(self, remote: RemoteConfigApplier) -> None:
        """Take the patient's preferences from the server's configuration, now and on every change."""
        self.service.set_patient(remote.patient_feedback)
        remote.on_patient_feedback = self.service.set_patient
