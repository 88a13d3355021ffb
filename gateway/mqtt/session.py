"""One MQTT v5 session to the broker over TLS, as this hub's own user.

Why v5: with 3.1.1 Mosquitto acknowledges a publish the ACL refused and drops it silently;
v5 returns "Not authorized" in the PUBACK, so the hub knows and keeps the reading.
The session is persistent (clean_start False, long expiry) so receipts and commands queued
for the hub while it was offline arrive when it returns; the client id is the hub id, the
only one the broker lets this hub's password use, so no other client can take this session;
``status`` is retained with a last will of "offline" so the server can tell a silent hub
from a quiet patient.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt import NO_MATCHING_SUBSCRIBERS, SESSION_EXPIRY_S, BrokerEndpoint, tls_client
from common.wire.messages import HubStatus
from common.wire.topics import Channel, topic

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """The broker did not accept a message (no connection, timeout, or a refusal reason code)."""


class MqttSession:
    """A paho client with TLS, a last will, and publish-and-wait-for-PUBACK."""

    def __init__(
        self, endpoint: BrokerEndpoint, client_id: str | None = None, *, software: str = "carewatch"
    ) -> None:
        self.endpoint = endpoint
        self.connected = threading.Event()
        self._acks: dict[int, ReasonCode] = {}
        self._ack_cv = threading.Condition()
        self._software = software
        # The broker binds each identity to one client id: the hub's is its user name.
        self.client = tls_client(endpoint, client_id or endpoint.username)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.status_topic = topic(endpoint.username, Channel.STATUS)
        self.client.will_set(
            self.status_topic,
            HubStatus(state="offline").model_dump_json(exclude_none=True),
            qos=1,
            retain=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.last_connect_error: str | None = None
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        self._on_connected: list[Callable[[], None]] = []

    # -- lifecycle -------------------------------------------------------------------------
    def subscribe(self, topic_name: str, handler: Callable[[bytes], None]) -> None:
        """Hear ``topic_name`` at QoS 1 on every (re)connection (now, too, if connected).

        ``handler`` runs on paho's network thread and must not block for long."""
        self._handlers[topic_name] = handler
        if self.connected.is_set():
            self.client.subscribe(topic_name, qos=1)

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every successful (re)connection, on paho's network thread."""
        self._on_connected.append(callback)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self.endpoint.keepalive,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self) -> None:
        if self.connected.is_set():
            info = self.client.publish(
                self.status_topic,
                HubStatus(state="offline", at=datetime.now(UTC)).model_dump_json(),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError) as e:  # the connection went first; the will says it
                log.info("offline status not sent (%s); the broker's last will says it instead", e)
        self.client.disconnect()
        self.client.loop_stop()

    # -- callbacks (paho's network thread) ---------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        if rc.is_failure:
            self.last_connect_error = str(rc)
            log.error("broker %s:%d refused the connection: %s", self.endpoint.host, self.endpoint.port, rc)
            return
        self.last_connect_error = None
        log.info(
            "connected to broker %s:%d as %s", self.endpoint.host, self.endpoint.port, self.endpoint.username
        )
        status = HubStatus(state="online", at=datetime.now(UTC), software=self._software)
        client.publish(self.status_topic, status.model_dump_json(exclude_none=True), qos=1, retain=True)
        if self._handlers:
            client.subscribe([(t, 1) for t in self._handlers])
        self.connected.set()
        for callback in self._on_connected:
            try:
                callback()
            except Exception:  # must not kill paho's network thread; logged with its trace
                log.exception("reconnection callback failed")

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        self.connected.clear()
        log.warning("disconnected from broker: %s; paho will reconnect", rc)
        with self._ack_cv:
            self._ack_cv.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        handler = self._handlers.get(msg.topic)
        if handler is None:
            return
        try:
            handler(bytes(msg.payload))
        except Exception:  # a bad message must not kill paho's network thread; logged with its trace
            log.exception("handling a message on %s failed", msg.topic)

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, rc: ReasonCode, props: object
    ) -> None:
        with self._ack_cv:
            self._acks[mid] = rc
            self._ack_cv.notify_all()

    # -- publishing --------------------------------------------------------------------------
    def publish_nowait(self, topic_name: str, payload: bytes) -> bool:
        """Publish at QoS 0 (telemetry: the next message replaces a lost one); False if not
        connected or paho refused it locally."""
        if not self.connected.is_set():
            return False
        return self.client.publish(topic_name, payload, qos=0).rc == mqtt.MQTT_ERR_SUCCESS

    def publish_and_wait(self, topic_name: str, payload: bytes, *, timeout: float = 15.0) -> None:
        """Publish at QoS 1 and return only once the broker acknowledged it with success."""
        if not self.connected.is_set():
            raise PublishFailed("not connected to the broker")
        info = self.client.publish(topic_name, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishFailed(f"publish failed locally: {mqtt.error_string(info.rc)}")
        with self._ack_cv:
            got = self._ack_cv.wait_for(
                lambda: info.mid in self._acks or not self.connected.is_set(), timeout=timeout
            )
            rc = self._acks.pop(info.mid, None)
        if rc is None:
            raise PublishFailed("no PUBACK from the broker" + ("" if got else f" within {timeout:.0f}s"))
        if rc.is_failure:
            raise PublishFailed(f"broker refused the message: {rc}")
        if rc.value == NO_MATCHING_SUBSCRIBERS:
            # Nobody will ever receive this copy: the server's persistent ingest session is
            # not on the broker (e.g. the broker lost its state). Keep it and try again.
            raise PublishFailed("broker has no subscriber for this topic (is the ingest worker registered?)")
