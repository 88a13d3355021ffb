"""The MQTT shell around the processor: persistent QoS 1 session, manual acknowledgement,
receipts back to each hub, and a loop that no message can stop.

paho-mqtt 2 with ``manual_ack=True`` lets us send the PUBACK only after the readings are
stored and judged. Messages are processed one at a time in arrival order on a worker
thread (MQTT requires PUBACKs in the order the PUBLISHes arrived), and the session's
Receive Maximum bounds how many the broker hands us before we acknowledge: natural
back-pressure when a store is slow or down.

After a readings message is processed, the hub gets a ``ReadingReceipt`` naming each reading
and what became of it, and only then is the message acknowledged: the hub deletes a
reading on the receipt, never on the broker's word.

Per message: a store outage is waited out (not acknowledged, retried under
:data:`STORE_OUTAGE_RETRY` through ``common.retry``, a stop request ending the wait); anything
else the message triggers is kept as a dead letter with its reason and the message is
acknowledged, so one odd byte cannot stop all ingestion. If the loop itself fails, the
``Supervisor`` is told and the process exits non-zero for its supervisor to restart it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt import SESSION_EXPIRY_S, BrokerEndpoint, tls_client
from common.retry import Retry, RetryInterrupted, RetryPolicy
from common.supervision import Supervisor
from common.wire.messages import ReadingReceipt
from common.wire.topics import INGEST_HEARS, Channel, ParsedTopic, TopicError, parse, subscription, topic
from server.ingest.processor import OUTAGES, IngestProcessor
from server.ingest.results import IngestResult
from server.ingest.status import record_hub_status
from server.ingest.telemetry import record_hub_telemetry
from server.ingest.verdicts import MessageRefused, RefusalCode
from server.store.database import Database
from server.store.models import now

log = logging.getLogger(__name__)

RECEIVE_MAXIMUM = 100
INBOX_LIMIT = 10 * RECEIVE_MAXIMUM
#: What a hub says about itself, kept on its row; anything else on the wire is readings.
_PRESENCE: dict[Channel, Callable[[Database, str, bytes], object]] = {
    Channel.STATUS: record_hub_status,
    Channel.TELEMETRY: record_hub_telemetry,
}
HEARTBEAT_S = 5.0
#: A store outage (InfluxDB, the database) is waited out for as long as it lasts: the message
#: stays unacknowledged, so nothing is lost by waiting, and 30 s between tries keeps a
#: recovering store from being hammered while still noticing its return soon.
STORE_OUTAGE_RETRY = RetryPolicy(first=1.0, factor=2.0, cap=30.0)
_RATE_WINDOW_S = 300.0


@dataclass
class _Received:
    msg: mqtt.MQTTMessage
    at: float  # monotonic


class IngestWorker:
    def __init__(
        self,
        endpoint: BrokerEndpoint,
        processor: IngestProcessor,
        *,
        supervisor: Supervisor | None = None,
        heartbeat: Callable[[Mapping[str, object]], object] | None = None,
    ):
        self.endpoint = endpoint
        self.processor = processor
        self.supervisor = supervisor or Supervisor()
        self.heartbeat = heartbeat
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        # Bounded: when the worker falls behind, paho's network thread waits here, the socket
        # fills and the broker holds the rest (Mosquitto 2.0 does not always keep to the
        # Receive Maximum once acknowledgements flow, so memory must not rely on it).
        self._inbox: queue.Queue[_Received | None] = queue.Queue(maxsize=INBOX_LIMIT)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._unacked: deque[float] = deque()  # receive times of messages not yet acknowledged
        self._rates: deque[tuple[float, int]] = deque()  # (when, readings) of processed messages
        self.processed = 0  # every message acknowledged
        self.batches = 0  # readings messages among them
        self.telemetry = 0  # telemetry messages among them
        self.dead_lettered = 0  # messages or readings kept as dead letters
        self.receipts_sent = 0
        self.store_down_since: float | None = None
        self.last_progress = time.monotonic()
        # The broker binds this identity to its user name as client id: no hub can take it.
        self.client = tls_client(endpoint, endpoint.username, manual_ack=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._outage = Retry(
            STORE_OUTAGE_RETRY,
            on=OUTAGES,
            log=log,
            level=logging.ERROR,
            message="store unavailable (%(error)s); message kept unacknowledged, retrying in %(delay).0fs",
            stop=self._stop,
        )
        self._dead_letter_outage = Retry(
            STORE_OUTAGE_RETRY,
            on=OUTAGES,
            log=log,
            level=logging.ERROR,
            message="cannot keep the dead letter yet (%(error)s); retrying in %(delay).0fs",
            stop=self._stop,
        )
        self._thread = self.supervisor.thread("ingest-worker", self._work)
        self._beat_thread = self.supervisor.thread("ingest-heartbeat", self._beat)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._thread.start()
        self._beat_thread.start()
        self.client.connect_async(
            self.endpoint.host, self.endpoint.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):  # the worker sees _stop anyway once it takes one
            self._inbox.put_nowait(None)
        self._thread.join(15)
        self._beat_thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks ----------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, u: object, flags: object, rc: ReasonCode, p: object) -> None:
        if rc.is_failure:
            log.error("broker refused the ingest connection: %s", rc)
            return
        log.info(
            "ingest connected to %s:%d as %s", self.endpoint.host, self.endpoint.port, self.endpoint.username
        )
        self.connected.set()
        client.subscribe([(subscription(channel), qos) for channel, qos in INGEST_HEARS])

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
        at = time.monotonic()
        with self._lock:
            self._unacked.append(at)
        while not self._stop.is_set():  # stopping: left unacknowledged, the broker keeps it
            try:
                self._inbox.put(_Received(msg, at), timeout=1.0)
                return
            except queue.Full:
                continue

    # -- the worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None or self._stop.is_set():
                return
            if self._process_until_done(item.msg):
                self._ack(item.msg)

    def _ack(self, msg: mqtt.MQTTMessage) -> None:
        if msg.qos > 0:
            self.client.ack(msg.mid, msg.qos)
        with self._lock:
            if self._unacked:
                self._unacked.popleft()
        self.processed += 1
        self.last_progress = time.monotonic()

    def _process_until_done(self, msg: mqtt.MQTTMessage) -> bool:
        """Process one message; True when it may be acknowledged, False if stopping first."""
        payload = bytes(msg.payload)
        try:
            self._outage.call(partial(self._dispatch_noting_outages, msg.topic, payload))
        except RetryInterrupted:
            return False
        except Exception as e:  # this message triggers a defect: keep it, go on
            log.exception("message on %s could not be processed; keeping it as a dead letter", msg.topic)
            if not self._keep(msg.topic, payload, f"internal error: {type(e).__name__}: {e}"):
                return False  # stopping before it was kept: the broker delivers it again
        self.store_down_since = None
        return True

    def _dispatch_noting_outages(self, topic_name: str, payload: bytes) -> None:
        """``_dispatch``, noting when a store outage began (``/health`` reports it)."""
        try:
            self._dispatch(topic_name, payload)
        except OUTAGES:
            if self.store_down_since is None:
                self.store_down_since = time.time()
            raise

    def _keep(self, topic_name: str, payload: bytes, reason: str) -> bool:
        """Dead-letter a message no handler could process; True once kept, False if the worker
        stops first. An outage here is waited out like any other; anything else escapes and
        fails the loop (the process restarts)."""
        try:
            hub_id: str | None = parse(topic_name).hub_id
        except TopicError:
            hub_id = None
        keep = partial(
            self.processor.dead_letter, topic_name, hub_id, payload, reason, code=RefusalCode.INTERNAL_ERROR
        )
        try:
            self._dead_letter_outage.call(keep)
        except RetryInterrupted:
            return False
        self.dead_lettered += 1
        return True

    def _dispatch(self, topic_name: str, payload: bytes) -> None:
        """Route on the topic, parsed once here (the processor keeps a malformed one)."""
        try:
            parsed: ParsedTopic | None = parse(topic_name)
        except TopicError:
            parsed = None
        if parsed is not None and parsed.channel in _PRESENCE:
            try:
                _PRESENCE[parsed.channel](self.processor.db, parsed.hub_id, payload)
            except MessageRefused as e:
                self.processor.dead_letter(topic_name, e.hub_id, payload, str(e))
                self.dead_lettered += 1
            if parsed.channel is Channel.TELEMETRY:
                self.telemetry += 1
        else:
            result = self.processor.handle(topic_name, payload, received_at=now(), parsed=parsed)
            self.batches += 1
            self.dead_lettered += 1 if result.dead_letter_reason else result.refused
            with self._lock:
                self._rates.append((time.monotonic(), result.stored))
            self._send_receipt(result)
            log.info(
                "ingested %s: stored %d, duplicate %d, refused %d, alerts %s",
                topic_name,
                result.stored,
                result.duplicates,
                result.refused,
                result.alerts,
            )

    def _send_receipt(self, result: IngestResult) -> None:
        """Tell the hub what became of each reading. Not waited for: if it is lost, the hub
        sends the readings again, and their receipt says "duplicate"."""
        if result.hub_id is None or not result.receipts:
            return
        receipt = ReadingReceipt(
            hub_id=result.hub_id, batch_id=result.batch_id, at=now(), readings=result.receipts
        )
        info = self.client.publish(topic(result.hub_id, Channel.RECEIPTS), receipt.to_json(), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning(
                "receipt for hub %s not sent (%s); the hub will send again",
                result.hub_id,
                mqtt.error_string(info.rc),
            )
        else:
            self.receipts_sent += 1
        for request in result.retakes:
            # After the receipt, so the hub has said "your nurse's team has it" first. Sent even
            # when the receipt was not: the resent readings come back as duplicates, which are
            # not judged again, so this is the only chance to ask. A lost command only loses the
            # prompt (the reading is stored and judged either way).
            sent = self.client.publish(topic(result.hub_id, Channel.COMMANDS), request.to_json(), qos=1)
            if sent.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning(
                    "retake request for hub %s not sent (%s)", result.hub_id, mqtt.error_string(sent.rc)
                )
            else:
                log.info(
                    "asked hub %s for a retake of reading %s (%s)",
                    result.hub_id,
                    request.reading_id,
                    request.reason,
                )

    # -- liveness ----------------------------------------------------------------------------
    def metrics(self) -> dict[str, object]:
        """What ``/health`` reads from this worker's heartbeat."""
        t = time.monotonic()
        with self._lock:
            oldest = self._unacked[0] if self._unacked else None
            while self._rates and self._rates[0][0] < t - _RATE_WINDOW_S:
                self._rates.popleft()
            messages = len(self._rates)
            readings = sum(n for _, n in self._rates)
            inbox = len(self._unacked)
        minutes = _RATE_WINDOW_S / 60
        down = self.store_down_since
        return {
            "connected": self.connected.is_set() and self.subscribed.is_set(),
            "inbox": inbox,
            "oldest_unacked_s": None if oldest is None else round(t - oldest, 1),
            "messages_per_min": round(messages / minutes, 2),
            "readings_per_min": round(readings / minutes, 2),
            "store_down_since": None
            if down is None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(down)),
            "processed": self.processed,
            "dead_lettered": self.dead_lettered,
            "receipts_sent": self.receipts_sent,
            "host": socket.gethostname(),
        }

    def _beat(self) -> None:
        if self.heartbeat is None:
            return
        while True:
            self.heartbeat(self.metrics())
            if self._stop.wait(HEARTBEAT_S):
                return
