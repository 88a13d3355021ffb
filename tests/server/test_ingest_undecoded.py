"""Packets a hub could not decode, at the server: each kept as a dead letter coded
``undecodable_packet`` with its bytes and the decoder's error, the hub told it is held, shown on
the hub's page and in ``carewatch server dead-letters``, never replayed, and never a reason to
call the server degraded. Real relational database and real InfluxDB."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from common.wire.messages import DeviceIdentity, DeviceTelemetry, HubTelemetry, ReadingBatch, ReceiptOutcome
from common.wire.topics import Channel, topic
from common.wire.undecoded import UndecodedPacket
from server.hub_attention import HubState, attention
from server.hub_detail import hub_detail
from server.ingest.dead_letters import dismiss
from server.ingest.processor import IngestProcessor
from server.ingest.replay import ReplayError, replay
from server.ingest.verdicts import UNSEEN, RefusalCode
from server.store.database import Database
from server.store.influx.store import InfluxStore
from tests.server.test_ingest_refusals import letters, setup
from tests.support.readings import make_reading

HUB = "hub-ref-1"
READINGS = topic(HUB, Channel.READINGS)
CUFF = DeviceIdentity(address="00:09:1F:8A:12:34", model="and-ua-651ble")
TRAILING = "1e8a0058007800ea070301081e003c00010400ff"
ERROR = "0x2A35: 1 unexpected trailing byte after 19 bytes of a layout its flags fully determine"


def packet(data_hex: str = TRAILING, error: str = ERROR) -> UndecodedPacket:
    return UndecodedPacket(
        packet_id=uuid.uuid4(),
        device=CUFF,
        characteristic="2a35",
        data_hex=data_hex,
        error=error,
        received_at=datetime.now(UTC) - timedelta(seconds=3),
    )


def batch(*packets: UndecodedPacket, hub_id: str = HUB) -> bytes:
    return ReadingBatch(
        batch_id=uuid.uuid4(), hub_id=hub_id, sent_at=datetime.now(UTC), readings=[], undecoded=list(packets)
    ).to_json()


def test_each_packet_is_a_dead_letter_with_its_bytes_and_error_and_the_hub_is_told(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database, start=datetime.now(UTC) - timedelta(days=1))
    proc = IngestProcessor(database, influx_store)
    first, second = packet(), packet("00", "0x2A35: reserved unit flag")
    result = proc.handle(READINGS, batch(first, second))
    assert (result.stored, result.refused) == (0, 2)
    assert {(e.reading_id, e.outcome) for e in result.receipts} == {
        (first.packet_id, ReceiptOutcome.REFUSED),
        (second.packet_id, ReceiptOutcome.REFUSED),
    }
    assert all(e.reason and "undecodable packet" in e.reason for e in result.receipts)
    kept = {d.reading_id: d for d in letters(database)}
    letter = kept[str(first.packet_id)]
    assert (letter.hub_id, letter.reason_code, letter.status) == (HUB, "undecodable_packet", "new")
    assert (
        ERROR in letter.reason
        and TRAILING in letter.reason
        and "and-ua-651ble 00:09:1F:8A:12:34" in letter.reason
    )
    held = json.loads(letter.payload)["undecoded"]
    assert (held["data_hex"], held["error"], held["characteristic"]) == (TRAILING, ERROR, "2a35")
    assert UndecodedPacket.model_validate(held) == first
    assert influx_store.count_points("p-ref-1") == 0  # nothing stored as a reading

    # The hub missed the receipt and sends the packet again: the same letter, no second one.
    again = proc.handle(READINGS, batch(first))
    assert [(e.reading_id, e.outcome) for e in again.receipts] == [(first.packet_id, ReceiptOutcome.REFUSED)]
    assert len(letters(database)) == 2


def test_a_packet_beside_readings_costs_them_nothing(database: Database, influx_store: InfluxStore) -> None:
    """The hub never mixes them, but another implementation may: the readings are stored as ever."""
    setup(database, start=datetime.now(UTC) - timedelta(days=1))
    reading = make_reading(taken_at=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    p = packet()
    mixed = ReadingBatch(
        batch_id=uuid.uuid4(), hub_id=HUB, sent_at=datetime.now(UTC), readings=[reading], undecoded=[p]
    )
    result = IngestProcessor(database, influx_store).handle(READINGS, mixed.to_json())
    assert (result.stored, result.refused) == (1, 1)
    assert {e.reading_id: e.outcome for e in result.receipts} == {
        reading.reading_id: ReceiptOutcome.STORED,
        p.packet_id: ReceiptOutcome.REFUSED,
    }
    assert influx_store.count_points("p-ref-1") == 1


def test_a_packet_from_an_unknown_hub_is_kept_whole_and_the_hub_told(
    database: Database, influx_store: InfluxStore
) -> None:
    p = packet()
    payload = batch(p, hub_id="hub-nobody")
    result = IngestProcessor(database, influx_store).handle(topic("hub-nobody", Channel.READINGS), payload)
    assert [(e.reading_id, e.outcome) for e in result.receipts] == [(p.packet_id, ReceiptOutcome.REFUSED)]
    [letter] = letters(database)
    assert (letter.reason_code, letter.payload) == ("unknown_hub", payload)


def test_a_malformed_packet_entry_is_kept_too(database: Database, influx_store: InfluxStore) -> None:
    setup(database)
    packet_id = str(uuid.uuid4())
    doc = json.loads(batch(packet()))
    doc["undecoded"].append({"packet_id": packet_id, "data_hex": "zz"})
    result = IngestProcessor(database, influx_store).handle(READINGS, json.dumps(doc).encode())
    assert result.refused == 2
    bad = next(d for d in letters(database) if d.reading_id == packet_id)
    assert bad.reason_code == "invalid_reading" and "undecoded packet 1" in bad.reason
    assert json.loads(bad.payload) == {"undecoded": {"packet_id": packet_id, "data_hex": "zz"}}


def test_an_undecodable_packet_is_not_replayed_but_dismissed_and_does_not_degrade_health(
    database: Database, influx_store: InfluxStore
) -> None:
    assert (
        RefusalCode.UNDECODABLE not in UNSEEN
    )  # /health: a device's or a decoder's fault, shown on the hub page
    setup(database)
    proc = IngestProcessor(database, influx_store)
    proc.handle(READINGS, batch(packet()))
    [letter] = letters(database)
    with pytest.raises(ReplayError, match="could not decode"):
        replay(proc, letter.id, actor="tech-1")
    with database.session() as s:
        dismiss(s, letter.id, actor="tech-1", reason="cuff replaced; decoder fix in 1.5")
    assert letters(database)[0].status == "dismissed"


def test_the_hub_page_counts_them_and_shows_the_latest_error(
    database: Database, influx_store: InfluxStore
) -> None:
    setup(database)
    assert hub_detail(database, HUB).undecodable is None  # type: ignore[union-attr]
    proc = IngestProcessor(database, influx_store)
    proc.handle(READINGS, batch(packet(), packet("01", "0x2A35: reserved unit flag")))
    detail = hub_detail(database, HUB)
    assert detail is not None and detail.undecodable is not None
    u = detail.undecodable
    assert (u.count, u.waiting) == (2, 2)
    assert "0x2A35: reserved unit flag" in u.latest_reason and "bytes 01" in u.latest_reason
    with database.session() as s:
        dismiss(s, u.latest_id, actor="tech-1", reason="seen")
    again = hub_detail(database, HUB)
    assert again is not None and again.undecodable is not None
    assert (again.undecodable.count, again.undecodable.waiting) == (2, 1)


def test_the_hub_telemetry_count_is_a_note_for_the_technician() -> None:
    at = datetime.now(UTC)
    device = DeviceTelemetry(address=CUFF.address, model=CUFF.model, readings=1, undecodable=3)
    t = HubTelemetry(hub_id=HUB, at=at, software="carewatch-hub", uptime_s=60, devices=[device])
    notes = attention(HubState("online", at, t, at), at)
    assert notes == [
        "and-ua-651ble 00:09:1F:8A:12:34: 3 packet(s) the hub could not decode since it started "
        "(kept as dead letters: carewatch server dead-letters --code undecodable_packet)"
    ]


def test_the_dead_letter_command_lists_them_by_code_and_shows_the_bytes(
    database: Database, influx_store: InfluxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.cli import app

    setup(database)
    proc = IngestProcessor(database, influx_store)
    proc.handle(READINGS, batch(packet()))
    proc.handle(READINGS, b"not json")
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database.url)
    runner = CliRunner()
    listed = runner.invoke(app, ["dead-letters", "--code", "undecodable_packet"])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()
    assert "undecodable_packet" in line and TRAILING in line and ERROR in line
    letter_id = line.split()[0].lstrip("#")
    shown = runner.invoke(app, ["dead-letters", "--show", letter_id])
    assert shown.exit_code == 0, shown.output
    assert f'"data_hex": "{TRAILING}"' in shown.output and f'"error": "{ERROR}"' in shown.output
