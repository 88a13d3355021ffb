"""Device status words → wire ``StatusFlag``s, and whether the device itself disowns its numbers.

Shared by the spot mapping and the continuous aggregator, so a PLX status bit means the same in a
spot-check reading and in a steady window of continuous frames.
"""

from __future__ import annotations

from typing import Final

from common.wire.vocabulary import StatusFlag
from gateway.gatt.blood_pressure import BloodPressureStatus, PulseRange
from gateway.gatt.pulse_oximetry import PlxDeviceSensorStatus, PlxMeasurementStatus

__all__ = ["bp_flags", "plx_status"]


def bp_flags(status: BloodPressureStatus | None) -> list[StatusFlag]:
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


def plx_status(
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
