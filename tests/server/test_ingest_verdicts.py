"""Per-reading verdicts on the real relational database and InfluxDB: the good readings of a
batch are stored and judged whatever their neighbours are, and every refused one is kept
with its reason and named in the hub's receipt.

Each test is one of the ways readings were lost or hidden before: a bad timestamp that
dead-lettered a whole batch (and the red SpO2 in it), a reading dated 2100 that switched off
missed-reading alerts, a conflicting duplicate counted as a duplicate, values no body can have
stored as valid, and a NUL byte that PostgreSQL refuses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select

from common.wire.messages import DeviceIdentity, Quantity, ReceiptOutcome
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from server.ingest.processor import IngestProcessor
from server.ingest.results import IngestResult
from server.ingest.verdicts import RefusalCode, SplitBatch, split_batch
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import Alert, DeadLetter, IngestedReading
from tests.support.readings import make_batch, make_reading

HUB = "hub-verd-1"
READINGS = topic(HUB, Channel.READINGS)


def setup(db: Database, patient: str = "p-verd-1") -> None:
    add_patient(db, patient, "Verdict patient", actor="test")
    add_hub(db, HUB, actor="test")
    assign_hub(db, HUB, patient, actor="test", start=datetime(2020, 1, 1, tzinfo=UTC))


def letters(db: Database) -> list[DeadLetter]:
    with db.session() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def alerts(db: Database, patient: str = "p-verd-1") -> list[Alert]:
    with db.session() as s:
        return list(s.scalars(select(Alert).where(Alert.patient_id == patient)))


def outcomes(result: IngestResult) -> dict[str, ReceiptOutcome]:
    return {str(e.reading_id): e.outcome for e in result.receipts}


def spo2(value: float, taken_at: datetime | None = None) -> dict[str, object]:
    reading = make_reading(ReadingKind.SPO2, {Measure.SPO2: 97.0}, taken_at)
    doc = reading.model_dump(mode="json")
    doc["values"]["spo2"]["value"] = value
    return doc


def raw_batch(readings: list[dict[str, object]], sent_at: datetime | None = None) -> bytes:
    return json.dumps(
        {
            "schema": "carewatch.readings.v1",
            "batch_id": str(uuid4()),
            "hub_id": HUB,
            "sent_at": (sent_at or datetime.now(UTC)).isoformat(),
            "readings": readings,
        }
    ).encode()


def test_a_bad_timestamp_does_not_hide_the_red_spo2_beside_it(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    red = make_reading(ReadingKind.SPO2, {Measure.SPO2: 83.0})
    future = make_reading(ReadingKind.SPO2, {Measure.SPO2: 97.0}, datetime(2300, 1, 1, tzinfo=UTC))
    result = proc.handle(READINGS, make_batch([red, future], hub_id=HUB).to_json())
    assert (result.stored, result.refused) == (1, 1)
    assert outcomes(result) == {
        str(red.reading_id): ReceiptOutcome.STORED,
        str(future.reading_id): ReceiptOutcome.REFUSED,
    }
    [letter] = letters(database)
    assert (letter.reading_id, letter.reason_code) == (str(future.reading_id), RefusalCode.TIME_IN_FUTURE)
    assert "taken_at 2300-01-01T00:00:00+00:00 is 273 years ahead of the server clock" in letter.reason
    assert "(hub clock in step with the server's)" in letter.reason
    assert [r.reading_id for r in influx_store.query_readings("p-verd-1")] == [red.reading_id]
    assert [a.severity for a in alerts(database)] == ["red"]


@pytest.mark.parametrize(
    ("when", "code", "words"),
    [
        (datetime(2100, 1, 1, tzinfo=UTC), RefusalCode.TIME_IN_FUTURE, "ahead of the server clock"),
        (datetime(1970, 1, 1, tzinfo=UTC), RefusalCode.TIME_TOO_EARLY, "before 2010"),
    ],
)
def test_readings_from_another_century_are_refused_with_the_hub_clock_offset(
    database: Database, influx_store: InfluxStore, when: datetime, code: RefusalCode, words: str
) -> None:
    """A reading dated 2100 once topped every list and silenced missed-reading alerts; one
    dated 1970 was blamed on the hub's assignment."""
    setup(database)
    proc = IngestProcessor(database, influx_store)
    reading = make_reading(taken_at=when)
    sent = datetime.now(UTC) + timedelta(hours=2)  # this hub's clock runs two hours fast
    result = proc.handle(READINGS, make_batch([reading], hub_id=HUB, sent_at=sent).to_json())
    assert outcomes(result) == {str(reading.reading_id): ReceiptOutcome.REFUSED}
    [letter] = letters(database)
    assert letter.reason_code == code
    assert words in letter.reason
    assert "hub clock 2 hours ahead of the server's" in letter.reason
    assert influx_store.count_points("p-verd-1") == 0


def test_a_conflicting_duplicate_is_kept_not_counted_as_a_duplicate(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    add_patient(database, "p-verd-2", "Other patient", actor="test")
    add_hub(database, "hub-verd-2", actor="test")
    assign_hub(database, "hub-verd-2", "p-verd-2", actor="test", start=datetime(2020, 1, 1, tzinfo=UTC))
    proc = IngestProcessor(database, influx_store)
    first = make_reading(ReadingKind.SPO2, {Measure.SPO2: 98.0})
    proc.handle(READINGS, make_batch([first], hub_id=HUB).to_json())
    # The very same reading again: a true duplicate.
    again = proc.handle(READINGS, make_batch([first], hub_id=HUB).to_json())
    assert outcomes(again) == {str(first.reading_id): ReceiptOutcome.DUPLICATE}
    # The same id with another value, and from another patient's hub: conflicts, kept.
    changed = first.model_copy(update={"values": {Measure.SPO2: Quantity(value=78.0, unit="%")}})
    r1 = proc.handle(READINGS, make_batch([changed], hub_id=HUB).to_json())
    r2 = proc.handle(
        topic("hub-verd-2", Channel.READINGS), make_batch([first], hub_id="hub-verd-2").to_json()
    )
    assert outcomes(r1) == outcomes(r2) == {str(first.reading_id): ReceiptOutcome.REFUSED}
    kept = letters(database)
    assert [d.reason_code for d in kept] == [RefusalCode.CONFLICT, RefusalCode.CONFLICT]
    assert "already stored with other content" in kept[0].reason
    assert "already stored from hub 'hub-verd-1'" in kept[1].reason
    assert json.loads(kept[0].payload)["reading"]["values"]["spo2"]["value"] == 78.0
    assert influx_store.count_points("p-verd-1") == 1
    assert influx_store.count_points("p-verd-2") == 0
    # Sent again (the hub did not get the receipt): still one letter, not two.
    proc.handle(READINGS, make_batch([changed], hub_id=HUB).to_json())
    assert len(letters(database)) == 2


def test_within_one_batch_the_red_copy_is_not_lost_to_a_later_one(
    database: Database, influx_store: InfluxStore
) -> None:
    """It was: the last copy won, a red 78 lost and a 98 kept."""
    setup(database)
    proc = IngestProcessor(database, influx_store)
    red = make_reading(ReadingKind.SPO2, {Measure.SPO2: 78.0})
    other = red.model_copy(update={"values": {Measure.SPO2: Quantity(value=98.0, unit="%")}})
    result = proc.handle(READINGS, make_batch([red, other], hub_id=HUB).to_json())
    assert (result.stored, result.refused) == (1, 1)
    [stored] = influx_store.query_readings("p-verd-1")
    assert stored.values[Measure.SPO2] == 78.0
    [letter] = letters(database)
    assert letter.reason_code == RefusalCode.CONFLICT
    assert json.loads(letter.payload)["reading"]["values"]["spo2"]["value"] == 98.0
    assert [a.severity for a in alerts(database)] == ["red"]


@pytest.mark.parametrize("value", [-5, 1e300, 100.5])
def test_an_impossible_value_is_refused_and_its_neighbours_stored(
    database: Database, influx_store: InfluxStore, value: float
) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    good = spo2(96.0)
    bad = spo2(value)
    result = proc.handle(READINGS, raw_batch([good, bad]))
    assert (result.stored, result.refused) == (1, 1)
    [letter] = letters(database)
    assert letter.reason_code == RefusalCode.IMPOSSIBLE_VALUE
    assert "outside what any measurement can be (0-100 %)" in letter.reason
    assert len(letter.reason) < 200  # no 300-digit numbers
    assert influx_store.count_points("p-verd-1") == 1


def test_infinite_or_huge_weights_are_refused(database: Database, influx_store: InfluxStore) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    docs = []
    for value in (1.8e308, -1.8e308, 12345.0, 80.0):
        doc = make_reading(ReadingKind.WEIGHT, {Measure.WEIGHT: 80.0}).model_dump(mode="json")
        doc["values"]["weight"]["value"] = value
        docs.append(doc)
    # 1e999 is how JSON spells a number too big for a double: it parses as infinity.
    payload = raw_batch(docs).replace(b"1.8e+308", b"1e999")
    result = proc.handle(READINGS, payload)
    assert (result.stored, result.refused) == (1, 3)
    assert {d.reason_code for d in letters(database)} == {
        RefusalCode.INVALID_READING,
        RefusalCode.IMPOSSIBLE_VALUE,
    }


def test_the_server_flags_an_implausible_value_a_hub_did_not(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    result = proc.handle(READINGS, raw_batch([spo2(45.0)]))
    assert result.stored == 1
    [stored] = influx_store.query_readings("p-verd-1")
    assert StatusFlag.IMPLAUSIBLE.value in stored.flags


def test_a_malformed_reading_is_kept_with_where_and_its_neighbours_stored(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    proc = IngestProcessor(database, influx_store)
    good = make_reading().model_dump(mode="json")
    bad = make_reading().model_dump(mode="json")
    bad["values"]["systolic"]["unit"] = "kPa"
    result = proc.handle(READINGS, raw_batch([good, bad]))
    assert (result.stored, result.refused) == (1, 1)
    [letter] = letters(database)
    assert letter.reading_id == bad["reading_id"]
    assert letter.reason.startswith("invalid reading 1: ")
    assert "systolic must be in 'mm[Hg]'" in letter.reason
    assert outcomes(result)[bad["reading_id"]] is ReceiptOutcome.REFUSED


def test_a_nul_byte_on_postgresql_is_refused_at_validation_and_ingest_goes_on(
    postgres_database: str, influx_store: InfluxStore
) -> None:
    """One such reading once raised psycopg.DataError in the ingest thread and stopped all
    ingestion; redelivered after a restart, it stopped it again."""
    db = Database(postgres_database)
    db.migrate()
    try:
        setup(db)
        proc = IngestProcessor(db, influx_store)
        poisoned = make_reading(device=DeviceIdentity(address="sim:x", model="sim-bp")).model_dump(
            mode="json"
        )
        poisoned["device"]["manufacturer"] = "A&D\u0000Medical"
        good = make_reading(ReadingKind.SPO2, {Measure.SPO2: 84.0})
        result = proc.handle(READINGS, raw_batch([poisoned, good.model_dump(mode="json")]))
        assert (result.stored, result.refused) == (1, 1)
        [letter] = letters(db)
        assert "control characters (U+0000 at position 3)" in letter.reason
        assert b"\\u0000" in letter.payload  # kept as it came, escaped in JSON
        later = proc.handle(READINGS, make_batch([make_reading()], hub_id=HUB).to_json())
        assert later.stored == 1
        assert [a.severity for a in alerts(db)] == ["red"]
    finally:
        db.dispose()


def test_a_defect_one_reading_triggers_is_isolated_to_that_reading(
    postgres_database: str, influx_store: InfluxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What validation does not catch, the database may still refuse. Here the validation is
    bypassed so a NUL byte reaches the real PostgreSQL, which refuses it (psycopg DataError):
    the reading is kept as an internal-error dead letter and the rest of the batch goes on."""
    import server.ingest.processor as processor_module

    db = Database(postgres_database)
    db.migrate()
    try:
        setup(db)
        proc = IngestProcessor(db, influx_store)
        ok = make_reading(ReadingKind.SPO2, {Measure.SPO2: 83.0})
        device = DeviceIdentity.model_construct(address="sim:x", model="sim-bp", manufacturer="bad\x00byte")
        poisoned = make_reading().model_copy(update={"device": device})

        def unvalidated(payload: bytes, hub_id: str) -> SplitBatch:
            split = split_batch(payload, hub_id)
            split.readings.append(poisoned)
            return split

        monkeypatch.setattr(processor_module, "split_batch", unvalidated)
        result = proc.handle(READINGS, make_batch([ok], hub_id=HUB).to_json())
        assert (result.stored, result.refused) == (1, 1)
        [letter] = letters(db)
        assert letter.reason_code == RefusalCode.INTERNAL_ERROR
        assert "DataError" in letter.reason
        with db.session() as s:
            assert list(s.scalars(select(IngestedReading.reading_id))) == [str(ok.reading_id)]
        assert [a.severity for a in alerts(db)] == ["red"]
    finally:
        db.dispose()
