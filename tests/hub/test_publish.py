"""The hub's outbox and MQTT session against the real Mosquitto (TLS, passwords, ACL)."""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.messages import (
    DeviceIdentity,
    Reading,
    ReadingBatch,
    ReadingReceipt,
    ReceiptEntry,
    ReceiptOutcome,
)
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.mqtt.publisher import OutboxPublisher
from gateway.mqtt.session import MqttSession, PublishFailed
from gateway.outbox import Outbox
from gateway.reading_builder import build_reading
from tests.broker.test_identities import close, connect
from tests.fixtures.broker import Listener
from tests.fixtures.server import wait_for

DEVICE = DeviceIdentity(address="sim:bp-1", model="sim-bp")


def bp(sys: float, dia: float) -> Reading:
    return build_reading(
        kind=ReadingKind.BLOOD_PRESSURE,
        values={Measure.SYSTOLIC: sys, Measure.DIASTOLIC: dia},
        device=DEVICE,
        received_at=datetime.now(UTC),
    )


def session(ep: BrokerEndpoint) -> MqttSession:
    s = MqttSession(ep)
    s.start()
    assert s.wait_connected(10), s.last_connect_error
    return s


def receipt(hub_id: str, readings: list[Reading], outcome: ReceiptOutcome = ReceiptOutcome.STORED) -> bytes:
    entries = [ReceiptEntry(reading_id=r.reading_id, outcome=outcome) for r in readings]
    return ReadingReceipt(hub_id=hub_id, at=datetime.now(UTC), readings=entries).to_json()


def test_outbox_batches_reach_the_broker_and_leave_the_outbox_only_on_the_servers_receipt(
    tmp_path: Path,
    broker: LocalMosquitto,
    hub_endpoint: Callable[[str], BrokerEndpoint],
    listen: Callable[[str], Listener],
) -> None:
    ep = hub_endpoint("hub-pub-a")
    lst = listen(topic("hub-pub-a", Channel.READINGS))
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    readings = [bp(120 + i, 80) for i in range(3)]
    for r in readings:
        assert outbox.put(r)
    assert not outbox.put(readings[0])  # same reading id queued once
    s = MqttSession(ep)
    pub = OutboxPublisher(outbox, s, "hub-pub-a", batch_size=2)
    s.start()
    assert s.wait_connected(10)
    # The ingest's identity, on a plain client: it is no hub (no status topic, no will).
    ingest = broker.add_ingest(f"carewatch-ingest-pub-{uuid.uuid4().hex[:6]}")
    server, rc = connect(ingest, ingest.username)
    assert not rc.is_failure, rc

    def send(channel_topic: str, payload: bytes) -> None:
        server.publish(channel_topic, payload, qos=1).wait_for_publish(10)

    try:
        assert pub.flush_once() == 2
        assert pub.flush_once() == 1
        assert pub.flush_once() == 0  # all sent...
        assert (outbox.depth(), outbox.backlog().awaiting_receipt) == (3, 3)  # ...none confirmed
        got = [ReadingBatch.model_validate_json(lst.get()[1]) for _ in range(2)]
        # A receipt naming another hub is not this hub's business.
        send(topic("hub-pub-a", Channel.RECEIPTS), receipt("hub-pub-b", readings))
        send(topic("hub-pub-a", Channel.RECEIPTS), receipt("hub-pub-a", readings[:2]))
        wait_for(lambda: outbox.depth() == 1, what="the receipt to reach the hub")
        time.sleep(0.3)
        assert pub.confirmed == 2
        refused = receipt("hub-pub-a", readings[2:], ReceiptOutcome.REFUSED)  # kept by the server
        send(topic("hub-pub-a", Channel.RECEIPTS), refused)
        wait_for(lambda: outbox.depth() == 0, what="the second receipt")
    finally:
        s.stop()
        close(server)
    ids = [r.reading_id for b in got for r in b.readings]
    assert ids == [r.reading_id for r in readings]


def test_a_hub_cannot_publish_into_another_hubs_topics(
    tmp_path: Path, hub_endpoint: Callable[[str], BrokerEndpoint], listen: Callable[[str], Listener]
) -> None:
    ep = hub_endpoint("hub-acl-a")
    hub_endpoint("hub-acl-b")
    lst = listen("carewatch/v1/hubs/hub-acl-b/#")
    s = session(ep)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.put(bp(190, 110))
    # A publisher configured (wrongly or maliciously) with hub B's topic but hub A's credentials.
    pub = OutboxPublisher(outbox, s, "hub-acl-b")
    try:
        with pytest.raises(PublishFailed, match="Not authorized"):
            pub.flush_once()
        assert outbox.depth() == 1  # refused, so kept
        with pytest.raises(queue.Empty):
            lst.get(timeout=1.0)
    finally:
        s.stop()


def test_last_will_marks_the_hub_offline(
    hub_endpoint: Callable[[str], BrokerEndpoint], listen: Callable[[str], Listener]
) -> None:
    ep = hub_endpoint("hub-will-a")
    lst = listen(topic("hub-will-a", Channel.STATUS))
    s = session(ep)
    assert json.loads(lst.get()[1])["state"] == "online"
    sock = s.client.socket()
    assert sock is not None
    sock.close()  # an abrupt loss, not a clean disconnect
    s.client.loop_stop()
    assert json.loads(lst.get(timeout=s.endpoint.keepalive * 2)[1])["state"] == "offline"


def test_a_hub_cannot_rewrite_its_own_configuration_or_commands(
    hub_endpoint: Callable[[str], BrokerEndpoint],
) -> None:
    s = session(hub_endpoint("hub-acl-c"))
    try:
        for channel in (Channel.CONFIG, Channel.COMMANDS):
            with pytest.raises(PublishFailed, match="Not authorized"):
                s.publish_and_wait(topic("hub-acl-c", channel), b"{}")
    finally:
        s.stop()
