"""The radio side of the hub: scanner → one loop per paired device → sessions → the sink.

Home devices are awake for a minute or so after a measurement and asleep otherwise, so the hub
never "keeps a connection": it scans all the time and, per paired device, waits for the next
advertisement, runs one session, and waits again. A session that fails (device walked out of
range, pairing refused) is logged and retried on the next advertisement after a short back-off
(the delays of a ``common.retry`` policy: here the wait is for an advertisement, not a sleep),
never fatal to the hub or to other devices.

Readings leave through the sink the hub process gives it (``gateway.daemon`` wires the
spill-over and outbox there); this module knows nothing of MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from common.retry import RetryPolicy
from common.wire.messages import MAX_DEVICES_PER_HUB, DeviceTelemetry, printable_line
from gateway.allowlist import Allowlist
from gateway.ble.agent import AgentError, RegisteredAgent
from gateway.ble.scanner import DeviceClassifier, DeviceScanner, ScannerError, Sighting
from gateway.ble.seen import SeenReadings
from gateway.ble.session import (
    DEFAULT_IDLE_TIMEOUT_S,
    Clock,
    DeviceSession,
    DeviceSessionError,
    ReadingSink,
    SessionReport,
    utc_now,
)
from gateway.catalogue.matching import Catalogue
from gateway.diagnostics.bluetooth import explain_radio_failure

log = logging.getLogger(__name__)


@dataclass
class HubTuning:
    """Timings; defaults suit real devices, tests shorten them."""

    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S
    reconnect_delay: float = 1.0  # after a session, ignore sightings for this long
    failure_backoff: float = 5.0  # after a failed session (doubles up to max_backoff)
    max_backoff: float = 60.0
    connect_attempts: int = 3
    radio_retry_first: float = 2.0  # a broken radio (no D-Bus/bluetoothd/adapter): first retry
    radio_retry_cap: float = 60.0


@dataclass
class DeviceStats:
    sessions: int = 0
    failures: int = 0
    readings: int = 0
    undecodable: int = 0  # packets its decoder refused, kept and sent as undecoded packets
    last_report: SessionReport | None = None
    reports: list[SessionReport] = field(default_factory=list)
    model_id: str = ""
    last_session_at: datetime | None = None
    battery_percent: int | None = None  # the last level the device reported
    last_error: str | None = None  # cleared by the next good session
    rssi_dbm: int | None = None  # of the last advertisement heard, in a session or not
    firmware: str | None = None  # the last revision its Device Information service gave


def _plausible_rssi(rssi: int | None) -> int | None:
    """BlueZ reports 127 for "not known" (the HCI's unavailable value); the wire takes -127..20."""
    return rssi if rssi is not None and -127 <= rssi <= 20 else None


class DeviceLoop:
    """Per paired device: wait for an advertisement, run a session, repeat."""

    def __init__(self, address: str, hub: BleHub) -> None:
        self.address = address
        self.hub = hub
        self.stats = DeviceStats()
        self._latest: Sighting | None = None
        self._wake = asyncio.Event()
        self._not_before = 0.0
        self.in_session = False

    def offer(self, sighting: Sighting) -> None:
        """Called from the scanner for every advertisement of this device.

        Ignored while a session runs and for a moment after it: BlueZ reports the connection's own
        property changes (Connected, ServicesResolved, Paired) like advertisements, and those must
        not start another session with a device that has just hung up.
        """
        if sighting.rssi is not None:
            self.stats.rssi_dbm = sighting.rssi
        if self.in_session or sighting.seen_at < self._not_before:
            return
        self._latest = sighting
        self._wake.set()

    def wake(self) -> None:
        """Let ``run`` re-check the hub's state (used when the hub stops)."""
        self._wake.set()

    async def run(self) -> None:
        tuning = self.hub.tuning
        policy = RetryPolicy(first=tuning.failure_backoff, factor=2.0, cap=tuning.max_backoff)
        delays = policy.delays()
        while not self.hub.stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            sighting, self._latest = self._latest, None
            if sighting is None or self.hub.stopping.is_set():
                continue
            self.in_session = True
            try:
                report = await self._session(sighting)
            except DeviceSessionError as e:
                self.stats.failures += 1
                self.stats.last_error = printable_line(str(e), 200)
                self.hub.session_ended()
                delay = next(delays)
                log.warning("%s; next try on its next advertisement after %.0fs", e, delay)
                self._not_before = time.monotonic() + delay
                continue
            finally:
                self.in_session = False
                self._latest = None
                self._wake.clear()
            delays = policy.delays()  # a good session: the next failure waits the first delay
            self.stats.sessions += 1
            self.stats.readings += report.readings
            self.stats.undecodable += report.undecodable
            self.stats.last_report = report
            self.stats.model_id = report.model_id
            self.stats.last_session_at = self.hub.now()
            self.stats.last_error = None
            if report.battery_percent is not None:
                self.stats.battery_percent = report.battery_percent
            if report.identity is not None and report.identity.firmware:
                self.stats.firmware = report.identity.firmware
            self.hub.session_ended()
            self.stats.reports.append(report)
            del self.stats.reports[:-20]
            self._not_before = time.monotonic() + self.hub.tuning.reconnect_delay

    async def _session(self, sighting: Sighting) -> SessionReport:
        session = DeviceSession(
            sighting.device,
            sighting.model,
            sink=self.hub.sink,
            seen=self.hub.seen,
            tz=self.hub.tz,
            adapter=self.hub.adapter,
            now=self.hub.now,
            idle_timeout=self.hub.tuning.idle_timeout,
            connect_attempts=self.hub.tuning.connect_attempts,
            stop=self.hub.stopping,
        )
        return await session.run()


class BleHub:
    """The asyncio side of the hub. ``await run()`` until ``stopping`` is set."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        allowlist: Allowlist,
        seen: SeenReadings,
        sink: ReadingSink,
        tz: tzinfo,
        adapter: str = "hci0",
        now: Clock = utc_now,
        tuning: HubTuning | None = None,
        pairing_agent: bool = True,
    ) -> None:
        self.catalogue = catalogue
        #: Called after every device session (the telemetry publisher's poke, in a hub process).
        self.on_session_end: Callable[[], None] | None = None
        #: Called when the radio fails to start or comes back (the telemetry publisher's poke).
        self.on_radio_change: Callable[[], None] | None = None
        #: Why the radio is not usable, in plain words; None while it works.
        self.radio_error: str | None = None
        self.allowlist = allowlist
        self.seen = seen
        self.sink = sink
        self.tz = tz
        self.adapter = adapter
        self.now = now
        self.tuning = tuning or HubTuning()
        self.pairing_agent = pairing_agent
        self.stopping = asyncio.Event()
        self.started = asyncio.Event()
        self.loops: dict[str, DeviceLoop] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.classifier = DeviceClassifier(catalogue, allowlist)

    def session_ended(self) -> None:
        """A device session ended (well or not): what the hub knows of its devices changed,
        so whoever reports it (the telemetry publisher) may want to say so now."""
        if self.on_session_end is not None:
            self.on_session_end()

    def device_telemetry(self) -> list[DeviceTelemetry]:
        """Every paired device, with what this run of the hub has learnt about it; called
        from the telemetry thread, so it only reads."""
        out = []
        for paired in self.allowlist.devices():
            loop = self.loops.get(paired.address)
            stats = loop.stats if loop is not None else DeviceStats()
            out.append(
                DeviceTelemetry(
                    address=paired.address,
                    model=stats.model_id or paired.model_id or "unknown",
                    last_session_at=stats.last_session_at,
                    battery_percent=stats.battery_percent,
                    readings=stats.readings,
                    undecodable=stats.undecodable or None,  # left out while none (see the contract)
                    last_error=stats.last_error,
                    rssi_dbm=_plausible_rssi(stats.rssi_dbm),
                    firmware=printable_line(stats.firmware, 64) if stats.firmware else None,
                )
            )
        return out[:MAX_DEVICES_PER_HUB]

    def _on_sighting(self, sighting: Sighting) -> None:
        if not sighting.allowlisted or self.stopping.is_set():
            return
        loop = self.loops.get(sighting.address)
        if loop is None:
            loop = self.loops[sighting.address] = DeviceLoop(sighting.address, self)
            self._tasks[sighting.address] = asyncio.get_running_loop().create_task(
                self._guard(loop), name=f"device {sighting.address}"
            )
            log.info("%s %s (%s) is paired to this hub", sighting.model.id, sighting.address, sighting.name)
        loop.offer(sighting)

    async def _guard(self, loop: DeviceLoop) -> None:
        try:
            await loop.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in one device's loop must not silence the others; log and drop the loop so
            # the device's next advertisement starts a fresh one.
            log.exception("device loop for %s crashed", loop.address)
            self.loops.pop(loop.address, None)
            self._tasks.pop(loop.address, None)

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if not await self._start_radio(stack):
                log.info("hub stopped before the radio came up")
                return
            stack.push_async_callback(self._cancel_loops)  # first out: sessions end before the scan
            self.started.set()
            log.info(
                "hub running on %s: %d paired device(s), %d supported model(s)",
                self.adapter,
                len(self.allowlist.devices()),
                len(self.catalogue),
            )
            await self.stopping.wait()
        log.info("hub stopped")

    async def _start_radio(self, stack: contextlib.AsyncExitStack) -> bool:
        """Register the pairing agent and start the scan, retrying with back-off while the radio
        is broken (no D-Bus, no bluetoothd, no adapter). The hub process keeps running meanwhile,
        so its outbox still drains and its telemetry says what is wrong, instead of exiting and
        being restarted every few seconds while the server sees only "offline". False if asked
        to stop first."""
        tuning = self.tuning
        delays = RetryPolicy(first=tuning.radio_retry_first, cap=tuning.radio_retry_cap).delays()
        while not self.stopping.is_set():
            attempt = contextlib.AsyncExitStack()
            try:
                if self.pairing_agent:
                    try:
                        await attempt.enter_async_context(RegisteredAgent(self.allowlist))
                    except AgentError as e:
                        log.error("%s; devices that need bonding cannot pair until this is fixed", e)
                scanner = DeviceScanner(self.adapter, self.classifier, self._on_sighting)
                await scanner.start()
                attempt.push_async_callback(scanner.stop)
            except ScannerError as e:
                await attempt.aclose()
                cause = await explain_radio_failure(self.adapter)
                self.radio_error = printable_line(cause or str(e))
                delay = next(delays)
                log.error("radio not usable: %s; trying again in %.0fs", self.radio_error, delay)
                self._radio_changed()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                continue
            stack.push_async_callback(attempt.aclose)
            if self.radio_error is not None:
                log.info("radio usable again on %s", self.adapter)
                self.radio_error = None
                self._radio_changed()
            return True
        return False

    def _radio_changed(self) -> None:
        if self.on_radio_change is not None:
            self.on_radio_change()

    async def _cancel_loops(self) -> None:
        # Sessions watch ``stopping`` and disconnect by themselves; give them a moment first.
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        self.stopping.set()
        for loop in self.loops.values():
            loop.wake()
