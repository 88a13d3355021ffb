"""One cuff on two patients' hubs: pairing a device through the API (technicians), giving a
hub to a patient on the command line and the hub's page all name the other hub and its
patient, by the device's address or by its serial number; the warning is audited. On the
real broker (the configuration is delivered) and a real database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from devstack.mosquitto import LocalMosquitto
from server.api.auth import Role, create_user
from server.app import create_app
from server.device_sharing import sharing_hub
from server.provisioning import add_hub, add_patient
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import AuditEvent, Device, now
from tests.fixtures.browser import signed_in_client

CUFF = "00:09:1F:8A:12:34"


@pytest.fixture
def mqtt(broker: LocalMosquitto) -> MqttSettings:
    return MqttSettings(
        host="localhost", port=broker.port, ca_file=broker.ca_cert, password_file=broker.server_password_file
    )


@pytest.fixture
def app(database: Database, influx_store: InfluxStore, mqtt: MqttSettings) -> Iterator[TestClient]:
    settings = ServerSettings(database_url=database.url, influx=influx_store.config, mqtt=mqtt)
    with TestClient(create_app(settings, database, influx_store)) as client:
        yield client


def bearer(db: Database, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_user(db, f'{role}-{uuid.uuid4().hex[:6]}', role)}"}


def warnings(db: Database, hub_id: str) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.target == hub_id, AuditEvent.action == "device_shared_warning")
            .order_by(AuditEvent.id)
        )
        return [(e.actor, e.detail) for e in rows]


def two_patients(db: Database) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:5]
    for n in (1, 2):
        add_patient(db, f"p-ds-{tag}-{n}", "Test patient", actor="test")
        add_hub(db, f"hub-ds-{tag}-{n}", actor="test", patient_id=f"p-ds-{tag}-{n}")
    return f"hub-ds-{tag}-1", f"hub-ds-{tag}-2"


def test_pairing_through_the_api_warns_of_the_other_patients_hub(app: TestClient, database: Database) -> None:
    first, second = two_patients(database)
    tech = bearer(database, Role.TECHNICIAN)

    def pair(hub_id: str, address: str = CUFF.lower(), **kw: Any) -> Any:
        return app.post(
            f"/api/v1/hubs/{hub_id}/devices", json={"address": address, "model_id": "and-ua-651ble"}, **kw
        )

    assert pair(first, headers=bearer(database, Role.CLINICIAN)).status_code == 403
    assert pair(first).status_code == 401
    assert pair("hub-ds-nobody", headers=tech).status_code == 404
    assert pair(first, "not-an-address", headers=tech).status_code == 422
    alone = pair(first, headers=tech)
    assert alone.status_code == 200, alone.text
    assert alone.json() | {"config_version": 0} == {
        "hub_id": first,
        "address": CUFF,
        "config_version": 0,
        "delivered": True,
        "problem": None,
        "warning": None,
        "shared_with": [],
    }
    shared = pair(second, headers=tech)
    assert shared.status_code == 200, shared.text
    body = shared.json()
    patient = first.replace("hub-", "p-")
    assert body["shared_with"] == [{"hub_id": first, "patient_id": patient, "address": CUFF}]
    assert body["warning"].startswith(f"{CUFF} is also on hub {first} (patient {patient})")
    assert body["delivered"] is True  # warned, not refused: a household may share a scale
    [(actor, detail)] = warnings(database, second)
    assert actor.startswith("technician-") and f"pairing {CUFF} (API)" in detail and first in detail
    with database.session() as s:
        paired = s.scalars(
            select(AuditEvent).where(AuditEvent.target == second, AuditEvent.action == "device_paired")
        ).one()
        assert paired.actor == actor


def test_the_same_serial_under_another_address_and_the_hub_page(
    app: TestClient, database: Database, mqtt: MqttSettings
) -> None:
    """A device known to another hub by its serial number under another address (a new
    address after a battery change) is still the same device; the hub page names it."""
    first, second = two_patients(database)
    seen = now() - timedelta(hours=1)
    with database.session() as s:
        for hub_id, address in ((first, "00:09:1F:8A:00:01"), (second, "00:09:1F:8A:00:02")):
            s.add(
                Device(
                    hub_id=hub_id,
                    address=address,
                    model="and-ua-651ble",
                    serial="5170400123",
                    first_seen_at=seen,
                    last_seen_at=seen,
                )
            )
    [shared] = sharing_hub(database, second)["00:09:1F:8A:00:02"]
    assert (shared.other_hub, shared.other_address, shared.serial) == (
        first,
        "00:09:1F:8A:00:01",
        "5170400123",
    )
    token = create_user(database, f"tech-{uuid.uuid4().hex[:6]}", Role.TECHNICIAN)
    page = signed_in_client(app.app, token).get(f"/hubs/{second}")
    found = re.search(r'data-field="shared-devices">(.*?)</div>', page.text, re.S)
    assert found, page.text
    patient = first.replace("hub-", "p-")
    assert (
        f"00:09:1F:8A:00:02 is also on hub {first} (patient {patient}) as 00:09:1F:8A:00:01 "
        "(same serial number 5170400123)"
    ) in found.group(1)
    # A revoked hub is out of service: nothing to warn about.
    with database.session() as s:
        from server.store.models import Hub

        hub = s.get(Hub, first)
        assert hub is not None
        hub.revoked_at = now()
    assert sharing_hub(database, second) == {}
    assert 'data-field="shared-devices"' not in signed_in_client(app.app, token).get(f"/hubs/{second}").text


def test_the_command_line_warns_when_pairing_and_when_giving_a_hub_to_a_patient(
    database: Database, mqtt: MqttSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.cli import app as server_cli

    for name, value in {
        "CAREWATCH_DATABASE_URL": database.url,
        "CAREWATCH_MQTT__HOST": "localhost",
        "CAREWATCH_MQTT__PORT": str(mqtt.port),
        "CAREWATCH_MQTT__CA_FILE": str(mqtt.ca_file),
        "CAREWATCH_MQTT__PASSWORD_FILE": str(mqtt.password_file),
    }.items():
        monkeypatch.setenv(name, value)
    first, second = two_patients(database)
    run = CliRunner()
    alone = run.invoke(server_cli, ["hub", "pair", first, CUFF, "--model", "and-ua-651ble"])
    assert alone.exit_code == 0, alone.output
    assert "is also on hub" not in alone.output
    paired = run.invoke(server_cli, ["hub", "pair", second, CUFF.lower(), "--model", "and-ua-651ble"])
    assert paired.exit_code == 0, paired.output
    assert f"warning: {CUFF} is also on hub {first} (patient {first.replace('hub-', 'p-')})" in paired.output
    # A spare hub with that cuff, given to a third patient: warned of both.
    add_patient(database, "p-ds-third", "Test patient", actor="test")
    add_hub(database, "hub-ds-spare", actor="test")
    run.invoke(server_cli, ["hub", "pair", "hub-ds-spare", CUFF, "--model", "and-ua-651ble"])
    given = run.invoke(server_cli, ["hub", "assign", "hub-ds-spare", "p-ds-third"])
    assert given.exit_code == 0, given.output
    assert "hub hub-ds-spare serves patient p-ds-third" in given.output
    assert (
        f"{CUFF} is also on hub {first}" in given.output and f"{CUFF} is also on hub {second}" in given.output
    )
    [*_, (actor, detail)] = warnings(database, "hub-ds-spare")
    assert actor == "cli" and detail.startswith("giving the hub to p-ds-third: ")
