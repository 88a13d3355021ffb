"""The radio side of the hub: scanner → one loop per paired device → sessions → the sink.

Home devices are awake for a minute or so after a measurement and asleep otherwise, so the hub
never "keeps a connection": it scans all the time and, per paired device, waits for the next
advertisement, runs one session, and waits again. A session that fails (device walked out of
range, pairing refused) is logged and retried on the next advertisement after a short back-off
(the delays of a ``common.retry`` policy: here the wait is for an advertisement, not a sleep),
never fatal to the hub or to other devices.

The radio can go away under a running hub (bluetoothd restarted, the adapter pulled out or
switched off): a ``RadioWatch`` says so, the hub ends its sessions and its scan, says why
(``scan_state``, which the telemetry carries at once), and starts the radio again as soon as
the watch sees it back, without leaving the process: the outbox and the MQTT side go on.

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
from datetime import UTC, datetime, tzinfo

from common.retry import RetryPolicy
from common.wire.messages import MAX_DEVICES_PER_HUB, DeviceTelemetry, printable_line
from gateway.allowlist import Allowlist
from gateway.ble.agent import AgentError, RegisteredAgent
from gateway.ble.radio_watch import DEFAULT_DISCOVERING_GRACE_S, DEFAULT_POLL_S, RadioWatch
from gateway.ble.scanner import DeviceClassifier, DeviceScanner, ScannerError, Sighting, forget_bluez_state
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
from gateway.diagnostics.bluetooth import radio_failure
from gateway.diagnostics.scanning import ScanState

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
    radio_poll: float = DEFAULT_POLL_S  # the radio watch's safety-net poll
    discovering_grace: float = DEFAULT_DISCOVERING_GRACE_S  # a scan BlueZ ended, tolerated this long


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
        watch_radio: bool = True,
    ) -> None:
        self.catalogue = catalogue
        #: Called after every device session (the telemetry publisher's poke, in a hub process).
        self.on_session_end: Callable[[], None] | None = None
        #: Called when the radio fails to start or comes back (the telemetry publisher's poke).
        self.on_radio_change: Callable[[], None] | None = None
        #: Why the radio is not usable, in plain words; None while it works.
        self.radio_error: str | None = None
        #: Whether the hub scans, since when, and why not: read by the telemetry thread.
        self.scan_state = ScanState(adapter, scanning=False, since=datetime.now(UTC))
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
        self.watch: RadioWatch | None = None
        if watch_radio:
            self.watch = RadioWatch(
                adapter,
                on_lost=self._radio_lost,
                on_back=self._radio_back,
                poll_s=self.tuning.radio_poll,
                discovering_grace_s=self.tuning.discovering_grace,
            )
        self._lost_reason: str | None = None
        self._lost = asyncio.Event()
        self._back = asyncio.Event()
        self._scanning = False

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
        if not sighting.allowlisted or self.stopping.is_set() or not self._scanning:
            return
        loop = self.loops.get(sighting.address)
        if loop is None:
            loop = self.loops[sighting.address] = DeviceLoop(sighting.address, self)
            log.info("%s %s (%s) is paired to this hub", sighting.model.id, sighting.address, sighting.name)
        if sighting.address not in self._tasks:
            # A new device, or one whose loop ended with the radio's last life: its stats stay.
            self._tasks[sighting.address] = asyncio.get_running_loop().create_task(
                self._guard(loop), name=f"device {sighting.address}"
            )
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
        watching = asyncio.get_running_loop().create_task(self.watch.run()) if self.watch else None
        try:
            while not self.stopping.is_set():
                lost = await self._radio_life()
                if lost is None:
                    break
                # Whatever bleak remembers of the old bluetoothd (its adapter, devices and
                # GATT objects) would mislead the next scan and sessions: it starts afresh.
                await forget_bluez_state()
        finally:
            if self.watch is not None and watching is not None:
                self.watch.stop()
                done, _ = await asyncio.wait({watching}, timeout=5)
                if not done:  # a D-Bus call that hangs beyond its own time limit
                    watching.cancel()
                    await asyncio.gather(watching, return_exceptions=True)
        log.info("hub stopped")

    async def _radio_life(self) -> str | None:
        """Start the radio (retrying while it is broken) and run until the hub stops (None) or
        the radio is lost (why, in plain words)."""
        self._lost.clear()
        self._lost_reason = None
        async with contextlib.AsyncExitStack() as stack:
            if not await self._start_radio(stack):
                log.info("hub stopped before the radio came up")
                return None
            stack.push_async_callback(self._end_sessions)  # first out: sessions end before the scan
            if not self.started.is_set():
                self.started.set()
                log.info(
                    "hub running on %s: %d paired device(s), %d supported model(s)",
                    self.adapter,
                    len(self.allowlist.devices()),
                    len(self.catalogue),
                )
            stopped = asyncio.ensure_future(self.stopping.wait())
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await asyncio.wait({stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                lost.cancel()
            if self.stopping.is_set():
                self._scan_ended(None)
                return None
            reason = self._lost_reason or "the radio went away"
            # Said before the sessions and the scan are taken down (which may wait on a dead
            # bluetoothd): the server hears "Bluetooth stopped" now, not in a minute.
            self.radio_error = reason
            self._scan_ended(reason)
            log.error(
                "radio lost on %s: %s; ending sessions and the scan, and starting again when it is back",
                self.adapter,
                reason,
            )
            self._radio_changed()
        return reason

    def _scan_started(self) -> None:
        self._scanning = True
        self.scan_state = ScanState(self.adapter, scanning=True, since=datetime.now(UTC))
        if self.watch is not None:
            self.watch.expect_scanning(True)

    def _scan_ended(self, reason: str | None) -> None:
        self._scanning = False
        if self.watch is not None:
            self.watch.expect_scanning(False)
        if reason is not None:
            self.scan_state = ScanState(self.adapter, scanning=False, since=datetime.now(UTC), reason=reason)

    def _radio_lost(self, reason: str) -> None:
        """From the watch: ignored unless the radio is up (a broken radio is being retried)."""
        if self._scanning and not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    def _radio_back(self) -> None:
        """From the watch: something may have mended the radio, so a retry waits no longer."""
        if not self._scanning:
            self._back.set()

    async def _start_radio(self, stack: contextlib.AsyncExitStack) -> bool:
        """Register the pairing agent and start the scan, retrying with back-off while the radio
        is broken (no D-Bus, no bluetoothd, no adapter). The hub process keeps running meanwhile,
        so its outbox still drains and its telemetry says what is wrong, instead of exiting and
        being restarted every few seconds while the server sees only "offline". False if asked
        to stop first."""
        tuning = self.tuning
        delays = RetryPolicy(first=tuning.radio_retry_first, cap=tuning.radio_retry_cap).delays()
        while not self.stopping.is_set():
            self._back.clear()
            # The layers first: no agent registered with a bluetoothd that is not there (one
            # error line, not two, per retry), and no scan "started" on an adapter that is
            # switched off (an emulated BlueZ allows it; the hub would believe it scans).
            cause = await radio_failure(self.adapter)
            error = f"{cause.summary}. {cause.fix}" if cause is not None else None
            attempt = contextlib.AsyncExitStack()
            if cause is None:
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
                    cause = await radio_failure(self.adapter)
                    error = f"{cause.summary}. {cause.fix}" if cause is not None else str(e)
            if error is not None:
                self.radio_error = printable_line(error)
                if not self.started.is_set() or self.scan_state.reason is None:
                    # Not scanning from the start: the layer broken now is the reason. After a
                    # loss, the loss stays the reason (and its time, the time it stopped).
                    reason = cause.summary if cause is not None else self.radio_error
                    self.scan_state = ScanState(
                        self.adapter, scanning=False, since=self.scan_state.since, reason=reason
                    )
                delay = next(delays)
                log.error("radio not usable: %s; trying again in %.0fs", self.radio_error, delay)
                self._radio_changed()
                await self._wait_for_retry(delay)
                continue
            stack.push_async_callback(attempt.aclose)
            self._scan_started()  # before the news goes out, so the news is that it scans
            if self.radio_error is not None:
                log.info("radio usable again on %s: scanning", self.adapter)
                self.radio_error = None
                self._radio_changed()
            return True
        return False

    async def _wait_for_retry(self, delay: float) -> None:
        """Until the next attempt: the back-off's delay, cut short by a stop or by the watch
        seeing the radio mended (bluetoothd back, the adapter added or powered)."""
        waits = [asyncio.ensure_future(self.stopping.wait()), asyncio.ensure_future(self._back.wait())]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _radio_changed(self) -> None:
        if self.on_radio_change is not None:
            self.on_radio_change()

    async def _end_sessions(self) -> None:
        """End every device loop. On a stop, sessions watch ``stopping`` and disconnect by
        themselves, so they get a moment first; with the radio gone there is nothing to wait
        for. A device cut off mid-transfer keeps its memory and sends it at its next session
        (and ``seen`` drops what was already stored)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        if not tasks:
            return
        pending = set(tasks)
        if self.stopping.is_set():
            _, pending = await asyncio.wait(tasks, timeout=5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        self.stopping.set()
        for loop in self.loops.values():
            loop.wake()
