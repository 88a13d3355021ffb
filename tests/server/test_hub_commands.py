"""The server asking a hub for a retake over the real broker, with the control plane's
identity: the hub's session hears it; a hub with no session is a named failure, not silence."""

from __future__ import annotations

import threading
import uuid

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.commands import RetakeReason, parse_command
from common.wire.topics import Channel, topic
from common.wire.vocabulary import ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.mqtt.session import MqttSession
from server.hub_commands import NotDelivered, retake_request, send_retake


def test_a_retake_request_reaches_the_hub_and_a_hub_never_connected_is_reported(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint
) -> None:
    hub_id = f"hub-cmd-{uuid.uuid4().hex[:6]}"
    session = MqttSession(broker.add_hub(hub_id))
    heard: list[bytes] = []
    got = threading.Event()

    def hear(payload: bytes) -> None:
        heard.append(payload)
        got.set()

    session.subscribe(topic(hub_id, Channel.COMMANDS), hear)
    session.start()
    try:
        assert session.wait_connected(10)
        request = retake_request(hub_id, uuid.uuid4(), ReadingKind.SPO2, RetakeReason.QUALITY_FLAG)
        send_retake(server_endpoint, hub_id, request)
        assert got.wait(10)
        assert parse_command(heard[0]) == request
    finally:
        session.stop()
    stranger = f"hub-cmd-{uuid.uuid4().hex[:6]}"
    broker.add_hub(stranger)  # provisioned, never connected: nobody would ever hear it
    with pytest.raises(NotDelivered, match="no session on the broker"):
        send_retake(
            server_endpoint,
            stranger,
            retake_request(stranger, uuid.uuid4(), ReadingKind.WEIGHT, RetakeReason.OUT_OF_RANGE),
        )
    with pytest.raises(ValueError, match="cannot go to"):
        send_retake(server_endpoint, hub_id, request.model_copy(update={"hub_id": stranger}))
