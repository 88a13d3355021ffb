"""A clinician sets what a patient's hub says, through the API; the server sends it in the
hub's retained configuration over the real broker to a running hub (the simulator's real
outbox, MQTT session and configuration applier, with the hub's real voice writing what it says
through the real espeak-ng into a WAV directory), and the hub follows it: ``received`` no
longer said, Welsh words, a reminder set on the server said when its time comes (the voice's
clock is the test's). Discharge takes the preferences away again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from common.wire.feedback_prefs import PatientFeedback
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.feedback.attach import HubFeedback
from gateway.feedback.catalogue import load_phrasebooks
from gateway.feedback.core import Event, Policy, ReadingDue, ReadingsConfirmed, decide
from gateway.feedback.outputs import WavDirectory
from gateway.feedback.service import FeedbackService
from gateway.feedback.settings import FeedbackSettings
from gateway.feedback.sound import Voice, speak_to_wav, with_chime
from gateway.simulator import SimulatedHub
from server.app import create_app
from server.enrolment import discharge
from server.hub_config import deliver_each, pair
from server.mqtt_publish import publish_retained
from server.provisioning import add_hub, add_patient, assign_hub
from server.settings import MqttSettings, ServerSettings
from tests.fixtures.server import Stack, wait_for
from tests.support.readings import make_reading

HUB = "hub-fbe-1"
PATIENT = "p-fbe-1"
HOUSEHOLD = ZoneInfo("Europe/London")
CUFF = "00:09:1F:8A:12:36"
BP: dict[Measure | str, float] = {Measure.SYSTOLIC: 128.0, Measure.DIASTOLIC: 82.0}


class Clock:
    """The voice's clock: reminders and "once a minute" fall due when the test says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


def said(directory: Path) -> list[str]:
    return [p.name[5:-4] for p in sorted(directory.glob("*.wav"))]


def spoken(event: Event, prefs: PatientFeedback, language: str) -> bytes:
    """The exact WAV the hub writes for ``event`` in ``language`` (espeak-ng is deterministic)."""
    book = load_phrasebooks()[language]
    a = decide(event, Policy(True, prefs, book), time(12))
    assert a is not None
    return with_chime(speak_to_wav(a.text, Voice(book.voice)), a.tone)


@pytest.fixture
def hub_with_voice(stack: Stack, tmp_path: Path) -> Iterator[tuple[SimulatedHub, HubFeedback, Clock, Path]]:
    clock = Clock(datetime.combine(datetime.now(HOUSEHOLD).date(), time(8, 0), HOUSEHOLD))
    voice_dir = tmp_path / "said"
    settings = FeedbackSettings(
        enabled=True,
        output="wav_dir",
        wav_dir=voice_dir,
        check_every_s=0.2,
        quiet_from=None,
        quiet_until=None,
    )
    hub = SimulatedHub(HUB, stack.hub_endpoint(HUB), stack.state_dir / "hubs")
    service = FeedbackService(
        settings,
        hub_id=HUB,
        tz=HOUSEHOLD,
        phrasebooks=load_phrasebooks(),
        speaker=WavDirectory(voice_dir),
        clock=clock,
    )
    # As HubFeedback.attach wires a hub process, with the test's clock.
    hub.session.subscribe(topic(HUB, Channel.COMMANDS), service.command)
    hub.publisher.on_receipt = service.readings_confirmed
    hooks = HubFeedback(service, hub.session)
    hub.session.on_connected(hooks._connected)
    hooks.follow(hub.remote)
    service.start()
    hub.start()
    stack.hubs.append(hub)
    yield hub, hooks, clock, voice_dir
    service.stop()
    publish_retained(stack.broker.server_endpoint(), topic(HUB, Channel.CONFIG), b"")  # leave none behind


def test_preferences_set_through_the_api_reach_the_hub_and_it_follows_them(
    stack: Stack, broker: LocalMosquitto, hub_with_voice: tuple[SimulatedHub, HubFeedback, Clock, Path]
) -> None:
    hub, hooks, clock, voice_dir = hub_with_voice
    add_patient(stack.db, PATIENT, "Gwen Jones", actor="test")
    add_hub(stack.db, HUB, actor="test")
    assign_hub(stack.db, HUB, PATIENT, actor="test", start=datetime.now(UTC) - timedelta(days=1))  # version 1
    pair(stack.db, HUB, CUFF, model_id="and-ua-651ble", actor="tech")  # version 2: the server's list
    settings = ServerSettings(
        database_url=stack.db.url,
        influx=stack.influx.config,
        mqtt=MqttSettings(
            port=broker.port, ca_file=broker.ca_cert, password_file=broker.server_password_file
        ),
    )
    tell_hub = hooks.watching(hub.send_reading)

    # The hub's defaults first: the reading is announced, then the team's receipt, in English.
    tell_hub(make_reading(ReadingKind.BLOOD_PRESSURE, BP))
    wait_for(lambda: said(voice_dir) == ["received", "confirmed"], 20, "received, confirmed")

    prefs = {
        "speak": ["confirmed", "reminder"],
        "speak_values": False,
        "language": "cy",
        "reminders": [{"kind": "weight", "at": "08:05"}],
    }
    with TestClient(create_app(settings, stack.db, stack.influx)) as api:
        r = api.put(f"/api/v1/patients/{PATIENT}/feedback", json={"preferences": prefs}, headers=stack.auth())
    assert r.status_code == 200, r.text
    assert (r.json()["delivery"], r.json()["hub_config_version"]) == ("delivered", 3)
    wait_for(lambda: hub.remote.version == 3, what="the hub applying configuration version 3")
    expected = PatientFeedback.model_validate(prefs)
    assert hub.remote.patient_feedback == expected

    clock.now += timedelta(minutes=2)  # past "your team has it" once a minute; the reminder not yet due
    tell_hub(make_reading(ReadingKind.BLOOD_PRESSURE, BP))
    wait_for(lambda: len(said(voice_dir)) == 3, 20, "the second receipt")
    assert said(voice_dir) == ["received", "confirmed", "confirmed"]  # no "received" this time
    files = sorted(voice_dir.glob("*.wav"))
    assert files[2].read_bytes() == spoken(ReadingsConfirmed(1), expected, "cy")
    assert files[2].read_bytes() != spoken(ReadingsConfirmed(1), expected, "en")

    clock.now += timedelta(minutes=3)  # 08:05: the weight reminder set on the server is due
    wait_for(lambda: "reminder" in said(voice_dir), 10, "the weight reminder")
    assert sorted(voice_dir.glob("*.wav"))[3].read_bytes() == spoken(
        ReadingDue(ReadingKind.WEIGHT), expected, "cy"
    )

    # Discharged: the hub serves nobody, so it goes back to its own defaults.
    released = discharge(stack.db, PATIENT, actor="test", reason="recovered")
    assert deliver_each(stack.db, settings.mqtt.endpoint, released) == {HUB: None}
    wait_for(lambda: hub.remote.version == 4, what="configuration version 4")
    assert hub.remote.patient_feedback is None
