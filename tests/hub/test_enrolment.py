"""Enrolling a hub from a bundle file or a claim code, against the real broker (dynamic
security) and the real API over HTTP: the files it writes, the broker check, a reading that
reaches the broker, and the refusals a technician may meet (expired, damaged, used)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewatch.console import app as carewatch
from common.mqtt import BrokerEndpoint
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.config import load_hub_config
from gateway.enrolment.bundle import BundleError, BundleExpired, EnrolmentBundle, read_bundle
from gateway.simulator import SimulatedHub
from server import hub_enrolment as enrolment
from server import hub_lifecycle
from server.app import create_app
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from tests.fixtures.broker import Listener
from tests.fixtures.browser import served

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def a_bundle(**changes: object) -> EnrolmentBundle:
    fields: dict[str, object] = dict(
        hub_id="hub-0042",
        broker_host="mqtt.example.nhs.uk",
        broker_port=8883,
        ca_pem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        password="x" * 32,
        issued_at=NOW,
        expires_at=NOW + timedelta(days=7),
    )
    return EnrolmentBundle.model_validate({**fields, **changes})


def test_a_bundle_reads_back_and_a_damaged_or_expired_one_is_refused_in_plain_words() -> None:
    text = a_bundle().to_json()
    assert read_bundle(text, NOW) == a_bundle()
    edited = json.loads(text)
    edited["broker_port"] = 1883
    with pytest.raises(BundleError, match="checksum does not match: it was damaged or edited"):
        read_bundle(json.dumps(edited), NOW)
    with pytest.raises(BundleError, match="incomplete or damaged"):
        read_bundle(json.dumps({k: v for k, v in json.loads(text).items() if k != "password"}), NOW)
    with pytest.raises(BundleError, match="not an enrolment bundle"):
        read_bundle("hub_id = 'hub-0042'", NOW)
    with pytest.raises(BundleExpired, match=r"expired at 2026-12-10 12:00 UTC; ask for a new one"):
        read_bundle(text, NOW + timedelta(days=7))


def test_claim_codes_have_no_look_alikes_and_are_stored_hashed(database: Database) -> None:
    from server.provisioning import add_hub
    from server.store.models import HubClaimCode

    add_hub(database, "hub-code-1", actor="test")
    code = enrolment.issue_claim_code(database, "hub-code-1", actor="tech1")
    assert len(code) == 8 and not set(code) & set("01OIL")
    with database.session() as s:
        [row] = s.query(HubClaimCode).all()
        assert code not in row.code_hash and len(row.code_hash) == 64


@pytest.fixture
def mqtt_settings(broker: LocalMosquitto) -> MqttSettings:
    return MqttSettings(
        host="localhost",
        port=broker.port,
        ca_file=broker.ca_cert,
        password_file=broker.server_password_file,
    )


def enrol(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(carewatch, ["hub", "enrol", *args])
    return result.exit_code, result.output


def test_enrolled_from_a_bundle_file_the_hub_reaches_the_broker_and_publishes(
    database: Database,
    mqtt_settings: MqttSettings,
    tmp_path: Path,
    listen: Callable[[str], Listener],
) -> None:
    hub_lifecycle.add(database, mqtt_settings.endpoint(), "hub-enrol-1", actor="tech1")
    bundle = enrolment.issue_bundle(database, mqtt_settings, "hub-enrol-1", actor="tech1")
    bundle_file = tmp_path / "hub-bundle.json"
    bundle_file.write_text(bundle.to_json())
    etc, state = tmp_path / "etc", tmp_path / "state"
    code, out = enrol(str(bundle_file), "--config-dir", str(etc), "--state-dir", str(state))
    assert code == 0, out
    assert "the broker accepts this hub" in out
    for name in ("hub.toml", "mqtt-password", "ca.crt"):
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o600, name
        assert f"wrote {etc / name} (mode 0600)" in out
    cfg = load_hub_config(etc / "hub.toml")
    assert (cfg.hub_id, cfg.broker.port, cfg.state_dir) == ("hub-enrol-1", mqtt_settings.port, state)
    heard = listen(topic("hub-enrol-1", Channel.READINGS))
    hub = SimulatedHub(
        cfg.hub_id,
        BrokerEndpoint(cfg.broker.host, cfg.broker.port, cfg.broker.ca_file, cfg.hub_id, cfg.password()),
        state,
    )
    hub.start()
    try:
        assert hub.session.wait_connected(10), hub.session.last_connect_error
        reading = hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 128.0, Measure.DIASTOLIC: 80.0})
        assert str(reading.reading_id) in heard.get()[1].decode()
    finally:
        hub.stop()
    # Enrolling again (a new bundle after a rotation) keeps the technician's hub.toml.
    (etc / "hub.toml").write_text('timezone = "Europe/London"\n' + (etc / "hub.toml").read_text())
    newer = enrolment.issue_bundle(database, mqtt_settings, "hub-enrol-1", actor="tech1")
    bundle_file.write_text(newer.to_json())
    code, out = enrol(str(bundle_file), "--config-dir", str(etc), "--state-dir", str(state))
    assert code == 0, out
    assert f"kept  {etc / 'hub.toml'}" in out
    assert load_hub_config(etc / "hub.toml").timezone == "Europe/London"
    # A bundle for another hub does not silently turn this one into it.
    hub_lifecycle.add(database, mqtt_settings.endpoint(), "hub-enrol-2", actor="tech1")
    other = tmp_path / "other.json"
    other.write_text(enrolment.issue_bundle(database, mqtt_settings, "hub-enrol-2", actor="tech1").to_json())
    code, out = enrol(str(other), "--config-dir", str(etc), "--state-dir", str(state))
    assert code == 2
    assert "is for hub hub-enrol-1" in out and "nothing was changed" in out


def test_an_expired_bundle_writes_nothing(
    database: Database, mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    old = a_bundle(issued_at=NOW - timedelta(days=9), expires_at=NOW - timedelta(days=2))
    (tmp_path / "old.json").write_text(old.to_json())
    code, out = enrol(str(tmp_path / "old.json"), "--config-dir", str(tmp_path / "etc"))
    assert code == 2
    assert "this bundle for hub-0042 expired at" in out and "ask for a new one" in out
    assert not (tmp_path / "etc").exists()


@pytest.fixture
def api_url(database: Database, influx_store: InfluxStore, mqtt_settings: MqttSettings) -> Iterator[str]:
    settings = ServerSettings(database_url=database.url, influx=influx_store.config, mqtt=mqtt_settings)
    with served(create_app(settings, database, influx_store)) as url:
        yield url


def test_a_claim_code_fetches_the_bundle_once_over_the_api(
    database: Database, mqtt_settings: MqttSettings, api_url: str, tmp_path: Path
) -> None:
    hub_lifecycle.add(database, mqtt_settings.endpoint(), "hub-claim-1", actor="tech1")
    code = enrolment.issue_claim_code(database, "hub-claim-1", actor="tech1")
    typed = enrolment.display_code(code).lower()  # as a person types it
    etc = tmp_path / "etc"
    result, out = enrol(typed, "--server", api_url, "--config-dir", str(etc), "--state-dir", str(tmp_path))
    assert result == 0, out
    assert "hub hub-claim-1 enrolled" in out and "the broker accepts this hub" in out
    again, out = enrol(typed, "--server", api_url, "--config-dir", str(tmp_path / "etc2"))
    assert again == 2
    assert "the server refused the code: this code has already been used; ask for a new one" in out
    assert not (tmp_path / "etc2").exists()
    expired = enrolment.issue_claim_code(database, "hub-claim-1", actor="tech1", life=timedelta(minutes=1))
    from server.store.models import HubClaimCode

    with database.session() as s:
        for row in s.query(HubClaimCode).filter(HubClaimCode.claimed_at.is_(None)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    late, out = enrol(expired, "--server", api_url, "--config-dir", str(tmp_path / "etc3"))
    assert late == 2 and "this code expired at" in out
    # Never over plain HTTP to another machine: the bundle carries a password.
    plain, out = enrol(
        "ABCD2345", "--server", "http://hubs.example.nhs.uk", "--config-dir", str(tmp_path / "e4")
    )
    assert plain == 2 and "must start with https://" in out
