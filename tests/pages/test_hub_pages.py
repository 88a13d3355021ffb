"""The technicians' hub pages against the real broker: add a hub and get its claim code, revoke,
replace, each only after confirmation, from this site, audited in the technician's name; the
hub page shows paired devices beside heard ones and a backlog that is 0 once delivered."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from devstack.mosquitto import LocalMosquitto
from server import hub_enrolment as enrolment
from server.api.auth import Role, create_user
from server.app import create_app
from server.hub_config import pair
from server.provisioning import add_patient
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import AuditEvent, Hub, IngestedReading, now
from tests.fixtures.browser import signed_in_client

ORIGIN = {"Origin": "http://carewatch.test"}


@pytest.fixture
def mqtt(broker: LocalMosquitto) -> MqttSettings:
    return MqttSettings(
        host="localhost", port=broker.port, ca_file=broker.ca_cert, password_file=broker.server_password_file
    )


@pytest.fixture
def tech(database: Database, influx_store: InfluxStore, mqtt: MqttSettings) -> Iterator[TestClient]:
    settings = ServerSettings(database_url=database.url, influx=influx_store.config, mqtt=mqtt)
    token = create_user(database, "tech-hubs", Role.TECHNICIAN)
    with TestClient(create_app(settings, database, influx_store)) as api:
        yield signed_in_client(api.app, token)


def code_on(html: str) -> str:
    found = re.search(r"data-claim-code>([2-9A-Z]{4}-[2-9A-Z]{4})<", html)
    assert found, html
    return found.group(1)


def actors(db: Database, target: str) -> dict[str, str]:
    with db.session() as s:
        return {e.action: e.actor for e in s.scalars(select(AuditEvent).where(AuditEvent.target == target))}


def test_add_a_hub_then_enrol_it_with_the_code_the_page_shows(
    tech: TestClient, database: Database, mqtt: MqttSettings
) -> None:
    add_patient(database, "p-hp-1", "Test patient", actor="test")
    assert tech.get("/hubs/new").status_code == 200
    missing = tech.post("/hubs/new", data={"hub_id": "", "patient_id": "p-hp-1"}, headers=ORIGIN)
    assert missing.status_code == 422 and "Enter the hub id" in missing.text
    nobody = tech.post("/hubs/new", data={"hub_id": "hub-hp-1", "patient_id": "p-none"}, headers=ORIGIN)
    assert nobody.status_code == 422 and "No patient &#39;p-none&#39;" in nobody.text
    forged = tech.post("/hubs/new", data={"hub_id": "hub-hp-1"}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    with database.session() as s:
        assert s.get(Hub, "hub-hp-1") is None
    added = tech.post("/hubs/new", data={"hub_id": "HUB-hp-1 ", "patient_id": "p-hp-1"}, headers=ORIGIN)
    assert added.status_code == 200
    assert "Hub hub-hp-1 is registered and the broker accepts it." in added.text
    assert "<svg" in added.text and "carewatch hub enrol" in added.text
    bundle = enrolment.claim_with(database, mqtt, code_on(added.text))
    assert bundle.hub_id == "hub-hp-1"
    assert actors(database, "hub-hp-1")["hub_added"] == "tech-hubs"
    assert actors(database, "hub-hp-1")["hub_claim_code_issued"] == "tech-hubs"


def test_revoke_and_replace_need_confirmation_and_keep_the_patient(
    tech: TestClient, database: Database, mqtt: MqttSettings
) -> None:
    add_patient(database, "p-hp-2", "Test patient", actor="test")
    old, new = f"hub-hp-{uuid.uuid4().hex[:5]}", f"hub-hp-{uuid.uuid4().hex[:5]}"
    assert (
        tech.post("/hubs/new", data={"hub_id": old, "patient_id": "p-hp-2"}, headers=ORIGIN).status_code
        == 200
    )
    pair(database, old, "00:09:1F:8A:12:34", model_id="and-ua-651ble", actor="test")
    page = tech.get(f"/hubs/{old}/replace")
    assert page.status_code == 200 and "Replace the hub&#39;s hardware?" in page.text
    unconfirmed = tech.post(f"/hubs/{old}/replace", data={"new_hub_id": new}, headers=ORIGIN)
    assert unconfirmed.status_code == 422 and "Confirm: replace the hub" in unconfirmed.text
    with database.session() as s:
        assert s.get(Hub, new) is None
    replaced = tech.post(f"/hubs/{old}/replace", data={"new_hub_id": new, "confirm": "yes"}, headers=ORIGIN)
    assert replaced.status_code == 200, replaced.text
    assert f"{new} serves the patient from now; {old} is revoked." in replaced.text
    assert enrolment.claim_with(database, mqtt, code_on(replaced.text)).hub_id == new
    detail = tech.get(f"/hubs/{new}")
    assert "p-hp-2: " in detail.text and 'data-address="00:09:1F:8A:12:34"' in detail.text
    gone = tech.get(f"/hubs/{old}")
    assert f'replaced by <a class="nhsuk-link" href="/hubs/{new}">{new}</a>' in gone.text
    assert "cannot be let back in" in gone.text
    assert actors(database, old)["hub_replaced"] == "tech-hubs"
    # Revoking the new one: confirmed, audited, and the list says so.
    revoked = tech.post(
        f"/hubs/{new}/revoke",
        data={"confirm": "yes", "reason": "stolen"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == f"/hubs/{new}"
    assert "revoked: the broker refuses it" in tech.get(f"/hubs/{new}").text
    with database.session() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.target == new, AuditEvent.action == "hub_revoked")
        ).one()
        assert (event.actor, event.detail) == ("tech-hubs", "stolen")


def test_the_hub_page_shows_paired_beside_heard_and_a_backlog_of_zero_once_delivered(
    tech: TestClient, database: Database
) -> None:
    from server.provisioning import add_hub

    add_patient(database, "p-hp-3", "Test patient", actor="test")
    add_hub(database, "hub-hp-3", actor="test", patient_id="p-hp-3")
    pair(database, "hub-hp-3", "00:09:1F:8A:00:01", model_id="and-ua-651ble", actor="test")
    reported_at = now() - timedelta(minutes=10)
    with database.session() as s:
        hub = s.get(Hub, "hub-hp-3")
        assert hub is not None
        hub.status, hub.status_at = "offline", now()
        hub.telemetry_at = reported_at
        hub.telemetry = {
            "schema": "carewatch.telemetry.v1",
            "hub_id": "hub-hp-3",
            "at": reported_at.isoformat(),
            "software": "carewatch-hub 1.2.3",
            "uptime_s": 100,
            "outbox_depth": 3,
            "awaiting_receipt": 3,
            "quarantined": 0,
            "oldest_unsent_at": (reported_at - timedelta(hours=2)).isoformat(),
            "devices": [
                {
                    "address": "00:09:1F:8A:00:01",
                    "model": "and-ua-651ble",
                    "battery_percent": 15,
                    "readings": 3,
                }
            ],
        }
        from server.store.models import Device

        s.add(
            Device(
                hub_id="hub-hp-3",
                address="00:09:1F:8A:00:02",
                model="nonin-3230",
                firmware="2.1",
                first_seen_at=reported_at,
                last_seen_at=reported_at,
            )
        )
        # The three readings reach the server after the report; then the hub goes offline.
        for i in range(3):
            s.add(
                IngestedReading(
                    reading_id=str(uuid.uuid4()),
                    patient_id="p-hp-3",
                    hub_id="hub-hp-3",
                    kind="blood_pressure",
                    taken_at=reported_at - timedelta(hours=2, minutes=i),
                    ingested_at=reported_at + timedelta(minutes=1),
                    batch_id=str(uuid.uuid4()),
                )
            )
    listed = tech.get("/hubs")
    row = re.search(r'data-hub-id="hub-hp-3".*?</tr>', listed.text, re.S)
    assert row and "0 reading(s)" in row.group(0) and "3 reading(s)" not in row.group(0)
    assert "waiting on the hub for" not in row.group(0)
    page = tech.get("/hubs/hub-hp-3")
    waiting = re.search(r'data-field="waiting">(.*?)</dd>', page.text, re.S)
    assert (
        waiting
        and waiting.group(1).startswith("0 ")
        and "the server has received 3 of them since" in waiting.group(1)
    )
    assert "carewatch-hub 1.2.3" in page.text
    paired = re.search(r'data-address="00:09:1F:8A:00:01".*?</tr>', page.text, re.S)
    heard = re.search(r'data-address="00:09:1F:8A:00:02".*?</tr>', page.text, re.S)
    assert paired and heard
    assert re.findall(
        r'class="nhsuk-table__cell (?:paired|heard)"[^>]*><span[^>]*>[^<]*</span>(\w+)', paired.group(0)
    ) == ["yes", "not"]
    assert "15 %" in paired.group(0)
    assert re.findall(
        r'class="nhsuk-table__cell (?:paired|heard)"[^>]*><span[^>]*>[^<]*</span>(\w+)', heard.group(0)
    ) == ["no", "yes"]
    assert "2.1" in heard.group(0)


def test_the_hub_page_says_whose_device_list_the_hub_follows(tech: TestClient, database: Database) -> None:
    """Until a device is paired on the server the hub keeps its own list; the page says what
    pairing here would mean, and afterwards that the server's list wins."""
    from server.provisioning import add_hub

    add_hub(database, "hub-hp-9", actor="test")

    def device_list() -> str:
        found = re.search(r'data-field="device-list">(.*?)</dd>', tech.get("/hubs/hub-hp-9").text, re.S)
        assert found
        return found.group(1)

    assert device_list().startswith("the hub's own")
    assert "makes the server's list the hub's whole list" in device_list()
    row = re.search(r'data-hub-id="hub-hp-9".*?</tr>', tech.get("/hubs").text, re.S)
    assert row and "devices paired at the hub" in row.group(0)
    pair(database, "hub-hp-9", "00:09:1F:8A:00:09", model_id="and-ua-651ble", actor="test")
    assert device_list().startswith("the server's")
    assert "a device paired only at the hub stops being used" in device_list()
    row = re.search(r'data-hub-id="hub-hp-9".*?</tr>', tech.get("/hubs").text, re.S)
    assert row and "devices paired at the hub" not in row.group(0)


def test_the_hub_page_counts_the_packets_it_could_not_decode_and_shows_the_latest_error(
    tech: TestClient, database: Database, influx_store: InfluxStore
) -> None:
    from server.ingest.processor import IngestProcessor
    from server.provisioning import add_hub
    from tests.server.test_ingest_undecoded import batch, packet

    add_hub(database, "hub-hp-10", actor="test")

    def undecodable() -> str:
        found = re.search(r'data-field="undecodable">(.*?)</dd>', tech.get("/hubs/hub-hp-10").text, re.S)
        assert found
        return found.group(1)

    assert undecodable() == "none"
    proc = IngestProcessor(database, influx_store)
    proc.handle("carewatch/v1/hubs/hub-hp-10/readings", batch(packet(), hub_id="hub-hp-10"))
    proc.handle(
        "carewatch/v1/hubs/hub-hp-10/readings",
        batch(packet("02", "0x2A35: reserved unit flag"), hub_id="hub-hp-10"),
    )
    shown = undecodable()
    assert shown.startswith("2 kept as dead letters. Latest, #")
    assert "0x2A35: reserved unit flag; bytes 02" in shown
    assert "carewatch server dead-letters --show" in shown


def test_the_hub_page_says_each_devices_signal_in_words_and_the_firmware_it_reported(
    tech: TestClient, database: Database
) -> None:
    from server.provisioning import add_hub
    from server.store.models import Device

    add_patient(database, "p-hp-4", "Test patient", actor="test")
    add_hub(database, "hub-hp-4", actor="test", patient_id="p-hp-4")
    for n in range(1, 4):
        pair(database, "hub-hp-4", f"00:09:1F:8A:00:0{n}", model_id="and-ua-651ble", actor="test")
    reported_at = now() - timedelta(minutes=1)
    with database.session() as s:
        hub = s.get(Hub, "hub-hp-4")
        assert hub is not None
        hub.telemetry_at = reported_at
        hub.telemetry = {
            "schema": "carewatch.telemetry.v1",
            "hub_id": "hub-hp-4",
            "at": reported_at.isoformat(),
            "software": "carewatch-hub 1.2.3",
            "uptime_s": 100,
            "devices": [
                {"address": "00:09:1F:8A:00:01", "model": "and-ua-651ble", "readings": 0, "rssi_dbm": -88},
                {
                    "address": "00:09:1F:8A:00:02",
                    "model": "and-ua-651ble",
                    "readings": 2,
                    "rssi_dbm": -62,
                    "firmware": "4.0.1",
                },
            ],
        }
        # The server stored an older revision with the device's last reading: the hub's is newer.
        s.add(
            Device(
                hub_id="hub-hp-4",
                address="00:09:1F:8A:00:02",
                model="and-ua-651ble",
                firmware="3.9",
                first_seen_at=reported_at,
                last_seen_at=reported_at,
            )
        )
    page = tech.get("/hubs/hub-hp-4")
    assert page.status_code == 200

    def cells(address: str) -> dict[str, str]:
        row = re.search(rf'data-address="{address}".*?</tr>', page.text, re.S)
        assert row, page.text
        found = re.findall(
            r'<span class="nhsuk-table__heading"[^>]*>(\w+) </span>(.*?)</td>', row.group(0), re.S
        )
        return {heading: text for heading, text in found}

    weak, strong, silent = cells("00:09:1F:8A:00:01"), cells("00:09:1F:8A:00:02"), cells("00:09:1F:8A:00:03")
    assert (weak["Signal"], weak["Firmware"]) == ("weak (-88 dBm)", "–")
    assert (strong["Signal"], strong["Firmware"]) == ("strong (-62 dBm)", "4.0.1")
    assert silent["Signal"] == "–"  # paired, not heard over the air since the hub started


@pytest.mark.parametrize(
    ("rssi", "words"),
    [
        (-40, "strong (-40 dBm)"),
        (-70, "strong (-70 dBm)"),
        (-71, "fair (-71 dBm)"),
        (-85, "fair (-85 dBm)"),
        (-86, "weak (-86 dBm)"),
        (None, None),
    ],
)
def test_signal_strength_in_words(rssi: int | None, words: str | None) -> None:
    from server.hub_detail import signal_words

    assert signal_words(rssi) == words


def test_a_revoked_hub_is_let_back_in_from_its_page_only_by_reinstating_it_with_a_reason(
    tech: TestClient, database: Database, mqtt: MqttSettings
) -> None:
    hid = f"hub-hp-{uuid.uuid4().hex[:5]}"
    assert tech.post("/hubs/new", data={"hub_id": hid}, headers=ORIGIN).status_code == 200
    revoked = tech.post(
        f"/hubs/{hid}/revoke",
        data={"confirm": "yes", "reason": "lost"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    actions = re.search(r'<ul class="nhsuk-list hub-actions">(.*?)</ul>', tech.get(f"/hubs/{hid}").text, re.S)
    assert actions and re.findall(r">([^<]+)</a>", actions.group(1)) == ["Reinstate the hub"]
    # A new password would lift the revocation by the way: refused, and the page says how.
    rotated = tech.post(f"/hubs/{hid}/rotate", data={"confirm": "yes"}, headers=ORIGIN)
    assert rotated.status_code == 409 and "reinstate it with a reason" in rotated.text
    assert tech.get(f"/hubs/{hid}/reinstate").status_code == 200
    unexplained = tech.post(f"/hubs/{hid}/reinstate", data={"confirm": "yes", "reason": " "}, headers=ORIGIN)
    assert unexplained.status_code == 422 and "Say why the hub is let back in" in unexplained.text
    unconfirmed = tech.post(f"/hubs/{hid}/reinstate", data={"reason": "found"}, headers=ORIGIN)
    assert unconfirmed.status_code == 422 and "Confirm: reinstate the hub" in unconfirmed.text
    # Not for clinicians.
    token = create_user(database, f"nurse-{uuid.uuid4().hex[:4]}", Role.CLINICIAN)
    nurse = signed_in_client(tech.app, token)
    assert (
        nurse.post(
            f"/hubs/{hid}/reinstate", data={"confirm": "yes", "reason": "x"}, headers=ORIGIN
        ).status_code
        == 403
    )
    with database.session() as s:
        hub = s.get(Hub, hid)
        assert hub is not None and hub.revoked_at is not None
    back = tech.post(
        f"/hubs/{hid}/reinstate", data={"confirm": "yes", "reason": "found at the patient's"}, headers=ORIGIN
    )
    assert back.status_code == 200, back.text
    assert "reinstated with a new password" in back.text
    assert enrolment.claim_with(database, mqtt, code_on(back.text)).hub_id == hid
    with database.session() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.target == hid, AuditEvent.action == "hub_reinstated")
        ).one()
        assert event.actor == "tech-hubs" and event.detail.startswith("found at the patient's")


def test_the_hub_page_says_when_a_bundle_expired_unused_and_the_broker_refuses_it(
    tech: TestClient, database: Database, mqtt: MqttSettings
) -> None:
    from server.hub_lifecycle import lapse_unused_bundles

    hid = f"hub-hp-{uuid.uuid4().hex[:5]}"
    assert tech.post("/hubs/new", data={"hub_id": hid}, headers=ORIGIN).status_code == 200
    bundle = enrolment.issue_bundle(database, mqtt, hid, actor="tech-hubs", life=timedelta(hours=2))

    def field() -> str:
        found = re.search(r'data-field="bundle">(.*?)</dd>', tech.get(f"/hubs/{hid}").text, re.S)
        assert found
        return found.group(1)

    assert field().startswith("issued ") and "not used yet" in field()
    assert lapse_unused_bundles(database, mqtt.endpoint, bundle.expires_at + timedelta(minutes=1)) == [hid]
    assert field().startswith("expired unused:") and "the broker refuses this hub" in field()
    row = re.search(rf'data-hub-id="{hid}".*?</tr>', tech.get("/hubs").text, re.S)
    assert row and "enrolment bundle expired unused" in row.group(0)


def test_the_hub_page_names_each_self_check_in_words_and_the_list_says_bluetooth_stopped(
    tech: TestClient, database: Database
) -> None:
    """A hub whose bluetoothd stopped is online (its MQTT side runs on): its telemetry's checks
    say why it hears nothing, and the pages say so in words rather than "offline"."""
    from server.provisioning import add_hub

    add_hub(database, "hub-hp-5", actor="test")
    reported_at = now() - timedelta(minutes=1)
    with database.session() as s:
        hub = s.get(Hub, "hub-hp-5")
        assert hub is not None
        hub.status, hub.status_at = "online", reported_at
        hub.telemetry_at = reported_at
        hub.telemetry = {
            "schema": "carewatch.telemetry.v1",
            "hub_id": "hub-hp-5",
            "at": reported_at.isoformat(),
            "software": "carewatch-hub 1.2.3",
            "uptime_s": 100,
            "checks": [
                {
                    "name": "dbus",
                    "status": "ok",
                    "summary": "system D-Bus reachable at /run/dbus/system_bus_socket",
                },
                {
                    "name": "bluetoothd",
                    "status": "failed",
                    "summary": "bluetoothd is not running (no 'org.bluez' on the system D-Bus)",
                    "fix": "Start the Bluetooth service: 'systemctl enable --now bluetooth' (Debian package 'bluez').",
                },
                {"name": "adapter", "status": "skipped", "summary": "not checked: bluetoothd is not running"},
                {
                    "name": "scanning",
                    "status": "failed",
                    "summary": "not scanning for devices since 2026-12-04 10:02:03 UTC: "
                    "Bluetooth stopped (bluetoothd left the system D-Bus)",
                    "fix": "Nothing to do if it is brief: the hub scans again by itself as soon as Bluetooth is back.",
                },
                {
                    "name": "speech",
                    "status": "skipped",
                    "summary": "not checked: spoken feedback is switched off in hub.toml ([feedback] enabled = false)",
                },
            ],
        }
    page = tech.get("/hubs/hub-hp-5").text

    def row(name: str) -> str:
        found = re.search(rf'data-check="{name}".*?</tr>', page, re.S)
        assert found, page
        return found.group(0)

    def marked(name: str) -> str:
        found = re.search(rf'<tr class="([^"]*)"[^>]*data-check="{name}"', page)
        assert found
        return found.group(1)

    def state(name: str) -> str:
        found = re.search(r'class="nhsuk-table__cell state"[^>]*><span[^>]*>[^<]*</span>([^<]+)<', row(name))
        assert found
        return found.group(1)

    assert "Listening for devices" in row("scanning") and state("scanning") == "not working"
    assert "Bluetooth stopped (bluetoothd left the system D-Bus)" in row("scanning")
    assert "sev-red" in marked("scanning")
    assert "Bluetooth service" in row("bluetoothd") and "systemctl enable --now bluetooth" in row(
        "bluetoothd"
    )
    assert "Spoken messages" in row("speech") and state("speech") == "not checked"
    assert "spoken feedback is switched off" in row("speech") and "sev-" not in marked("speech")
    assert state("dbus") == "working"
    listed = re.search(r'data-hub-id="hub-hp-5".*?</tr>', tech.get("/hubs").text, re.S)
    assert listed
    status = re.search(
        r'class="nhsuk-table__cell status"[^>]*><span[^>]*>[^<]*</span><span>(\w+)', listed.group(0)
    )
    assert status and status.group(1) == "online"
    assert "Bluetooth stopped (bluetoothd left the system D-Bus)" in listed.group(0)
