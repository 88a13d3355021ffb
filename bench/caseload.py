"""The caseload page for 2,000 patients: how long ``GET /patients`` takes to answer.

Run: ``.venv/bin/python bench/caseload.py [--patients 2000] [--runs 10]``.

Starts its own InfluxDB (Debian's 1.6) on a free loopback port in a temporary directory, and
an SQLite database (``--database-url`` for PostgreSQL). Enrols the patients in one team with
a mix of conditions, a hub each, a week of blood pressure, SpO2 and weight readings each
(written to InfluxDB and the ingest ledger directly: this measures the page, not the
ingest), and open alerts on one in ten. Then a clinician of the team, signed in, asks for the
page; prints the median and worst wall time of ``--runs`` answers and the CPU time they took
(on a shared machine the wall time includes waiting for a core). A figure, not a test (no assertions): the target is under 500 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from common.wire.vocabulary import Condition, Measure, ReadingKind
from devstack.influxdb import LocalInfluxDB
from gateway.reading_builder import build_reading
from gateway.simulator import SIM_DEVICES
from server.api.auth import Role, create_user
from server.app import create_app
from server.settings import ServerSettings
from server.store.database import Database, sqlite_url
from server.store.influx.config import InfluxConfig
from server.store.influx.schema import ReadingRecord
from server.store.influx.store import InfluxStore
from server.store.latest_values import record_latest
from server.store.models import Alert, Hub, HubAssignment, IngestedReading, Patient


def _bp(r: random.Random) -> dict[Measure, float]:
    return {
        Measure.SYSTOLIC: r.randint(100, 190),
        Measure.DIASTOLIC: r.randint(60, 110),
        Measure.PULSE: r.randint(50, 120),
    }


def _spo2(r: random.Random) -> dict[Measure, float]:
    return {Measure.SPO2: r.randint(86, 99), Measure.PULSE: r.randint(50, 120)}


def _weight(r: random.Random) -> dict[Measure, float]:
    return {Measure.WEIGHT: round(r.uniform(50, 110), 1)}


KINDS: dict[ReadingKind, Callable[[random.Random], dict[Measure, float]]] = {
    ReadingKind.BLOOD_PRESSURE: _bp,
    ReadingKind.SPO2: _spo2,
    ReadingKind.WEIGHT: _weight,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=7, help="days of readings per patient")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: an SQLite file in the temp dir")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carewatch-bench-") as tmp:
        influxd = LocalInfluxDB(Path(tmp))
        influxd.start()
        try:
            run(args, Path(tmp), influxd)
        finally:
            influxd.stop()


def enrol(db: Database, store: InfluxStore, args: argparse.Namespace, rng: random.Random) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    conditions = [[], [Condition.COPD], [Condition.HEART_FAILURE], [Condition.HYPERTENSION]]
    records: list[ReadingRecord] = []
    with db.session() as s:
        s.add_all(
            Patient(
                id=f"p-{i:05d}",
                display_name=f"Bench patient {i}",
                team="bench",
                conditions=[c.value for c in rng.choice(conditions)],
            )
            for i in range(args.patients)
        )
        s.add_all(
            Hub(id=f"bench-hub-{i:05d}", status=rng.choice(["online", "offline"]))
            for i in range(args.patients)
        )
        s.flush()
        for i in range(args.patients):
            pid, hub_id = f"p-{i:05d}", f"bench-hub-{i:05d}"
            s.add(HubAssignment(hub_id=hub_id, patient_id=pid, start_at=now - timedelta(days=30)))
            if i % 10 == 0:
                s.add(
                    Alert(
                        patient_id=pid,
                        rule_id="threshold:systolic",
                        severity=rng.choice(["red", "amber"]),
                        summary="Systolic 190 mmHg",
                        opened_at=now,
                        updated_at=now,
                    )
                )
            for day in range(args.days):
                for kind, values in KINDS.items():
                    when = now - timedelta(days=day, minutes=rng.randint(0, 600))
                    reading = build_reading(
                        kind=kind,
                        values=values(rng),
                        device=SIM_DEVICES[kind],
                        received_at=when,
                        measured_at=when,
                    )
                    records.append(ReadingRecord(pid, hub_id, reading))
                    record_latest(s, pid, reading)  # as the ingest does
                    s.add(
                        IngestedReading(
                            reading_id=str(reading.reading_id),
                            patient_id=pid,
                            hub_id=hub_id,
                            kind=kind.value,
                            taken_at=reading.taken_at,
                            batch_id="bench",
                        )
                    )
    for start in range(0, len(records), 5000):
        store.write_readings(records[start : start + 5000])


def run(args: argparse.Namespace, state: Path, influxd: LocalInfluxDB) -> None:
    rng = random.Random(args.seed)
    db = Database(args.database_url or sqlite_url(state / "carewatch.sqlite3"))
    db.migrate()
    store = InfluxStore(InfluxConfig(url=influxd.url))
    store.ensure_database()
    started = time.perf_counter()
    enrol(db, store, args, rng)
    print(
        f"enrolled {args.patients} patients, {args.patients * args.days * len(KINDS)} readings "
        f"in {time.perf_counter() - started:.1f} s"
    )
    token = create_user(db, "bench-matron", Role.CLINICIAN, teams=["bench"])
    app = create_app(ServerSettings(database_url=db.url), db, store)
    client = TestClient(app, base_url="http://carewatch.test")
    signed = client.post(
        "/sign-in", data={"token": token}, headers={"Origin": "http://carewatch.test"}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    pages: list[float] = []
    cpu: list[float] = []
    rows = 0
    for _ in range(args.runs + 1):  # the first warms the caches and is not counted
        t1, c1 = time.perf_counter(), time.process_time()
        answer = client.get("/patients")
        t2, c2 = time.perf_counter(), time.process_time()
        cpu.append(c2 - c1)
        assert answer.status_code == 200, answer.status_code
        rows = answer.text.count("data-patient-id=")
        pages.append(t2 - t1)
    pages, cpu = pages[1:], cpu[1:]
    print(
        f"GET /patients, {args.patients} patients judged and sorted, the first {rows} shown "
        f"({len(answer.content) / 1e6:.1f} MB of HTML), {args.runs} runs: "
        f"wall median {statistics.median(pages) * 1000:.0f} ms, worst {max(pages) * 1000:.0f} ms; "
        f"CPU median {statistics.median(cpu) * 1000:.0f} ms (this process: the wall time on a busy machine "
        f"includes waiting for a core)"
    )
    db.dispose()
    store.close()


if __name__ == "__main__":
    main()
