"""Free text a person sends (a note, an outcome, a reason, the rule changes) that a
database cannot store is refused with a 422 naming the field, never a 500: NUL, which
PostgreSQL refuses in text, and a lone UTF-16 surrogate, which no database can encode and
which made even the 422 fail to render. On SQLite and PostgreSQL; line breaks stay fine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure
from server.api.auth import Role, create_user
from server.app import create_app
from server.ingest.processor import IngestProcessor
from server.provisioning import add_hub, add_patient, assign_hub
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from tests.support.readings import make_batch, make_reading

OWN = {"Origin": "http://carewatch.test"}
JSON = {"content-type": "application/json"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "sqlite":
        yield request.getfixturevalue("database")
        return
    db = Database(request.getfixturevalue("postgres_database"))
    db.migrate()
    yield db
    db.dispose()


def test_text_a_database_cannot_store_is_refused_by_name(db: Database, influx_store: InfluxStore) -> None:
    add_patient(db, "p-text-1", "Text Input", actor="test")
    add_hub(db, "hub-text-1", actor="test")
    assign_hub(db, "hub-text-1", "p-text-1", actor="test", start=datetime.now(UTC) - timedelta(days=1))
    high = make_reading(values={Measure.SYSTOLIC: 205, Measure.DIASTOLIC: 95, Measure.PULSE: 70})
    done = IngestProcessor(db, influx_store).handle(
        topic("hub-text-1", Channel.READINGS), make_batch([high], hub_id="hub-text-1").to_json()
    )
    [alert_id] = done.alerts
    token = create_user(db, "matron-text", Role.CLINICIAN, teams=["default"])
    api = TestClient(
        create_app(ServerSettings(database_url=db.url), db, influx_store), raise_server_exceptions=False
    )
    auth = {"Authorization": f"Bearer {token}"}
    rules = "/api/v1/patients/p-text-1/rules"

    def refused(r: httpx.Response, field: str, words: str) -> None:
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert any(e["loc"][-1] == field and words in e["msg"] for e in detail), detail

    nul = "phoned\x00 the GP"
    refused(api.put(rules, json={"changes": {}, "reason": nul}, headers=auth), "reason", "control characters")
    refused(
        api.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": nul}, headers=auth),
        "note",
        "control",
    )
    refused(
        api.post(f"/api/v1/alerts/{alert_id}/resolve", json={"outcome": nul}, headers=auth),
        "outcome",
        "control",
    )
    source = {"thresholds": {"spo2": {"source": "BTS\x00"}}}
    refused(
        api.put(rules, json={"changes": source, "reason": "BTS target"}, headers=auth), "changes", "control"
    )
    # A lone surrogate arrives only as a JSON escape; its 422 echoes it, escaped again.
    lone = b'{"changes": {}, "reason": "phoned \\ud800 GP"}'
    r = api.put(rules, content=lone, headers=auth | JSON)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    assert "\\ud800" in r.text
    in_changes = b'{"changes": {"thresholds": {"spo2": {"source": "\\udc00"}}}, "reason": "BTS target"}'
    refused(api.put(rules, content=in_changes, headers=auth | JSON), "changes", "lone surrogate")

    # Nothing above was stored; ordinary text with line breaks and tabs is.
    assert api.get(rules, headers=auth).json()["history"] == []
    fine = api.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "rang:\n\tno answer"}, headers=auth
    )
    assert fine.status_code == 200 and fine.json()["events"][-1]["detail"] == "rang:\n\tno answer"

    # The pages validate with the same models and say so on the page.
    pages = TestClient(api.app, base_url="http://carewatch.test", raise_server_exceptions=False)
    pages.post("/sign-in", data={"token": token}, headers=OWN, follow_redirects=False)
    page = pages.post(
        f"/alerts/{alert_id}/resolve", data={"outcome": "phoned_patient", "note": nul}, headers=OWN
    )
    assert page.status_code == 422 and "Note must not contain control characters" in page.text
    page = pages.post("/patients/p-text-1/rules/reset", data={"reason": nul}, headers=OWN)
    assert page.status_code == 422 and "Reason must not contain control characters" in page.text
