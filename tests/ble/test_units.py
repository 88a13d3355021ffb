"""The radio-free parts of gateway.ble: allowlist file, seen-readings set, ATT error parsing, classifier,
a device loop's back-off."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDBusError

from gateway.allowlist import Allowlist, AllowlistError, normalize_address
from gateway.ble.hub import BleHub, DeviceLoop, HubTuning
from gateway.ble.scanner import DeviceClassifier, Sighting
from gateway.ble.seen import SeenReadings
from gateway.ble.session import DeviceSessionError, SessionReport, att_error_code
from gateway.catalogue.loader import load_catalogue
from gateway.gatt import uuids


def test_addresses_are_normalised_and_checked() -> None:
    assert normalize_address(" 00-09-1f-aa-bb-cc ") == "00:09:1F:AA:BB:CC"
    with pytest.raises(AllowlistError, match="not a Bluetooth address"):
        normalize_address("00:09:1F:AA:BB")


def test_allowlist_round_trips_and_notices_changes_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "state" / "paired-devices.json"
    hub_view = Allowlist(path)
    assert hub_view.devices() == [] and "00:09:1F:AA:BB:CC" not in hub_view
    technician = Allowlist(path)
    technician.add("00:09:1f:aa:bb:cc", model_id="and-ua-651ble")
    assert hub_view.refresh() is True
    assert "00:09:1F:AA:BB:CC" in hub_view and "00:09:1f:aa:bb:cc" in hub_view
    paired = hub_view.get("00:09:1F:AA:BB:CC")
    assert paired is not None and paired.model_id == "and-ua-651ble"
    assert hub_view.refresh() is False
    assert json.loads(path.read_text())["devices"][0]["address"] == "00:09:1F:AA:BB:CC"
    assert technician.remove("00:09:1F:AA:BB:CC") is True
    assert technician.remove("00:09:1F:AA:BB:CC") is False


def test_a_broken_allowlist_file_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "paired-devices.json"
    path.write_text("{not json")
    with pytest.raises(AllowlistError, match="not valid JSON"):
        Allowlist(path)


def test_seen_readings_survive_a_restart_and_stay_bounded(tmp_path: Path) -> None:
    ids = [uuid.uuid4() for _ in range(30)]
    seen = SeenReadings(tmp_path / "seen.sqlite3", capacity=20)
    assert seen.add(ids[0]) is True and seen.add(ids[0]) is False
    seen.close()
    seen = SeenReadings(tmp_path / "seen.sqlite3", capacity=20)
    assert ids[0] in seen
    for reading_id in ids[1:]:
        seen.add(reading_id)
    assert len(seen) <= 22 and ids[-1] in seen and ids[0] not in seen
    seen.close()


@pytest.mark.parametrize(
    ("details", "code"),
    [
        ("Operation failed with ATT error: 0x80", 0x80),  # real BlueZ
        ("ATT error 0x80", 0x80),  # bluezoo passes the GATT application's text through
        ("Not connected", None),
    ],
)
def test_att_error_code_from_bluez_errors(details: str, code: int | None) -> None:
    assert att_error_code(BleakDBusError("org.bluez.Error.Failed", [details])) == code


def _advert(name: str | None, services: list[str]) -> AdvertisementData:
    return AdvertisementData(
        local_name=name,
        manufacturer_data={},
        service_data={},
        service_uuids=services,
        tx_power=None,
        rssi=-60,
        platform_data=(),
    )


def test_classifier_uses_the_catalogue_and_the_pinned_model(tmp_path: Path) -> None:
    allowlist = Allowlist(tmp_path / "paired-devices.json")
    allowlist.add("00:09:1F:00:00:01", model_id="and-ua-651ble")
    classifier = DeviceClassifier(load_catalogue(), allowlist)
    bp = uuids.BLOOD_PRESSURE_SERVICE
    ours = classifier.classify(BLEDevice("00:09:1F:00:00:01", "cuff", {}), _advert("cuff", []))
    assert ours is not None and ours.model.id == "and-ua-651ble" and ours.allowlisted
    other = classifier.classify(BLEDevice("00:09:1F:00:00:02", None, {}), _advert("A&D_UA-651", [bp]))
    assert other is not None and other.model.id == "and-ua-651ble" and not other.allowlisted
    assert classifier.classify(BLEDevice("00:09:1F:00:00:03", None, {}), _advert("Headphones", [])) is None


class _ScriptedLoop(DeviceLoop):
    """A device loop whose sessions fail or succeed as scripted, without a radio."""

    def __init__(self, hub: BleHub, outcomes: list[DeviceSessionError | SessionReport]) -> None:
        super().__init__("00:09:1F:AA:BB:CC", hub)
        self.outcomes = outcomes
        self.sessions = 0

    async def _session(self, sighting: Sighting) -> SessionReport:
        self.sessions += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, DeviceSessionError):
            raise outcome
        return outcome


def test_a_failing_device_waits_twice_as_long_after_each_failure_until_a_good_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.ble.hub")
    hub = BleHub(
        catalogue=load_catalogue(),
        allowlist=Allowlist(tmp_path / "paired-devices.json"),
        seen=SeenReadings(tmp_path / "seen.json"),
        sink=lambda reading: None,
        tz=UTC,
        tuning=HubTuning(failure_backoff=5.0, max_backoff=30.0),
        pairing_agent=False,
    )
    fail = DeviceSessionError("out of range")
    good = SessionReport(address="00:09:1F:AA:BB:CC", model_id="and-ua-651ble")
    loop = _ScriptedLoop(hub, [fail, fail, fail, fail, fail, good, fail])

    async def scenario() -> None:
        task = asyncio.create_task(loop.run())
        for n in range(1, len(loop.outcomes) + 1):
            # An advertisement, whatever the loop's back-off: each session is run at once.
            loop._latest = cast(Sighting, SimpleNamespace())
            loop._wake.set()
            while loop.sessions < n:
                await asyncio.sleep(0)
        hub.stopping.set()
        loop.wake()
        await task

    # A thread of its own: a session that ran the page tests first keeps an event loop
    # running in this one (Playwright's sync API), where asyncio.run is refused.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=30)
    waits = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records if "next try" in r.getMessage()]
    assert waits == ["5s", "10s", "20s", "30s", "30s", "5s"]
