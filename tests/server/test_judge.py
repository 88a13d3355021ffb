"""The judge on the real databases: history is required, never double-counted, and the clock
rules report each occurrence once, under each patient's own rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from server.ingest.processor import IngestProcessor
from server.judging.clock import judge_clock
from server.judging.findings import DEFAULT_TIMEZONE
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.config import InfluxConfig
from server.store.influx.errors import StoreUnavailable
from server.store.influx.schema import ReadingRecord, StoredReading
from server.store.influx.store import InfluxStore
from server.store.models import Alert, AlertEvidence, Hub, IngestedReading
from server.store.overrides import set_override
from tests.support.readings import make_batch, make_reading

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TOPIC = topic("hub-jdg-1", Channel.READINGS)


def setup(db: Database, patient: str = "p-jdg-1", hub: str = "hub-jdg-1") -> None:
    add_patient(db, patient, patient, actor="test")
    add_hub(db, hub, actor="test")
    assign_hub(db, hub, patient, actor="test", start=T0 - timedelta(days=30))


def alerts(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        return [(a.patient_id, a.rule_id, a.severity) for a in s.scalars(select(Alert).order_by(Alert.id))]


class HistoryDown:
    """Writes reach InfluxDB, history reads find it gone (it died between the two)."""

    def __init__(self, store: InfluxStore) -> None:
        self.store = store
        self.dead = InfluxStore(InfluxConfig(url="http://127.0.0.1:9", api="v1", max_retries=0, timeout=1))

    def write_readings(self, records: Sequence[ReadingRecord]) -> int:
        return self.store.write_readings(records)

    def query_readings(
        self,
        patient_id: str,
        kind: ReadingKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
        *,
        newest_first: bool = False,
    ) -> list[StoredReading]:
        return self.dead.query_readings(patient_id, kind, since, until, limit, newest_first=newest_first)


def test_without_history_nothing_is_judged_or_committed_and_a_redelivery_succeeds(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    high = make_reading(values={Measure.SYSTOLIC: 191, Measure.DIASTOLIC: 80}, taken_at=T0)
    payload = make_batch([high], hub_id="hub-jdg-1").to_json()
    broken = HistoryDown(influx_store)
    try:
        with pytest.raises(StoreUnavailable):
            IngestProcessor(database, broken).handle(TOPIC, payload)
    finally:
        broken.dead.close()
    with database.session() as s:
        assert list(s.scalars(select(IngestedReading))) == []  # so the message is not acknowledged
    assert alerts(database) == []
    assert IngestProcessor(database, influx_store).handle(TOPIC, payload).stored == 1
    assert alerts(database) == [("p-jdg-1", "threshold.blood_pressure", "red")]


def test_a_redelivered_reading_already_in_influxdb_is_not_its_own_history(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    flagged = [
        make_reading(taken_at=T0 + timedelta(hours=i), flags=[StatusFlag.IRREGULAR_PULSE]) for i in range(2)
    ]
    # Stored in InfluxDB, then the server crashed before committing the ledger.
    influx_store.write_readings([ReadingRecord("p-jdg-1", "hub-jdg-1", flagged[0])])
    proc = IngestProcessor(database, influx_store)
    proc.handle(TOPIC, make_batch([flagged[0]], hub_id="hub-jdg-1").to_json())
    assert alerts(database) == []  # one flagged reading, not two
    proc.handle(TOPIC, make_batch([flagged[1]], hub_id="hub-jdg-1").to_json())
    assert alerts(database) == [("p-jdg-1", "device.irregular_pulse", "amber")]


def clock(db: Database, at: datetime) -> list[int]:
    with db.session() as s:
        return judge_clock(s, at, DEFAULT_TIMEZONE)


def test_clock_rules_report_each_silence_once_and_follow_each_patients_rules(database: Database) -> None:
    setup(database, "p-jdg-1", "hub-jdg-1")
    setup(database, "p-jdg-2", "hub-jdg-2")
    setup(database, "p-jdg-3", "hub-jdg-3")
    with database.session() as s:
        for hub_id in ("hub-jdg-1", "hub-jdg-2"):
            hub = s.get(Hub, hub_id)
            assert hub is not None
            hub.last_seen_at = T0
        set_override(
            s,
            "p-jdg-2",
            {"missed_readings": {"weight": {"enabled": False}}},
            reason="BP monitoring only",
            set_by="dr-a",
            at=T0,
        )
        set_override(
            s,
            "p-jdg-1",
            {"missed_readings": {"weight": {"enabled": True}}},
            reason="heart failure: a weight every morning",
            set_by="dr-a",
            at=T0,
        )
    assign_hub(
        database, "hub-jdg-3", "p-jdg-1", actor="test", start=T0 - timedelta(days=1)
    )  # p-jdg-3 has none now

    # T0 + 24 h is 10:00 BST: today's weight is not due yet, yesterday's (never sent) was.
    assert clock(database, T0 + timedelta(hours=24)) != []
    first = alerts(database)
    assert clock(database, T0 + timedelta(hours=24, minutes=1)) == []  # nothing new
    # T0 + 27 h: today's weight is missed too, and the hubs have been silent for > 26 h.
    assert clock(database, T0 + timedelta(hours=27)) != []
    assert clock(database, T0 + timedelta(hours=28)) == []
    assert alerts(database) == [
        *first,
        ("p-jdg-1", "hub.silent", "amber"),
        ("p-jdg-2", "hub.silent", "amber"),
    ]
    assert first == [("p-jdg-1", "missed.weight", "amber")]  # not p-jdg-2 (override), not p-jdg-3 (no hub)
    with database.session() as s:
        keys = sorted(e.reading_id for e in s.scalars(select(AlertEvidence)))
    assert keys == [
        "missed-after:never",  # one alert and one evidence row for the whole run of missed mornings
        "silent-since:2026-05-04T09:00:00Z",
        "silent-since:2026-05-04T09:00:00Z",
    ]


def test_a_schedule_applies_only_to_kinds_the_patient_sends_or_was_given(database: Database) -> None:
    """A patient who has never sent a weight and was given no weight schedule (say COPD,
    oximeter only) is not told every morning that a weight is missing."""
    setup(database, "p-jdg-copd", "hub-jdg-copd")
    with database.session() as s:
        hub = s.get(Hub, "hub-jdg-copd")
        assert hub is not None
        hub.last_seen_at = T0 + timedelta(hours=26)  # the hub is alive
    assert clock(database, T0 + timedelta(hours=27)) == []
    assert alerts(database) == []
