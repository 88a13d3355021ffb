"""How a reading is laid out in InfluxDB, and the times InfluxDB can hold.

Its own module because the layout is a contract with years of stored data: the points the
store writes, the times the API and the pages accept from a person (:func:`check_storable_time`)
and the timestamp that makes a redelivered reading overwrite itself (:func:`point_time_ns`)
must all agree, and none of it needs a connection.

Schema (designed for years of sparse readings: a few points per patient per day)
-------------------------------------------------------------------------------
measurement ``readings``

tags (indexed; every distinct combination is a series, so only low-cardinality values):
  ``patient_id``, ``kind``, ``device_model``, ``hub_id``, ``time_source``.
  Series per patient are roughly kinds x devices, i.e. a handful. The reading id is
  deliberately NOT a tag: one series per reading would grow the index without bound.

fields:
  one float per measure, named by ``Measure`` (``systolic``, ``diastolic``, ``pulse``,
  ``spo2``, ``weight``, ``temperature``, ...); ``reading_id`` (string, the end-to-end
  idempotency key); ``flags`` (comma-joined string, ``""`` if none); ``received_at_ns``
  (int); ``measured_at_ns`` (int, omitted when the device gave no time or one InfluxDB cannot hold).

time:
  ``taken_at`` truncated to the millisecond plus a deterministic sub-millisecond offset
  derived from the reading id (:func:`point_time_ns`). ``taken_at`` itself is restored
  exactly on read from ``measured_at_ns``/``received_at_ns`` (the wire contract says which
  one it equals), so the offset never leaks into what callers see.

Field types never change (measures are always floats), so a 1.x "field type conflict" means
someone else wrote into our measurement. For very long retention on 1.x, deploy scripts
should give the retention policy a long shard-group duration (e.g. 52w) rather than the 7d
default, to keep the shard count low for sparse data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from common.wire.messages import Reading, TimeSource
from common.wire.topics import valid_hub_id
from common.wire.vocabulary import Measure, ReadingKind
from server.patient_ids import check_patient_id

MEASUREMENT = "readings"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_MS = 1_000_000


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    """A validated wire reading plus who it belongs to (the server resolves the patient)."""

    patient_id: str
    hub_id: str
    reading: Reading

    def __post_init__(self) -> None:
        check_patient_id(self.patient_id)
        if not valid_hub_id(self.hub_id):
            raise ValueError(f"invalid hub id {self.hub_id!r}")


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading as read back from InfluxDB (the measurement keeps no raw bytes or device serial)."""

    reading_id: UUID
    patient_id: str
    kind: ReadingKind
    taken_at: datetime
    values: dict[Measure, float]
    flags: list[str]
    device_model: str
    hub_id: str
    time_source: TimeSource
    received_at: datetime
    measured_at: datetime | None = None


# --- time -----------------------------------------------------------------------------------

#: InfluxDB keeps a point's time as int64 nanoseconds since the epoch, that is
#: 1677-09-21T00:12:43.145224194Z .. 2262-04-11T23:47:16.854775806Z. A time outside cannot be
#: stored, and in a query it is an error (the constant under- or overflows int64). These are
#: the whole seconds just inside, so that a query's millisecond flooring and a point's
#: sub-millisecond offset (:func:`point_time_ns`) stay inside too. Every time the API or the
#: pages take from a person is checked against them (:func:`check_storable_time`).
EARLIEST_TIME = datetime(1677, 9, 21, 0, 12, 44, tzinfo=UTC)
LATEST_TIME = datetime(2262, 4, 11, 23, 47, 16, tzinfo=UTC)


class TimeOutOfRange(ValueError):
    """A time InfluxDB cannot hold (or one without a UTC offset); refused before any request."""


def check_storable_time(dt: datetime) -> datetime:
    """``dt`` if InfluxDB can hold it; otherwise :class:`TimeOutOfRange` saying the range."""
    if dt.utcoffset() is None:
        raise TimeOutOfRange("must include a UTC offset, e.g. 2026-01-01T00:00:00Z")
    if not EARLIEST_TIME <= dt <= LATEST_TIME:
        raise TimeOutOfRange(
            f"must be between {EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} and {LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}, "
            "the times the reading store can hold"
        )
    return dt


def datetime_to_ns(dt: datetime) -> int:
    """Exact integer ns (datetimes carry µs; going through float would lose some)."""
    if dt.utcoffset() is None:
        raise ValueError("naive datetime; timestamps must carry a UTC offset")
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


def ns_to_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def ms_floor_ns(ns: int) -> int:
    """``ns`` down to the whole millisecond: the resolution of every time comparison."""
    return ns // _NS_PER_MS * _NS_PER_MS


def reading_time_offset_ns(reading_id: UUID) -> int:
    """The reading's sub-millisecond offset, 0 ≤ offset < 1 ms, a pure function of its id."""
    return int.from_bytes(hashlib.sha256(reading_id.bytes).digest()[:8], "big") % _NS_PER_MS


def point_time_ns(reading: Reading) -> int:
    """The point's timestamp: ``taken_at`` to the millisecond plus an id-derived offset.

    InfluxDB identifies a point by measurement + tag set + timestamp and silently replaces
    the fields of an existing point. Device clocks tick in whole seconds, so two different
    readings of one patient and kind within the same second would otherwise share a
    timestamp and the second would erase the first. Spreading them by a hash of the reading
    id keeps them apart (a clash needs two readings in the same millisecond *and* the same
    offset, about 1 in 10^6 per such pair), while the same reading delivered twice (MQTT QoS 1
    redelivery, a hub retry) lands on the very same timestamp and overwrites itself: writes
    are idempotent, so retrying after a timeout is always safe. Keeping the offset below 1 ms
    means time-range queries are exact at millisecond resolution.
    """
    return ms_floor_ns(datetime_to_ns(reading.taken_at)) + reading_time_offset_ns(reading.reading_id)


# --- the point ------------------------------------------------------------------------------


def reading_point(record: ReadingRecord) -> Point:
    r = record.reading
    p: Any = (  # influxdb_client's Point is unannotated
        cast(Any, Point)(MEASUREMENT)
        .tag("patient_id", record.patient_id)
        .tag("kind", r.kind.value)
        .tag("device_model", r.device.model)
        .tag("hub_id", record.hub_id)
        .tag("time_source", r.time_source.value)
    )
    for measure, quantity in r.values.items():
        p.field(measure.value, float(quantity.value))
    p.field("reading_id", str(r.reading_id))
    p.field("flags", ",".join(r.flags))
    p.field("received_at_ns", datetime_to_ns(r.received_at))
    # The device's own time is kept only if InfluxDB can hold it: a device clock reading 2300
    # is already why the hub stamped the reading with its own clock (and flagged it).
    if r.measured_at is not None and EARLIEST_TIME <= r.measured_at <= LATEST_TIME:
        p.field("measured_at_ns", datetime_to_ns(r.measured_at))
    point: Point = p.time(point_time_ns(r), WritePrecision.NS)
    return point
