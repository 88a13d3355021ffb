"""A hub's identity through its life on the real Mosquitto with dynamic security: revoked,
re-keyed and replaced while the broker runs, the records and the broker changing together.

Each test checks the broker was never restarted nor reloaded: the same process throughout,
and no "Reloading config" in its log (what a SIGHUP makes Mosquitto write).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from common.mqtt import BrokerEndpoint
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.mqtt.session import MqttSession
from gateway.simulator import SimulatedHub
from server import hub_lifecycle
from server.broker.admin import BrokerAdminError
from server.provisioning import ProvisioningError, add_patient
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubAssignment
from tests.broker.test_identities import close, connect
from tests.fixtures.server import Stack, wait_for

BP = {Measure.SYSTOLIC: 150.0, Measure.DIASTOLIC: 90.0}


@pytest.fixture
def never_reloaded(broker: LocalMosquitto) -> Iterator[None]:
    assert broker.service.proc is not None
    pid = broker.service.proc.pid
    log_at = broker.service.log_path.stat().st_size
    yield
    assert broker.service.proc.pid == pid and broker.service.proc.poll() is None, "the broker restarted"
    with broker.service.log_path.open("rb") as f:
        f.seek(log_at)
        assert b"Reloading config" not in f.read(), "the broker was reloaded (SIGHUP)"


def hub_id() -> str:
    return f"hub-lc-{uuid.uuid4().hex[:6]}"


def endpoint_for(broker: LocalMosquitto, issued: hub_lifecycle.Issued) -> BrokerEndpoint:
    return broker.endpoint(issued.hub_id, issued.password)


def actions(db: Database, target: str) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.target == target).order_by(AuditEvent.id))
        )


def test_revoke_drops_the_live_hub_within_two_seconds_and_keeps_it_out(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database, never_reloaded: None
) -> None:
    hid = hub_id()
    issued = hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    session = MqttSession(endpoint_for(broker, issued))
    session.start()
    try:
        assert session.wait_connected(10), session.last_connect_error
        hub_lifecycle.revoke(database, server_endpoint, hid, actor="tech1", reason="stolen")
        wait_for(lambda: not session.connected.is_set(), 2.0, "the revoked hub to be disconnected")
        time.sleep(1.5)  # paho reconnects by itself: the broker keeps refusing it
        assert not session.connected.is_set()
        assert session.last_connect_error == "Not authorized"
    finally:
        session.stop()
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is not None
    assert actions(database, hid) == ["hub_added", "hub_credentials_issued", "hub_revoked"]


def test_rotate_drops_the_old_session_and_only_the_new_password_gets_back_in(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database, never_reloaded: None
) -> None:
    hid = hub_id()
    old = endpoint_for(broker, hub_lifecycle.add(database, server_endpoint, hid, actor="tech1"))
    session = MqttSession(old)
    session.start()
    try:
        assert session.wait_connected(10), session.last_connect_error
        new = endpoint_for(broker, hub_lifecycle.rotate(database, server_endpoint, hid, actor="tech1"))
        wait_for(
            lambda: not session.connected.is_set(), 2.0, "the session opened with the old password to drop"
        )
        time.sleep(1.5)
        assert not session.connected.is_set() and session.last_connect_error == "Not authorized"
    finally:
        session.stop()
    client, rc = connect(new, hid)
    close(client)
    assert not rc.is_failure
    client, rc = connect(old, hid)
    close(client)
    assert str(rc) == "Not authorized"
    assert actions(database, hid)[-1] == "hub_credentials_rotated"


def test_a_refused_step_leaves_nothing_half_registered(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database, tmp_path: Path
) -> None:
    # A patient who does not exist: refused before the broker is touched.
    hid = hub_id()
    with pytest.raises(ProvisioningError, match="no patient 'p-nobody'"):
        hub_lifecycle.add(database, server_endpoint, hid, actor="tech1", patient_id="p-nobody")
    with broker.admin() as admin:
        [answer] = admin.run({"command": "getClient", "username": hid}, tolerate=("Client not found",))
    assert answer["error"] == "Client not found"
    # A broker that cannot be reached: nothing recorded either.
    unreachable = BrokerEndpoint(
        "localhost", 1, broker.ca_cert, server_endpoint.username, server_endpoint.password
    )
    with pytest.raises(BrokerAdminError):
        hub_lifecycle.add(database, unreachable, hid, actor="tech1")
    with database.session() as s:
        assert s.get(Hub, hid) is None
        assert not list(s.scalars(select(AuditEvent).where(AuditEvent.target == hid)))
    # Revoking through an unreachable broker leaves the hub as it was, not marked revoked.
    hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    with pytest.raises(BrokerAdminError):
        hub_lifecycle.revoke(database, unreachable, hid, actor="tech1")
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is None


def test_replacing_the_hardware_keeps_the_patients_history_and_locks_the_old_hub_out(
    stack: Stack, server_endpoint: BrokerEndpoint, never_reloaded: None
) -> None:
    db = stack.db
    add_patient(db, "p-repl-1", "Test patient", actor="test")
    old_id, new_id = hub_id(), hub_id()
    issued = hub_lifecycle.add(db, server_endpoint, old_id, actor="tech1", patient_id="p-repl-1")
    from server.hub_config import pair

    pair(db, old_id, "00:09:1F:8A:12:34", model_id="and-ua-651ble", actor="tech1")
    old = SimulatedHub(old_id, endpoint_for(stack.broker, issued), stack.state_dir / "hubs")
    old.start()
    stack.hubs.append(old)
    before = old.send(ReadingKind.BLOOD_PRESSURE, BP)
    assert old.wait_delivered(20), "the old hub's reading was not confirmed"

    new_issued = hub_lifecycle.replace(db, server_endpoint, old_id, new_id, actor="tech1")
    wait_for(lambda: not old.session.connected.is_set(), 2.0, "the old hub to be disconnected")
    new = SimulatedHub(new_id, endpoint_for(stack.broker, new_issued), stack.state_dir / "hubs")
    new.start()
    stack.hubs.append(new)
    after = new.send(ReadingKind.BLOOD_PRESSURE, {**BP, Measure.SYSTOLIC: 135.0})
    assert new.wait_delivered(20), "the new hub's reading was not confirmed"

    stored = {r.reading_id: r for r in stack.influx.query_readings("p-repl-1")}
    assert set(stored) == {before.reading_id, after.reading_id}
    with db.session() as s:
        rows = list(s.scalars(select(HubAssignment).where(HubAssignment.patient_id == "p-repl-1")))
        by_hub = {a.hub_id: a for a in rows}
        assert by_hub[old_id].end_at == by_hub[new_id].start_at
        assert by_hub[new_id].end_at is None
        old_row, new_row = s.get(Hub, old_id), s.get(Hub, new_id)
        assert old_row is not None and new_row is not None
        assert (old_row.revoked_at, old_row.replaced_by) == (by_hub[new_id].start_at, new_id)
        assert [d["address"] for d in new_row.paired_devices or []] == ["00:09:1F:8A:12:34"]
    assert "hub_replaced" in actions(db, old_id)
    # The old hardware stays out, and cannot be let back in by a rotation by mistake.
    client, rc = connect(endpoint_for(stack.broker, issued), old_id)
    close(client)
    assert str(rc) == "Not authorized"
    with pytest.raises(ProvisioningError, match=f"replaced by '{new_id}'"):
        hub_lifecycle.rotate(db, server_endpoint, old_id, actor="tech1")
