"""One retained message from the server to a hub (its configuration), delivered and
acknowledged by the broker before we say so.

A short-lived MQTT v5 client with the server's credentials: the CLI runs it, so there is no
long-lived server connection to share, and MQTT v5 because the broker then says when it
refused a publish (with 3.1.1 Mosquitto drops it silently).
"""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt import NO_MATCHING_SUBSCRIBERS, BrokerEndpoint, tls_client


class NotDelivered(RuntimeError):
    """The broker could not be reached, or refused or did not acknowledge the message."""


def publish_retained(
    endpoint: BrokerEndpoint, topic_name: str, payload: bytes, *, timeout: float = 10.0
) -> None:
    connected = threading.Event()
    acked = threading.Event()
    outcome: dict[str, ReasonCode] = {}

    def on_connect(client: mqtt.Client, u: object, flags: object, rc: ReasonCode, p: object) -> None:
        outcome["connect"] = rc
        connected.set()

    def on_publish(client: mqtt.Client, u: object, mid: int, rc: ReasonCode, p: object) -> None:
        outcome["publish"] = rc
        acked.set()

    client = tls_client(endpoint, f"carewatch-config-{uuid.uuid4().hex[:8]}")
    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=30)
    except OSError as e:
        raise NotDelivered(f"cannot reach the broker at {endpoint.host}:{endpoint.port}: {e}") from None
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise NotDelivered("the broker did not answer the connection")
        if outcome["connect"].is_failure:
            raise NotDelivered(f"the broker refused the connection: {outcome['connect']}")
        client.publish(topic_name, payload, qos=1, retain=True)
        if not acked.wait(timeout):
            raise NotDelivered(f"no acknowledgement from the broker within {timeout:.0f}s")
        rc = outcome["publish"]
        # "No matching subscribers" is success for a retained message: the hub gets it on connecting.
        if rc.is_failure and rc.value != NO_MATCHING_SUBSCRIBERS:
            raise NotDelivered(f"the broker refused the message: {rc}")
    finally:
        client.disconnect()
        client.loop_stop()
