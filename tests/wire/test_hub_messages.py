"""The hub's telemetry and remote configuration messages: published JSON Schemas, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.wire.messages import MAX_DEVICES_PER_HUB, HubTelemetry, telemetry_json_schema

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def snapshot(**over: object) -> dict[str, object]:
    t: dict[str, object] = {
        "schema": "carewatch.telemetry.v1",
        "hub_id": "hub-0042",
        "at": AT.isoformat(),
        "software": "carewatch-hub",
        "uptime_s": 3600,
        "outbox_depth": 2,
        "oldest_unsent_at": AT.isoformat(),
        "disk_free_bytes": 5_000_000_000,
        "devices": [
            {
                "address": "00:09:1F:8A:12:34",
                "model": "and-ua-651ble",
                "battery_percent": 64,
                "readings": 3,
                "last_session_at": AT.isoformat(),
                "rssi_dbm": -71,
                "firmware": "1.4.2",
            }
        ],
        "checks": [
            {"name": "dbus", "status": "ok", "summary": "system D-Bus reachable"},
            {
                "name": "adapter",
                "status": "failed",
                "summary": "Bluetooth adapter hci0 missing",
                "fix": "Plug in the Bluetooth adapter, then restart bluetooth.",
            },
        ],
    }
    t.update(over)
    return t


def test_the_published_telemetry_schema_is_current_and_accepts_a_snapshot() -> None:
    import jsonschema

    published = json.loads((ROOT / "docs/wire/telemetry-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(telemetry_json_schema())), (
        "regenerate: python -m common.wire telemetry > docs/wire/telemetry-v1.schema.json"
    )
    jsonschema.validate(snapshot(), published)
    parsed = HubTelemetry.model_validate(snapshot())
    assert HubTelemetry.model_validate_json(parsed.to_json()) == parsed
    assert (parsed.devices[0].rssi_dbm, parsed.devices[0].firmware) == (-71, "1.4.2")
    # A hub from before the radio facts: they are optional, and absent on the wire when unknown.
    bare = {"address": "sim:x", "model": "x", "readings": 0}
    older = HubTelemetry.model_validate(snapshot(devices=[bare]))
    assert (older.devices[0].rssi_dbm, older.devices[0].firmware) == (None, None)
    jsonschema.validate(json.loads(older.to_json()), published)
    assert "rssi_dbm" not in older.to_json().decode()


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"outbox_depth": -1}, "greater than or equal to 0"),
        ({"checks": [{"name": "radio", "status": "ok", "summary": "x"}]}, "Input should be 'dbus'"),
        ({"checks": [{"name": "dbus", "status": "broken", "summary": "x"}]}, "Input should be 'ok'"),
        ({"hub_id": "Hub 42"}, "should match pattern"),
        ({"patient_id": "p-1"}, "Extra inputs are not permitted"),
        ({"devices": [{"address": "nowhere", "model": "x", "readings": 0}]}, "should match pattern"),
        ({"devices": [{"address": "sim:x", "model": "x", "readings": 0, "battery_percent": 101}]}, "100"),
        (
            {"devices": [{"address": "sim:x", "model": "x", "readings": 0, "rssi_dbm": 127}]},
            "less than or equal to 20",
        ),
        ({"devices": [{"address": "sim:x", "model": "x", "readings": 0, "firmware": "1\n2"}]}, "control"),
        (
            {"devices": [{"address": "sim:x", "model": "x", "readings": 0}] * (MAX_DEVICES_PER_HUB + 1)},
            "at most 32",
        ),
    ],
)
def test_malformed_telemetry_is_refused(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        HubTelemetry.model_validate(snapshot(**change))


def test_the_published_hub_configuration_schema_is_current() -> None:
    import jsonschema

    from common.wire.messages import RemoteConfig, remote_config_json_schema

    published = json.loads((ROOT / "docs/wire/hubconfig-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(remote_config_json_schema())), (
        "regenerate: python -m common.wire hubconfig > docs/wire/hubconfig-v1.schema.json"
    )
    message = RemoteConfig.model_validate(
        {
            "hub_id": "hub-0042",
            "version": 7,
            "issued_at": AT.isoformat(),
            "paired_devices": [{"address": "00:09:1F:8A:12:34", "model_id": "and-ua-651ble"}],
        }
    )
    jsonschema.validate(json.loads(message.to_json()), published)
    with pytest.raises(ValidationError, match="should match pattern"):
        RemoteConfig.model_validate(
            {
                "hub_id": "hub-0042",
                "version": 1,
                "issued_at": AT.isoformat(),
                "paired_devices": [{"address": "sim:x"}],
            }
        )


def test_keep_your_own_list_is_said_as_null_and_a_list_even_empty_still_replaces() -> None:
    """``null`` is written out: a hub from before it refuses the message (it wants a list)
    instead of reading an absent field as an empty list and unpairing every device."""
    import jsonschema

    from common.wire.messages import RemoteConfig

    published = json.loads((ROOT / "docs/wire/hubconfig-v1.schema.json").read_text())
    keep = RemoteConfig(hub_id="hub-0042", version=2, issued_at=AT)
    wire = json.loads(keep.to_json())
    assert "paired_devices" in wire and wire["paired_devices"] is None
    jsonschema.validate(wire, published)
    assert RemoteConfig.model_validate_json(keep.to_json()).paired_devices is None
    absent = {k: v for k, v in wire.items() if k != "paired_devices"}
    assert RemoteConfig.model_validate(absent).paired_devices is None

    empty = RemoteConfig(hub_id="hub-0042", version=3, issued_at=AT, paired_devices=[])
    assert json.loads(empty.to_json())["paired_devices"] == []
    assert RemoteConfig.model_validate_json(empty.to_json()).paired_devices == []


def test_the_published_receipts_schema_is_current() -> None:
    import jsonschema

    from common.wire.messages import ReadingReceipt, receipts_json_schema

    published = json.loads((ROOT / "docs/wire/receipts-v1.schema.json").read_text())
    assert published == json.loads(json.dumps(receipts_json_schema())), (
        "regenerate: python -m common.wire receipts > docs/wire/receipts-v1.schema.json"
    )
    message = ReadingReceipt.model_validate(
        {
            "hub_id": "hub-0042",
            "at": AT.isoformat(),
            "readings": [
                {"reading_id": "5b0d3c1e-8a51-5c55-9a43-2b5c2f4d3e10", "outcome": "stored"},
                {"reading_id": "8d2f5e30-ac73-4e77-9c65-4d7e4f606032", "outcome": "refused", "reason": "x"},
            ],
        }
    )
    jsonschema.validate(json.loads(message.to_json()), published)


@pytest.mark.parametrize("field", ["manufacturer", "serial", "firmware", "model"])
def test_control_characters_in_device_text_are_refused_with_where(field: str) -> None:
    """A NUL byte in device.manufacturer once stopped all ingestion on PostgreSQL."""
    from common.wire.messages import DeviceIdentity

    with pytest.raises(ValidationError, match=r"control characters \(U\+0000 at position 4\)"):
        DeviceIdentity.model_validate({"address": "sim:x", "model": "m", field: "A&D \x00Medical"})
