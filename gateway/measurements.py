"""Decoded GATT measurements → wire ``Reading``s. Pure: no I/O, no clock reads, no BLE.

Two layers, so the BLE session code stays thin:

* ``to_readings`` maps ONE decoded spot measurement (BP, PLX spot-check, weight, temperature) to wire
  readings, or a ``Refusal`` saying why it is not a reading. Stateless.
* ``ReadingAssembler`` is what a connected device's session feeds every notification to: it decodes with
  the model's quirks, reassembles the BerryMed stream, condenses continuous streams into one spot reading
  per steady window, and calls ``to_readings``. Stateful per connection, still pure.

Rules that live here and nowhere else:

* Canonical units come from the decoders (mmHg, %, /min, kg, m, °C); special values (NaN, NRes, "not
  available") are ``None`` there and simply absent here. When a measure the reading kind cannot do
  without is absent, there is no reading and the ``Refusal`` says which measure: the hub logs it and keeps
  the raw packet, it never sends a half reading.
* Intermediate cuff pressure and continuous frames are not readings (a nurse does not chart the cuff
  inflating); continuous streams become readings only through the aggregators.
* A device stating its own data is invalid, unavailable, or for demonstration/testing is refused, so a
  demonstration value can never reach a patient record.
* Device-local naive timestamps get the hub's time zone; whether the device clock is trusted is
  ``gateway.reading_builder.build_reading``'s decision, not ours.
* ``reading_id`` is deterministic for device-timestamped readings (see ``reading_id_for``).
"""

from __future__ import annotations

import statistics
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Final

from common.wire.messages import DeviceIdentity, Reading
from common.wire.vocabulary import KIND_REQUIRED, Measure, ReadingKind, StatusFlag
from gateway.catalogue.models import DeviceModel, Mode, Profile
from gateway.gatt import Measurement, decode, uuids
from gateway.gatt.berrymed import (
    DEFAULT_FRAME_RATE_HZ,
    DEFAULT_WINDOW_SECONDS,
    BerryMedFrames,
    BerryMedStreamParser,
    SpotReadingDetector,
)
from gateway.gatt.blood_pressure import BloodPressureMeasurement, BloodPressureStatus, PulseRange
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.errors import DecodeError
from gateway.gatt.pulse_oximetry import (
    PlxContinuous,
    PlxDeviceSensorStatus,
    PlxMeasurementStatus,
    PlxSpotCheck,
)
from gateway.gatt.thermometer import TemperatureMeasurement
from gateway.gatt.weight_scale import WeightMeasurement
from gateway.reading_builder import build_reading

__all__ = [
    "PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ",
    "READING_ID_NAMESPACE",
    "ContinuousSpot",
    "ContinuousSpotAggregator",
    "ReadingAssembler",
    "Refusal",
    "RefusalReason",
    "reading_id_for",
    "to_readings",
    "wire_uuid",
]

#: Namespace of deterministic reading ids. Never change it: ids already delivered would stop matching
#: their replays and the server would store duplicates.
READING_ID_NAMESPACE: Final = uuid.UUID("6f1d3c2e-8a4b-5c6d-9e7f-0a1b2c3d4e5f")

#: PLX Continuous devices typically notify about once a second; override with ``frame_rate_hz``.
PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ: Final = 1.0
_MIN_CONTINUOUS_WINDOW_FRAMES: Final = 3


class RefusalReason(StrEnum):
    MISSING_REQUIRED = "missing_required"  # a measure the kind needs was a special value
    DEVICE_REJECTED = "device_rejected"  # the device flagged it invalid/unavailable/demo/test
    NOT_A_READING = "not_a_reading"  # intermediate pressure, live frame, feature, control point, ...
    MALFORMED = "malformed"  # DecodeError (only from ReadingAssembler)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a packet produced no reading. The hub logs ``detail`` and keeps ``raw``; it is a result, not
    an exception, because for intermediate and live data it is the normal case, several times a second."""

    reason: RefusalReason
    detail: str
    characteristic_uuid: str
    raw: bytes

    def __str__(self) -> str:
        return f"{uuids.display_name(self.characteristic_uuid)} {self.raw.hex(' ')}: {self.reason}: {self.detail}"


def wire_uuid(characteristic_uuid: str) -> str:
    """The spelling ``RawCharacteristic`` takes: "2a35" for SIG UUIDs, the full 128-bit otherwise."""
    normalised = uuids.normalize_uuid(characteristic_uuid)
    if normalised.startswith("0000") and normalised.endswith(uuids.BLUETOOTH_BASE_UUID_SUFFIX):
        return normalised[4:8]
    return normalised


def reading_id_for(
    address: str, characteristic_uuid: str, raw: bytes, *, device_timestamped: bool
) -> uuid.UUID:
    """Deterministic id for a device-timestamped reading, a fresh one otherwise.

    Why: devices re-send their memory (an A&D cuff that lost the connection before the hub confirmed,
    RACP "report all" after a reconnect). A stored reading's bytes include its own timestamp, so the same
    reading replayed gives the same bytes and therefore the same uuid5, and the server's idempotency on
    ``reading_id`` drops the copy. Two *different* readings cannot share bytes: the timestamp has one-second
    resolution and a device takes no two readings in one second (with an unset clock it still sends the
    time of day; identical values at the identical second on different days is the accepted residual risk).
    Without a device timestamp identical bytes are common (two weighings of 70.00 kg), so deterministic ids
    would merge genuinely different readings: those get uuid4 instead.
    """
    if not device_timestamped:
        return uuid.uuid4()
    name = f"{address}|{uuids.normalize_uuid(characteristic_uuid)}|{bytes(raw).hex()}"
    return uuid.uuid5(READING_ID_NAMESPACE, name)


def _localise(timestamp: GattDateTime | None, tz: tzinfo) -> tuple[datetime | None, bool]:
    """(aware device time or None, device clock unset)."""
    if timestamp is None:
        return None, False
    value = timestamp.value
    if value is None:
        return None, True
    return value.replace(tzinfo=tz), False


def _bp_flags(status: BloodPressureStatus | None) -> list[StatusFlag]:
    if status is None:
        return []
    flags = []
    if status.body_movement:
        flags.append(StatusFlag.BODY_MOVEMENT)
    if status.cuff_too_loose:
        flags.append(StatusFlag.CUFF_LOOSE)
    if status.irregular_pulse:
        flags.append(StatusFlag.IRREGULAR_PULSE)
    if status.pulse_range is PulseRange.ABOVE:
        flags.append(StatusFlag.PULSE_ABOVE_RANGE)
    elif status.pulse_range is PulseRange.BELOW:
        flags.append(StatusFlag.PULSE_BELOW_RANGE)
    if status.improper_position:
        flags.append(StatusFlag.IMPROPER_POSITION)
    return flags


# Device & sensor conditions that make the numbers doubtful but not meaningless: kept, flagged.
_QUESTIONABLE_DEVICE_STATUS: Final = (
    "signal_processing_irregularity_detected",
    "inadequate_signal_detected",
    "poor_signal_detected",
    "erratic_signal_detected",
    "non_pulsatile_signal_detected",
    "questionable_pulse_detected",
    "sensor_interference_detected",
    "equipment_malfunction_detected",
    "unknown_sensor_connected",
    "sensor_malfunctioning",
)
# Conditions under which the device's numbers describe no patient at all.
_REJECTED_DEVICE_STATUS: Final = ("sensor_unconnected_to_user", "sensor_displaced", "sensor_disconnected")
_REJECTED_MEASUREMENT_STATUS: Final = (
    "invalid_measurement_detected",
    "measurement_unavailable",
    "data_for_demonstration",
    "data_for_testing",
    "calibration_ongoing",
)


def _plx_status(
    measurement: PlxMeasurementStatus | None, device: PlxDeviceSensorStatus | None
) -> tuple[list[StatusFlag], str | None]:
    """(flags, rejection detail or None) for the PLX status words."""
    flags: list[StatusFlag] = []
    rejected = [name for name in _REJECTED_MEASUREMENT_STATUS if measurement and getattr(measurement, name)]
    rejected += [name for name in _REJECTED_DEVICE_STATUS if device and getattr(device, name)]
    if measurement is not None:
        if measurement.data_from_measurement_storage:
            flags.append(StatusFlag.FROM_STORAGE)
        if measurement.questionable_measurement_detected or measurement.early_estimated_data:
            flags.append(StatusFlag.SIGNAL_QUESTIONABLE)
    if device is not None:
        if device.low_perfusion_detected:
            flags.append(StatusFlag.LOW_PERFUSION)
        if any(getattr(device, name) for name in _QUESTIONABLE_DEVICE_STATUS):
            flags.append(StatusFlag.SIGNAL_QUESTIONABLE)
    detail = f"device status says {', '.join(rejected)}" if rejected else None
    return list(dict.fromkeys(flags)), detail


@dataclass(frozen=True, slots=True)
class _Mapped:
    kind: ReadingKind
    values: dict[Measure, float | None]
    timestamp: GattDateTime | None
    clock_unset: bool = False
    flags: Sequence[StatusFlag] = ()
    user_id: int | None = None
    rejected: str | None = None


def _map(measurement: Measurement) -> _Mapped | str:
    """The reading a spot measurement describes, or why it is not one."""
    if isinstance(measurement, BloodPressureMeasurement):
        return _Mapped(
            ReadingKind.BLOOD_PRESSURE,
            {
                Measure.SYSTOLIC: measurement.systolic_mmhg,
                Measure.DIASTOLIC: measurement.diastolic_mmhg,
                Measure.MEAN_ARTERIAL: measurement.mean_arterial_pressure_mmhg,
                Measure.PULSE: measurement.pulse_rate_bpm,
            },
            measurement.timestamp,
            flags=_bp_flags(measurement.status),
            user_id=measurement.user_id,
        )
    if isinstance(measurement, PlxSpotCheck):
        flags, rejected = _plx_status(measurement.measurement_status, measurement.device_sensor_status)
        return _Mapped(
            ReadingKind.SPO2,
            {
                Measure.SPO2: measurement.spo2_percent,
                Measure.PULSE: measurement.pulse_rate_bpm,
                Measure.PERFUSION_INDEX: measurement.pulse_amplitude_index,
            },
            measurement.timestamp,
            clock_unset=measurement.device_clock_not_set,
            flags=flags,
            rejected=rejected,
        )
    if isinstance(measurement, WeightMeasurement):
        return _Mapped(
            ReadingKind.WEIGHT,
            {
                Measure.WEIGHT: measurement.weight_kg,
                Measure.BMI: measurement.bmi,
                Measure.HEIGHT: measurement.height_m,
            },
            measurement.timestamp,
            user_id=measurement.user_id,
        )
    if isinstance(measurement, TemperatureMeasurement):
        return _Mapped(
            ReadingKind.TEMPERATURE, {Measure.TEMPERATURE: measurement.temperature_c}, measurement.timestamp
        )
    if isinstance(measurement, PlxContinuous):
        return "PLX continuous frame: condensed by ContinuousSpotAggregator, not a reading by itself"
    if isinstance(measurement, BerryMedFrames):
        return "BerryMed stream frames: condensed by SpotReadingDetector, not a reading by themselves"
    return f"{type(measurement).__name__} is not a measurement (intermediate, live, feature or control data)"


def to_readings(
    measurement: Measurement,
    *,
    characteristic_uuid: str,
    raw: bytes,
    device: DeviceIdentity,
    received_at: datetime,
    tz: tzinfo,
    flags: Iterable[StatusFlag] = (),
) -> list[Reading] | Refusal:
    """Wire readings for one decoded spot measurement, or the ``Refusal`` explaining why there are none.

    ``raw`` is the characteristic value exactly as received (before quirks), ``received_at`` the hub's
    aware receive time, ``tz`` the household's zone for naive device timestamps, ``flags`` extra
    conditions the caller knows (``FROM_STORAGE`` while retrieving records via RACP). A list, because a
    measurement may one day carry more than one reading kind; today it is at most one.
    """
    raw = bytes(raw)
    normalised = uuids.normalize_uuid(characteristic_uuid)
    mapped = _map(measurement)
    if isinstance(mapped, str):
        return Refusal(RefusalReason.NOT_A_READING, mapped, normalised, raw)
    if mapped.rejected is not None:
        return Refusal(RefusalReason.DEVICE_REJECTED, mapped.rejected, normalised, raw)
    values = {measure: value for measure, value in mapped.values.items() if value is not None}
    missing = sorted(KIND_REQUIRED[mapped.kind] - set(values))
    if missing:
        names = ", ".join(m.value for m in missing)
        return Refusal(
            RefusalReason.MISSING_REQUIRED,
            f"{mapped.kind.value} reading without {names} (device sent a special value: not available)",
            normalised,
            raw,
        )
    measured_at, date_unknown = _localise(mapped.timestamp, tz)
    identity = device
    if mapped.user_id is not None:
        identity = device.model_copy(update={"user_index": mapped.user_id})
    reading = build_reading(
        kind=mapped.kind,
        values=values,
        device=identity,
        received_at=received_at,
        measured_at=measured_at,
        device_clock_unset=date_unknown or mapped.clock_unset,
        flags=[*mapped.flags, *flags],
        raw=[(wire_uuid(normalised), raw)],
        reading_id=reading_id_for(
            device.address, normalised, raw, device_timestamped=mapped.timestamp is not None
        ),
    )
    return [reading]


@dataclass(frozen=True, slots=True)
class ContinuousSpot:
    """One steady window of PLX continuous frames, condensed like a nurse reading the display."""

    spo2_percent: float
    pulse_rate_bpm: float
    perfusion_index: float | None
    frames: int
    flags: tuple[StatusFlag, ...] = ()


class ContinuousSpotAggregator:
    """PLX Continuous counterpart of ``berrymed.SpotReadingDetector``: one spot per steady window.

    Same rule, for the same reason (early estimates overshoot after the finger goes in): a window of the
    last ``window_frames`` consecutive usable frames; when SpO2 spans at most ``spo2_tolerance`` and pulse
    at most ``pulse_tolerance``, the low medians (values the device actually reported) are emitted once,
    then nothing until an unusable frame (finger out, sensor off, values unavailable, device says
    invalid/demo) re-arms it. Early-estimate frames are unusable too: they are exactly the overshoot.
    Flags (low perfusion, questionable signal) of any frame in the window carry over to the spot.
    """

    __slots__ = (
        "_emitted",
        "_flags",
        "_pai",
        "_pulse",
        "_spo2",
        "pulse_tolerance",
        "spo2_tolerance",
        "window_frames",
    )

    def __init__(
        self, window_frames: int = 3, *, spo2_tolerance: float = 1, pulse_tolerance: float = 3
    ) -> None:
        if window_frames < 1:
            raise ValueError("window_frames must be at least 1")
        self.window_frames = window_frames
        self.spo2_tolerance = spo2_tolerance
        self.pulse_tolerance = pulse_tolerance
        self._spo2: deque[float] = deque(maxlen=window_frames)
        self._pulse: deque[float] = deque(maxlen=window_frames)
        self._pai: deque[float | None] = deque(maxlen=window_frames)
        self._flags: deque[tuple[StatusFlag, ...]] = deque(maxlen=window_frames)
        self._emitted = False

    @classmethod
    def for_frame_rate(
        cls,
        frame_rate_hz: float = PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        **tolerances: float,
    ) -> ContinuousSpotAggregator:
        """Window sized in seconds; never fewer than 3 frames, or "steady" would mean nothing."""
        return cls(max(_MIN_CONTINUOUS_WINDOW_FRAMES, round(frame_rate_hz * window_seconds)), **tolerances)

    def feed(self, frame: PlxContinuous) -> ContinuousSpot | None:
        flags, rejected = _plx_status(frame.measurement_status, frame.device_sensor_status)
        early = frame.measurement_status is not None and frame.measurement_status.early_estimated_data
        spo2, pulse = frame.spo2_percent, frame.pulse_rate_bpm
        if spo2 is None or pulse is None or not spo2 or not pulse or rejected is not None or early:
            self.reset()
            return None
        if self._emitted:
            return None
        self._spo2.append(spo2)
        self._pulse.append(pulse)
        self._pai.append(frame.pulse_amplitude_index)
        self._flags.append(tuple(f for f in flags if f is not StatusFlag.FROM_STORAGE))
        if len(self._spo2) < self.window_frames:
            return None
        if max(self._spo2) - min(self._spo2) > self.spo2_tolerance:
            return None
        if max(self._pulse) - min(self._pulse) > self.pulse_tolerance:
            return None
        pais = [p for p in self._pai if p is not None]
        spot = ContinuousSpot(
            statistics.median_low(self._spo2),
            statistics.median_low(self._pulse),
            statistics.median_low(pais) if pais else None,
            len(self._spo2),
            tuple(dict.fromkeys(f for frame_flags in self._flags for f in frame_flags)),
        )
        self._emitted = True
        self._clear()
        return spot

    def _clear(self) -> None:
        self._spo2.clear()
        self._pulse.clear()
        self._pai.clear()
        self._flags.clear()

    def reset(self) -> None:
        """Finger removed (or connection lost): forget the window and re-arm."""
        self._clear()
        self._emitted = False


class ReadingAssembler:
    """Everything between "a notification arrived" and "readings to put in the outbox", for one
    connection to one device. The BLE session creates one per connection and calls ``feed``.

    Continuous devices have no clock, so their readings are stamped by the hub (``received_at`` of the
    notification that completed the steady window) and carry that notification as ``raw``.
    """

    __slots__ = ("_aggregator", "_berrymed", "_detector", "device", "model", "tz")

    def __init__(
        self,
        model: DeviceModel,
        device: DeviceIdentity,
        tz: tzinfo,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        self.model = model
        self.device = device
        self.tz = tz
        self._berrymed = BerryMedStreamParser()
        self._detector = SpotReadingDetector.for_frame_rate(
            model.frame_rate_hz or DEFAULT_FRAME_RATE_HZ, window_seconds
        )
        self._aggregator = ContinuousSpotAggregator.for_frame_rate(
            model.frame_rate_hz or PLX_CONTINUOUS_DEFAULT_FRAME_RATE_HZ, window_seconds
        )

    def feed(
        self,
        characteristic_uuid: str,
        data: bytes | bytearray,
        received_at: datetime,
        *,
        flags: Iterable[StatusFlag] = (),
    ) -> list[Reading | Refusal]:
        """Readings (and refusals to log) from one notification/indication. An empty list means the data
        was absorbed into a continuous window that has not produced a reading yet."""
        raw = bytes(data)
        try:
            uuid_ = uuids.normalize_uuid(characteristic_uuid)
        except DecodeError as e:
            return [Refusal(RefusalReason.MALFORMED, str(e), characteristic_uuid, raw)]
        if uuid_ == uuids.BERRYMED_NOTIFY:
            return self._feed_berrymed(uuid_, raw, received_at, flags)
        try:
            measurement = decode(uuid_, raw, quirks=self.model.quirks)
        except DecodeError as e:
            return [Refusal(RefusalReason.MALFORMED, str(e), uuid_, raw)]
        if isinstance(measurement, PlxContinuous):
            if self.model.mode is not Mode.CONTINUOUS:
                return [
                    Refusal(
                        RefusalReason.NOT_A_READING,
                        f"live PLX continuous frame; {self.model.id} reports spot-check readings",
                        uuid_,
                        raw,
                    )
                ]
            spot = self._aggregator.feed(measurement)
            if spot is None:
                return []
            values = {Measure.SPO2: spot.spo2_percent, Measure.PULSE: spot.pulse_rate_bpm}
            if spot.perfusion_index is not None:
                values[Measure.PERFUSION_INDEX] = spot.perfusion_index
            return [self._hub_stamped(values, [*spot.flags, *flags], uuid_, raw, received_at)]
        result = to_readings(
            measurement,
            characteristic_uuid=uuid_,
            raw=raw,
            device=self.device,
            received_at=received_at,
            tz=self.tz,
            flags=flags,
        )
        return [result] if isinstance(result, Refusal) else list(result)

    def _feed_berrymed(
        self, uuid_: str, raw: bytes, received_at: datetime, flags: Iterable[StatusFlag]
    ) -> list[Reading | Refusal]:
        if self.model.profile is not Profile.BERRYMED:
            return [
                Refusal(RefusalReason.NOT_A_READING, f"{self.model.id} is not a BerryMed device", uuid_, raw)
            ]
        out: list[Reading | Refusal] = []
        for spot in self._detector.feed_many(self._berrymed.feed(raw)):
            values: Mapping[Measure, float] = {
                Measure.SPO2: spot.spo2_percent,
                Measure.PULSE: spot.pulse_rate_bpm,
            }
            out.append(self._hub_stamped(values, list(flags), uuid_, raw, received_at))
        return out

    def _hub_stamped(
        self,
        values: Mapping[Measure, float],
        flags: Sequence[StatusFlag],
        uuid_: str,
        raw: bytes,
        received_at: datetime,
    ) -> Reading:
        return build_reading(
            kind=ReadingKind.SPO2,
            values=values,
            device=self.device,
            received_at=received_at,
            flags=flags,
            raw=[(wire_uuid(uuid_), raw)],
            reading_id=reading_id_for(self.device.address, uuid_, raw, device_timestamped=False),
        )

    def reset(self) -> None:
        """Call on disconnect: a window must not straddle two connections."""
        self._berrymed.reset()
        self._detector.reset()
        self._aggregator.reset()
