"""Claim codes cannot be guessed quickly: /api/v1/enrol counts wrong codes per client address
and from everyone together; past either limit every claim waits (429 with Retry-After), a
right code too, and the lock-out is audited. Over the real app, database and broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from devstack.mosquitto import LocalMosquitto
from server import hub_enrolment as enrolment
from server import hub_lifecycle
from server.api.guesses import GuessLimiter, GuessSettings
from server.app import create_app
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import AuditEvent, HubClaimCode

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(database: Database, influx_store: InfluxStore, broker: LocalMosquitto) -> FastAPI:
    mqtt = MqttSettings(
        host="localhost", port=broker.port, ca_file=broker.ca_cert, password_file=broker.server_password_file
    )
    settings = ServerSettings(
        database_url=database.url,
        influx=influx_store.config,
        mqtt=mqtt,
        enrol_guesses=GuessSettings(per_address=3, overall=5, window_s=600),
    )
    return create_app(settings, database, influx_store)


def lockouts(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "hub_claim_locked_out").order_by(AuditEvent.id)
        )
        return [(e.target, e.detail) for e in rows]


def unclaimed(db: Database, hub_id: str) -> int:
    with db.session() as s:
        return len(
            list(
                s.scalars(
                    select(HubClaimCode).where(
                        HubClaimCode.hub_id == hub_id, HubClaimCode.claimed_at.is_(None)
                    )
                )
            )
        )


def test_wrong_codes_lock_out_the_address_then_everyone_and_a_right_code_waits_too(
    app: FastAPI, database: Database, broker: LocalMosquitto
) -> None:
    hub_lifecycle.add(database, broker.server_endpoint(), "hub-guess-1", actor="tech1")
    code = enrolment.issue_claim_code(database, "hub-guess-1", actor="tech1")
    a, b, c = (TestClient(app, client=(ip, 40000)) for ip in ("203.0.113.7", "198.51.100.8", "192.0.2.9"))

    def claim(client: TestClient, text: str) -> int:
        status: int = client.post("/api/v1/enrol", json={"code": text}).status_code
        return status

    assert [claim(a, f"WRNG-22{n}2") for n in range(3)] == [403, 403, 403]
    [(target, detail)] = lockouts(database)
    assert target == "203.0.113.7" and detail.startswith("3 wrong claim codes from 203.0.113.7 within 600 s")
    refused = a.post("/api/v1/enrol", json={"code": code})
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["Retry-After"]) <= 600
    assert "too many wrong codes lately" in refused.json()["detail"]
    assert unclaimed(database, "hub-guess-1") == 1  # the right code was not even looked at
    # Another address is not held up by the first one's mistakes...
    assert claim(b, "WRNG-3333") == 403
    assert claim(b, code) == 200
    # ...until all of them together have guessed too often.
    code = enrolment.issue_claim_code(database, "hub-guess-1", actor="tech1")
    assert claim(b, "WRNG-4444") == 403  # the fifth wrong code overall
    assert lockouts(database)[-1][0] == "*"
    assert "from all addresses" in lockouts(database)[-1][1]
    assert claim(c, code) == 429
    assert unclaimed(database, "hub-guess-1") == 1
    assert len(lockouts(database)) == 2  # refusals while locked out are not each audited


def test_the_window_slides() -> None:
    limiter = GuessLimiter(GuessSettings(per_address=2, overall=100, window_s=60))
    assert limiter.wrong("a", T0) == []
    [started] = limiter.wrong("a", T0 + timedelta(seconds=10))
    assert (started.scope, started.wrong, started.retry_after_s) == (
        "a",
        2,
        50,
    )  # until the first is 60 s old
    assert limiter.wait("a", T0 + timedelta(seconds=30)) == 30
    assert limiter.wait("b", T0 + timedelta(seconds=30)) == 0
    assert limiter.wait("a", T0 + timedelta(seconds=60)) == 0
    assert limiter.wrong("a", T0 + timedelta(seconds=65)) != []  # two again within a minute
    assert limiter.wait("a", T0 + timedelta(seconds=69)) == 1
    assert limiter.wait("a", T0 + timedelta(seconds=70)) == 0


def test_a_code_of_a_revoked_hub_is_refused_by_name(
    app: FastAPI, database: Database, broker: LocalMosquitto
) -> None:
    hub_lifecycle.add(database, broker.server_endpoint(), "hub-guess-2", actor="tech1")
    code = enrolment.issue_claim_code(database, "hub-guess-2", actor="tech1")
    hub_lifecycle.revoke(database, broker.server_endpoint(), "hub-guess-2", actor="tech1", reason="stolen")
    refused = TestClient(app).post("/api/v1/enrol", json={"code": code})
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("hub hub-guess-2 was revoked; its codes no longer work")
