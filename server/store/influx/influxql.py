"""The InfluxQL the store speaks: quoting, the queries it asks, and the rows it reads back.

Reads are InfluxQL only (never Flux, which exists only in 2.x): it is the one query language
1.x, 2.x (through a DBRP mapping) and 3.x all answer. Its own module because every value
that enters a query must pass through the quoting here (patient ids also match a strict
pattern), which is easiest to check when the query text is built in one place and nowhere
else; and because turning a row back into a :class:`StoredReading` undoes the schema's
timestamp offset, which is pure and testable without a server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind
from server.patient_ids import check_patient_id
from server.store.influx.schema import (
    MEASUREMENT,
    StoredReading,
    check_storable_time,
    datetime_to_ns,
    ms_floor_ns,
    ns_to_datetime,
    reading_time_offset_ns,
)

MAX_QUERY_LIMIT = 100_000
_MEASURE_NAMES = frozenset(m.value for m in Measure)


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal (backslash-escapes ``\\``, ``'`` and newlines)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return "'" + escaped + "'"


def readings_query(
    patient_id: str,
    kind: ReadingKind | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    *,
    newest_first: bool,
) -> str:
    """A patient's readings with ``since <= taken_at < until``, compared to the millisecond.

    Refuses (``ValueError``, :class:`TimeOutOfRange`, ``InvalidPatientId``) what could not
    make a valid query, so the store sends none.
    """
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_QUERY_LIMIT}")
    where = _where(patient_id, kind)
    if since is not None:
        check_storable_time(since)
        where.append(f"time >= {ms_floor_ns(datetime_to_ns(since))}")
    if until is not None:
        check_storable_time(until)
        where.append(f"time < {ms_floor_ns(datetime_to_ns(until))}")
    return (
        f"SELECT * FROM {quote_ident(MEASUREMENT)} WHERE {' AND '.join(where)} "  # noqa: S608 - quoted
        f"ORDER BY time {'DESC' if newest_first else 'ASC'} LIMIT {int(limit)}"
    )


def count_query(patient_id: str, kind: ReadingKind | None) -> str:
    """How many points (= distinct readings) a patient has."""
    where = _where(patient_id, kind)
    # Every value below went through quote_ident/quote_string (and patient ids a strict pattern).
    q = f"SELECT COUNT({quote_ident('reading_id')}) FROM {quote_ident(MEASUREMENT)}"  # noqa: S608
    return q + f" WHERE {' AND '.join(where)}"


def _where(patient_id: str, kind: ReadingKind | None) -> list[str]:
    where = [f"{quote_ident('patient_id')} = {quote_string(check_patient_id(patient_id))}"]
    if kind is not None:
        where.append(f"{quote_ident('kind')} = {quote_string(ReadingKind(kind).value)}")
    return where


def stored_readings(series: list[dict[str, Any]]) -> list[StoredReading]:
    """The rows of a ``SELECT *`` over the measurement, as readings, in the order given."""
    out: list[StoredReading] = []
    for s in series:
        columns: list[str] = s["columns"]
        for row in s["values"]:
            out.append(stored_reading(dict(zip(columns, row, strict=True))))
    return out


def counted(series: list[dict[str, Any]]) -> int:
    """The total of a ``SELECT COUNT(...)``'s rows (no series at all is 0)."""
    return sum(int(row[1]) for s in series for row in s["values"])


def stored_reading(row: dict[str, Any]) -> StoredReading:
    """One row back as a reading, ``taken_at`` restored exactly (see the schema's time)."""
    reading_id = UUID(row["reading_id"])
    time_source = TimeSource(row["time_source"])
    received_ns = int(row["received_at_ns"])
    measured_ns = None if row.get("measured_at_ns") is None else int(row["measured_at_ns"])
    base_ns = int(row["time"]) - reading_time_offset_ns(reading_id)  # taken_at to the ms
    exact_ns = measured_ns if time_source is TimeSource.DEVICE else received_ns
    taken_ns = exact_ns if exact_ns is not None and ms_floor_ns(exact_ns) == base_ns else base_ns
    flags = row.get("flags") or ""
    return StoredReading(
        reading_id=reading_id,
        patient_id=row["patient_id"],
        kind=ReadingKind(row["kind"]),
        taken_at=ns_to_datetime(taken_ns),
        values={Measure(k): float(v) for k, v in row.items() if k in _MEASURE_NAMES and v is not None},
        flags=flags.split(",") if flags else [],
        device_model=row["device_model"],
        hub_id=row["hub_id"],
        time_source=time_source,
        received_at=ns_to_datetime(received_ns),
        measured_at=None if measured_ns is None else ns_to_datetime(measured_ns),
    )
