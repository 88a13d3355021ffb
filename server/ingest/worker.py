"""The MQTT shell around the processor: persistent QoS 1 session, manual acknowledgement.

paho-mqtt 2 with ``manual_ack=True`` lets us send the PUBACK only after the readings are
stored and judged. Messages are processed one at a time in arrival order on a worker
thread (MQTT requires PUBACKs in the order the PUBLISHes arrived), and the session's
Receive Maximum bounds how many the broker hands us before we acknowledge: natural
back-pressure when a store is slow or down.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.mqtt.session import SESSION_EXPIRY_S, BrokerEndpoint, tls_client
from gateway.wire.topics import Channel, subscription
from server.ingest.processor import IngestProcessor
from server.ingest.status import record_hub_status
from server.ingest.telemetry import TelemetryRefused, record_hub_telemetry
from server.store.database import DatabaseUnavailable
from server.store.influx import StoreUnavailable

log = logging.getLogger(__name__)

RECEIVE_MAXIMUM = 100


class IngestWorker:
    def __init__(
        self, endpoint: BrokerEndpoint, processor: IngestProcessor, *, client_id: str = "carewatch-ingest"
    ):
        self.endpoint = endpoint
        self.processor = processor
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._stop = threading.Event()
        self.processed = 0  # every message acknowledged
        self.batches = 0  # readings messages among them
        self.telemetry = 0  # telemetry messages among them
        self.store_down_since: float | None = None
        self.client = tls_client(endpoint, client_id, manual_ack=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._thread = threading.Thread(target=self._work, name="ingest-worker", daemon=True)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._thread.start()
        self.client.connect_async(
            self.endpoint.host, self.endpoint.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self._inbox.put(None)
        self._thread.join(15)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks ----------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, u: object, flags: object, rc: ReasonCode, p: object) -> None:
        if rc.is_failure:
            log.error("broker refused the ingest connection: %s", rc)
            return
        log.info("ingest connected to %s:%d", self.endpoint.host, self.endpoint.port)
        self.connected.set()
        client.subscribe(
            [
                (subscription(Channel.READINGS), 1),
                (subscription(Channel.STATUS), 1),
                (subscription(Channel.TELEMETRY), 0),
            ]
        )

    def _on_subscribe(
        self, client: mqtt.Client, u: object, mid: int, rcs: list[ReasonCode], p: object
    ) -> None:
        if any(rc.is_failure for rc in rcs):
            log.error("subscription refused: %s", rcs)
            return
        self.subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, u: object, flags: object, rc: ReasonCode, p: object
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        log.warning("ingest disconnected from the broker: %s", rc)

    def _on_message(self, client: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(msg)

    # -- the worker thread -------------------------------------------------------------------
    def _telemetry(self, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        try:
            record_hub_telemetry(self.processor.db, msg.topic, payload)
        except TelemetryRefused as e:
            self.processor.dead_letter(msg.topic, e.hub_id, payload, str(e))
        self.telemetry += 1

    def _work(self) -> None:
        while True:
            msg = self._inbox.get()
            if msg is None or self._stop.is_set():
                return
            self._process_until_done(msg)

    def _process_until_done(self, msg: mqtt.MQTTMessage) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                if msg.topic.endswith("/" + Channel.STATUS.value):
                    record_hub_status(self.processor.db, msg.topic, bytes(msg.payload))
                elif msg.topic.endswith("/" + Channel.TELEMETRY.value):
                    self._telemetry(msg)
                else:
                    result = self.processor.handle(msg.topic, bytes(msg.payload))
                    self.batches += 1
                    log.info(
                        "ingested %s: stored %d, duplicate %d, refused %d, alerts %s",
                        msg.topic,
                        result.stored,
                        result.duplicates,
                        result.refused,
                        result.alerts,
                    )
            except (StoreUnavailable, DatabaseUnavailable) as e:
                if self.store_down_since is None:
                    self.store_down_since = time.monotonic()
                log.error(
                    "store unavailable (%s); message kept unacknowledged, retrying in %.0fs", e, backoff
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            self.store_down_since = None
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)
            self.processed += 1
            return
