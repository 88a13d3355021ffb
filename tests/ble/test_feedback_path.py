"""What the patient hears, end to end with only the radio and the speaker emulated: a cuff's
reading → ``carewatch hub run`` (a real process, bleak on the emulated BlueZ) says it was
received → Mosquitto → the real ingest stores it and sends its receipt → the hub says the
nurse's team has it; a retake command on the real broker → the hub asks for a retake within
seconds, then reminds when it is due; a scheduled reading not taken → a reminder.

The hub writes what it says into a WAV directory (no sound card here), spoken by the real
espeak-ng; each file is measured by sox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.commands import RetakeReason
from common.wire.feedback_prefs import PatientFeedback, ReadingReminder
from common.wire.messages import PairedDeviceConfig, RemoteConfig
from common.wire.topics import Channel, topic
from common.wire.vocabulary import ReadingKind
from server.hub_commands import retake_request, send_retake
from server.mqtt_publish import publish_retained
from server.provisioning import add_hub, add_patient, assign_hub
from tests.ble.devices.health import Slot, StoredBloodPressure, and_ua_651ble
from tests.ble.stack import EmulatedBluez
from tests.ble.test_cli import HubProcess, _config, _local, hub_running
from tests.feedback.sox_stat import sox_stat
from tests.fixtures.server import Stack, wait_for

pytestmark = [pytest.mark.ble, pytest.mark.services]

HUB = "hub-ble-voice"
HOUSEHOLD = ZoneInfo("Europe/London")  # the zone tests/ble/test_cli.py's hub.toml names


def said(directory: Path) -> list[str]:
    return [p.name[5:-4] for p in sorted(directory.glob("*.wav"))]


def test_the_patient_hears_the_reading_arrive_reach_the_nurse_a_retake_and_a_reminder(
    bluez: EmulatedBluez,
    new_slot: Callable[[], Slot],
    tmp_path: Path,
    stack: Stack,
    server_endpoint: BrokerEndpoint,
) -> None:
    slot = new_slot()
    add_patient(stack.db, "p-ble-voice", "Home patient", actor="test")
    add_hub(stack.db, HUB, actor="test")
    assign_hub(stack.db, HUB, "p-ble-voice", actor="test", start=datetime.now(UTC) - timedelta(days=1))
    voice_dir = tmp_path / "said"
    config = _config(tmp_path, endpoint=stack.hub_endpoint(HUB))
    with config.open("a") as f:
        f.write(
            f"""
[feedback]
enabled = true
output = "wav_dir"
wav_dir = "{voice_dir}"
check_every_s = 0.5
quiet_from = "00:00"  # the same time twice: no quiet hours, whatever the hour of the test
quiet_until = "00:00"
"""
        )
    # The patient's settings from the server, retained before the hub starts: a daily weight
    # due this very minute (no scale here, so it is missed).
    due_now = datetime.now(HOUSEHOLD).strftime("%H:%M")
    remote = RemoteConfig(
        hub_id=HUB,
        version=1,
        issued_at=datetime.now(UTC),
        paired_devices=[PairedDeviceConfig(address=slot.address, model_id="and-ua-651ble")],
        patient_feedback=PatientFeedback(reminders=[ReadingReminder(kind=ReadingKind.WEIGHT, at=due_now)]),
    )
    publish_retained(server_endpoint, topic(HUB, Channel.CONFIG), remote.to_json())
    memory = [StoredBloodPressure(186, 104, 131, 88, _local(25))]

    async def scenario() -> HubProcess:
        cuff = and_ua_651ble(slot, memory)
        await cuff.start()
        try:
            async with hub_running(config) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 20)
                await asyncio.to_thread(
                    wait_for,
                    lambda: {"received", "confirmed"} <= set(said(voice_dir)),
                    20,
                    "received, confirmed",
                )
                await asyncio.to_thread(
                    wait_for, lambda: "reminder" in said(voice_dir), 10, "the weight reminder"
                )
                # The server asks for a retake (as the alert engine's retake finding will).
                [stored] = stack.influx.query_readings("p-ble-voice", ReadingKind.BLOOD_PRESSURE)
                request = retake_request(
                    HUB,
                    stored.reading_id,
                    ReadingKind.BLOOD_PRESSURE,
                    RetakeReason.OUT_OF_RANGE,
                    retake_after_s=2,
                )
                await asyncio.to_thread(send_retake, server_endpoint, HUB, request)
                await asyncio.to_thread(wait_for, lambda: "retake" in said(voice_dir), 5, "the retake prompt")
                await asyncio.to_thread(
                    wait_for, lambda: "retake_due" in said(voice_dir), 10, "the retake reminder"
                )
        finally:
            await cuff.close()
        return hub

    hub = asyncio.run(scenario())
    assert hub.returncode == 0, hub.output

    keys = said(voice_dir)
    assert sorted(keys) == ["confirmed", "received", "reminder", "retake", "retake_due"], (keys, hub.output)
    assert keys.index("received") < keys.index("confirmed")
    assert keys.index("retake") < keys.index("retake_due")
    for path in sorted(voice_dir.glob("*.wav")):
        stat = sox_stat(path)
        assert stat.rms > 0.02 and 1.0 < stat.seconds < 20, (path.name, stat)
    assert "said retake_due" in hub.output  # logged by name only: the words may carry values
