"""All the checks in order, for ``carewatch hub doctor`` (everything, including one real
connection to the broker) and for the running hub's telemetry (the local ones: a running
hub proves the broker and its credentials by the telemetry arriving at all)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from common.mqtt import BrokerEndpoint
from common.wire.messages import HubCheck
from common.wire.vocabulary import CheckStatus, HubCheckName
from gateway.config import ConfigError, HubConfig
from gateway.diagnostics.bluetooth import DEFAULT_RFKILL_DIR, bluetooth_checks
from gateway.diagnostics.broker import probe_broker
from gateway.diagnostics.certificates import certificates_check
from gateway.diagnostics.clock import clock_check
from gateway.diagnostics.disk import disk_check
from gateway.diagnostics.results import failed
from gateway.diagnostics.speech import DEFAULT_ASOUND_CARDS, speech_check

_MARK = {
    CheckStatus.OK: "ok",
    CheckStatus.WARNING: "WARNING",
    CheckStatus.FAILED: "FAILED",
    CheckStatus.SKIPPED: "-",
}


def local_checks(
    cfg: HubConfig,
    *,
    rfkill_dir: Path = DEFAULT_RFKILL_DIR,
    cards_file: Path = DEFAULT_ASOUND_CARDS,
    scanning: Callable[[], HubCheck] | None = None,
) -> list[HubCheck]:
    """Radio, scanning, clock, disk, speech and the CA file: what the hub can check without the
    broker. ``scanning`` is the running hub's own account of its scan, which replaces what the
    adapter shows (only the hub knows that it means to scan). Runs its own event loop, so call
    it from a thread that has none (the telemetry thread, the CLI)."""
    checks = asyncio.run(bluetooth_checks(cfg.adapter, rfkill_dir=rfkill_dir))
    if scanning is not None:
        checks = [scanning() if c.name is HubCheckName.SCANNING else c for c in checks]
    checks += [clock_check(cfg.clock_sync_flag), disk_check(cfg.state_dir)]
    checks.append(speech_check(cfg.feedback, cards_file=cards_file))
    checks.append(certificates_check(cfg.broker.ca_file, None))
    return checks


def all_checks(cfg: HubConfig, *, rfkill_dir: Path = DEFAULT_RFKILL_DIR) -> list[HubCheck]:
    """Every check, the broker's over one real connection as the hub."""
    checks = local_checks(cfg, rfkill_dir=rfkill_dir)[:-1]
    password: str | None = None
    try:
        password = cfg.password()
    except ConfigError as e:
        unreadable = str(e)
    endpoint = BrokerEndpoint(
        cfg.broker.host, cfg.broker.port, cfg.broker.ca_file, cfg.hub_id, password or "", cfg.broker.keepalive
    )
    probe = probe_broker(endpoint, connect=password is not None)
    credentials = probe.credentials
    if password is None and probe.certificate is not None:
        credentials = failed(
            HubCheckName.CREDENTIALS,
            unreadable,
            f"Write the hub's MQTT password to {cfg.broker.password_file} (mode 0600, readable by the hub).",
        )
    checks += [probe.broker, certificates_check(cfg.broker.ca_file, probe.certificate), credentials]
    return checks


def any_failed(checks: list[HubCheck]) -> bool:
    return any(c.status is CheckStatus.FAILED for c in checks)


def render_text(hub_id: str, checks: list[HubCheck]) -> str:
    lines = [f"hub {hub_id}"]
    for check in checks:
        lines.append(f"  {_MARK[check.status]:<8} {check.name.value:<13} {check.summary}")
        if check.fix is not None:
            lines.append(f"  {'':<8} {'':<13} what to do: {check.fix}")
    problems = [c for c in checks if c.status in (CheckStatus.FAILED, CheckStatus.WARNING)]
    if not problems:
        lines.append("all checks passed")
    else:
        failures = sum(c.status is CheckStatus.FAILED for c in problems)
        lines.append(f"{failures} failed, {len(problems) - failures} warning(s)")
    return "\n".join(lines)


def render_json(hub_id: str, checks: list[HubCheck]) -> str:
    return json.dumps(
        {
            "hub_id": hub_id,
            "ok": not any_failed(checks),
            "checks": [c.model_dump(mode="json", exclude_none=True) for c in checks],
        },
        indent=2,
    )
