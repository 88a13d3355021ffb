"""Ids the database cannot hold are refused, never a 500: on the API (422) and on the pages
(the not-found page, not the API's JSON), on SQLite and on PostgreSQL, whose ``integer``
is only 32 bits wide."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from common.wire.vocabulary import Measure, ReadingKind
from server.api.auth import Role, create_user
from server.api.params import ROW_ID_MAX
from server.app import create_app
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from tests.fixtures.server import Stack

OWN = {"Origin": "http://carewatch.test"}
#: Beyond SQLite's 64-bit INTEGER (OverflowError), beyond PostgreSQL's 32-bit integer
#: ("integer out of range"), and the largest SQLite holds but PostgreSQL does not.
TOO_BIG = [2**63, 2**63 - 1, 2**31, ROW_ID_MAX + 1, 10**30]


def _alert(stack: Stack, patient_id: str, hub_id: str) -> int:
    hub = stack.patient_with_hub(patient_id, hub_id)
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 198, Measure.DIASTOLIC: 92})
    stack.wait_processed(1)
    [alert] = stack.api.get("/api/v1/alerts", params={"patient_id": patient_id}, headers=stack.auth()).json()
    return int(alert["id"])


def _api_calls(client: TestClient, alert_id: int | str, headers: dict[str, str]) -> list[int]:
    return [
        client.get(f"/api/v1/alerts/{alert_id}", headers=headers).status_code,
        client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={}, headers=headers).status_code,
        client.post(
            f"/api/v1/alerts/{alert_id}/resolve", json={"outcome": "phoned"}, headers=headers
        ).status_code,
    ]


def test_the_api_refuses_alert_ids_the_database_cannot_hold(stack: Stack) -> None:
    alert_id = _alert(stack, "p-bound-1", "hub-bound-1")
    client = TestClient(stack.api.app, raise_server_exceptions=False)
    for huge in TOO_BIG:
        assert _api_calls(client, huge, stack.auth()) == [422, 422, 422], huge
    refused = client.get(f"/api/v1/alerts/{2**63}", headers=stack.auth()).json()
    assert refused["detail"][0]["ctx"] == {"le": ROW_ID_MAX}
    # The largest id it can hold is an ordinary absent alert; the real one is found.
    assert _api_calls(client, ROW_ID_MAX, stack.auth()) == [404, 404, 404]
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=stack.auth()).status_code == 200
    # Every other integer parameter of the API is bounded as well.
    assert client.get("/api/v1/alerts", params={"limit": 2**63}, headers=stack.auth()).status_code == 422
    too_many = client.get(
        "/api/v1/patients/p-bound-1/readings", params={"limit": 2**64}, headers=stack.auth()
    )
    assert too_many.status_code == 422


@pytest.fixture
def postgres_db(postgres_database: str) -> Iterator[Database]:
    db = Database(postgres_database)
    db.migrate()
    yield db
    db.dispose()


def test_ids_beyond_a_32_bit_integer_are_refused_on_postgresql(
    postgres_db: Database, influx_store: InfluxStore
) -> None:
    token = create_user(postgres_db, "pg-admin", Role.ADMIN)
    app = create_app(ServerSettings(database_url=postgres_db.url), postgres_db, influx_store)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {token}"}
        for huge in TOO_BIG:
            assert _api_calls(client, huge, headers) == [422, 422, 422], huge
        assert _api_calls(client, ROW_ID_MAX, headers) == [404, 404, 404]
    assert postgres_db.engine.dialect.name == "postgresql"


def _signed_in(stack: Stack) -> TestClient:
    client = TestClient(stack.api.app, base_url="http://carewatch.test", raise_server_exceptions=False)
    signed = client.post("/sign-in", data={"token": stack.token}, headers=OWN, follow_redirects=False)
    assert signed.status_code == 303
    return client


def _not_found_page(response: httpx.Response, what: str) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in response.text and "nhsuk-header" in response.text
    assert f"There is no {what}." in response.text


def test_the_pages_answer_ids_that_cannot_exist_with_the_not_found_page(stack: Stack) -> None:
    alert_id = _alert(stack, "p-bound-2", "hub-bound-2")
    client = _signed_in(stack)
    for bad in [*TOO_BIG, 0, -1, "abc"]:
        _not_found_page(client.get(f"/alerts/{bad}"), f"alert {bad}")
        for action, field in (("acknowledge", "note"), ("resolve", "outcome")):
            _not_found_page(
                client.post(f"/alerts/{bad}/{action}", data={field: "phoned the patient"}, headers=OWN),
                f"alert {bad}",
            )
    _not_found_page(client.get("/patients/not%20a%20patient"), "patient not a patient")
    assert "Signed in as" in client.get(f"/alerts/{2**63}").text  # still the user's page
    assert client.get(f"/alerts/{alert_id}").status_code == 200
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=stack.auth()).json()["status"] == "open"

    # A field a page cannot use is said on a page too, not in the API's JSON.
    anonymous = TestClient(stack.api.app, base_url="http://carewatch.test", raise_server_exceptions=False)
    long_token = anonymous.post("/sign-in", data={"token": "x" * 201}, headers=OWN)
    assert long_token.status_code == 422
    assert long_token.headers["content-type"].startswith("text/html")
    assert "Token must be 200 characters or fewer." in long_token.text
    no_measure = client.post("/patients/p-bound-2/thresholds", data={"reason": "why"}, headers=OWN)
    assert (no_measure.status_code, no_measure.headers["content-type"][:9]) == (422, "text/html")
    assert "Enter the measure." in no_measure.text
