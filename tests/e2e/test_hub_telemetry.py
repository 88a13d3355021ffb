"""A hub reports its health over the real broker; technicians see it, with what needs
attention; telemetry the server cannot accept is kept with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from common.wire.messages import HubTelemetry
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from gateway.mqtt.session import MqttSession
from server.api.auth import Role, create_user
from server.store.models import DeadLetter
from tests.fixtures.server import Stack, wait_for


def test_technicians_see_a_hubs_health_and_when_it_goes_offline(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-tel-1", "hub-tel-1")
    tech = create_user(stack.db, "tech-tel-1", Role.TECHNICIAN)
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 124, Measure.DIASTOLIC: 78})
    stack.wait_processed(1)
    assert hub.wait_delivered()
    assert hub.telemetry.publish_once()
    wait_for(
        lambda: (stack.hub_seen_by(tech, "hub-tel-1")["telemetry"] or {}).get("devices") != [],
        what="the hub's telemetry with its device",
    )

    seen = stack.hub_seen_by(tech, "hub-tel-1")
    assert (seen["status"], seen["patient_id"], seen["attention"]) == ("online", "p-tel-1", [])
    t = seen["telemetry"]
    assert t["software"] == "carewatch-simulator"
    assert (t["outbox_depth"], t["held_in_memory"]) == (0, 0)
    assert t["disk_free_bytes"] > 0
    assert t["devices"] == [
        {
            "address": "sim:cuff",
            "model": "sim-bp",
            "readings": 1,
            "battery_percent": None,
            "last_session_at": None,
            "last_error": None,
            "rssi_dbm": None,  # a simulated device has no radio to hear
            "firmware": None,
            "undecodable": None,  # no packet it could not decode
        }
    ]

    clinician = stack.api.get("/api/v1/hubs", headers=stack.auth())
    assert clinician.status_code == 403

    stack.hubs.remove(hub)
    hub.stop()
    wait_for(lambda: stack.hub_seen_by(tech, "hub-tel-1")["status"] == "offline", what="the hub offline")
    assert stack.hub_seen_by(tech, "hub-tel-1")["attention"][0].startswith("offline since ")


def test_telemetry_the_server_cannot_accept_is_kept_with_its_reason(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-tel-2", "hub-tel-2")
    tech = create_user(stack.db, "tech-tel-2", Role.TECHNICIAN)
    before = stack.worker.telemetry
    raw = MqttSession(hub.session.endpoint)  # the hub's own identity, gone wrong
    raw.start()
    try:
        assert raw.wait_connected(10)
        own = topic("hub-tel-2", Channel.TELEMETRY)
        impostor = HubTelemetry(hub_id="hub-tel-9", at=datetime.now(UTC), software="x", uptime_s=1).to_json()
        assert raw.publish_nowait(own, b'{"schema": "carewatch.telemetry.v1", "hub_id": "hub-tel-2"')
        assert raw.publish_nowait(own, impostor)
        wait_for(lambda: stack.worker.telemetry >= before + 3, what="three telemetry messages")
    finally:
        raw.stop()

    with stack.db.session() as s:
        letters = [
            (d.hub_id, d.reason)
            for d in s.scalars(select(DeadLetter).where(DeadLetter.topic == own).order_by(DeadLetter.id))
        ]
    assert [hub_id for hub_id, _ in letters] == ["hub-tel-2", "hub-tel-2"]
    assert letters[0][1].startswith("invalid hub telemetry: ")
    assert letters[1][1] == "telemetry says hub 'hub-tel-9' but arrived on hub 'hub-tel-2''s topic"
    # The good snapshot the simulated hub sent on connecting still stands.
    assert stack.hub_seen_by(tech, "hub-tel-2")["telemetry"]["software"] == "carewatch-simulator"
