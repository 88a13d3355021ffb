"""``carewatch server ingest``: the ingest process, assembled. Settings → database, InfluxDB,
the broker identity → the processor and the MQTT worker, a heartbeat for ``/health``, and a
supervisor whose failure ends the process with a status its supervisor restarts it on."""

from __future__ import annotations

import logging
import signal
import threading

from common.supervision import EXIT_LOOP_FAILED, Supervisor
from server.heartbeat import Heartbeat
from server.ingest.processor import IngestProcessor
from server.ingest.worker import IngestWorker
from server.processes import INGEST
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx.errors import StoreError
from server.store.influx.store import InfluxStore

log = logging.getLogger(__name__)


class IngestNotStarted(RuntimeError):
    """The ingest cannot run as configured (its broker password file cannot be read)."""


def run_ingest(settings: ServerSettings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status (0, or ``EXIT_LOOP_FAILED``)."""
    db = Database(settings.database_url)
    db.migrate()
    store = InfluxStore(settings.influx)
    try:
        store.ensure_database()
    except StoreError as e:  # the worker retries writes; say so and go on
        log.warning("could not prepare InfluxDB yet (%s); will retry on the first write", e)
    try:
        endpoint = settings.mqtt.ingest_endpoint()
    except OSError as e:
        raise IngestNotStarted(f"cannot read the ingest's MQTT password file: {e}") from None
    supervisor = Supervisor()
    heartbeat = Heartbeat(db, INGEST)
    worker = IngestWorker(
        endpoint,
        IngestProcessor(db, store, tz=settings.zone),
        supervisor=supervisor,
        heartbeat=lambda detail: heartbeat.beat(detail=detail),
    )
    stop = threading.Event()
    supervisor.on_failure(stop.set)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    print(
        f"ingest worker running against {settings.mqtt.host}:{settings.mqtt.port} "
        f"as {endpoint.username}; Ctrl-C to stop",
        flush=True,
    )
    stop.wait()
    worker.stop()
    if supervisor.failed.is_set():
        heartbeat.failed(supervisor.reason or "loop failed", worker.metrics())
        log.critical("ingest stopped because its loop failed: %s", supervisor.reason)
        return EXIT_LOOP_FAILED
    heartbeat.stopped(worker.metrics())
    log.info("ingest worker stopped after %d message(s)", worker.processed)
    return 0
