"""Applying the server's configuration on the hub: which devices are paired, and how often
to report health.

The server keeps one retained ``RemoteConfig`` on the hub's ``config`` topic, so a hub hears
the latest on every connection. It applies a version newer than the one it has recorded
(``remote-config.json`` in its state dir, written atomically), refuses one that does not
validate or names another hub (and says why in its telemetry), and ignores older or equal
versions: a broker that replays an old retained message cannot roll a hub back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from common.wire.messages import RemoteConfig, printable_line, summarise_validation
from gateway.allowlist import Allowlist
from gateway.atomic_file import write_json

log = logging.getLogger(__name__)


class RemoteConfigApplier:
    def __init__(
        self,
        hub_id: str,
        allowlist: Allowlist,
        state_path: Path,
        *,
        on_telemetry_interval: Callable[[float], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.hub_id = hub_id
        self.allowlist = allowlist
        self.state_path = state_path
        self.on_telemetry_interval = on_telemetry_interval
        self.on_change = on_change
        self.error: str | None = None
        self._lock = threading.Lock()
        self.version: int | None = self._recorded_version()

    def _recorded_version(self) -> int | None:
        try:
            version = json.loads(self.state_path.read_text(encoding="utf-8")).get("version")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError) as e:
            log.error(
                "cannot read %s (%s); the next configuration from the server will be applied",
                self.state_path,
                e,
            )
            return None
        return version if isinstance(version, int) else None

    def handle(self, payload: bytes) -> None:
        """One message from the config topic (paho's thread)."""
        with self._lock:
            self._handle(payload)
        if self.on_change is not None:
            self.on_change()

    def _handle(self, payload: bytes) -> None:
        try:
            config = RemoteConfig.model_validate_json(payload)
        except ValidationError as e:
            self._refuse(summarise_validation(e, limit=1, what="configuration"))
            return
        if config.hub_id != self.hub_id:
            self._refuse(f"configuration for hub {config.hub_id!r} sent to {self.hub_id!r}")
            return
        if self.version is not None and config.version <= self.version:
            log.debug("configuration version %d already applied (have %d)", config.version, self.version)
            return
        changed = self.allowlist.replace(
            [(d.address, d.model_id) for d in config.paired_devices],
            note=f"server configuration v{config.version}",
        )
        if config.telemetry_interval_s is not None and self.on_telemetry_interval is not None:
            self.on_telemetry_interval(config.telemetry_interval_s)
        self._record(config.version)
        self.version, self.error = config.version, None
        log.info(
            "applied server configuration version %d: %d paired device(s)%s",
            config.version,
            len(config.paired_devices),
            "" if changed else " (unchanged)",
        )

    def _refuse(self, reason: str) -> None:
        self.error = printable_line(reason)
        log.error("refused a configuration from the server: %s", reason)

    def _record(self, version: int) -> None:
        write_json(self.state_path, {"version": version})
