"""What the ingest processor refuses, and that every refusal is kept with its reason.

The processor runs here on the real relational database and the real InfluxDB; the broker
is left out because these are decisions about payloads, not about delivery (the e2e tests
cover the broker path).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from server.ingest.processor import IngestProcessor
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import Alert, AlertEvent, AlertEvidence, DeadLetter, Device, IngestedReading
from tests.support.readings import make_batch, make_reading

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def letters(db: Database) -> list[DeadLetter]:
    with db.session() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def setup(db: Database, hub: str = "hub-ref-1", patient: str = "p-ref-1", start: datetime = T0) -> None:
    add_patient(db, patient, "Ref patient", actor="test")
    add_hub(db, hub, actor="test")
    assign_hub(db, hub, patient, actor="test", start=start)


def test_unknown_hub_is_dead_lettered_whole(database: Database, influx_store: InfluxStore) -> None:
    proc = IngestProcessor(database, influx_store)
    payload = make_batch([make_reading()], hub_id="hub-nobody").to_json()
    result = proc.handle(topic("hub-nobody", Channel.READINGS), payload)
    assert result.stored == 0
    assert [(d.hub_id, d.reason, d.payload) for d in letters(database)] == [
        ("hub-nobody", "unknown hub 'hub-nobody'", payload)
    ]


def test_a_batch_claiming_another_hub_is_refused(database: Database, influx_store: InfluxStore) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    proc.handle(
        topic("hub-ref-1", Channel.READINGS), make_batch([make_reading()], hub_id="hub-other").to_json()
    )
    assert "arrived on hub 'hub-ref-1'" in letters(database)[0].reason
    assert influx_store.count_points("p-ref-1") == 0


def test_readings_from_before_the_assignment_are_kept_aside_not_misattributed(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database, start=T0)
    proc = IngestProcessor(database, influx_store)
    before = make_reading(taken_at=T0 - timedelta(days=1))
    after = make_reading(taken_at=T0 + timedelta(hours=1))
    result = proc.handle(
        topic("hub-ref-1", Channel.READINGS), make_batch([before, after], hub_id="hub-ref-1").to_json()
    )
    assert (result.stored, result.refused) == (1, 1)
    [letter] = letters(database)
    assert letter.reading_id == str(before.reading_id)
    assert "assigned to no patient" in letter.reason
    assert influx_store.count_points("p-ref-1") == 1


def test_reassigned_hub_attributes_by_reading_time(database: Database, influx_store: InfluxStore) -> None:
    setup(database, start=T0)
    add_patient(database, "p-ref-2", "Second patient", actor="test")
    assign_hub(database, "hub-ref-1", "p-ref-2", actor="test", start=T0 + timedelta(days=10))
    proc = IngestProcessor(database, influx_store)
    old = make_reading(taken_at=T0 + timedelta(days=9))  # replayed from the cuff's memory
    new = make_reading(taken_at=T0 + timedelta(days=11))
    proc.handle(topic("hub-ref-1", Channel.READINGS), make_batch([old, new], hub_id="hub-ref-1").to_json())
    with database.session() as s:
        owner = {r.reading_id: r.patient_id for r in s.scalars(select(IngestedReading))}
    assert owner == {str(old.reading_id): "p-ref-1", str(new.reading_id): "p-ref-2"}


def test_invalid_json_and_schema_errors_keep_the_payload(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    t = topic("hub-ref-1", Channel.READINGS)
    proc.handle(t, b"\xff\xfe not json")
    bad_unit = make_batch([make_reading()], hub_id="hub-ref-1").to_json().replace(b'"mm[Hg]"', b'"kPa"')
    proc.handle(t, bad_unit)
    reasons = [d.reason for d in letters(database)]
    assert reasons[0].startswith("invalid reading batch")
    assert letters(database)[0].payload == b"\xff\xfe not json"
    assert "must be in 'mm[Hg]'" in reasons[1]
    # A reading refused on its own is kept as it came (its neighbours, if any, are stored).
    assert json.loads(letters(database)[1].payload)["reading"] == json.loads(bad_unit)["readings"][0]


def test_a_reading_the_database_refuses_is_dead_lettered_not_retried_forever(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    # Someone else wrote 'systolic' as a string into our measurement: InfluxDB now refuses floats.
    httpx.post(
        f"{influx_store.config.url}/write",
        content=b'readings,patient_id=p-ref-1,kind=blood_pressure systolic="high" %d' % int(T0.timestamp()),
        params={"db": influx_store.config.database, "precision": "s"},
    ).raise_for_status()
    proc = IngestProcessor(database, influx_store)
    reading = make_reading(taken_at=T0 + timedelta(minutes=5))  # the same shard as that point
    result = proc.handle(
        topic("hub-ref-1", Channel.READINGS), make_batch([reading], hub_id="hub-ref-1").to_json()
    )
    assert result.stored == 0
    assert "InfluxDB refused" in letters(database)[0].reason
    with database.session() as s:
        assert list(s.scalars(select(IngestedReading))) == []


def test_alerts_follow_the_lifecycle_one_open_alert_rising_never_falling(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    t = topic("hub-ref-1", Channel.READINGS)
    # Low systolic pressures (NEWS2: ≤ 100 amber, ≤ 90 red); diastolic stays normal.
    for i, (sys, dia) in enumerate([(98, 62), (88, 58), (97, 60), (118, 76)]):
        reading = make_reading(
            values={Measure.SYSTOLIC: sys, Measure.DIASTOLIC: dia}, taken_at=T0 + timedelta(hours=i)
        )
        proc.handle(t, make_batch([reading], hub_id="hub-ref-1").to_json())
    with database.session() as s:
        alerts = list(s.scalars(select(Alert)))
        devices = list(s.scalars(select(Device)))
        evidence = [
            (e.severity, e.detail) for e in s.scalars(select(AlertEvidence).order_by(AlertEvidence.added_at))
        ]
        events = [e.action for e in s.scalars(select(AlertEvent).order_by(AlertEvent.id))]
    assert [(a.rule_id, a.severity, a.status) for a in alerts] == [
        ("threshold.blood_pressure", "red", "open")
    ]
    assert alerts[0].summary == "Systolic 88 mmHg (red, NEWS2/NICE)"
    assert evidence == [
        ("amber", "Systolic 98 mmHg (amber, NEWS2/NICE)"),
        ("red", "Systolic 88 mmHg (red, NEWS2/NICE)"),
        ("amber", "Systolic 97 mmHg (amber, NEWS2/NICE)"),
    ]
    assert events == ["opened", "severity_raised"]
    assert len(devices) == 1
    assert influx_store.count_points("p-ref-1", ReadingKind.BLOOD_PRESSURE) == 4
