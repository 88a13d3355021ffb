"""One message from the server to a hub (its retained configuration, or a command), delivered
and acknowledged by the broker before we say so.

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
    publish_acknowledged(endpoint, topic_name, payload, retain=True, timeout=timeout)


def publish_acknowledged(
    endpoint: BrokerEndpoint, topic_name: str, payload: bytes, *, retain: bool, timeout: float = 10.0
) -> None:
    """QoS 1, and back only once the broker took it; raises ``NotDelivered``.

    A message that is not retained and finds no subscriber is lost, so "no matching
    subscribers" is a failure for it (the hub has no session on the broker: never connected,
    or its session expired)."""
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
        client.publish(topic_name, payload, qos=1, retain=retain)
        if not acked.wait(timeout):
            raise NotDelivered(f"no acknowledgement from the broker within {timeout:.0f}s")
        rc = outcome["publish"]
        # "No matching subscribers" is success for a retained message: the hub gets it on connecting.
        if rc.value == NO_MATCHING_SUBSCRIBERS and not retain:
            raise NotDelivered(
                "no session on the broker for this hub: it has not connected, or its session expired"
            )
        if rc.is_failure and rc.value != NO_MATCHING_SUBSCRIBERS:
            raise NotDelivered(f"the broker refused the message: {rc}")
    finally:
        client.disconnect()
        client.loop_stop()
