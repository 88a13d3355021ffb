"""The hub's health snapshot, from a real outbox on disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.wire.messages import DeviceTelemetry
from gateway.mqtt.telemetry import HubHealth
from gateway.outbox import Outbox
from tests.support.readings import hub_weight


def test_a_snapshot_counts_the_backlog_and_names_the_devices(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    before = datetime.now(UTC)
    outbox.put(hub_weight(80.0))
    outbox.put(hub_weight(80.2))
    device = DeviceTelemetry(
        address="00:09:1F:00:00:02", model="and-uc-352ble", battery_percent=55, readings=2
    )
    snap = HubHealth("hub-0042", outbox, software="carewatch-hub", devices=lambda: [device]).snapshot()
    assert (snap.hub_id, snap.software, snap.outbox_depth, snap.held_in_memory) == (
        "hub-0042",
        "carewatch-hub",
        2,
        0,
    )
    assert snap.oldest_unsent_at is not None
    assert before - timedelta(seconds=1) <= snap.oldest_unsent_at <= snap.at
    assert snap.disk_free_bytes and snap.disk_free_bytes > 0
    assert snap.devices == [device] and snap.outbox_error is None
    outbox.close()


def test_an_unreadable_outbox_is_reported_not_fatal(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.close()  # the card failed under it: every query now raises sqlite3.Error
    snap = HubHealth("hub-0042", outbox, software="carewatch-hub").snapshot()
    assert snap.outbox_depth == 0
    assert snap.outbox_error is not None and snap.outbox_error.startswith("cannot read outbox")
