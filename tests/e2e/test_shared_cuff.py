"""Two people share a cuff, each with their own user button: the patient's slot is recorded
when the cuff is paired, and a reading from the other slot is never judged as the patient's
(a partner's 195 mmHg would page the team) yet is kept, with its reason, for a person to
decide. On the real broker, ingest, InfluxDB and database, counted by reading id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from common.wire.messages import DeviceIdentity
from common.wire.vocabulary import Measure, ReadingKind
from gateway.reading_builder import build_reading
from server.hub_config import HubConfigError, pair
from server.store.models import DeadLetter, IngestedReading
from tests.fixtures.server import Stack

CUFF = "00:09:1F:8A:12:34"


def test_the_other_users_reading_is_kept_aside_not_given_to_the_patient(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-shared", "hub-shared")
    pair(stack.db, "hub-shared", CUFF.lower(), model_id=None, actor="test", user_index=1)

    def send(user: int | None, systolic: float) -> str:
        reading = build_reading(
            kind=ReadingKind.BLOOD_PRESSURE,
            values={Measure.SYSTOLIC: systolic, Measure.DIASTOLIC: 90, Measure.PULSE: 70},
            device=DeviceIdentity(address=CUFF, model="and-ua-651ble", user_index=user),
            received_at=datetime.now(UTC),
        )
        hub.send_reading(reading)
        return str(reading.reading_id)

    mine, partners, unsaid = send(1, 128), send(2, 195), send(None, 131)
    assert hub.wait_delivered(20)  # every one answered: stored or kept, none left unanswered

    with stack.db.session() as s:
        stored = set(
            s.scalars(select(IngestedReading.reading_id).where(IngestedReading.patient_id == "p-shared"))
        )
        kept = {d.reading_id: (d.reason_code, d.reason) for d in s.scalars(select(DeadLetter))}
    assert stored == {mine, unsaid}  # a device that does not say its user: the patient's
    assert kept[partners][0] == "other_user"
    assert "from user 2" in kept[partners][1] and "patient p-shared is user 1" in kept[partners][1]
    rows = stack.influx.influxql("SELECT systolic, reading_id FROM readings WHERE patient_id = 'p-shared'")
    assert sorted(v[2] for series in rows for v in series["values"]) == sorted([mine, unsaid])
    alerts = stack.api.get("/api/v1/alerts", params={"patient_id": "p-shared"}, headers=stack.auth()).json()
    assert alerts == []  # the partner's 195 raised nothing for the patient
    health = stack.api.get("/health").json()
    assert health["status"] == "degraded"  # a reading waits for a person: said, not silent
    assert [v["unseen"] for v in health.values() if isinstance(v, dict) and "unseen" in v] == [1]


def test_a_user_slot_out_of_range_is_refused_in_words(stack: Stack) -> None:
    stack.patient_with_hub("p-shared-2", "hub-shared-2")
    with pytest.raises(HubConfigError, match="user slot must be 0 to 254"):  # 255: the spec's "unknown user"
        pair(stack.db, "hub-shared-2", CUFF, model_id=None, actor="test", user_index=255)
