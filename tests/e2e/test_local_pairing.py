"""A hub whose devices a technician paired at the hub gets its patient's spoken-feedback
preferences from the server over the real broker without losing them; the first device paired
on the server then makes the server's list the hub's whole list, and ``hub pair`` at the hub
says so from then on (real simulated hub: MQTT session, configuration applier, allowlist file;
the real ``carewatch hub pair`` command on the hub's state directory)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carewatch.console import app as carewatch
from common.mqtt import BrokerEndpoint
from common.wire.feedback_prefs import PatientFeedback
from common.wire.topics import Channel, topic
from devstack.mosquitto import LocalMosquitto
from gateway.simulator import SimulatedHub
from server.api.auth import Role, create_user
from server.app import create_app
from server.hub_config import deliver, pair, set_telemetry_interval
from server.mqtt_publish import publish_retained
from server.settings import MqttSettings, ServerSettings
from tests.fixtures.server import Stack, wait_for

HUB = "hub-lp-1"
PATIENT = "p-lp-1"
OXIMETER = "00:1C:05:00:00:01"  # paired at the hub
SCALE = "00:09:1F:8A:12:35"  # paired at the hub later
CUFF = "00:09:1F:8A:12:34"  # paired on the server
WELSH_NO_VALUES = {"speak": ["confirmed", "reminder"], "speak_values": False, "language": "cy"}


def _allowlisted(hub: SimulatedHub) -> list[str]:
    hub.allowlist.refresh()
    return sorted(d.address for d in hub.allowlist.devices())


def _pair_at_the_hub(state_dir: Path, address: str) -> str:
    """``carewatch hub pair`` as a technician runs it on the hub (no radio: --force)."""
    config = state_dir / "hub.toml"
    config.write_text(
        f'hub_id = "{HUB}"\nstate_dir = "{state_dir}"\n'
        f'[broker]\nca_file = "{state_dir / "ca.crt"}"\npassword_file = "{state_dir / "pw"}"\n'
    )
    done = CliRunner().invoke(
        carewatch, ["hub", "pair", address, "-c", str(config), "--seconds", "0", "--force"]
    )
    assert done.exit_code == 0, done.output
    return done.output


def test_preferences_reach_a_hub_paired_at_the_hub_and_the_first_server_pairing_takes_over(
    stack: Stack, broker: LocalMosquitto, server_endpoint: BrokerEndpoint
) -> None:
    tech = create_user(stack.db, "tech-lp-1", Role.TECHNICIAN)
    hub = stack.patient_with_hub(PATIENT, HUB)
    # The assignment's configuration (version 1, no device list) arrives first, as on a real
    # hub the technician sets up after the hub is given to its patient.
    wait_for(lambda: hub.remote.version == 1, what="the hub applying the assignment's version 1")
    state_dir = stack.state_dir / "hubs" / HUB
    assert "managed by the server" not in _pair_at_the_hub(state_dir, OXIMETER)
    assert _allowlisted(hub) == [OXIMETER]

    settings = ServerSettings(
        database_url=stack.db.url,
        influx=stack.influx.config,
        mqtt=MqttSettings(
            port=broker.port, ca_file=broker.ca_cert, password_file=broker.server_password_file
        ),
    )
    try:
        with TestClient(create_app(settings, stack.db, stack.influx)) as api:
            r = api.put(
                f"/api/v1/patients/{PATIENT}/feedback",
                json={"preferences": WELSH_NO_VALUES},
                headers=stack.auth(),
            )
        assert r.status_code == 200, r.text
        # Version 1 was made when the hub was given to the patient; the preferences are version 2.
        assert (r.json()["delivery"], r.json()["hub_config_version"]) == ("delivered", 2)
        prefs = PatientFeedback.model_validate(WELSH_NO_VALUES)
        wait_for(lambda: hub.remote.version == 2, what="the hub applying configuration version 2")
        assert hub.remote.patient_feedback == prefs
        assert hub.remote.patient_feedback.speak_values is False and prefs.language == "cy"
        assert _allowlisted(hub) == [OXIMETER]  # the device paired at the hub is still its own
        assert (hub.remote.devices_from_server, hub.remote.error) == (False, None)
        assert stack.hub_seen_by(tech, HUB)["devices_managed"] is False

        # Pairing at the hub keeps working, with no "the server's list wins" warning.
        assert "managed by the server" not in _pair_at_the_hub(state_dir, SCALE)
        assert _allowlisted(hub) == sorted([OXIMETER, SCALE])
        # The telemetry interval set on the server goes the same way: the devices stay.
        assert set_telemetry_interval(stack.db, HUB, 60, actor="tech-lp-1").paired_devices is None
        deliver(stack.db, server_endpoint, HUB)
        # The interval is applied before the version is recorded: wait for both.
        wait_for(
            lambda: hub.telemetry.interval_s == 60 and hub.remote.version == 3,
            what="the new telemetry interval at version 3",
        )
        assert _allowlisted(hub) == sorted([OXIMETER, SCALE])

        # A technician pairs a device on the server: its list is the hub's whole list from now on.
        sent = pair(stack.db, HUB, CUFF, model_id="and-ua-651ble", actor="tech-lp-1")
        assert sent.version == 4 and sent.patient_feedback == prefs
        deliver(stack.db, server_endpoint, HUB)
        wait_for(
            lambda: _allowlisted(hub) == [CUFF] and hub.remote.version == 4,
            what="the server's list replacing the hub's at version 4",
        )
        assert hub.remote.devices_from_server is True and hub.remote.patient_feedback == prefs
        assert stack.hub_seen_by(tech, HUB)["devices_managed"] is True
        note = _pair_at_the_hub(state_dir, OXIMETER)
        assert "managed by the server (configuration version 4)" in note
        assert f"carewatch server hub pair {HUB} {OXIMETER}" in note
    finally:
        publish_retained(server_endpoint, topic(HUB, Channel.CONFIG), b"")  # leave none behind
