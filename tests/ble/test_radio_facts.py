"""What a technician reads on the hub page about each device's radio comes from the radio:
the signal strength of the last advertisement the hub heard (the emulated air hears a device
at its advertised transmit power less a fixed path loss) and the firmware revision its Device
Information service gave, in the hub's device telemetry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.wire.messages import DeviceTelemetry, HubTelemetry
from tests.ble.bluezoo_launcher import PATH_LOSS_DB
from tests.ble.devices.health import Slot, spot_check_oximeter
from tests.ble.harness import HOUSEHOLD_TZ, running_hub
from tests.ble.stack import EmulatedBluez

pytestmark = pytest.mark.ble


def test_the_signal_and_firmware_the_radio_gives_reach_the_hubs_telemetry(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()
    taken = datetime.now(HOUSEHOLD_TZ).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
    tx_power = -18  # a weak transmitter: heard at -88 dBm

    async def scenario() -> DeviceTelemetry:
        oximeter = spot_check_oximeter(slot, [(96, 70, taken)])
        oximeter.advertisement.tx_power = tx_power
        await oximeter.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(oximeter.burst_done.wait(), 15)
                await hub.wait_for_readings(1, 5)
                for _ in range(150):
                    (after,) = hub.hub.device_telemetry()
                    if after.last_session_at is not None:
                        break
                    await asyncio.sleep(0.1)
        finally:
            await oximeter.close()
        return after

    after = asyncio.run(scenario())
    assert after.last_session_at is not None
    assert after.rssi_dbm in (tx_power - PATH_LOSS_DB, tx_power - PATH_LOSS_DB - 1)
    assert after.firmware == "2.3.1"  # DeviceInformation("Acme Oximetry", "SC-100", "OX-77812", "2.3.1")
    # And so on the wire, as the server reads it.
    sent = HubTelemetry(
        hub_id="hub-0042", at=datetime.now(HOUSEHOLD_TZ), software="t", uptime_s=1, devices=[after]
    )
    (received,) = HubTelemetry.model_validate_json(sent.to_json()).devices
    assert (received.rssi_dbm, received.firmware) == (after.rssi_dbm, "2.3.1")
