"""Emulated home-monitoring devices, behaving like the catalogue's models.

Every byte a device sends is produced by the project's own encoders in ``gateway.gatt``
(``encode_blood_pressure_measurement``, ``encode_plx_spot_check``, ``encode_plx_continuous``,
``encode_weight_measurement``, ``encode_temperature_measurement``, ``encode_berrymed_frame``):
the tests check the hub's whole BLE path, not a second, hand-written idea of the formats.

Behaviours that matter to the hub:

* stored readings are indicated as a burst as soon as the hub subscribes, then the device hangs
  up and stops advertising (A&D style, ``StoredReadingDevice``);
* ``interrupt_after=N`` cuts the link after N readings of the next burst; the memory is kept and
  sent again in full on the following connection (what a real cuff does when the hub did not
  confirm the transfer);
* the clock characteristic (Date Time 0x2A08 or Current Time 0x2A2B) records what the hub wrote,
  or refuses writes with ATT error 0x80.
"""

# No "from __future__ import annotations": the D-Bus interfaces in peripheral.py need real annotations.

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gateway.gatt import uuids
from gateway.gatt.berrymed import encode_berrymed_frame
from gateway.gatt.blood_pressure import BloodPressureStatus, encode_blood_pressure_measurement
from gateway.gatt.date_time import (
    CurrentTime,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)
from gateway.gatt.pulse_oximetry import encode_plx_continuous, encode_plx_spot_check
from gateway.gatt.thermometer import TemperatureType, encode_temperature_measurement
from gateway.gatt.weight_scale import encode_weight_measurement
from tests.ble.devices.peripheral import (
    ATT_APPLICATION_ERROR,
    Characteristic,
    DeviceInformation,
    EmulatedPeripheral,
)

ClockKind = Literal["date_time", "current_time", "none"]


@dataclass(frozen=True)
class Slot:
    """Where a device lives on the emulated radio: its own adapter and address, and the hub's adapter."""

    adapter: str
    address: str
    hub_adapter: str


class StoredReadingDevice(EmulatedPeripheral):
    """A device with a memory of readings it sends as a burst when the hub subscribes."""

    def __init__(
        self,
        slot: Slot,
        *,
        local_name: str,
        info: DeviceInformation,
        service: str,
        measurement: str,
        memory: Sequence[bytes],
        clock: ClockKind,
        refuse_clock: bool = False,
        interrupt_after: int | None = None,
        gap_s: float = 0.03,
        sleep_after_burst: bool = True,
        advertise_service: bool = True,
    ) -> None:
        super().__init__(
            adapter=slot.adapter,
            address=slot.address,
            hub_adapter=slot.hub_adapter,
            local_name=local_name,
            advertised_services=[service] if advertise_service else [],
            info=info,
        )
        self.memory = list(memory)
        self.interrupt_after = interrupt_after
        self.gap_s = gap_s
        self.sleep_after_burst = sleep_after_burst
        self.sent: list[bytes] = []
        self.bursts_completed = 0
        self.clock_kind = clock
        self.add_service(service)
        self.measurement = self.add_characteristic(measurement, ["indicate"], on_subscribe=self._start_burst)
        self.clock: Characteristic | None = None
        refuse = ATT_APPLICATION_ERROR if refuse_clock else None
        if clock == "date_time":
            # A&D: the clock lives inside the profile service.
            self.clock = self.add_characteristic(
                uuids.DATE_TIME, ["read", "write"], encode_date_time(None), refuse_writes_with=refuse
            )
        elif clock == "current_time":
            self.add_service(uuids.CURRENT_TIME_SERVICE)
            self.clock = self.add_characteristic(
                uuids.CURRENT_TIME,
                ["read", "write", "notify"],
                encode_current_time(datetime(2000, 1, 1)),
                refuse_writes_with=refuse,
            )

    def clock_writes(self) -> list[datetime | None]:
        """What the hub wrote to the device clock, decoded with the project's decoders."""
        if self.clock is None:
            return []
        out: list[datetime | None] = []
        for data in self.clock.writes:
            if self.clock_kind == "date_time":
                out.append(decode_date_time(data).value)
            else:
                current: CurrentTime = decode_current_time(data)
                out.append(current.value)
        return out

    def _start_burst(self) -> None:
        self.spawn(self._burst())

    async def _burst(self) -> None:
        cut = self.interrupt_after
        for index, payload in enumerate(list(self.memory)):
            if cut is not None and index == cut:
                self.interrupt_after = None
                await asyncio.sleep(self.gap_s)
                await self.disconnect_hub()  # memory kept: all of it goes again next time
                return
            await asyncio.sleep(self.gap_s)
            if not self.measurement.send(payload):
                return  # the hub went away
            self.sent.append(payload)
        self.memory.clear()  # transferred and confirmed
        self.bursts_completed += 1
        await asyncio.sleep(0.1)
        await self.disconnect_hub()
        if self.sleep_after_burst:
            await self.sleep()
        self.burst_done.set()


# -- factories: one per catalogue model the tests use ------------------------------------------------------


@dataclass(frozen=True)
class StoredBloodPressure:
    systolic: int
    diastolic: int
    mean: int
    pulse: int
    taken_at: datetime  # device-local wall clock
    status: BloodPressureStatus | None = None

    def encode(self) -> bytes:
        return encode_blood_pressure_measurement(
            self.systolic,
            self.diastolic,
            self.mean,
            timestamp=self.taken_at,
            pulse_rate=self.pulse,
            status=self.status,
        )


def and_ua_651ble(slot: Slot, memory: Sequence[StoredBloodPressure], **kwargs: object) -> StoredReadingDevice:
    """A&D UA-651BLE cuff: Date Time 0x2A08 clock, burst then disconnect (catalogue and-ua-651ble)."""
    return StoredReadingDevice(
        slot,
        local_name="A&D_UA-651",
        info=DeviceInformation("A&D Medical", "UA-651BLE", "5140012345", "1.07"),
        service=uuids.BLOOD_PRESSURE_SERVICE,
        measurement=uuids.BLOOD_PRESSURE_MEASUREMENT,
        memory=[r.encode() for r in memory],
        clock="date_time",
        **kwargs,  # type: ignore[arg-type]
    )


def spot_check_oximeter(
    slot: Slot, readings: Sequence[tuple[int, int, datetime]], **kwargs: object
) -> StoredReadingDevice:
    """A standard PLX spot-check oximeter (catalogue generic-pulse-oximeter): 0x2A5E indications."""
    memory = [encode_plx_spot_check(spo2, pulse, timestamp=at) for spo2, pulse, at in readings]
    return StoredReadingDevice(
        slot,
        local_name="PO-SpotCheck",
        info=DeviceInformation("Acme Oximetry", "SC-100", "OX-77812", "2.3.1"),
        service=uuids.PULSE_OXIMETER_SERVICE,
        measurement=uuids.PLX_SPOT_CHECK_MEASUREMENT,
        memory=memory,
        clock="current_time",
        **kwargs,  # type: ignore[arg-type]
    )


def and_uc_352ble(
    slot: Slot, readings: Sequence[tuple[float, datetime]], **kwargs: object
) -> StoredReadingDevice:
    """A&D UC-352BLE scale: Weight Measurement 0x2A9D, Date Time clock (catalogue and-uc-352ble)."""
    memory = [encode_weight_measurement(kg, timestamp=at) for kg, at in readings]
    return StoredReadingDevice(
        slot,
        local_name="A&D_UC-352",
        info=DeviceInformation("A&D Medical", "UC-352BLE", "3520098765", "2.01"),
        service=uuids.WEIGHT_SCALE_SERVICE,
        measurement=uuids.WEIGHT_MEASUREMENT,
        memory=memory,
        clock="date_time",
        **kwargs,  # type: ignore[arg-type]
    )


def generic_thermometer(
    slot: Slot, readings: Sequence[tuple[float, datetime]], **kwargs: object
) -> StoredReadingDevice:
    """A standard Health Thermometer (catalogue generic-thermometer): Current Time clock."""
    memory = [
        encode_temperature_measurement(celsius, timestamp=at, temperature_type=TemperatureType.EAR)
        for celsius, at in readings
    ]
    return StoredReadingDevice(
        slot,
        local_name="Thermo-IR",
        info=DeviceInformation("Acme Thermo", "IR-20", "TH-0042", "0.9.4"),
        service=uuids.HEALTH_THERMOMETER_SERVICE,
        measurement=uuids.TEMPERATURE_MEASUREMENT,
        memory=memory,
        clock="current_time",
        **kwargs,  # type: ignore[arg-type]
    )


class ContinuousOximeter(EmulatedPeripheral):
    """A PLX continuous oximeter: notifies 0x2A5F frames while a finger is in, then hangs up.

    The stream starts with a few early, overshooting frames and then settles, as real sensors do;
    the hub must condense it into one spot reading of the settled values.
    """

    def __init__(
        self,
        slot: Slot,
        *,
        frames: Sequence[tuple[int, int]],
        rate_hz: float = 20.0,
        local_name: str = "PO-Continuous",
    ) -> None:
        super().__init__(
            adapter=slot.adapter,
            address=slot.address,
            hub_adapter=slot.hub_adapter,
            local_name=local_name,
            advertised_services=[uuids.PULSE_OXIMETER_SERVICE],
            info=DeviceInformation("Acme Oximetry", "CT-200", "OX-90001", "3.0.0"),
        )
        self.frames = list(frames)
        self.rate_hz = rate_hz
        self.sent: list[bytes] = []
        self.add_service(uuids.PULSE_OXIMETER_SERVICE)
        self.measurement = self.add_characteristic(
            uuids.PLX_CONTINUOUS_MEASUREMENT, ["notify"], on_subscribe=lambda: self.spawn(self._stream())
        )

    async def _stream(self) -> None:
        for spo2, pulse in self.frames:
            await asyncio.sleep(1 / self.rate_hz)
            payload = encode_plx_continuous(spo2, pulse)
            if not self.measurement.send(payload):
                return
            self.sent.append(payload)
        await asyncio.sleep(0.1)  # finger out
        await self.disconnect_hub()
        await self.sleep()
        self.burst_done.set()


class BerryMedOximeter(EmulatedPeripheral):
    """A BerryMed-protocol oximeter: a proprietary stream of 5-byte frames, several per notification."""

    def __init__(
        self, slot: Slot, *, spo2: int, pulse: int, seconds: float = 1.5, rate_hz: float = 100.0
    ) -> None:
        super().__init__(
            adapter=slot.adapter,
            address=slot.address,
            hub_adapter=slot.hub_adapter,
            local_name="BerryMed",
            advertised_services=[uuids.BERRYMED_SERVICE],
            info=DeviceInformation("BerryMed", "BM1000C", "BM-11223", "1.4"),
        )
        self.spo2 = spo2
        self.pulse = pulse
        self.seconds = seconds
        self.rate_hz = rate_hz
        self.add_service(uuids.BERRYMED_SERVICE)
        self.stream = self.add_characteristic(
            uuids.BERRYMED_NOTIFY, ["notify"], on_subscribe=lambda: self.spawn(self._stream())
        )

    async def _stream(self) -> None:
        frames_per_packet = 5
        packets = int(self.seconds * self.rate_hz / frames_per_packet)
        for n in range(packets):
            await asyncio.sleep(frames_per_packet / self.rate_hz)
            chunk = b"".join(
                encode_berrymed_frame(self.spo2, self.pulse, pleth=(n * 5 + i) % 100, signal_strength=8)
                for i in range(frames_per_packet)
            )
            if not self.stream.send(chunk):
                return
        await asyncio.sleep(0.1)
        await self.disconnect_hub()
        await self.sleep()
        self.burst_done.set()
