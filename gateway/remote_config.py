"""Applying the server's configuration on the hub: which devices are paired, how often to
report health, and what the hub says to its patient (kept with the version, so a restarted
hub speaks as the patient wants before it reaches the broker).

The server keeps one retained ``RemoteConfig`` on the hub's ``config`` topic, so a hub hears
the latest on every connection. It applies a version newer than the one it has recorded
(``remote-config.json`` in its state dir, written atomically), refuses one that does not
validate or names another hub (and says why in its telemetry), and ignores older or equal
versions: a broker that replays an old retained message cannot roll a hub back.

A configuration whose ``paired_devices`` is null comes from a server that does not manage
this hub's devices: the allowlist a technician paired here stays as it is, the rest applies.
The record says which kind was applied last (``devices_from_server``), so ``hub pair`` warns
that the server's list wins only on a hub where it does. A record from before that key was
written came from a configuration with a list: the server's.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from common.wire.feedback_prefs import PatientFeedback
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
        #: Called with the patient's feedback preferences each time a configuration is applied.
        self.on_patient_feedback: Callable[[PatientFeedback | None], None] | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self.version: int | None = None
        self.patient_feedback: PatientFeedback | None = None
        #: Whether the last configuration applied listed the devices (the server's list wins).
        self.devices_from_server = False
        self._read_record()

    def _read_record(self) -> None:
        try:
            recorded = json.loads(self.state_path.read_text(encoding="utf-8"))
            version = recorded.get("version")
            feedback = recorded.get("patient_feedback")
            self.patient_feedback = None if feedback is None else PatientFeedback.model_validate(feedback)
        except FileNotFoundError:
            return
        except (OSError, ValueError, AttributeError) as e:  # ValidationError is a ValueError
            log.error(
                "cannot read %s (%s); the next configuration from the server will be applied",
                self.state_path,
                e,
            )
            return
        self.version = version if isinstance(version, int) else None
        self.devices_from_server = _from_server(recorded, self.version)

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
        changed = config.paired_devices is not None and self.allowlist.replace(
            [(d.address, d.model_id) for d in config.paired_devices],
            note=f"server configuration v{config.version}",
        )
        if config.telemetry_interval_s is not None and self.on_telemetry_interval is not None:
            self.on_telemetry_interval(config.telemetry_interval_s)
        if self.on_patient_feedback is not None:
            self.on_patient_feedback(config.patient_feedback)
        self._record(config)
        self.patient_feedback = config.patient_feedback
        self.devices_from_server = config.paired_devices is not None
        # Last: a reader that sees the new version (telemetry, tests) sees all of it.
        self.version, self.error = config.version, None
        if config.paired_devices is None:
            log.info("applied server configuration version %d: the hub keeps its own devices", config.version)
            return
        log.info(
            "applied server configuration version %d: %d paired device(s)%s",
            config.version,
            len(config.paired_devices),
            "" if changed else " (unchanged)",
        )

    def _refuse(self, reason: str) -> None:
        self.error = printable_line(reason)
        log.error("refused a configuration from the server: %s", reason)

    def _record(self, config: RemoteConfig) -> None:
        record: dict[str, object] = {
            "version": config.version,
            "devices_from_server": config.paired_devices is not None,
        }
        if config.patient_feedback is not None:
            record["patient_feedback"] = config.patient_feedback.model_dump(mode="json")
        write_json(self.state_path, record)


def _from_server(recorded: dict[str, object], version: int | None) -> bool:
    flag = recorded.get("devices_from_server")
    return flag if isinstance(flag, bool) else version is not None


def server_list_version(state_path: Path) -> int:
    """The version of the configuration this hub last applied if it listed the devices (the
    server's list is the hub's list), else 0: no configuration yet, or one that left the
    devices to the hub. Read from the record, for ``hub pair`` outside the hub process."""
    try:
        recorded = json.loads(state_path.read_text(encoding="utf-8"))
        version = recorded.get("version")
    except (OSError, ValueError, AttributeError):
        return 0
    if not isinstance(version, int):
        return 0
    return version if _from_server(recorded, version) else 0
