"""The relational store on PostgreSQL by URL: migrations, ingest, overrides, clock rules and
the alert lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure
from server.ingest.processor import IngestProcessor
from server.judging.clock import judge_clock
from server.judging.findings import DEFAULT_TIMEZONE
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import Alert, AlertEvidence
from server.store.overrides import set_override
from tests.support.readings import make_batch, make_reading


def test_ingest_rules_and_clock_on_postgresql(postgres_database: str, influx_store: InfluxStore) -> None:
    db = Database(postgres_database)
    db.migrate()
    add_patient(db, "p-pg-1", "PG patient", actor="test")
    add_hub(db, "hub-pg-1", actor="test")
    assign_hub(db, "hub-pg-1", "p-pg-1", actor="test", start=datetime.now(UTC) - timedelta(days=1))
    proc = IngestProcessor(db, influx_store)
    high = make_reading(values={Measure.SYSTOLIC: 192, Measure.DIASTOLIC: 88})
    payload = make_batch([high], hub_id="hub-pg-1").to_json()
    assert proc.handle(topic("hub-pg-1", Channel.READINGS), payload).stored == 1
    assert proc.handle(topic("hub-pg-1", Channel.READINGS), payload).duplicates == 1
    with db.session() as s:
        assert [(a.patient_id, a.severity) for a in s.scalars(select(Alert))] == [("p-pg-1", "red")]
        assert [e.reading_id for e in s.scalars(select(AlertEvidence))] == [str(high.reading_id)]
    # Overrides (a JSON column) and the clock rules (max(taken_at) per kind) on PostgreSQL too.
    with db.session() as s:
        set_override(
            s,
            "p-pg-1",
            {"hub_silence": {"enabled": False}, "missed_readings": {"weight": {"enabled": True}}},
            reason="hub on a timer; heart failure, daily weight expected",
            set_by="dr-a",
            at=high.taken_at,
        )
    tomorrow_noon = high.taken_at.replace(hour=12, minute=0, second=0) + timedelta(days=1)
    for _ in range(2):
        with db.session() as s:
            judge_clock(s, tomorrow_noon, DEFAULT_TIMEZONE)
    with db.session() as s:
        assert sorted(a.rule_id for a in s.scalars(select(Alert))) == [
            "missed.weight",
            "threshold.blood_pressure",
        ]
    assert db.engine.dialect.name == "postgresql"
    db.dispose()
