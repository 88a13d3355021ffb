"""What the hub overview tells a technician, from presence and telemetry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.wire.messages import DeviceTelemetry, HubTelemetry
from server.hub_attention import HubState, attention

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def telemetry(**over: object) -> HubTelemetry:
    fields: dict[str, object] = {
        "hub_id": "hub-0042",
        "at": NOW - timedelta(minutes=2),
        "software": "carewatch-hub",
        "uptime_s": 86400,
        "disk_free_bytes": 4 * 1024**3,
    }
    fields.update(over)
    return HubTelemetry.model_validate(fields)


def online(t: HubTelemetry | None, received: datetime | None = None) -> HubState:
    return HubState("online", NOW - timedelta(hours=5), t, received or NOW - timedelta(minutes=2))


def test_a_healthy_hub_needs_nothing() -> None:
    assert (
        attention(online(telemetry(outbox_depth=1, oldest_unsent_at=NOW - timedelta(minutes=3))), NOW) == []
    )


def test_presence() -> None:
    offline = HubState("offline", datetime(2026, 11, 29, 22, 15, tzinfo=UTC), telemetry(), NOW)
    assert attention(offline, NOW) == ["offline since 2026-11-29 22:15 UTC"]
    assert attention(HubState("unknown", None, None, None), NOW) == ["never connected"]
    assert attention(online(None, None), NOW) == ["no telemetry received yet"]
    stale = online(telemetry(), NOW - timedelta(minutes=40))
    assert attention(stale, NOW) == ["no telemetry for 40 min"]


def test_a_backlog_that_is_not_draining() -> None:
    t = telemetry(outbox_depth=7, oldest_unsent_at=NOW - timedelta(hours=3, minutes=2))
    assert attention(online(t), NOW) == ["7 reading(s) waiting on the hub for 3 h: not reaching the server"]


def test_a_backlog_the_broker_took_but_the_server_never_confirmed() -> None:
    t = telemetry(outbox_depth=5, awaiting_receipt=5, oldest_unsent_at=NOW - timedelta(hours=2))
    assert attention(online(t), NOW) == [
        "5 reading(s) waiting on the hub for 118 min: the broker has them, "
        "the server has not confirmed them (is the ingest running?)"
    ]


def test_quarantined_outbox_rows_are_worth_a_look() -> None:
    assert attention(online(telemetry(quarantined=2)), NOW) == [
        "2 unreadable outbox row(s) kept aside on the hub (its quarantine table): "
        "a reading may need recovering by hand"
    ]


def test_disk_and_outbox_trouble() -> None:
    t = telemetry(
        disk_free_bytes=30 * 1024 * 1024, held_in_memory=4, outbox_error="cannot read outbox: disk I/O error"
    )
    assert attention(online(t), NOW) == [
        "outbox unreadable: cannot read outbox: disk I/O error",
        "4 reading(s) held in memory: the outbox cannot store them (disk full or failing)",
        "disk nearly full: 30 MB free",
    ]


def test_devices_with_a_low_battery_or_failing_sessions() -> None:
    devices = [
        DeviceTelemetry(address="00:09:1F:8A:12:34", model="and-ua-651ble", battery_percent=20, readings=2),
        DeviceTelemetry(address="00:09:1F:8A:12:35", model="and-uc-352ble", battery_percent=21, readings=9),
        DeviceTelemetry(
            address="00:1C:05:00:00:01", model="nonin-3230", readings=0, last_error="pairing refused"
        ),
    ]
    assert attention(online(telemetry(devices=devices)), NOW) == [
        "and-ua-651ble 00:09:1F:8A:12:34: battery 20 %",
        "nonin-3230 00:1C:05:00:00:01: pairing refused",
    ]


def test_the_hubs_own_failing_checks_say_why_an_online_hub_takes_no_readings() -> None:
    checks = [
        {"name": "dbus", "status": "ok", "summary": "system D-Bus reachable at /run/dbus/system_bus_socket"},
        {"name": "bluetoothd", "status": "ok", "summary": "bluetoothd is running"},
        {
            "name": "adapter",
            "status": "failed",
            "summary": "Bluetooth adapter hci0 missing",
            "fix": "Plug in the Bluetooth adapter, then restart bluetooth.",
        },
        {
            "name": "clock",
            "status": "warning",
            "summary": "cannot tell whether the clock is synchronised",
            "fix": "Install and enable an NTP client.",
        },
        {"name": "credentials", "status": "skipped", "summary": "not checked: no password"},
    ]
    assert attention(online(telemetry(checks=checks)), NOW) == [
        "Bluetooth adapter hci0 missing. Plug in the Bluetooth adapter, then restart bluetooth.",
        "cannot tell whether the clock is synchronised. Install and enable an NTP client.",
    ]
