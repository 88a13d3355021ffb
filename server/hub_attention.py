"""What a technician should look at on a hub, in plain words, from its presence and its
last telemetry. Pure: the API and ``carewatch server hub list`` both show its answer.

Thresholds are operational, not clinical: a hub whose readings have waited an hour is not
reaching the server; 100 MB is a few weeks of a hub's logs; 20 % is when BLE devices start
dropping connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from common.wire.messages import HubTelemetry
from common.wire.vocabulary import CheckStatus

BACKLOG_AGE: Final = timedelta(hours=1)
DISK_LOW_BYTES: Final = 100 * 1024 * 1024
BATTERY_LOW_PERCENT: Final = 20
#: Three missed telemetry periods (default period 5 min) before the silence is worth a look.
TELEMETRY_STALE: Final = timedelta(minutes=15)


@dataclass(frozen=True)
class HubState:
    status: str  # "online", "offline" or "unknown" (never heard)
    status_at: datetime | None
    telemetry: HubTelemetry | None
    telemetry_at: datetime | None
    config_version: int = 0  # what the server wants the hub to run (0: no server configuration)
    config_delivered_version: int = 0  # what reached the broker


def attention(hub: HubState, now: datetime) -> list[str]:
    notes: list[str] = []
    if hub.status == "offline":
        since = f" since {hub.status_at:%Y-%m-%d %H:%M} UTC" if hub.status_at else ""
        notes.append(f"offline{since}")
    elif hub.status == "unknown":
        notes.append("never connected")
    t = hub.telemetry
    if hub.config_version > hub.config_delivered_version:
        notes.append(
            f"configuration version {hub.config_version} not delivered to the broker yet "
            "(carewatch server hub push)"
        )
    elif hub.config_version and t is not None and (t.config_version or 0) < hub.config_version:
        notes.append(
            f"configuration version {hub.config_version} not applied by the hub yet "
            f"(it runs {t.config_version or 'none'})"
        )
    if t is not None and t.config_error:
        notes.append(f"hub refused its configuration: {t.config_error}")
    if t is None:
        if hub.status == "online":
            notes.append("no telemetry received yet")
        return notes
    if hub.status == "online" and hub.telemetry_at and now - hub.telemetry_at > TELEMETRY_STALE:
        notes.append(f"no telemetry for {_ago(now - hub.telemetry_at)}")
    for check in t.checks:
        # The hub's own self-checks (what 'carewatch hub doctor' prints): "Bluetooth adapter hci0
        # missing" says why a hub that is online takes no readings.
        if check.status in (CheckStatus.FAILED, CheckStatus.WARNING):
            notes.append(f"{check.summary}. {check.fix}" if check.fix else check.summary)
    if t.outbox_error:
        notes.append(f"outbox unreadable: {t.outbox_error}")
    if t.held_in_memory:
        notes.append(
            f"{t.held_in_memory} reading(s) held in memory: the outbox cannot store them (disk full or failing)"
        )
    if t.quarantined:
        notes.append(
            f"{t.quarantined} unreadable outbox row(s) kept aside on the hub (its quarantine table): "
            "a reading may need recovering by hand"
        )
    if t.outbox_depth and t.oldest_unsent_at and t.at - t.oldest_unsent_at > BACKLOG_AGE:
        waiting = f"{t.outbox_depth} reading(s) waiting on the hub for {_ago(t.at - t.oldest_unsent_at)}: "
        if t.awaiting_receipt == t.outbox_depth:
            waiting += "the broker has them, the server has not confirmed them (is the ingest running?)"
        else:
            waiting += "not reaching the server"
        notes.append(waiting)
    if t.disk_free_bytes is not None and t.disk_free_bytes < DISK_LOW_BYTES:
        notes.append(f"disk nearly full: {t.disk_free_bytes // (1024 * 1024)} MB free")
    for d in t.devices:
        if d.battery_percent is not None and d.battery_percent <= BATTERY_LOW_PERCENT:
            notes.append(f"{d.model} {d.address}: battery {d.battery_percent} %")
        if d.last_error:
            notes.append(f"{d.model} {d.address}: {d.last_error}")
        if d.undecodable:
            notes.append(
                f"{d.model} {d.address}: {d.undecodable} packet(s) the hub could not decode since it "
                "started (kept as dead letters: carewatch server dead-letters --code undecodable_packet)"
            )
    return notes


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
