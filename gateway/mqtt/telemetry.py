"""The hub's health on its ``telemetry`` topic, so a technician sees a hub in trouble (a
backlog that is not draining, a filling disk, a device with a flat battery or that stopped
connecting) before the patient's readings stop arriving.

It carries the hub's self-checks too (``gateway.diagnostics``: radio, clock, disk,
certificates), so the server can say "Bluetooth adapter missing" rather than nothing.

Published every few minutes while connected, and straight after each (re)connection, at
QoS 0: telemetry is a snapshot and the next one supersedes a lost one. Readings never
travel here.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common.wire.messages import DeviceTelemetry, HubCheck, HubTelemetry, printable_line
from common.wire.topics import Channel, topic
from gateway.allowlist import Allowlist
from gateway.mqtt.session import MqttSession
from gateway.outbox import Outbox, OutboxUnavailable
from gateway.remote_config import RemoteConfigApplier
from gateway.spill_over import SpillOver

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 300.0


class HubHealth:
    """Collects one ``HubTelemetry`` snapshot from the parts of a running hub."""

    def __init__(
        self,
        hub_id: str,
        outbox: Outbox,
        *,
        software: str,
        spill: SpillOver | None = None,
        devices: Callable[[], list[DeviceTelemetry]] | None = None,
        config: RemoteConfigApplier | None = None,
        checks: Callable[[], list[HubCheck]] | None = None,
    ) -> None:
        self.hub_id = hub_id
        self.checks = checks
        self.outbox = outbox
        self.software = software
        self.spill = spill
        self.devices = devices
        self.config = config
        self._started = time.monotonic()

    def snapshot(self) -> HubTelemetry:
        backlog, error = None, None
        try:
            backlog = self.outbox.backlog()
        except OutboxUnavailable as e:
            error = printable_line(str(e))
        try:
            free: int | None = shutil.disk_usage(self.outbox.path.parent).free
        except OSError:
            free = None
        return HubTelemetry(
            hub_id=self.hub_id,
            at=datetime.now(UTC),
            software=self.software,
            uptime_s=int(time.monotonic() - self._started),
            outbox_depth=backlog.depth if backlog else 0,
            awaiting_receipt=backlog.awaiting_receipt if backlog else 0,
            quarantined=backlog.quarantined if backlog else 0,
            outbox_error=error,
            oldest_unsent_at=backlog.oldest if backlog else None,
            held_in_memory=len(self.spill.held) if self.spill is not None else 0,
            disk_free_bytes=free,
            devices=self.devices() if self.devices is not None else [],
            config_version=self.config.version if self.config is not None else None,
            config_error=self.config.error if self.config is not None else None,
            checks=self._checks(),
        )

    def _checks(self) -> list[HubCheck]:
        # A check that breaks must not cost the rest of the report: the hub's health matters
        # most exactly when something is broken.
        if self.checks is None:
            return []
        try:
            return self.checks()
        except Exception:
            log.exception("could not run the hub's self-checks")
            return []


class TelemetryPublisher:
    """A background thread: a snapshot on every (re)connection, then every ``interval_s``."""

    def __init__(self, health: HubHealth, session: MqttSession, *, interval_s: float = DEFAULT_INTERVAL_S):
        self.health = health
        self.session = session
        self.interval_s = interval_s
        self.topic = topic(health.hub_id, Channel.TELEMETRY)
        self.sent = 0
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._poke.set()
        self._thread.join(timeout)

    def set_interval(self, seconds: float) -> None:
        """From the server's configuration; takes effect after the next report."""
        self.interval_s = seconds

    def poke(self) -> None:
        """Report now rather than at the next interval (e.g. a new configuration applied)."""
        self._poke.set()

    def publish_once(self) -> bool:
        try:
            payload = self.health.snapshot().to_json()
        except Exception:  # a health probe must never take the hub down; logged with its trace
            log.exception("could not collect hub telemetry")
            return False
        if self.session.publish_nowait(self.topic, payload):
            self.sent += 1
            return True
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.session.connected.wait(timeout=1.0):
                continue
            self._poke.clear()
            self.publish_once()
            deadline = time.monotonic() + self.interval_s
            # Wake early on a reconnection or a poke, so the server hears the news straight away.
            while not self._stop.is_set() and time.monotonic() < deadline:
                if not self.session.connected.is_set() or self._poke.wait(1.0):
                    break


def attach_telemetry_and_config(
    session: MqttSession,
    hub_id: str,
    outbox: Outbox,
    allowlist: Allowlist,
    state_dir: Path,
    *,
    software: str,
    interval_s: float,
    spill: SpillOver | None = None,
    devices: Callable[[], list[DeviceTelemetry]] | None = None,
    checks: Callable[[], list[HubCheck]] | None = None,
) -> tuple[TelemetryPublisher, RemoteConfigApplier]:
    """A hub's two conversations with the server besides its readings, set up the same way
    for a real hub and a simulated one: health reports out, configuration in, each new
    configuration reported straight away. Call before ``session.start``."""
    remote = RemoteConfigApplier(hub_id, allowlist, state_dir / "remote-config.json")
    health = HubHealth(
        hub_id, outbox, software=software, spill=spill, devices=devices, config=remote, checks=checks
    )
    telemetry = TelemetryPublisher(health, session, interval_s=interval_s)
    remote.on_telemetry_interval = telemetry.set_interval
    remote.on_change = telemetry.poke
    session.subscribe(topic(hub_id, Channel.CONFIG), remote.handle)
    return telemetry, remote
