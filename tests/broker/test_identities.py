"""Broker identities on the real Mosquitto with its dynamic-security plugin: a session no hub
can steal, hubs added and revoked live, and each identity confined to its own topics.

Hub passwords sit on SD cards in patients' homes. The attacks here are what such a password
allows: connecting as the ingest worker to inherit its persistent session, writing receipts
so a hub deletes readings the server never stored, reading another hub's topics.
"""

from __future__ import annotations

import json
import queue
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt import BrokerEndpoint
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.mqtt.session import MqttSession, PublishFailed
from server.broker.identities import example_roles
from tests.fixtures.broker import Listener
from tests.fixtures.server import Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
BP = {Measure.SYSTOLIC: 150.0, Measure.DIASTOLIC: 90.0}


def connect(ep: BrokerEndpoint, client_id: str, *, clean: bool = True) -> tuple[mqtt.Client, ReasonCode]:
    """A raw MQTT v5 client; returns it with the broker's answer to CONNECT."""
    answered: queue.Queue[ReasonCode] = queue.Queue()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(ep.username, ep.password)
    client.tls_set(ca_certs=str(ep.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.on_connect = lambda c, u, f, rc, p: answered.put(rc)
    client.connect(ep.host, ep.port, clean_start=clean)
    client.loop_start()
    rc = answered.get(timeout=10)
    return client, rc


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_a_hubs_password_cannot_take_the_ingest_session_and_nothing_queued_for_it_is_lost(
    broker: LocalMosquitto, stack: Stack
) -> None:
    ingest_id = stack.worker.endpoint.username
    hub = stack.patient_with_hub("p-steal-1", "hub-steal-1")
    thief_ep = hub.session.endpoint  # the password on the SD card
    # The ingest away (a restart): readings queue for its persistent session.
    stack.worker.stop()
    sent = [hub.send(ReadingKind.BLOOD_PRESSURE, {**BP, Measure.SYSTOLIC: 140.0 + i}) for i in range(5)]
    assert hub.wait_published()
    for client_id in (ingest_id, "carewatch-ingest", "something-else"):
        thief, rc = connect(thief_ep, client_id, clean=False)
        close(thief)
        assert rc.is_failure and str(rc) == "Not authorized", (client_id, rc)
    # The ingest comes back and receives every one of them.
    from server.ingest.processor import IngestProcessor
    from server.ingest.worker import IngestWorker

    stack.worker = IngestWorker(stack.worker.endpoint, IngestProcessor(stack.db, stack.influx))
    stack.worker.start()
    try:
        assert hub.wait_delivered(30), "the server did not confirm the readings queued for it"
        assert stack.influx.count_points("p-steal-1") == len(sent)
        stored = {r.reading_id for r in stack.influx.query_readings("p-steal-1")}
        assert stored == {r.reading_id for r in sent}
    finally:
        stack.worker.stop()


def test_a_hub_connects_only_as_itself(hub_endpoint: Callable[[str], BrokerEndpoint]) -> None:
    ep = hub_endpoint("hub-self-1")
    own, rc = connect(ep, "hub-self-1")
    close(own)
    assert not rc.is_failure
    hub_endpoint("hub-self-2")
    other, rc = connect(ep, "hub-self-2")  # another hub's session
    close(other)
    assert str(rc) == "Not authorized"


def test_a_hub_can_neither_write_receipts_nor_hear_another_hub(
    hub_endpoint: Callable[[str], BrokerEndpoint], listen: Callable[[str], Listener]
) -> None:
    """A forged receipt would make a hub delete readings the server never stored."""
    a = MqttSession(hub_endpoint("hub-rcpt-a"))
    hub_endpoint("hub-rcpt-b")
    heard = listen("carewatch/v1/hubs/+/receipts")
    a.start()
    assert a.wait_connected(10)
    try:
        for target in ("hub-rcpt-a", "hub-rcpt-b"):
            with pytest.raises(PublishFailed, match="Not authorized"):
                a.publish_and_wait(topic(target, Channel.RECEIPTS), b"{}")
        with pytest.raises(queue.Empty):
            heard.get(timeout=1.0)
        granted: queue.Queue[list[ReasonCode]] = queue.Queue()
        a.client.on_subscribe = lambda c, u, mid, rcs, p: granted.put(rcs)
        a.client.subscribe(topic("hub-rcpt-b", Channel.READINGS), qos=1)
        assert granted.get(timeout=10)[0].is_failure
        a.client.subscribe(topic("hub-rcpt-b", Channel.RECEIPTS), qos=1)
        assert granted.get(timeout=10)[0].is_failure
    finally:
        a.stop()


def test_hubs_are_added_and_revoked_while_the_broker_runs(broker: LocalMosquitto) -> None:
    hub_id = f"hub-live-{uuid.uuid4().hex[:6]}"
    ep = broker.add_hub(hub_id)  # no reload, no restart
    session = MqttSession(ep)
    session.start()
    try:
        assert session.wait_connected(10), session.last_connect_error
        with broker.admin() as admin:
            admin.disable(hub_id)
        wait_for(lambda: not session.connected.is_set(), 10, "the revoked hub to be disconnected")
        time.sleep(2)  # paho retries: the broker keeps refusing it
        assert not session.connected.is_set()
        assert session.last_connect_error == "Not authorized"
    finally:
        session.stop()
    refused, rc = connect(ep, hub_id)
    close(refused)
    assert str(rc) == "Not authorized"
    again = broker.add_hub(hub_id)  # a new password lets it in again; the old one stays out
    back, rc = connect(again, hub_id)
    close(back)
    assert not rc.is_failure
    old, rc = connect(ep, hub_id)
    close(old)
    assert rc.is_failure


def test_the_documented_roles_are_the_generated_ones() -> None:
    published = json.loads((ROOT / "deploy/mosquitto/roles.example.json").read_text())
    assert published["roles"] == example_roles(), (
        "regenerate: python -m server.broker.identities > deploy/mosquitto/roles.example.json"
    )


def test_a_message_over_the_size_limit_is_refused_and_the_hub_knows(
    hub_endpoint: Callable[[str], BrokerEndpoint], listen: Callable[[str], Listener]
) -> None:
    """Mosquitto 2.0 answers an oversize publish by dropping the connection rather than with
    an error PUBACK; either way the hub hears no success, so it keeps what it sent. (paho
    would send the same message again on reconnecting, which is why the hub never builds a
    batch over the limit: ``publisher.fit_batch``.)"""
    from common.wire.messages import MAX_MESSAGE_BYTES

    ep = hub_endpoint("hub-size-1")
    heard = listen(topic("hub-size-1", Channel.READINGS))
    s = MqttSession(ep)
    s.start()
    assert s.wait_connected(10)
    try:
        with pytest.raises(PublishFailed):
            s.publish_and_wait(topic("hub-size-1", Channel.READINGS), b"x" * (MAX_MESSAGE_BYTES + 1))
        with pytest.raises(queue.Empty):
            heard.get(timeout=1.0)
    finally:
        s.stop()
    s = MqttSession(ep)
    s.start()
    assert s.wait_connected(10)
    try:
        s.publish_and_wait(topic("hub-size-1", Channel.READINGS), b"x" * (MAX_MESSAGE_BYTES - 100))
        assert len(heard.get()[1]) == MAX_MESSAGE_BYTES - 100
    finally:
        s.stop()


def test_the_deployed_broker_configuration_matches_the_contract() -> None:
    from common.wire.messages import MAX_MESSAGE_BYTES

    conf = (ROOT / "deploy/mosquitto/carewatch.conf").read_text().splitlines()
    settings = dict(line.split(None, 1) for line in conf if line.strip() and not line.startswith("#"))
    assert settings["message_size_limit"] == str(MAX_MESSAGE_BYTES)
    assert settings["allow_anonymous"] == "false"
    assert settings["plugin"].endswith("/mosquitto_dynamic_security.so")
    assert "password_file" not in settings and "acl_file" not in settings
