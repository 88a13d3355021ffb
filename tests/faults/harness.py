"""The fault suite's stage: each scenario's own broker, InfluxDB and PostgreSQL database, the
ingest worker as a real ``carewatch server ingest`` process, and real hub processes
(``tests/faults/hub_process.py``), so any of them can be stopped, killed or starved.

And its scorecard: ``Counts`` follows every reading a hub took, by id, from the hub's journal
to the hub's outbox, the ingest's ledger, InfluxDB's points, the dead letters and the alerts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from common.mqtt import BrokerEndpoint
from devstack.influxdb import LocalInfluxDB
from devstack.mosquitto import LocalMosquitto
from devstack.process import Service, free_port
from server.provisioning import add_hub, add_patient
from server.store.database import Database
from server.store.influx.config import InfluxConfig
from server.store.influx.store import InfluxStore
from server.store.models import Alert, AlertEvidence, DeadLetter, IngestedReading
from tests.faults.hub_process import RED_SPO2

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "carewatch"]
#: Every scenario's result, printed as one table at the end of the session.
RESULTS: list[Counts] = []


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Hub:
    """One patient's hub process and what it leaves behind."""

    hub_id: str
    patient_id: str
    endpoint: BrokerEndpoint
    dir: Path
    process: Service | None = None
    state_dir: Path | None = None  # where its outbox lives (default: dir/state)

    @property
    def journal(self) -> Path:
        return self.dir / "journal.txt"

    @property
    def outbox(self) -> Path:
        return (self.state_dir or self.dir / "state") / self.hub_id / "outbox.sqlite3"

    def taken(self) -> dict[str, float]:
        """reading id → SpO2 value, for every reading the hub took."""
        if not self.journal.exists():
            return {}
        rows = (line.split() for line in self.journal.read_text().splitlines() if line.strip())
        return {reading_id: float(value) for _, reading_id, value in rows}

    def on_hub(self) -> set[str]:
        """Reading ids still in the hub's outbox (not yet confirmed by the server)."""
        if not self.outbox.exists():
            return set()
        with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT reading_id FROM outbox")}

    def sent_unconfirmed(self) -> int:
        if not self.outbox.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True) as db:
                return int(db.execute("SELECT count(*) FROM outbox WHERE sends > 0").fetchone()[0])
        except sqlite3.OperationalError:  # the hub is creating or migrating it
            return 0


def ids_in(payload: bytes) -> set[str]:
    """Reading ids in a message kept whole as a dead letter (it keeps every reading in it)."""
    try:
        doc = json.loads(payload)
        return {str(r["reading_id"]) for r in doc["readings"] if isinstance(r, dict) and "reading_id" in r}
    except (ValueError, KeyError, TypeError):
        return set()


@dataclass
class Counts:
    scenario: str
    taken: int = 0  # readings the hubs took (journals)
    stored: int = 0  # in the ingest's ledger
    points: int = 0  # InfluxDB points
    distinct_points: int = 0
    dead_lettered: int = 0  # refused and kept (by reading id)
    lost: int = 0  # taken, and neither stored nor kept
    on_hub: int = 0  # still waiting in an outbox
    duplicate_points: int = 0
    duplicate_alerts: int = 0  # more than one open alert for one patient and rule
    red: int = 0  # red readings stored
    red_patients: int = 0  # patients with a red reading stored
    red_alerted: int = 0  # of those, patients with an open alert that has a red reading as evidence
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"{self.scenario:<44} {self.taken:>6} {self.stored:>6} {self.points:>6} {self.dead_lettered:>5} "
            f"{self.lost:>5} {self.duplicate_points:>5} {self.duplicate_alerts:>5} {self.red:>5} "
            f"{self.red_alerted:>3}/{self.red_patients:<3}"
        )

    def assert_kept_promise(self, *, kept: int = 0) -> None:
        """Nothing lost or doubled, and exactly ``kept`` readings refused (a regression that
        dead-letters good readings would otherwise pass as "not lost")."""
        assert self.lost == 0, f"{self.lost} reading(s) lost: {self}"
        assert self.dead_lettered == kept, f"{self.dead_lettered} reading(s) refused, {kept} expected: {self}"
        assert self.on_hub == 0, f"{self.on_hub} reading(s) still on a hub: {self}"
        assert self.duplicate_points == 0, self
        assert self.duplicate_alerts == 0, self
        assert self.red_alerted == self.red_patients, f"a patient's red readings raised no alert: {self}"


HEADER = (
    f"{'scenario':<44} {'taken':>6} {'stored':>6} {'points':>6} {'kept':>5} {'lost':>5} {'dupPt':>5} "
    f"{'dupAl':>5} {'red':>5} {'alerted':>7}"
)


class FaultStack:
    """One scenario's services; ``close`` stops everything it started."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.hubs: list[Hub] = []
        self.ingest: Service | None = None
        self._ingest_runs = 0
        self.broker = LocalMosquitto(root / "broker")
        self.broker.start()
        try:
            self.influxd = LocalInfluxDB(root / "influx", port=free_port()).start()  # same port on restart
            try:
                self._set_up(database_url)
            except BaseException:
                self.influxd.stop()
                raise
        except BaseException:
            self.broker.stop()  # nothing may outlive a scenario that could not start
            raise

    def _set_up(self, database_url: str) -> None:
        self.influx_db = f"faults_{uuid.uuid4().hex[:8]}"
        self.influx = InfluxStore(
            InfluxConfig(url=self.influxd.url, api="v1", database=self.influx_db, max_retries=1, timeout=5)
        )
        self.influx.ensure_database()
        self.database_url = database_url
        self.db = Database(database_url)
        self.db.migrate()
        self.ingest_pw = self.root / "ingest-password"
        self.ingest_pw.write_text(self.broker.add_ingest().password)

    # -- processes -------------------------------------------------------------------------
    def ingest_env(self) -> dict[str, str]:
        return dict(
            os.environ,
            CAREWATCH_DATABASE_URL=self.database_url,
            CAREWATCH_INFLUX__URL=self.influxd.url,
            CAREWATCH_INFLUX__API="v1",
            CAREWATCH_INFLUX__DATABASE=self.influx_db,
            CAREWATCH_MQTT__HOST="localhost",
            CAREWATCH_MQTT__PORT=str(self.broker.port),
            CAREWATCH_MQTT__CA_FILE=str(self.broker.ca_cert),
            CAREWATCH_MQTT__PASSWORD_FILE=str(self.broker.server_password_file),
            CAREWATCH_MQTT__INGEST_PASSWORD_FILE=str(self.ingest_pw),
        )

    def start_ingest(self) -> Service:
        self._ingest_runs += 1
        log = self.root / "logs" / f"ingest-{self._ingest_runs}.log"
        service = Service("ingest", [*CLI, "server", "ingest"], log, env=self.ingest_env())
        service.start(lambda: "ingest connected" in service.tail(200), timeout=60)
        self.ingest = service
        return service

    def add_hub(self, n: int) -> Hub:
        hub_id, patient_id = f"hub-fault-{n:02d}", f"p-fault-{n:02d}"
        add_patient(self.db, patient_id, f"Fault patient {n}", actor="faults")
        add_hub(self.db, hub_id, actor="faults", patient_id=patient_id)
        d = self.root / hub_id
        d.mkdir(parents=True)
        endpoint = self.broker.add_hub(hub_id)
        (d / "password").write_text(endpoint.password)
        hub = Hub(hub_id, patient_id, endpoint, d)
        self.hubs.append(hub)
        return hub

    def start_hub(
        self,
        hub: Hub,
        *,
        count: int,
        interval: float = 0.05,
        red_every: int = 10,
        receipt_timeout: float = 5.0,
        state_dir: Path | None = None,
        rescue_dir: Path | None = None,
    ) -> Service:
        hub.state_dir = state_dir or hub.state_dir or hub.dir / "state"
        argv = [
            sys.executable,
            "-m",
            "tests.faults.hub_process",
            "--hub-id",
            hub.hub_id,
            "--password-file",
            str(hub.dir / "password"),
            "--port",
            str(self.broker.port),
            "--ca-file",
            str(self.broker.ca_cert),
            "--state-dir",
            str(hub.state_dir),
            "--journal",
            str(hub.journal),
            "--count",
            str(count),
            "--interval",
            str(interval),
            "--red-every",
            str(red_every),
            "--receipt-timeout",
            str(receipt_timeout),
        ]
        if rescue_dir is not None:
            argv += ["--rescue-dir", str(rescue_dir)]
        service = Service(
            f"hub {hub.hub_id}", argv, hub.dir / "hub.log", env=dict(os.environ, PYTHONPATH=str(ROOT))
        )
        service.start(lambda: True)
        hub.process = service
        return service

    def close(self) -> None:
        for hub in self.hubs:
            if hub.process is not None:
                hub.process.stop()
        if self.ingest is not None:
            self.ingest.stop()
        self.influx.close()  # the daemon and its data are this scenario's own: they go with it
        self.influxd.stop()
        self.broker.stop()
        self.db.dispose()

    # -- outcome ---------------------------------------------------------------------------
    def delivered(self, hub: Hub, count: int) -> bool:
        """The hub took its whole plan and the server confirmed every reading."""
        return len(hub.taken()) >= count and not hub.on_hub()

    def wait_delivered(self, count: int, timeout: float = 120.0) -> None:
        for hub in self.hubs:
            if hub.process is None:  # a raw sender, not a hub process
                continue

            def done(h: Hub = hub) -> bool:
                return self.delivered(h, count)

            wait_until(done, timeout, f"{hub.hub_id} to deliver {count} readings")

    def counts(self, scenario: str) -> Counts:
        c = Counts(scenario)
        taken: dict[str, float] = {}
        patient_of: dict[str, str] = {}
        for hub in self.hubs:
            mine = hub.taken()
            taken |= mine
            patient_of |= dict.fromkeys(mine, hub.patient_id)
            c.on_hub += len(hub.on_hub())
        c.taken = len(taken)
        patients = [h.patient_id for h in self.hubs]
        with self.db.session() as s:
            ledger = set(
                s.scalars(select(IngestedReading.reading_id).where(IngestedReading.patient_id.in_(patients)))
            )
            kept: set[str] = set()
            for letter in s.scalars(select(DeadLetter)):
                kept |= {letter.reading_id} if letter.reading_id else ids_in(letter.payload)
            alerts = list(s.scalars(select(Alert).where(Alert.patient_id.in_(patients))))
            evidence = {
                e.reading_id
                for e in s.scalars(
                    select(AlertEvidence).where(AlertEvidence.alert_id.in_([a.id for a in alerts]))
                )
            }
        c.stored = len(ledger & taken.keys())
        c.dead_lettered = len(kept & taken.keys())
        c.lost = len(taken.keys() - ledger - kept)
        ids: list[str] = []
        for patient in patients:
            c.points += self.influx.count_points(patient)
            ids += [str(r.reading_id) for r in self.influx.query_readings(patient, limit=100_000)]
        c.distinct_points = len(set(ids))
        c.duplicate_points = c.points - c.distinct_points
        missing_points = (ledger & taken.keys()) - set(ids)
        if missing_points:
            c.notes.append(f"{len(missing_points)} ledgered reading(s) missing from InfluxDB")
            c.lost += len(missing_points)
        per_rule = Counter((a.patient_id, a.rule_id) for a in alerts if a.status != "resolved")
        c.duplicate_alerts = sum(n - 1 for n in per_rule.values() if n > 1)
        red = {rid for rid, value in taken.items() if value <= RED_SPO2 and rid in ledger}
        c.red = len(red)
        # The engine gives one finding per patient and rule per evaluation (the alerts issue
        # makes it one per reading), so a batch of several red readings is one piece of
        # evidence: the promise counted is that every patient with red readings has an alert.
        c.red_patients = len({patient_of[rid] for rid in red})
        c.red_alerted = len({patient_of[rid] for rid in red & evidence})
        RESULTS.append(c)
        return c
