"""Readings-store helpers shared by the store's tests: a record for a reading, a store that
never sleeps between retries, and the fixed time and hub they use."""

from __future__ import annotations

from datetime import UTC, datetime

from common.wire.messages import Reading
from server.store.influx.config import InfluxConfig
from server.store.influx.schema import ReadingRecord
from server.store.influx.store import InfluxStore

T0 = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
HUB = "hub-test-01"


def rec(reading: Reading, patient_id: str = "p-0001", hub_id: str = HUB) -> ReadingRecord:
    return ReadingRecord(patient_id=patient_id, hub_id=hub_id, reading=reading)


def store_for(url: str, database: str, **kw: object) -> InfluxStore:
    return InfluxStore(
        InfluxConfig.model_validate({"url": url, "database": database, **kw}), sleep=lambda _: None
    )
