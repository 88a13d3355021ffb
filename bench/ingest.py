"""End-to-end ingest throughput: simulated hubs → Mosquitto (TLS) → the ingest worker →
InfluxDB and the relational store, every batch judged by the full rule engine with each
patient's history read back from InfluxDB.

Run: ``.venv/bin/python bench/ingest.py [--hubs N] [--readings M] [--batch-size B]``.

Starts its own Mosquitto and InfluxDB (Debian's 1.6) on free loopback ports in a temporary
directory, and an SQLite database (``--database-url`` for PostgreSQL). Each hub's outbox is
filled first (M readings a hub, spread over the last 14 days so history queries find
something), then all hubs connect at once and drain; the clock runs from the first hub
starting until the worker has acknowledged the last batch. Prints readings/s and batches/s
end to end: a capacity figure for one worker process, not a test (no assertions).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.wire.messages import Reading
from common.wire.vocabulary import Measure, ReadingKind
from devstack.influxdb import LocalInfluxDB
from devstack.mosquitto import LocalMosquitto
from gateway.reading_builder import build_reading
from gateway.simulator import SIM_DEVICES, SimulatedHub
from server.ingest.processor import IngestProcessor
from server.ingest.worker import IngestWorker
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database, sqlite_url
from server.store.influx.config import InfluxConfig
from server.store.influx.store import InfluxStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=20)
    parser.add_argument("--readings", type=int, default=250, help="readings per hub")
    parser.add_argument("--batch-size", type=int, default=50, help="readings per MQTT message")
    parser.add_argument("--database-url", default=None, help="default: an SQLite file in the temp dir")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="carewatch-bench-") as tmp:
        state = Path(tmp)
        mosq = LocalMosquitto(state)
        influxd = LocalInfluxDB(state)
        mosq.start()
        influxd.start()
        try:
            run(args, rng, state, mosq, influxd)
        finally:
            influxd.stop()
            mosq.stop()


def run(
    args: argparse.Namespace, rng: random.Random, state: Path, mosq: LocalMosquitto, influxd: LocalInfluxDB
) -> None:
    db = Database(args.database_url or sqlite_url(state / "carewatch.sqlite3"))
    db.migrate()
    store = InfluxStore(InfluxConfig(url=influxd.url))
    store.ensure_database()
    worker = IngestWorker(mosq.add_ingest(), IngestProcessor(db, store))
    worker.start()
    if not worker.subscribed.wait(15):
        sys.exit("the ingest worker did not subscribe")

    now = datetime.now(UTC)
    hubs = []
    for i in range(args.hubs):
        pid, hub_id = f"p-bench-{i:04d}", f"bench-hub-{i:04d}"
        add_patient(db, pid, f"Bench patient {i}", actor="bench")
        add_hub(db, hub_id, actor="bench")
        assign_hub(db, hub_id, pid, actor="bench", start=now - timedelta(days=30))
        hub = SimulatedHub(hub_id, mosq.add_hub(hub_id), state / "hubs", batch_size=args.batch_size)
        base = rng.gauss(135, 12)
        for k in range(args.readings):
            when = now - timedelta(days=14) + timedelta(seconds=k * 14 * 86400 // args.readings)
            systolic = round(rng.gauss(base, 8))
            hub.outbox.put(
                bp_reading(systolic, round(systolic * 0.6 + rng.gauss(0, 5)), round(rng.gauss(74, 8)), when)
            )
        hubs.append(hub)
    total = args.hubs * args.readings
    print(
        f"{args.hubs} hubs × {args.readings} readings = {total:,} readings in batches of {args.batch_size}, "
        f"database {db.url.split(':')[0]}, InfluxDB 1.x at {influxd.url}"
    )

    start = time.perf_counter()
    for hub in hubs:
        hub.start()
    expected = -(-args.readings // args.batch_size) * args.hubs
    last_report = start
    while worker.batches < expected:
        time.sleep(0.05)
        if time.perf_counter() - last_report > 5:
            last_report = time.perf_counter()
            print(f"  … {worker.batches}/{expected} batches after {last_report - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    print(
        f"ingested end to end: {seconds:.2f} s, {total / seconds:,.0f} readings/s, {expected / seconds:,.1f} batches/s"
    )
    while any(hub.outbox.depth() for hub in hubs):
        time.sleep(0.05)
    confirmed = time.perf_counter() - start
    print(
        f"confirmed to every hub (receipts in, outboxes empty): {confirmed:.2f} s, "
        f"{total / confirmed:,.0f} readings/s"
    )
    print(
        f"points in InfluxDB for the first patient: {store.count_points('p-bench-0000')} (expected {args.readings})"
    )
    for hub in hubs:
        hub.stop()
    worker.stop()
    store.close()
    db.dispose()


def bp_reading(systolic: int, diastolic: int, pulse: int, when: datetime) -> Reading:
    """A cuff reading taken at ``when`` and heard by the hub three seconds later."""
    return build_reading(
        kind=ReadingKind.BLOOD_PRESSURE,
        values={Measure.SYSTOLIC: systolic, Measure.DIASTOLIC: diastolic, Measure.PULSE: pulse},
        device=SIM_DEVICES[ReadingKind.BLOOD_PRESSURE],
        received_at=when + timedelta(seconds=3),
        measured_at=when,
    )


if __name__ == "__main__":
    main()
