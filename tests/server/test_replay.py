"""Dead letters replayed once their cause is fixed: nothing stored twice, judged then.

Real relational database and real InfluxDB. The one fault injected is InfluxDB refusing a
history query (as a production server with ``max-select-point`` set does), which the local
1.6 daemon cannot be made to do on demand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from server.ingest.processor import IngestProcessor
from server.ingest.replay import ReplayError, replay
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.errors import StoreRejected
from server.store.influx.schema import StoredReading
from server.store.influx.store import InfluxStore
from server.store.models import Alert, AuditEvent, DeadLetter, IngestedReading
from tests.server.test_ingest_refusals import T0, letters
from tests.support.readings import make_batch, make_reading

READINGS = topic("hub-rep-1", Channel.READINGS)


class HistoryRefused(InfluxStore):
    """The real store, except that InfluxDB refuses the history query."""

    def query_readings(self, *args: Any, **kwargs: Any) -> list[StoredReading]:
        raise StoreRejected("max-select-point limit exceeed (10001/10000)")


def ingested(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(IngestedReading.reading_id)))


def test_a_reading_from_an_unassigned_hub_is_stored_after_the_assignment_and_replay(
    database: Database, influx_store: InfluxStore
) -> None:
    add_patient(database, "p-rep-1", "Replay patient", actor="test")
    add_hub(database, "hub-rep-1", actor="test")
    proc = IngestProcessor(database, influx_store)
    reading = make_reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 192, Measure.DIASTOLIC: 104}, T0)
    result = proc.handle(READINGS, make_batch([reading], hub_id="hub-rep-1").to_json())
    assert (result.stored, result.refused) == (0, 1)
    [letter] = letters(database)
    assert "assigned to no patient" in letter.reason

    # The technician records that the hub went to the patient the day before, then replays.
    assign_hub(database, "hub-rep-1", "p-rep-1", actor="test", start=T0 - timedelta(days=1))
    done = replay(proc, letter.id, actor="tech-1")
    assert not done.refused_again
    assert (done.result.stored, len(done.result.alerts)) == (1, 1)
    assert ingested(database) == [str(reading.reading_id)]
    assert influx_store.count_points("p-rep-1") == 1
    [after] = letters(database)
    assert after.status == "replayed"
    with database.session() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "dead_letter_replayed"))
        assert (event.actor, event.target) == ("tech-1", f"#{letter.id}")
    with pytest.raises(ReplayError, match="already replayed"):
        replay(proc, letter.id, actor="tech-1")


def test_readings_whose_history_cannot_be_read_are_kept_unjudged_then_judged_on_replay(
    database: Database, influx_store: InfluxStore
) -> None:
    add_patient(database, "p-rep-2", "Replay patient", actor="test")
    add_hub(database, "hub-rep-1", actor="test")
    assign_hub(database, "hub-rep-1", "p-rep-2", actor="test", start=T0 - timedelta(days=1))
    refusing = IngestProcessor(database, HistoryRefused(influx_store.config))
    reading = make_reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 195, Measure.DIASTOLIC: 100}, T0)
    payload = make_batch([reading], hub_id="hub-rep-1").to_json()

    result = refusing.handle(READINGS, payload)
    [letter] = letters(database)
    assert letter.reason.startswith("readings stored but not judged: InfluxDB refused the history query")
    assert result.dead_letter_reason == letter.reason
    assert influx_store.count_points("p-rep-2") == 1  # written...
    assert ingested(database) == []  # ...but neither recorded nor judged
    with database.session() as s:
        assert list(s.scalars(select(Alert))) == []

    done = replay(IngestProcessor(database, influx_store), letter.id, actor="tech-1")
    assert (done.result.stored, len(done.result.alerts)) == (1, 1)
    assert influx_store.count_points("p-rep-2") == 1  # the same point, not a second one
    assert ingested(database) == [str(reading.reading_id)]


def test_only_readings_are_replayed(database: Database, influx_store: InfluxStore) -> None:
    proc = IngestProcessor(database, influx_store)
    with database.session() as s:
        s.add(
            DeadLetter(
                topic=topic("hub-rep-1", Channel.TELEMETRY),
                hub_id="hub-rep-1",
                reason="unknown hub 'hub-rep-1'",
                payload=b"{}",
                received_at=datetime.now(T0.tzinfo),
            )
        )
    [letter] = letters(database)
    with pytest.raises(ReplayError, match="holds no readings"):
        replay(proc, letter.id, actor="tech-1")
    with pytest.raises(ReplayError, match="no dead letter #999999"):
        replay(proc, 999999, actor="tech-1")


def test_a_replay_refused_again_keeps_one_letter_and_says_why(
    database: Database, influx_store: InfluxStore
) -> None:
    """It used to print "refused again: None" and add a new letter on every try."""
    add_patient(database, "p-rep-3", "Replay patient", actor="test")
    add_hub(database, "hub-rep-1", actor="test")  # assigned to nobody: refused again and again
    proc = IngestProcessor(database, influx_store)
    reading = make_reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 150, Measure.DIASTOLIC: 90}, T0)
    proc.handle(READINGS, make_batch([reading], hub_id="hub-rep-1").to_json())
    [letter] = letters(database)
    for attempt in (1, 2):
        done = replay(proc, letter.id, actor="tech-1")
        assert done.refused_again
        assert done.still_refused is not None
        assert "assigned to no patient" in done.still_refused
        [again] = letters(database)  # still the one letter
        assert (again.id, again.status, again.replays) == (letter.id, "new", attempt)
        assert again.last_replayed_at is not None
    # Once the cause is fixed, the same letter goes through.
    assign_hub(database, "hub-rep-1", "p-rep-3", actor="test", start=T0 - timedelta(days=1))
    done = replay(proc, letter.id, actor="tech-1")
    assert not done.refused_again
    [after] = letters(database)
    assert (after.status, after.replays) == ("replayed", 3)
    assert ingested(database) == [str(reading.reading_id)]
