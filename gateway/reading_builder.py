"""Turn a decoded device measurement into a wire ``Reading``: clock trust and plausibility.

Pure: no I/O. Two decisions live here and nowhere else:

* Which clock to trust. A device timestamp is used only when it is set and plausible
  against the hub clock (not in the future beyond a small allowance, not older than a
  device could have stored it). Otherwise the hub's receive time is used and the reading
  says so (``time_source = hub``, plus ``device_clock_unset`` / ``device_clock_skewed``
  when the device sent a time that could not be trusted; a device with no clock gets no
  flag, since nothing about it is wrong).
* Plausibility. A value outside the range a human body can produce is flagged
  ``implausible`` and still sent: the clinician sees it and the refusal is explicit, never
  a silent drop on a small device far from anyone.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from common.wire.messages import (
    CLOCK_TOLERANCE,
    DeviceIdentity,
    Quantity,
    RawCharacteristic,
    Reading,
    TimeSource,
)
from common.wire.vocabulary import MEASURES, Measure, ReadingKind, StatusFlag

#: How far a device clock may be from the hub's before the hub stops trusting it. A reading
#: replayed from a device's memory is legitimately in the past, so only the future is tight.
DEVICE_CLOCK_MAX_FUTURE = CLOCK_TOLERANCE
DEVICE_CLOCK_MAX_PAST = timedelta(days=90)


def choose_time(
    measured_at: datetime | None, received_at: datetime, *, device_clock_unset: bool = False
) -> tuple[datetime, TimeSource, list[StatusFlag]]:
    """Pick the trusted timestamp and explain the choice in flags."""
    if device_clock_unset:
        return received_at, TimeSource.HUB, [StatusFlag.DEVICE_CLOCK_UNSET]
    if measured_at is None:  # the device sent no time at all (no clock, or not in this packet)
        return received_at, TimeSource.HUB, []
    ahead = measured_at - received_at
    if ahead > DEVICE_CLOCK_MAX_FUTURE or -ahead > DEVICE_CLOCK_MAX_PAST:
        return received_at, TimeSource.HUB, [StatusFlag.DEVICE_CLOCK_SKEWED]
    return measured_at, TimeSource.DEVICE, []


def plausibility_flags(values: Mapping[Measure, float]) -> list[StatusFlag]:
    for measure, value in values.items():
        spec = MEASURES[measure]
        if not spec.plausible_min <= value <= spec.plausible_max:
            return [StatusFlag.IMPLAUSIBLE]
    return []


def build_reading(
    *,
    kind: ReadingKind,
    values: Mapping[Measure, float],
    device: DeviceIdentity,
    received_at: datetime,
    measured_at: datetime | None = None,
    device_clock_unset: bool = False,
    flags: Iterable[str] = (),
    raw: Iterable[tuple[str, bytes]] = (),
    reading_id: uuid.UUID | None = None,
) -> Reading:
    """Assemble and validate a reading; raises pydantic.ValidationError if it is not one."""
    taken_at, source, time_flags = choose_time(
        measured_at, received_at, device_clock_unset=device_clock_unset
    )
    all_flags = list(dict.fromkeys([*flags, *time_flags, *plausibility_flags(values)]))
    return Reading(
        reading_id=reading_id or uuid.uuid4(),
        kind=kind,
        values={m: Quantity(value=v, unit=MEASURES[m].unit.ucum) for m, v in values.items()},
        taken_at=taken_at,
        time_source=source,
        measured_at=measured_at,
        received_at=received_at,
        device=device,
        flags=[str(f) for f in all_flags],
        raw=[RawCharacteristic(uuid=u, data=base64.b64encode(b).decode()) for u, b in raw],
    )
