"""The wire contract: topics, the reading-batch schema and its published JSON Schema."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.wire.messages import ReadingBatch, json_schema
from common.wire.topics import Channel, TopicError, parse, subscription, topic
from common.wire.vocabulary import KIND_MEASURES, KIND_REQUIRED, MEASURES, ReadingKind

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def reading(**over: object) -> dict[str, object]:
    r: dict[str, object] = {
        "reading_id": str(uuid.uuid4()),
        "kind": "blood_pressure",
        "values": {
            "systolic": {"value": 138, "unit": "mm[Hg]"},
            "diastolic": {"value": 88, "unit": "mm[Hg]"},
        },
        "taken_at": NOW.isoformat(),
        "time_source": "device",
        "measured_at": NOW.isoformat(),
        "received_at": (NOW + timedelta(seconds=4)).isoformat(),
        "device": {"address": "00:09:1F:8A:12:34", "model": "and-ua-651ble", "serial": "5170300123"},
        "flags": ["irregular_pulse"],
        "raw": [{"uuid": "2a35", "data": "HooAWAB4AAAABBEUKTs8AAEnAA=="}],
    }
    r.update(over)
    return r


def batch(*readings: dict[str, object], hub_id: str = "hub-0001") -> bytes:
    return json.dumps(
        {
            "schema": "carewatch.readings.v1",
            "batch_id": str(uuid.uuid4()),
            "hub_id": hub_id,
            "sent_at": NOW.isoformat(),
            "readings": list(readings),
        }
    ).encode()


def test_topics_round_trip() -> None:
    t = topic("hub-0001", Channel.READINGS)
    assert t == "carewatch/v1/hubs/hub-0001/readings"
    assert parse(t).hub_id == "hub-0001"
    assert parse(t).channel is Channel.READINGS
    assert subscription(Channel.STATUS) == "carewatch/v1/hubs/+/status"


@pytest.mark.parametrize(
    "bad",
    [
        "carewatch/v1/hubs/hub-0001",
        "carewatch/v2/hubs/hub-0001/readings",
        "carewatch/v1/hubs/HUB/readings",
        "carewatch/v1/hubs/hub-0001/secrets",
        "carewatch/v1/hubs/hub-0001/readings/extra",
    ],
)
def test_bad_topics_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        parse(bad)


@pytest.mark.parametrize("hub_id", ["+", "#", "a/b", "ab", "Hub-1", "-hub"])
def test_hub_ids_that_could_escape_the_acl_are_refused(hub_id: str) -> None:
    with pytest.raises(TopicError):
        topic(hub_id, Channel.READINGS)


def test_a_valid_batch_parses() -> None:
    b = ReadingBatch.model_validate_json(batch(reading()))
    assert b.readings[0].kind is ReadingKind.BLOOD_PRESSURE
    assert b.readings[0].raw[0].payload()[:3] == bytes([0x1E, 0x8A, 0x00])
    assert ReadingBatch.model_validate_json(b.to_json()) == b


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "values": {
                    "systolic": {"value": 18.9, "unit": "kPa"},
                    "diastolic": {"value": 88, "unit": "mm[Hg]"},
                }
            },
            "must be in 'mm[Hg]'",
        ),
        ({"values": {"systolic": {"value": 138, "unit": "mm[Hg]"}}}, "needs"),
        (
            {
                "values": {
                    "weight": {"value": 70, "unit": "kg"},
                    "systolic": {"value": 1, "unit": "mm[Hg]"},
                    "diastolic": {"value": 1, "unit": "mm[Hg]"},
                }
            },
            "cannot carry",
        ),
        ({"taken_at": "2026-03-01T08:30:00"}, "UTC offset"),
        ({"time_source": "hub"}, "received_at"),
        ({"raw": [{"uuid": "2a35", "data": "not base64!"}]}, "base64"),
        ({"flags": ["Irregular Pulse"]}, "pattern"),
        ({"surprise": 1}, "Extra inputs"),
        (
            {
                "values": {
                    "systolic": {"value": "NaN", "unit": "mm[Hg]"},
                    "diastolic": {"value": 88, "unit": "mm[Hg]"},
                }
            },
            "finite",
        ),
    ],
)
def test_invalid_readings_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ReadingBatch.model_validate_json(batch(reading(**change)))


def test_every_kind_requires_measures_it_allows_and_every_measure_has_a_unit() -> None:
    for kind in ReadingKind:
        assert KIND_REQUIRED[kind] <= KIND_MEASURES[kind]
    for measure in MEASURES:
        spec = MEASURES[measure]
        # What is merely implausible (flagged, kept) lies inside what is possible (else refused).
        assert spec.possible_min <= spec.plausible_min < spec.plausible_max <= spec.possible_max


def test_the_published_json_schema_is_current() -> None:
    published = json.loads((ROOT / "docs/wire/readings-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(json_schema())), (
        "regenerate: python -m common.wire > docs/wire/readings-v1.schema.json"
    )


def test_the_published_schema_accepts_a_real_batch() -> None:
    import jsonschema

    jsonschema.validate(json.loads(batch(reading())), json_schema())
