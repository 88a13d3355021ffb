"""The promise "no reading is ever lost", attacked on the real services and counted.

Each scenario runs its own Mosquitto, InfluxDB and PostgreSQL database, the ingest worker as
a ``carewatch server ingest`` process and hubs as real processes, then does to them what
happens in the field: a hub password used to steal the ingest's session, a broker restarted
and reloaded while the ingest is away, a broker killed right after acknowledging, the ingest
killed mid-batch, InfluxDB down for a minute, PostgreSQL restarted, poison in a message, a
batch mixing good and impossible timestamps, a hub killed while it replays its backlog (and
a hub's disk full for ten minutes: ``test_disk_full.py``).

Every scenario ends with the same count (``harness.Counts``): every reading a hub took is
stored or kept with its reason, none is still waiting on a hub, no reading is two points in
InfluxDB, no patient has two open alerts for one rule, and every red reading stored is the
evidence of an alert. The table of counts is printed at the end of the session.
"""

from __future__ import annotations

import json
import queue
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import func, select

from common.mqtt import BrokerEndpoint
from common.wire.messages import ReadingReceipt, ReceiptOutcome
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from server.broker.identities import INGEST_USER
from server.store.models import DeadLetter, IngestedReading
from tests.faults.harness import FaultStack, Hub, wait_until
from tests.fixtures.broker import observer
from tests.fixtures.postgres import LocalPostgres, new_database
from tests.support.readings import make_batch, make_reading


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[FaultStack]:
    st = FaultStack(tmp_path, new_database(postgres_url))
    try:
        yield st
    finally:
        st.close()


class RawClient:
    """A hand-driven MQTT v5 client, for what no honest hub sends."""

    def __init__(self, ep: BrokerEndpoint, client_id: str, *, clean: bool = True) -> None:
        self.answer: queue.Queue[ReasonCode] = queue.Queue()
        self.messages: queue.Queue[bytes] = queue.Queue()
        self.acks: dict[int, ReasonCode] = {}
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(ep.username, ep.password)
        self.client.tls_set(ca_certs=str(ep.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = lambda c, u, f, rc, p: self.answer.put(rc)
        self.client.on_message = lambda c, u, m: self.messages.put(bytes(m.payload))
        self.client.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc)
        self.client.connect(ep.host, ep.port, clean_start=clean)
        self.client.loop_start()
        self.rc = self.answer.get(timeout=10)

    def publish(self, topic_name: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic_name, payload, qos=1)
        wait_until(lambda: info.mid in self.acks, 10, "PUBACK")
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ledgered(st: FaultStack) -> int:
    with st.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(IngestedReading)) or 0)


def test_a_hub_password_cannot_take_the_ingest_session(stack: FaultStack) -> None:
    hub = stack.add_hub(1)
    stack.start_ingest()
    stack.start_hub(hub, count=120, interval=0.03)
    ingest_id = INGEST_USER  # the identity (and bound client id) the ingest runs as
    wait_until(lambda: len(hub.taken()) > 30, 30, "readings flowing")
    attempts = []
    for client_id in (ingest_id, "carewatch-server", "hub-fault-99"):
        thief = RawClient(hub.endpoint, client_id, clean=False)
        thief.close()
        attempts.append(str(thief.rc))
    # And while the ingest is away, with its session (and queued readings) at the broker.
    assert stack.ingest is not None
    stack.ingest.stop()
    wait_until(lambda: len(hub.taken()) > 70, 30, "readings queued for the ingest")
    thief = RawClient(hub.endpoint, ingest_id, clean=False)
    thief.close()
    attempts.append(str(thief.rc))
    stack.start_ingest()
    stack.wait_delivered(120)
    counts = stack.counts("hub client-id takeover attempt")
    assert attempts == ["Not authorized"] * 4
    counts.assert_kept_promise()


def test_broker_restart_then_reload_with_the_ingest_away_loses_nothing(stack: FaultStack) -> None:
    """The exact sequence that once lost 62 of 1,308 readings while hubs were told they were
    delivered: the broker restarts, is reloaded (SIGHUP) before the ingest re-attaches."""
    hubs = [stack.add_hub(n) for n in (1, 2)]
    stack.start_ingest()
    for hub in hubs:
        stack.start_hub(hub, count=150, interval=0.03)
    wait_until(lambda: all(len(h.taken()) > 30 for h in hubs), 30, "readings flowing")
    assert stack.ingest is not None
    stack.ingest.stop()  # detached: its persistent session waits at the broker
    wait_until(lambda: all(len(h.taken()) > 60 for h in hubs), 30, "readings queued for the ingest")
    stack.broker.stop()
    stack.broker.start()
    stack.broker.reload()
    wait_until(lambda: all(len(h.taken()) > 100 for h in hubs), 30, "readings after the reload")
    stack.start_ingest()
    stack.wait_delivered(150)
    stack.counts("broker restart + SIGHUP, ingest detached").assert_kept_promise()


def test_a_broker_killed_right_after_acknowledging_loses_nothing(stack: FaultStack) -> None:
    """The broker saves its state once a second; killed within 100 ms of a PUBACK it forgets
    what it acknowledged. The hub's receipts make that a resend, not a loss.

    The moment of the PUBACK is seen from a subscriber: the broker forwards a message to its
    subscribers as it acknowledges it to the publisher."""
    hub = stack.add_hub(1)
    stack.start_ingest()
    stack.start_hub(hub, count=60, interval=0.2, receipt_timeout=3.0)
    assert stack.ingest is not None
    stack.ingest.stop()  # so what the broker acknowledges waits in its memory
    kills: list[float] = []
    for _ in range(4):
        watcher = RawClient(observer(stack.broker), f"watcher-{len(kills)}")
        watcher.client.subscribe(topic(hub.hub_id, Channel.READINGS), qos=1)
        watcher.messages.get(timeout=30)
        seen = time.monotonic()
        stack.broker.kill()
        kills.append(time.monotonic() - seen)
        watcher.close()
        stack.broker.start()
        time.sleep(1.0)
    stack.start_ingest()
    stack.wait_delivered(60)
    counts = stack.counts("broker SIGKILL within 100 ms of PUBACK")
    counts.notes.append(f"killed {', '.join(f'{k * 1000:.0f}' for k in kills)} ms after a PUBACK")
    assert all(k < 0.1 for k in kills), kills
    counts.assert_kept_promise()


def test_the_ingest_killed_mid_batch_loses_and_doubles_nothing(stack: FaultStack) -> None:
    hub = stack.add_hub(1)
    stack.start_hub(hub, count=400, interval=0.0)
    wait_until(lambda: len(hub.taken()) == 400, 60, "a backlog at the broker")
    for kill in (1, 2):
        stack.start_ingest()
        wait_until(lambda k=kill: ledgered(stack) > 100 * k, 60, "the ingest mid-stream", every=0.01)  # type: ignore[misc]
        assert stack.ingest is not None
        stack.ingest.kill()
    stack.start_ingest()
    stack.wait_delivered(400)
    stack.counts("ingest SIGKILL mid-batch").assert_kept_promise()


def test_influxdb_down_for_a_minute_loses_nothing(stack: FaultStack) -> None:
    hub = stack.add_hub(1)
    stack.start_ingest()
    stack.start_hub(hub, count=150, interval=0.5)
    wait_until(lambda: len(hub.taken()) > 10, 30, "readings flowing")
    stack.influxd.stop()
    time.sleep(60)
    assert len(hub.on_hub()) > 50  # kept on the hub while the server cannot store them
    stack.influxd.start()
    stack.wait_delivered(150, timeout=180)
    stack.counts("InfluxDB down 60 s").assert_kept_promise()


def test_a_postgresql_restart_loses_nothing(tmp_path: Path) -> None:
    pg = LocalPostgres().start()
    try:
        st = FaultStack(tmp_path, pg.new_database())
        try:
            hub = st.add_hub(1)
            st.start_ingest()
            st.start_hub(hub, count=150, interval=0.05)
            wait_until(lambda: len(hub.taken()) > 40, 30, "readings flowing")
            pg.stop()
            time.sleep(5)
            pg.start()
            st.wait_delivered(150)
            assert st.ingest is not None and st.ingest.running()
            st.counts("PostgreSQL restart").assert_kept_promise()
        finally:
            st.close()
    finally:
        pg.remove()


def raw_sender(sender: Hub) -> RawClient:
    """A broken or hostile hub, through its own identity, hearing its own receipts. What it
    sends is written to its journal by the test, for the count."""
    raw = RawClient(sender.endpoint, sender.hub_id)
    raw.client.subscribe(topic(sender.hub_id, Channel.RECEIPTS), qos=1)
    time.sleep(0.3)
    return raw


def test_a_poison_message_on_postgresql_does_not_stop_ingestion(stack: FaultStack) -> None:
    """A NUL byte once stopped all ingestion while the process looked alive."""
    hub, sender = stack.add_hub(1), stack.add_hub(2)
    stack.start_ingest()
    stack.start_hub(hub, count=150, interval=0.03)
    raw = raw_sender(sender)
    try:
        poisoned = make_reading(ReadingKind.SPO2, {Measure.SPO2: 97.0}).model_dump(mode="json")
        poisoned["device"]["manufacturer"] = "A&D\u0000Medical"
        red = make_reading(ReadingKind.SPO2, {Measure.SPO2: 83.0})
        batch = json.loads(make_batch([red], hub_id=sender.hub_id).to_json())
        batch["readings"].insert(0, poisoned)
        sender.journal.write_text(f"0 {poisoned['reading_id']} 97\n1 {red.reading_id} 83\n")
        readings = topic(sender.hub_id, Channel.READINGS)
        assert not raw.publish(readings, json.dumps(batch).encode()).is_failure
        assert not raw.publish(readings, b"\x00\xff not even json").is_failure
        assert not raw.publish(
            readings, b'{"schema": "carewatch.readings.v1", "hub_id": "hub-fault-02\\u0000"}'
        ).is_failure
        receipt = ReadingReceipt.model_validate_json(raw.messages.get(timeout=30))
        assert {str(e.reading_id): e.outcome for e in receipt.readings} == {
            poisoned["reading_id"]: ReceiptOutcome.REFUSED,
            str(red.reading_id): ReceiptOutcome.STORED,
        }
        stack.wait_delivered(150)
    finally:
        raw.close()
    assert stack.ingest is not None and stack.ingest.running()
    with stack.db.session() as s:
        reasons = [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert len(reasons) == 3
    assert "control characters (U+0000" in reasons[0]
    counts = stack.counts("poison message (NUL byte) on PostgreSQL")
    counts.assert_kept_promise(kept=1)  # the NUL-byte reading; the red one beside it stored


def test_good_readings_beside_a_bad_timestamp_are_stored_and_alerted(stack: FaultStack) -> None:
    hub, sender = stack.add_hub(1), stack.add_hub(2)
    stack.start_ingest()
    stack.start_hub(hub, count=60, interval=0.03)
    raw = raw_sender(sender)
    try:
        red = make_reading(ReadingKind.SPO2, {Measure.SPO2: 83.0})
        future = make_reading(ReadingKind.SPO2, {Measure.SPO2: 97.0}, datetime(2300, 1, 1, tzinfo=UTC))
        past = make_reading(ReadingKind.SPO2, {Measure.SPO2: 97.0}, datetime(1970, 1, 1, tzinfo=UTC))
        sender.journal.write_text(
            "".join(
                f"{i} {r.reading_id} {r.value(Measure.SPO2):g}\n" for i, r in enumerate((red, future, past))
            )
        )
        payload = make_batch([future, red, past], hub_id=sender.hub_id).to_json()
        assert not raw.publish(topic(sender.hub_id, Channel.READINGS), payload).is_failure
        receipt = ReadingReceipt.model_validate_json(raw.messages.get(timeout=30))
        assert [e.outcome for e in receipt.readings] == [
            ReceiptOutcome.STORED,
            ReceiptOutcome.REFUSED,
            ReceiptOutcome.REFUSED,
        ]
        stack.wait_delivered(60)
    finally:
        raw.close()
    counts = stack.counts("batch mixing good and bad-timestamp readings")
    counts.assert_kept_promise(kept=2)  # dated 2300 and 1970; the red one beside them stored


def test_a_hub_killed_while_it_replays_its_backlog_loses_and_doubles_nothing(stack: FaultStack) -> None:
    hub = stack.add_hub(1)
    stack.start_ingest()
    stack.broker.stop()  # the hub's connection is down: readings pile up in its outbox
    process = stack.start_hub(hub, count=300, interval=0.0)
    wait_until(lambda: len(hub.taken()) == 300, 60, "a backlog in the hub's outbox")
    stack.broker.start()
    wait_until(lambda: 0 < len(hub.on_hub()) < 250, 60, "the replay under way", every=0.01)
    process.kill()
    left = len(hub.on_hub())
    stack.start_hub(hub, count=300, interval=0.0)  # restarted by systemd
    stack.wait_delivered(300)
    counts = stack.counts("hub SIGKILL mid-replay")
    counts.notes.append(f"killed with {left} of 300 still on the hub")
    counts.assert_kept_promise()
