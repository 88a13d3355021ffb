"""``carewatch hub run``: the hub process, assembled. The one place that knows every part of
the hub (configuration, the outbox and spill-over, the MQTT session and its publisher,
telemetry and remote configuration, the radio), so that each part knows only its own job:
``ble/`` never imports ``mqtt/`` and ``mqtt/`` never imports ``ble/``.

Threads vs asyncio: bleak is asyncio; the outbox publisher and paho run their own threads.
The only bridge is the sink, ``SpillOver`` (a quick SQLite insert, thread-safe).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.allowlist import Allowlist
from gateway.ble.hub import BleHub
from gateway.ble.seen import SeenReadings
from gateway.disk_reserve import DiskReserve
from gateway.sd_notify import notify, watchdog_interval

if TYPE_CHECKING:
    from common.supervision import Supervisor

log = logging.getLogger(__name__)


async def _keep_watchdog_fed(supervisor: Supervisor) -> None:
    """Ping systemd's watchdog from the event loop itself, so a loop stuck in a Bluetooth
    call stops the pings; a failed thread stops them too (and the hub is stopping anyway)."""
    every = watchdog_interval()
    if every is None:
        return
    while not supervisor.failed.is_set():
        notify("WATCHDOG=1")
        await asyncio.sleep(every)


def _software() -> str:
    """ "carewatch-hub 1.4.0": the version a technician compares on the hub's page."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"carewatch-hub {version('carewatch')}"
    except PackageNotFoundError:  # a checkout run without installing
        return "carewatch-hub (not installed)"


def run_hub_process(config_path: Path) -> int:
    """``carewatch hub run``: everything until SIGTERM/SIGINT, then a clean stop. Returns the
    exit status: 0 after a requested stop, ``EXIT_LOOP_FAILED`` if a loop failed (so systemd
    restarts the hub; the outbox and the rescue files carry every reading across)."""
    from common.mqtt import BrokerEndpoint
    from common.supervision import EXIT_LOOP_FAILED, Supervisor
    from gateway.catalogue.loader import load_catalogue
    from gateway.config import load_hub_config
    from gateway.diagnostics.doctor import local_checks
    from gateway.diagnostics.scanning import hub_scanning_check
    from gateway.feedback.attach import HubFeedback
    from gateway.mqtt.publisher import OutboxPublisher
    from gateway.mqtt.session import MqttSession
    from gateway.mqtt.telemetry import attach_telemetry_and_config
    from gateway.outbox import Outbox, ResendPolicy
    from gateway.spill_over import SpillOver

    cfg = load_hub_config(config_path)
    catalogue = load_catalogue(cfg.catalogue_dir)
    supervisor = Supervisor()
    reserve = DiskReserve(cfg.state_dir / "disk-reserve", cfg.reserve_mb << 20)
    if cfg.reserve_mb:
        reserve.ensure()
    # Opened on first use, not here: a hub restarted on a full card still runs and holds
    # what its devices send until the outbox can take it.
    outbox = Outbox(
        cfg.outbox_path,
        resend=ResendPolicy(first_s=cfg.receipt_timeout_s),
        lazy=True,
        on_full=reserve.release if cfg.reserve_mb else None,
        on_room=reserve.ensure if cfg.reserve_mb else None,
    )
    seen = SeenReadings(cfg.seen_readings_path)
    allowlist = Allowlist(cfg.allowlist_path)
    endpoint = BrokerEndpoint(
        cfg.broker.host, cfg.broker.port, cfg.broker.ca_file, cfg.hub_id, cfg.password(), cfg.broker.keepalive
    )
    software = _software()
    mqtt = MqttSession(endpoint, software=software)
    publisher = OutboxPublisher(outbox, mqtt, cfg.hub_id, batch_size=cfg.batch_size, supervisor=supervisor)
    spill = SpillOver(outbox, publisher.notify, rescue_dirs=cfg.rescue_dirs, supervisor=supervisor)
    spill.recover()
    feedback = HubFeedback.attach(
        cfg.feedback, cfg.hub_id, cfg.household_tz(), mqtt, publisher, state_dir=cfg.state_dir
    )
    hub = BleHub(
        catalogue=catalogue,
        allowlist=allowlist,
        seen=seen,
        sink=feedback.watching(spill) if feedback else spill,
        tz=cfg.household_tz(),
        adapter=cfg.adapter,
    )
    telemetry, remote = attach_telemetry_and_config(
        mqtt,
        cfg.hub_id,
        outbox,
        allowlist,
        cfg.state_dir,
        software=software,
        interval_s=cfg.telemetry_interval_s,
        spill=spill,
        devices=hub.device_telemetry,
        # The hub's own account of its scan replaces what the adapter shows: only it knows it means to scan.
        checks=lambda: local_checks(cfg, scanning=lambda: hub_scanning_check(hub.scan_state)),
    )
    hub.on_session_end = telemetry.poke
    # A broken radio, a lost one and one back are news for the server straight away.
    hub.on_radio_change = telemetry.poke
    if feedback:
        feedback.follow(remote)
        feedback.service.start()
    mqtt.start()
    publisher.start()
    spill.start()
    telemetry.start()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, hub.stop)

        def stop_from_another_thread() -> None:
            loop.call_soon_threadsafe(hub.stop)

        supervisor.on_failure(stop_from_another_thread)
        if supervisor.failed.is_set():  # a thread failed before the loop was there to hear it
            hub.stop()
        notify(f"READY=1\nSTATUS=hub {cfg.hub_id} running")
        watchdog = asyncio.create_task(_keep_watchdog_fed(supervisor))
        try:
            await hub.run()
        finally:
            watchdog.cancel()
            notify("STOPPING=1")

    try:
        asyncio.run(main())
    finally:
        if feedback:
            feedback.service.stop()
        telemetry.stop()
        publisher.stop()
        spill.close()
        mqtt.stop()
        seen.close()
        outbox.close()
    if supervisor.failed.is_set():
        log.critical("hub stopped because a loop failed (%s); exiting for a restart", supervisor.reason)
        return EXIT_LOOP_FAILED
    return 0
