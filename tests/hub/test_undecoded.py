"""A packet the hub could not decode is kept like a reading: durable in the outbox across a
restart, held through a full disk and rescued, sent in batches of its own on the real broker, and
forgotten only on the server's receipt naming it."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common.mqtt import BrokerEndpoint
from common.wire.messages import DeviceIdentity, ReadingBatch, ReadingReceipt, ReceiptEntry, ReceiptOutcome
from common.wire.topics import Channel, topic
from common.wire.undecoded import UndecodedPacket
from devstack.mosquitto import LocalMosquitto
from gateway.gatt import uuids
from gateway.measurements.refusals import Refusal, RefusalReason
from gateway.measurements.undecoded import is_undecodable, undecoded_packet
from gateway.mqtt.publisher import OutboxPublisher
from gateway.mqtt.session import MqttSession
from gateway.outbox import Outbox
from gateway.spill_over import SpillOver
from tests.broker.test_identities import close, connect
from tests.fixtures.broker import Listener
from tests.fixtures.server import wait_for
from tests.support.readings import hub_weight

CUFF = DeviceIdentity(address="00:09:1F:8A:12:34", model="and-ua-651ble", serial="5140012345")
#: A blood pressure measurement with one byte too many: the decoder refuses it.
TRAILING = bytes.fromhex("1e8a0058007800ea070301081e003c00010400ff")


def packet(data: bytes = TRAILING) -> UndecodedPacket:
    refusal = Refusal(
        RefusalReason.MALFORMED, "0x2A35: 1 unexpected trailing byte", uuids.BLOOD_PRESSURE_MEASUREMENT, data
    )
    return undecoded_packet(refusal, CUFF, datetime.now(UTC))


def test_a_refused_packet_becomes_an_undecoded_packet_with_its_bytes_and_reason() -> None:
    p = packet()
    assert p.payload() == TRAILING and p.characteristic == "2a35" and p.device == CUFF
    assert p.error == "0x2A35: 1 unexpected trailing byte"
    assert packet().packet_id != p.packet_id  # the same bytes twice are two packets, never merged
    not_a_reading = Refusal(RefusalReason.NOT_A_READING, "intermediate cuff pressure", "2a36", b"\x00")
    assert not is_undecodable(not_a_reading)
    too_long = packet(bytes(600))
    assert len(too_long.payload()) == 512 and "(the first 512 of 600 bytes kept)" in too_long.error


def test_an_undecoded_packet_survives_a_restart_beside_the_readings_and_leaves_on_its_receipt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    reading, p = hub_weight(70.0), packet()
    box.put(reading)
    assert box.put(p)
    assert not box.put(p)  # queued once
    box.close()  # the hub stops (or loses power) here

    again = Outbox(path)
    assert [q.reading for q in again.due(10)] == [reading]  # readings only
    [kept] = again.due_undecoded(10)
    assert kept.packet == p
    assert again.depth() == 2  # both wait for the server
    again.mark_sent([kept.seq], now=1_000_000.0)
    assert again.due_undecoded(10, now=1_000_001.0) == []  # sent, awaiting its receipt
    assert again.confirm([str(p.packet_id)]) == 1
    assert again.depth() == 1


def test_an_outbox_from_before_undecoded_packets_gains_them_and_keeps_its_readings(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    reading = hub_weight(71.0)
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, reading_id TEXT NOT NULL UNIQUE, "
        "body TEXT NOT NULL, enqueued_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)"
    )
    old.execute(
        "INSERT INTO outbox (reading_id, body, enqueued_at) VALUES (?, ?, ?)",
        (str(reading.reading_id), reading.model_dump_json(exclude_none=True), datetime.now(UTC).isoformat()),
    )
    old.commit()
    old.close()
    box = Outbox(path)
    assert [q.reading for q in box.due(10)] == [reading]
    assert box.due_undecoded(10) == []
    box.put(packet())
    assert len(box.due_undecoded(10)) == 1


def test_a_full_disk_holds_an_undecoded_packet_and_a_rescue_file_brings_it_back(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / "outbox.sqlite3")
    rescue = tmp_path / "run"
    spill = SpillOver(box, lambda: None, rescue_dirs=[rescue])
    p, reading = packet(), hub_weight(72.0)
    box.close()  # stands for a card that cannot be written
    spill(p)
    spill(reading)
    assert list(spill.held) == [p, reading]
    spill.close()  # the hub stops with the outbox unwritable: both to the rescue file
    assert spill.rescued == 2

    box = Outbox(tmp_path / "state" / "outbox.sqlite3")
    again = SpillOver(box, lambda: None, rescue_dirs=[rescue])
    assert again.recover() == 2
    assert [q.packet for q in box.due_undecoded(10)] == [p]
    assert [q.reading for q in box.due(10)] == [reading]
    assert not list(rescue.glob("rescued-*"))


def test_undecoded_packets_reach_the_broker_in_a_batch_of_their_own_and_leave_on_the_receipt(
    tmp_path: Path,
    broker: LocalMosquitto,
    hub_endpoint: Callable[[str], BrokerEndpoint],
    listen: Callable[[str], Listener],
) -> None:
    hub = "hub-pub-undecoded"
    lst = listen(topic(hub, Channel.READINGS))
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    reading, packets = hub_weight(70.0), [packet(), packet()]
    outbox.put_many([packets[0], reading, packets[1]])
    s = MqttSession(hub_endpoint(hub))
    pub = OutboxPublisher(outbox, s, hub)
    s.start()
    assert s.wait_connected(10)
    # The ingest's identity, on a plain client: it is no hub (no status topic, no will).
    ingest = broker.add_ingest(f"carewatch-ingest-undec-{uuid.uuid4().hex[:6]}")
    server, rc = connect(ingest, ingest.username)
    assert not rc.is_failure, rc
    try:
        assert pub.flush_once() == 3
        batches = [ReadingBatch.model_validate_json(lst.get()[1]) for _ in range(2)]
        [of_readings] = [b for b in batches if b.readings]
        [of_packets] = [b for b in batches if b.undecoded]
        assert of_readings.readings == [reading] and of_readings.undecoded is None
        assert of_packets.readings == [] and of_packets.undecoded == packets
        refused = ReadingReceipt(
            hub_id=hub,
            at=datetime.now(UTC),
            readings=[
                ReceiptEntry(
                    reading_id=p.packet_id, outcome=ReceiptOutcome.REFUSED, reason="undecodable packet"
                )
                for p in packets
            ],
        )
        server.publish(topic(hub, Channel.RECEIPTS), refused.to_json(), qos=1).wait_for_publish(10)
        wait_for(lambda: outbox.depth() == 1, what="the receipt for the packets")
        assert outbox.due_undecoded(10, now=2e9) == [] and [q.reading for q in outbox.due(10, now=2e9)] == [
            reading
        ]
    finally:
        s.stop()
        close(server)
