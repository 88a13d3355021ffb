"""The latest value per patient and measure, as the ingest keeps it: a reading replayed from a
device's memory (older) never replaces a newer value, even within one batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind
from server.provisioning import add_patient
from server.store.database import Database
from server.store.latest_values import record_latest
from server.store.models import LatestValue
from tests.support.readings import make_reading


def test_the_newest_value_of_each_measure_is_kept(database: Database) -> None:
    add_patient(database, "p-latest", "Lee Test", actor="test")
    now = datetime.now(UTC).replace(microsecond=0)
    newer = make_reading(
        ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 150, Measure.DIASTOLIC: 90, Measure.PULSE: 70}, now
    )
    older = make_reading(
        ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 120, Measure.DIASTOLIC: 80}, now - timedelta(hours=3)
    )
    oximeter = make_reading(
        ReadingKind.SPO2,
        {Measure.SPO2: 95, Measure.PULSE: 88},
        now + timedelta(minutes=1),
        flags=["low_perfusion"],
    )
    with database.session() as s:  # one batch, out of order
        for reading in (newer, older, oximeter):
            record_latest(s, "p-latest", reading)
    with database.session() as s:
        kept = {
            row.measure: (row.value, row.kind, row.flagged)
            for row in s.scalars(select(LatestValue).where(LatestValue.patient_id == "p-latest"))
        }
    assert kept == {
        "systolic": (150.0, "blood_pressure", False),
        "diastolic": (90.0, "blood_pressure", False),
        "pulse": (88.0, "spo2", True),  # the oximeter's pulse is the newer one
        "spo2": (95.0, "spo2", True),
    }
