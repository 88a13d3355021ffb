"""One decoded spot measurement (BP, PLX spot-check, weight, temperature) → wire readings, or the
``Refusal`` saying why it is not one. Stateless."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from common.wire.messages import DeviceIdentity, Reading
from common.wire.vocabulary import KIND_REQUIRED, Measure, ReadingKind, StatusFlag
from gateway.gatt import Measurement, uuids
from gateway.gatt.berrymed import BerryMedFrames
from gateway.gatt.blood_pressure import BloodPressureMeasurement
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.pulse_oximetry import PlxContinuous, PlxSpotCheck
from gateway.gatt.thermometer import TemperatureMeasurement
from gateway.gatt.weight_scale import WeightMeasurement
from gateway.measurements.refusals import Refusal, RefusalReason
from gateway.measurements.status import bp_flags, plx_status
from gateway.measurements.wire_ids import reading_id_for, wire_uuid
from gateway.reading_builder import build_reading

__all__ = ["to_readings"]


def _localise(timestamp: GattDateTime | None, tz: tzinfo) -> tuple[datetime | None, bool]:
    """(aware device time or None, device clock unset)."""
    if timestamp is None:
        return None, False
    value = timestamp.value
    if value is None:
        return None, True
    return value.replace(tzinfo=tz), False


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
            flags=bp_flags(measurement.status),
            user_id=measurement.user_id,
        )
    if isinstance(measurement, PlxSpotCheck):
        flags, rejected = plx_status(measurement.measurement_status, measurement.device_sensor_status)
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
