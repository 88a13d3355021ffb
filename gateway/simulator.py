"""Simulated patients whose readings go through the real hub publishing path.

Each simulated patient has its own hub id and MQTT credentials, its own durable outbox and
MQTT session — exactly what a Raspberry Pi hub runs — so the demo, the tests and the
benchmarks exercise the same code that real readings take. Readings carry the
``simulated`` flag; they have no raw characteristic bytes because no device produced them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common.mqtt import BrokerEndpoint
from common.supervision import Supervisor
from common.wire.messages import DeviceIdentity, DeviceTelemetry, Reading
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.allowlist import Allowlist
from gateway.config import DEFAULT_BATCH_SIZE
from gateway.disk_reserve import DiskReserve
from gateway.mqtt.publisher import OutboxPublisher
from gateway.mqtt.session import MqttSession
from gateway.mqtt.telemetry import DEFAULT_INTERVAL_S, attach_telemetry_and_config
from gateway.outbox import Outbox, ResendPolicy
from gateway.reading_builder import build_reading
from gateway.spill_over import SpillOver

log = logging.getLogger(__name__)

SIM_DEVICES: dict[ReadingKind, DeviceIdentity] = {
    ReadingKind.BLOOD_PRESSURE: DeviceIdentity(address="sim:cuff", model="sim-bp", manufacturer="CareWatch"),
    ReadingKind.SPO2: DeviceIdentity(address="sim:oximeter", model="sim-oximeter", manufacturer="CareWatch"),
    ReadingKind.WEIGHT: DeviceIdentity(address="sim:scale", model="sim-scale", manufacturer="CareWatch"),
    ReadingKind.TEMPERATURE: DeviceIdentity(
        address="sim:thermo", model="sim-thermometer", manufacturer="CareWatch"
    ),
}


class SimulatedHub:
    """One patient's hub: spill-over → outbox → MQTT session → broker, receipts back."""

    def __init__(
        self,
        hub_id: str,
        endpoint: BrokerEndpoint,
        state_dir: Path,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        telemetry_interval_s: float = DEFAULT_INTERVAL_S,
        resend: ResendPolicy | None = None,
        supervisor: Supervisor | None = None,
        rescue_dir: Path | None = None,
        reserve_bytes: int = 0,
    ) -> None:
        self.hub_id = hub_id
        self.supervisor = supervisor or Supervisor()
        # As the hub process does (gateway.daemon): opened on first use, with a disk reserve.
        reserve = DiskReserve(state_dir / hub_id / "disk-reserve", reserve_bytes) if reserve_bytes else None
        if reserve is not None:
            reserve.ensure()
        self.outbox = Outbox(
            state_dir / hub_id / "outbox.sqlite3",
            resend=resend,
            lazy=True,
            on_full=reserve.release if reserve else None,
            on_room=reserve.ensure if reserve else None,
        )
        self.session = MqttSession(endpoint, software="carewatch-simulator")
        self.publisher = OutboxPublisher(
            self.outbox, self.session, hub_id, batch_size=batch_size, supervisor=self.supervisor
        )
        self.spill = SpillOver(
            self.outbox,
            self.publisher.notify,
            retry_s=5.0,
            rescue_dirs=[rescue_dir or state_dir / hub_id / "rescued"],
            supervisor=self.supervisor,
        )
        # A simulated hub takes the server's configuration like a real one, into its own
        # allowlist, so technicians' pairing can be tried end to end without a radio.
        self.allowlist = Allowlist(state_dir / hub_id / "paired-devices.json")
        self.telemetry, self.remote = attach_telemetry_and_config(
            self.session,
            hub_id,
            self.outbox,
            self.allowlist,
            state_dir / hub_id,
            software="carewatch-simulator",
            interval_s=telemetry_interval_s,
            spill=self.spill,
            devices=self._devices,
        )
        self._sent: dict[ReadingKind, int] = {}

    def _devices(self) -> list[DeviceTelemetry]:
        return [
            DeviceTelemetry(address=SIM_DEVICES[kind].address, model=SIM_DEVICES[kind].model, readings=n)
            for kind, n in sorted(self._sent.items())
        ]

    def start(self, wait: float = 10.0) -> None:
        self.spill.recover()
        self.session.start()
        if not self.session.wait_connected(wait):
            log.warning(
                "hub %s not connected yet (%s); readings wait in its outbox",
                self.hub_id,
                self.session.last_connect_error or "no answer",
            )
        self.publisher.start()
        self.spill.start()
        self.telemetry.start()

    def send(
        self, kind: ReadingKind, values: Mapping[Measure, float], *, measured_at: datetime | None = None
    ) -> Reading:
        reading = build_reading(
            kind=kind,
            values=values,
            device=SIM_DEVICES.get(kind, SIM_DEVICES[ReadingKind.BLOOD_PRESSURE]),
            received_at=datetime.now(UTC),
            measured_at=measured_at,
            flags=[StatusFlag.SIMULATED],
        )
        self.send_reading(reading)
        return reading

    def send_reading(self, reading: Reading) -> None:
        """Hand a reading to the hub as a device session does (through the spill-over, so a
        full disk is held in memory exactly as on a real hub)."""
        self.spill(reading)
        self._sent[reading.kind] = self._sent.get(reading.kind, 0) + 1

    def wait_delivered(self, timeout: float = 15.0) -> bool:
        """Until the server has confirmed every reading (nothing held, nothing in the outbox)."""
        return _wait(lambda: not self.spill.held and self.outbox.depth() == 0, timeout)

    def wait_published(self, timeout: float = 15.0) -> bool:
        """Until the broker has taken every reading (the server may not have confirmed them)."""
        return _wait(lambda: not self.spill.held and not self.outbox.due(1), timeout)

    def stop(self) -> None:
        self.telemetry.stop()
        self.publisher.stop()
        self.spill.close()
        self.session.stop()
        self.outbox.close()


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@dataclass(frozen=True)
class Persona:
    """A patient's usual values; the simulator wanders around them and sometimes deteriorates."""

    systolic: float
    diastolic: float
    pulse: float
    spo2: float
    weight: float
    temperature: float = 36.7


PERSONAS = [
    Persona(128, 82, 72, 97, 82.0),  # hypertension, well controlled
    Persona(142, 88, 80, 95, 96.5),  # heart failure
    Persona(118, 74, 88, 91, 64.0),  # COPD, target 88-92 %
    Persona(135, 79, 66, 96, 71.2),  # frailty
]


def simulated_values(
    persona: Persona, kind: ReadingKind, rng: random.Random, deteriorating: bool
) -> dict[Measure, float]:
    if kind is ReadingKind.BLOOD_PRESSURE:
        bump = 50 if deteriorating else 0
        sys_ = round(rng.gauss(persona.systolic + bump, 8))
        dia = round(rng.gauss(persona.diastolic + bump / 2, 5))
        return {
            Measure.SYSTOLIC: sys_,
            Measure.DIASTOLIC: dia,
            Measure.MEAN_ARTERIAL: round((sys_ + 2 * dia) / 3),
            Measure.PULSE: round(rng.gauss(persona.pulse, 6)),
        }
    if kind is ReadingKind.SPO2:
        return {
            Measure.SPO2: min(100, round(rng.gauss(persona.spo2 - (6 if deteriorating else 0), 1))),
            Measure.PULSE: round(rng.gauss(persona.pulse, 6)),
        }
    if kind is ReadingKind.WEIGHT:
        return {Measure.WEIGHT: round(rng.gauss(persona.weight + (2.5 if deteriorating else 0), 0.3), 2)}
    return {
        Measure.TEMPERATURE: round(rng.gauss(persona.temperature + (1.8 if deteriorating else 0), 0.2), 1)
    }


def run_simulation(
    hubs: list[SimulatedHub],
    *,
    interval: float,
    stop: threading.Event,
    seed: int | None = None,
    deterioration_rate: float = 0.1,
    rounds: int | None = None,
    taken: Callable[[SimulatedHub, Reading], None] | None = None,
) -> int:
    """Every ``interval`` seconds each patient takes one reading, for ``rounds`` rounds (or
    until ``stop``); ``taken`` hears of each reading once the hub holds it. Returns how many
    were sent."""
    rng = random.Random(seed)
    kinds = list(SIM_DEVICES)
    sent = 0
    done = 0
    while not stop.is_set() and (rounds is None or done < rounds):
        for i, hub in enumerate(hubs):
            kind = rng.choice(kinds)
            values = simulated_values(
                PERSONAS[i % len(PERSONAS)], kind, rng, rng.random() < deterioration_rate
            )
            reading = hub.send(kind, values)
            if taken is not None:
                taken(hub, reading)
            sent += 1
        done += 1
        if done % 10 == 0 or rounds is None:
            log.info("simulator: %d reading(s) sent so far", sent)
        stop.wait(interval)
    return sent
