"""The holes an adversarial review found in hub provisioning, each attacked on the real
Mosquitto (dynamic security) and a real database: a claim code that outlives its hub's
revocation, a revocation lifted by the way, a bundle that never expires at the broker, a hub
helper turned on the server's own identities, and a rotation or an addition left half done.

Failures are injected for real: a database trigger that refuses one row (as a constraint
would), a broker that refuses the administrator; nothing here mocks an outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from common.mqtt import BrokerEndpoint
from devstack.mosquitto import LocalMosquitto
from gateway.enrolment.bundle import EnrolmentBundle
from server import hub_enrolment as enrolment
from server import hub_lifecycle
from server.broker.admin import BrokerAdminError, IdentityRefused
from server.broker.identities import INGEST_ROLE, hub_identity
from server.settings import EscalationSettings, MqttSettings
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubClaimCode, now
from server.tick import Ticker
from tests.broker.test_identities import close, connect


def hub_id() -> str:
    return f"hub-ps-{uuid.uuid4().hex[:6]}"


def may_connect(broker: LocalMosquitto, username: str, password: str) -> bool:
    client, rc = connect(broker.endpoint(username, password), username)
    close(client)
    return not rc.is_failure


def trail(db: Database, target: str) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id))
        return [(e.action, e.actor, e.detail) for e in rows]


def bundle(
    db: Database, broker: LocalMosquitto, ep: BrokerEndpoint, hid: str, **kw: object
) -> EnrolmentBundle:
    life = kw.get("life", timedelta(days=7))
    assert isinstance(life, timedelta)
    return enrolment.make_bundle(
        db,
        ep,
        hid,
        actor="tech1",
        broker_host="localhost",
        broker_port=broker.port,
        ca_file=broker.ca_cert,
        life=life,
    )


def claim(db: Database, broker: LocalMosquitto, ep: BrokerEndpoint, code: str) -> EnrolmentBundle:
    return enrolment.claim(
        db, lambda: ep, code, broker_host="localhost", broker_port=broker.port, ca_file=broker.ca_cert
    )


@pytest.fixture
def refuse_audit(database: Database) -> Iterator[list[str]]:
    """Audit actions named in the list are refused by the database itself (a trigger), as a
    constraint or a full disk would refuse them, at whichever moment the code writes them."""
    refused: list[str] = []

    def install(action: str) -> None:
        with database.engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse_{action} BEFORE INSERT ON audit_events WHEN NEW.action = '{action}' "
                "BEGIN SELECT RAISE(ABORT, 'injected: the database refuses this record'); END"
            )

    class Refusals(list[str]):
        def append(self, action: str) -> None:
            install(action)
            super().append(action)

    yield (refused := Refusals())
    with database.engine.begin() as conn:
        for action in refused:
            conn.exec_driver_sql(f"DROP TRIGGER refuse_{action}")


# -- 1. revoking expires every open claim code and bundle ----------------------------------------


def test_a_claim_code_issued_before_a_revocation_no_longer_lets_the_hub_in(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database
) -> None:
    hid = hub_id()
    hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    unused_bundle = bundle(database, broker, server_endpoint, hid)
    code = enrolment.issue_claim_code(database, hid, actor="tech1")  # on a note left at the patient's
    hub_lifecycle.revoke(database, server_endpoint, hid, actor="tech1", reason="stolen")
    with database.session() as s:
        [row] = s.scalars(
            select(HubClaimCode).where(HubClaimCode.hub_id == hid, HubClaimCode.claimed_at.is_(None))
        )
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is not None
        assert row.expires_at <= hub.revoked_at
        assert hub.bundle_expires_at is not None and hub.bundle_expires_at <= hub.revoked_at
    with pytest.raises(hub_lifecycle.HubRevoked, match=f"hub {hid} was revoked"):
        claim(database, broker, server_endpoint, code)
    # Still shut out: neither the code nor the bundle re-keyed or re-enabled it.
    assert not may_connect(broker, hid, unused_bundle.password)
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is not None
    actions = trail(database, hid)
    assert ("hub_claim_refused", "enrol", "hub revoked") in actions
    expired = [d for a, _, d in actions if a == "hub_enrolment_expired"]
    assert len(expired) == 1 and expired[0].startswith(
        "1 unused claim code(s) and the enrolment bundle issued"
    )
    assert [a for a, _, _ in actions].count("hub_credentials_rotated") == 1  # the bundle's only


# -- 2. only reinstating, with a reason, lets a revoked hub back in ------------------------------


def test_a_revoked_hub_comes_back_only_when_reinstated_with_a_reason_and_a_new_password(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database
) -> None:
    hid = hub_id()
    first = hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    assert may_connect(broker, hid, first.password)
    hub_lifecycle.revoke(database, server_endpoint, hid, actor="tech1", reason="lost")
    with pytest.raises(hub_lifecycle.HubRevoked, match="reinstate it with a reason"):
        hub_lifecycle.rotate(database, server_endpoint, hid, actor="tech1")
    with pytest.raises(hub_lifecycle.HubRevoked):
        enrolment.issue_claim_code(database, hid, actor="tech1")
    with pytest.raises(hub_lifecycle.HubRevoked):
        bundle(database, broker, server_endpoint, hid)
    with pytest.raises(hub_lifecycle.LifecycleError, match="a reason"):
        hub_lifecycle.reinstate(database, server_endpoint, hid, actor="tech2", reason="  ")
    assert not may_connect(broker, hid, first.password)
    back = hub_lifecycle.reinstate(database, server_endpoint, hid, actor="tech2", reason="found in the loft")
    assert back.password != first.password
    assert may_connect(broker, hid, back.password)
    assert not may_connect(broker, hid, first.password)  # whoever has the lost card stays out
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is None
    [(actor, detail)] = [(a, d) for act, a, d in trail(database, hid) if act == "hub_reinstated"]
    assert actor == "tech2" and detail.startswith("found in the loft (revoked ")
    with pytest.raises(hub_lifecycle.LifecycleError, match="is not revoked"):
        hub_lifecycle.reinstate(database, server_endpoint, hid, actor="tech2", reason="again")


# -- 3. a bundle never used expires at the broker too --------------------------------------------


def test_a_bundle_that_expires_unused_shuts_the_hub_out_until_a_new_one(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database
) -> None:
    unused, used = hub_id(), hub_id()
    for hid in (unused, used):
        hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    lost = bundle(database, broker, server_endpoint, unused, life=timedelta(hours=1))
    taken = bundle(database, broker, server_endpoint, used, life=timedelta(hours=1))
    with database.session() as s:
        hub = s.get(Hub, unused)
        assert hub is not None and (hub.bundle_issued_at, hub.bundle_expires_at) == (
            lost.issued_at,
            lost.expires_at,
        )
        other = s.get(Hub, used)
        assert other is not None
        # The ingest recorded the second hub's presence after it enrolled.
        other.status, other.status_at = "online", taken.issued_at + timedelta(minutes=5)
    ticker = Ticker(database, EscalationSettings(), None, broker=lambda: server_endpoint)
    early = ticker.tick(lost.expires_at - timedelta(seconds=1))
    assert early.bundles_lapsed == 0 and not early.step_errors
    assert may_connect(broker, unused, lost.password)
    late = ticker.tick(lost.expires_at + timedelta(seconds=1))
    assert late.bundles_lapsed == 1 and not late.step_errors, late
    assert not may_connect(broker, unused, lost.password)
    assert may_connect(broker, used, taken.password)  # it connected: its bundle was used
    assert ticker.tick(lost.expires_at + timedelta(minutes=1)).bundles_lapsed == 0  # once
    with database.session() as s:
        hub = s.get(Hub, unused)
        assert hub is not None and hub.bundle_lapsed_at == lost.expires_at + timedelta(seconds=1)
        assert hub.revoked_at is None
        other = s.get(Hub, used)
        assert other is not None and other.bundle_lapsed_at is None and other.bundle_expires_at is None
    [(actor, detail)] = [(a, d) for act, a, d in trail(database, unused) if act == "hub_bundle_lapsed"]
    assert actor == "ticker" and "expired" in detail and "before the hub connected" in detail
    # A new bundle lets it in again.
    again = bundle(database, broker, server_endpoint, unused)
    assert may_connect(broker, unused, again.password)
    with database.session() as s:
        hub = s.get(Hub, unused)
        assert hub is not None and hub.bundle_lapsed_at is None


# -- 4. hub helpers never touch the server's own identities --------------------------------------


def test_hub_helpers_refuse_the_servers_own_identities_and_a_colliding_name(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database
) -> None:
    ingest = broker.add_ingest(f"carewatch-ingest-{uuid.uuid4().hex[:6]}")
    # An identity with the ingest's role under a name a hub could have (as a hand-made or older
    # deployment might hold): the broker's own record of its roles gives it away.
    twin = f"ingest-{uuid.uuid4().hex[:6]}"
    twin_password = "twin-" + uuid.uuid4().hex
    with broker.admin() as admin:
        admin.run(
            {
                "command": "createClient",
                "username": twin,
                "password": twin_password,
                "roles": [{"rolename": INGEST_ROLE}],
            }
        )
    with broker.admin() as admin:
        for name in (server_endpoint.username, "carewatch-ingest", ingest.username, twin):
            attempts: list[Callable[[str], None]] = [
                admin.disable,
                admin.enable,
                admin.remove_hub,
                lambda n: admin.add_hub(n, "stolen-password-123456"),
                lambda n: admin.rotate_hub(n, "stolen-password-123456"),
            ]
            for attempt in attempts:
                with pytest.raises(IdentityRefused):
                    attempt(name)
        with pytest.raises(IdentityRefused, match="not one of the server's own identities"):
            admin.ensure_client(hub_identity("hub-ps-service"), "x" * 20)
    # Through the lifecycle too: nothing registered, nothing changed at the broker.
    with pytest.raises(IdentityRefused, match="ingest"):
        hub_lifecycle.add(database, server_endpoint, twin, actor="tech1")
    with database.session() as s:
        assert s.get(Hub, twin) is None
    assert may_connect(broker, ingest.username, ingest.password)
    assert may_connect(broker, twin, twin_password)
    with broker.admin():
        pass  # the control identity still administers the broker
    with broker.admin() as admin:
        admin.run({"command": "deleteClient", "username": twin})


def test_the_settings_keep_the_servers_users_out_of_the_hubs_namespace() -> None:
    for bad in ({"username": "hub-0042"}, {"ingest_username": "ingest"}, {"ingest_username": "carewatch-"}):
        with pytest.raises(ValidationError, match="must start with 'carewatch-'"):
            MqttSettings.model_validate(bad)
    with pytest.raises(ValidationError, match="need their own broker users"):
        MqttSettings(username="carewatch-x", ingest_username="carewatch-x")
    from server.cli import app

    result = CliRunner().invoke(app, ["hub", "list"], env={"CAREWATCH_MQTT__INGEST_USERNAME": "hub-0042"})
    assert result.exit_code == 2
    assert "settings (CAREWATCH_* variables) are wrong" in result.output
    assert "mqtt.ingest_username" in result.output and "must start with 'carewatch-'" in result.output


# -- 5. rotate and add: all of it or nothing -----------------------------------------------------


def test_a_rotation_whose_record_is_refused_leaves_the_old_password_working(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database, refuse_audit: list[str]
) -> None:
    hid = hub_id()
    first = hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    code = enrolment.issue_claim_code(database, hid, actor="tech1")
    refuse_audit.append("hub_bundle_issued")
    with pytest.raises(IntegrityError, match="injected"):
        bundle(database, broker, server_endpoint, hid)
    assert may_connect(broker, hid, first.password)
    with pytest.raises(IntegrityError, match="injected"):
        claim(database, broker, server_endpoint, code)
    assert may_connect(broker, hid, first.password)
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.bundle_issued_at is None
        [row] = s.scalars(select(HubClaimCode).where(HubClaimCode.hub_id == hid))
        assert row.claimed_at is None  # the code still works once the records can be written
    assert "hub_credentials_rotated" not in [a for a, _, _ in trail(database, hid)]


def test_a_rotation_the_broker_refuses_puts_the_records_back(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database
) -> None:
    hid = hub_id()
    first = hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    impostor = BrokerEndpoint(
        "localhost", broker.port, broker.ca_cert, server_endpoint.username, "not-the-password"
    )
    with pytest.raises(BrokerAdminError, match="did not accept"):
        bundle(database, broker, impostor, hid)
    assert may_connect(broker, hid, first.password)
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and (hub.bundle_issued_at, hub.bundle_expires_at) == (None, None)
    failed = [d for a, _, d in trail(database, hid) if a == "hub_credentials_rotation_failed"]
    assert len(failed) == 1 and "the old password still works" in failed[0]


def test_an_addition_whose_record_is_refused_leaves_no_broker_client(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database, refuse_audit: list[str]
) -> None:
    hid = hub_id()
    refuse_audit.append("hub_credentials_issued")  # written after the broker let the hub in
    with pytest.raises(IntegrityError, match="injected"):
        hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    with broker.admin() as admin:
        client, role = admin.run(
            {"command": "getClient", "username": hid},
            {"command": "getRole", "rolename": f"hub:{hid}"},
            tolerate=("Client not found", "Role not found"),
        )
    assert (client.get("error"), role.get("error")) == ("Client not found", "Role not found")
    with database.session() as s:
        assert s.get(Hub, hid) is None


def test_a_reinstatement_whose_record_is_refused_leaves_the_hub_shut_out(
    broker: LocalMosquitto, server_endpoint: BrokerEndpoint, database: Database, refuse_audit: list[str]
) -> None:
    """The broker changes before the commit; a commit that fails disables the hub again."""
    hid = hub_id()
    hub_lifecycle.add(database, server_endpoint, hid, actor="tech1")
    hub_lifecycle.revoke(database, server_endpoint, hid, actor="tech1", reason="lost")
    refuse_audit.append("hub_credentials_issued")  # written after the broker let it in again
    with pytest.raises(IntegrityError, match="injected"):
        hub_lifecycle.reinstate(database, server_endpoint, hid, actor="tech1", reason="found")
    with broker.admin() as admin:
        [answer] = admin.run({"command": "getClient", "username": hid})
    assert answer["data"]["client"].get("disabled") is True
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is not None
    assert now() > hub.revoked_at
