"""Packets the hub could not decode, in the wire contract: carried in a reading batch of their
own, kept exactly as they came, and invisible to a server that predates them unless present."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.wire.messages import (
    DeviceTelemetry,
    HubTelemetry,
    ReadingBatch,
    json_schema,
    telemetry_json_schema,
)
from common.wire.undecoded import UndecodedPacket
from tests.wire.test_contract import batch, reading

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 3, 1, 8, 30, 4, tzinfo=UTC)
#: The blood pressure measurement of docs/wire/README.md with one byte too many at the end.
TRAILING = "1e8a0058007800ea070301081e003c00010400" + "ff"


def packet(**over: object) -> dict[str, object]:
    p: dict[str, object] = {
        "packet_id": str(uuid.uuid4()),
        "device": {"address": "00:09:1F:8A:12:34", "model": "and-ua-651ble"},
        "characteristic": "2a35",
        "data_hex": TRAILING,
        "error": "0x2A35: 1 unexpected trailing byte after 19 bytes of a layout its flags fully determine",
        "received_at": AT.isoformat(),
    }
    p.update(over)
    return p


def undecoded_batch(*packets: dict[str, object], readings: list[dict[str, object]] | None = None) -> bytes:
    return json.dumps(
        {
            "schema": "carewatch.readings.v1",
            "batch_id": str(uuid.uuid4()),
            "hub_id": "hub-0001",
            "sent_at": AT.isoformat(),
            "readings": readings or [],
            "undecoded": list(packets),
        }
    ).encode()


def test_a_batch_of_undecoded_packets_parses_and_keeps_the_bytes() -> None:
    b = ReadingBatch.model_validate_json(undecoded_batch(packet(), packet(characteristic="2a5e")))
    assert b.readings == [] and b.undecoded is not None and len(b.undecoded) == 2
    first = b.undecoded[0]
    assert first.payload() == bytes.fromhex(TRAILING) and first.payload()[-1] == 0xFF
    assert first.received_at == AT and first.device.model == "and-ua-651ble"
    assert ReadingBatch.model_validate_json(b.to_json()) == b


def test_a_batch_of_readings_is_on_the_wire_as_before() -> None:
    """An older server refuses any field it does not know: a batch without undecoded packets
    must not name the field at all, or every reading would be refused."""
    b = ReadingBatch.model_validate_json(batch(reading()))
    assert b.undecoded is None
    assert set(json.loads(b.to_json())) == {"schema", "batch_id", "hub_id", "sent_at", "readings"}


def test_a_batch_with_nothing_in_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one reading or one undecoded packet"):
        ReadingBatch.model_validate_json(batch())
    with pytest.raises(ValidationError, match="at least one reading or one undecoded packet"):
        ReadingBatch.model_validate_json(undecoded_batch())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data_hex": "1E8A"}, "pattern"),  # upper case: one spelling, so the same bytes compare equal
        ({"data_hex": "1e8"}, "pattern"),  # half a byte
        ({"data_hex": "00" * 513}, "at most 1024"),  # longer than any attribute value
        ({"received_at": "2026-03-01T08:30:04"}, "UTC offset"),
        ({"error": ""}, "at least 1"),
        ({"error": "line one\nline two"}, "control characters"),
        ({"device": {"address": "not an address", "model": "x"}}, "pattern"),
        ({"packet_id": "42"}, "UUID"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_an_undecoded_packet_that_breaks_the_contract_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        UndecodedPacket.model_validate(packet(**change))


def test_an_empty_packet_is_still_a_packet() -> None:
    """A device that indicates zero bytes sent something: kept, not refused."""
    assert UndecodedPacket.model_validate(packet(data_hex="")).payload() == b""


def test_the_published_schema_takes_an_undecoded_batch_and_refuses_an_empty_one() -> None:
    import jsonschema

    published = json.loads((ROOT / "docs/wire/readings-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(json_schema()))
    jsonschema.validate(json.loads(undecoded_batch(packet())), published)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(batch()), published)


def test_telemetry_counts_undecodable_packets_and_leaves_the_count_out_while_none() -> None:
    import jsonschema

    device = {"address": "00:09:1F:8A:12:34", "model": "and-ua-651ble", "readings": 1}
    t = HubTelemetry(
        hub_id="hub-0042",
        at=AT,
        software="carewatch-hub",
        uptime_s=60,
        devices=[
            DeviceTelemetry.model_validate(device),
            DeviceTelemetry.model_validate(device | {"undecodable": 2}),
        ],
    )
    sent = json.loads(t.to_json())
    assert "undecodable" not in sent["devices"][0]
    assert sent["devices"][1]["undecodable"] == 2
    jsonschema.validate(sent, telemetry_json_schema())
    with pytest.raises(ValidationError):
        DeviceTelemetry.model_validate(device | {"undecodable": 0})  # none is said by leaving it out
