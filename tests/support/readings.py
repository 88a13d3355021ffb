"""Valid wire readings for tests, with sensible defaults per kind; override anything."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from common.wire.messages import DeviceIdentity, Quantity, Reading, ReadingBatch, TimeSource
from common.wire.vocabulary import MEASURES, Measure, ReadingKind
from gateway.reading_builder import build_reading

DEFAULT_VALUES: dict[ReadingKind, dict[Measure, float]] = {
    ReadingKind.BLOOD_PRESSURE: {Measure.SYSTOLIC: 121.0, Measure.DIASTOLIC: 79.0, Measure.PULSE: 68.0},
    ReadingKind.SPO2: {Measure.SPO2: 97.0, Measure.PULSE: 72.0},
    ReadingKind.PULSE: {Measure.PULSE: 70.0},
    ReadingKind.WEIGHT: {Measure.WEIGHT: 72.4},
    ReadingKind.TEMPERATURE: {Measure.TEMPERATURE: 36.8},
    ReadingKind.RESPIRATION_RATE: {Measure.RESPIRATION_RATE: 16.0},
}

# How long after the device's timestamp the hub hears about a reading, by default.
DEFAULT_DELIVERY_DELAY = timedelta(seconds=2)


def make_reading(
    kind: ReadingKind = ReadingKind.BLOOD_PRESSURE,
    values: Mapping[Measure | str, float] | None = None,
    taken_at: datetime | None = None,
    *,
    time_source: TimeSource = TimeSource.DEVICE,
    received_at: datetime | None = None,
    flags: Iterable[str] = (),
    reading_id: UUID | None = None,
    device: DeviceIdentity | None = None,
    model: str = "sim-bp",
) -> Reading:
    """A valid ``Reading``; ``taken_at`` defaults to now (whole seconds, like device clocks).

    ``time_source=DEVICE``: ``measured_at = taken_at`` and the hub received it
    ``DEFAULT_DELIVERY_DELAY`` later (unless ``received_at`` is given).
    ``time_source=HUB``: ``received_at = taken_at`` and there is no device time.
    Units are always the measure's canonical unit.
    """
    if taken_at is None:
        taken_at = datetime.now(UTC).replace(microsecond=0)
    chosen = DEFAULT_VALUES[kind] if values is None else values
    quantities = {
        Measure(m): Quantity(value=float(v), unit=MEASURES[Measure(m)].unit.ucum) for m, v in chosen.items()
    }
    if time_source is TimeSource.DEVICE:
        measured_at: datetime | None = taken_at
        received = received_at if received_at is not None else taken_at + DEFAULT_DELIVERY_DELAY
    else:
        if received_at is not None and received_at != taken_at:
            raise ValueError("time_source HUB means received_at == taken_at")
        measured_at, received = None, taken_at
    return Reading(
        reading_id=reading_id or uuid4(),
        kind=kind,
        values=quantities,
        taken_at=taken_at,
        time_source=time_source,
        measured_at=measured_at,
        received_at=received,
        device=device or DeviceIdentity(address="sim:test", model=model),
        flags=list(flags),
    )


def make_batch(
    readings: Iterable[Reading], hub_id: str = "hub-test-01", sent_at: datetime | None = None
) -> ReadingBatch:
    """A ``ReadingBatch`` around the given readings (fresh batch id)."""
    return ReadingBatch(
        batch_id=uuid4(),
        hub_id=hub_id,
        sent_at=sent_at or datetime.now(UTC),
        readings=list(readings),
    )


def hub_weight(kg: float) -> Reading:
    """A scale reading built by the hub's own reading builder (hub clock, no device time),
    as the outbox receives it."""
    return build_reading(
        kind=ReadingKind.WEIGHT,
        values={Measure.WEIGHT: kg},
        device=DeviceIdentity(address="sim:scale", model="sim-scale"),
        received_at=datetime.now(UTC),
    )
