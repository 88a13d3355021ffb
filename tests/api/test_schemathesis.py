"""schemathesis over every operation of the API's own OpenAPI schema: no input, valid or
not, gets a server error (5xx).

The requests go over real HTTP to the app served by uvicorn, wired to a real database (the
whole run once on SQLite, once on PostgreSQL), the real InfluxDB and the real broker, signed
in as an admin. The target holds real data: a patient whose reading went through the real
ingest code, and the alert it raised. Half the generated path parameters name that patient
and that alert, so every operation is also exercised past its 404 (queries and bodies stay
generated). Seeded and derandomized with a bounded number of examples, so a CI run is the
same every time and takes well under a minute (about 35 s here, both databases).

The schema is loaded when the module is imported, from an app that is never called (the
OpenAPI document is the code's, not the wiring's); schemathesis's ``from_fixture`` cannot
be used, as it does not work with pytest 9.2 (it sets ``Function._nodeid``, gone there).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure
from devstack.influxdb import LocalInfluxDB
from devstack.mosquitto import LocalMosquitto
from server.api.auth import Role, create_user
from server.app import create_app
from server.heartbeat import Heartbeat
from server.ingest.processor import IngestProcessor
from server.processes import INGEST, TICKER
from server.provisioning import add_hub, add_patient, assign_hub
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database, sqlite_url
from server.store.influx.config import InfluxConfig
from server.store.influx.influxql import quote_ident
from server.store.influx.store import InfluxStore
from tests.fixtures.browser import served
from tests.fixtures.postgres import new_database
from tests.support.readings import make_batch, make_reading

SEED = 20261203
#: Fuzzing examples per operation; the examples and coverage phases add their own cases.
MAX_EXAMPLES = 40
PATIENT = "p-fuzz-1"
#: The first alert of the fresh database the target starts with (checked when it is made).
ALERT_ID = 1


def _openapi() -> dict[str, Any]:
    never_called = create_app(
        ServerSettings(), Database("sqlite://"), InfluxStore(InfluxConfig(url="http://127.0.0.1:9"))
    )
    return never_called.openapi()


schema = schemathesis.openapi.from_dict(
    _openapi(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        }
    ),
)


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Half the time, the real patient, alert and hub instead of generated ids."""
    real = {"patient_id": PATIENT, "alert_id": ALERT_ID, "hub_id": "hub-fuzz-1"}
    names = [p.name for p in context.operation.path_parameters]
    if not names:
        return strategy
    return st.one_of(strategy, st.just({name: real[name] for name in names}))


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    influxdb: LocalInfluxDB,
    broker: LocalMosquitto,
) -> Iterator[Target]:
    """The app served over HTTP on each database we support (PostgreSQL refuses some text
    SQLite stores, and holds smaller integers)."""
    if request.param == "sqlite":
        db = Database(sqlite_url(tmp_path_factory.mktemp("fuzz") / "carewatch.sqlite3"))
    else:
        db = Database(new_database(request.getfixturevalue("postgres_url")))
    db.migrate()
    database = f"carewatch_fuzz_{uuid.uuid4().hex[:8]}"
    store = InfluxStore(InfluxConfig(url=influxdb.url, api="v1", database=database, max_retries=1))
    store.ensure_database()
    try:
        add_patient(db, PATIENT, "Fuzz Target", actor="test")
        add_hub(db, "hub-fuzz-1", actor="test")
        assign_hub(db, "hub-fuzz-1", PATIENT, actor="test", start=datetime.now(UTC) - timedelta(days=1))
        high = make_reading(values={Measure.SYSTOLIC: 201, Measure.DIASTOLIC: 96, Measure.PULSE: 70})
        done = IngestProcessor(db, store).handle(
            topic("hub-fuzz-1", Channel.READINGS), make_batch([high], hub_id="hub-fuzz-1").to_json()
        )
        assert (done.stored, done.alerts) == (1, [ALERT_ID])
        admin = create_user(db, "admin-fuzz", Role.ADMIN)
        # A healthy system: the workers /health expects have just reported (no 503 to excuse).
        Heartbeat(db, INGEST).beat(detail={"connected": True, "inbox": 0, "oldest_unacked_s": None})
        Heartbeat(db, TICKER).beat(detail={"every_s": 15, "notifications": {"configured": False}})
        settings = ServerSettings(
            database_url=db.url,
            influx=store.config,
            mqtt=MqttSettings(port=broker.port, ca_file=broker.ca_cert),
        )
        with served(create_app(settings, db, store)) as url:
            yield Target(url, {"Authorization": f"Bearer {admin}"})
    finally:
        store.influxql(f"DROP DATABASE {quote_ident(database)}", post=True, database="")
        store.close()
        db.dispose()


@schema.parametrize()
def test_no_operation_answers_with_a_server_error(case: Case[Any], target: Target) -> None:
    case.call_and_validate(base_url=target.url, headers=target.headers, checks=[not_a_server_error])
