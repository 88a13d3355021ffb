"""Current Time (0x2A2B) read from a real cuff: the value the hub reads to see how far a device clock
has drifted before it sets it.

Where the bytes come from: eigger/hass-omron issue #67 ("HEM-7155T-ESLI"), a debug log of
2026-06-12 20:49:26 (+02:00): "CTS current-time snapshot for HEM-7155T-MW3: ea07060c143008000001",
after which the integration "Synced current time via CTS ... 2026-06-12T20:49:25+02:00". So the cuff
read 20:48:08, 77 seconds behind, with no day of week and "manual time update" as the last adjustment.
"""

from __future__ import annotations

from datetime import datetime

from gateway.gatt import decode
from gateway.gatt.date_time import AdjustReason, CurrentTime, GattDateTime

OMRON_HEM_7155T = bytes.fromhex("ea07060c143008000001")


def test_the_omron_clock_reads_as_the_log_around_it_says() -> None:
    value = decode("2a2b", OMRON_HEM_7155T)
    assert isinstance(value, CurrentTime)
    assert value.date_time == GattDateTime(2026, 6, 12, 20, 48, 8)
    assert value.day_of_week is None  # 0: the cuff does not know it, not "Monday"
    assert value.fractions256 == 0
    assert value.adjust_reason == AdjustReason(manual_time_update=True)
    assert value.value == datetime(2026, 6, 12, 20, 48, 8)
    synced_at = datetime(2026, 6, 12, 20, 49, 25)
    assert (synced_at - value.value).total_seconds() == 77
