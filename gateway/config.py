"""The hub's configuration file (TOML), validated at start with errors a technician can act on."""

from __future__ import annotations

import os
import tomllib
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.wire.messages import MAX_READINGS_PER_BATCH
from common.wire.topics import HUB_ID_PATTERN
from gateway.feedback.settings import FeedbackSettings

#: Readings per batch when a backlog drains (``fit_batch`` keeps each under the message size
#: limit). 200, not 50: the per-batch costs (one round trip to the broker, one transaction)
#: then weigh a quarter as much per reading; the server takes up to ``MAX_READINGS_PER_BATCH``.
DEFAULT_BATCH_SIZE = 200


class ConfigError(ValueError):
    """The hub configuration is missing or wrong; the message names the file and the field."""


class BrokerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "localhost"
    port: int = Field(default=8883, ge=1, le=65535)
    ca_file: Path = Field(description="CA certificate that signed the broker's certificate")
    password_file: Path = Field(description="file holding this hub's MQTT password (mode 0600)")
    keepalive: int = Field(default=30, ge=5, le=600)


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hub_id: str = Field(pattern=HUB_ID_PATTERN, description="also the hub's MQTT user name")
    broker: BrokerConfig
    state_dir: Path = Path("/var/lib/carewatch-hub")
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=MAX_READINGS_PER_BATCH)
    adapter: str = "hci0"
    telemetry_interval_s: float = Field(
        default=300.0, ge=10, le=86400, description="how often the hub reports its health"
    )
    allowlist_file: Path | None = Field(
        default=None,
        description="devices paired to this hub (JSON; default STATE_DIR/paired-devices.json)",
    )
    catalogue_dir: Path | None = Field(
        default=None,
        description="device catalogue directory (default: the one shipped with the package)",
    )
    timezone: str | None = Field(
        default=None,
        description="household IANA time zone, e.g. Europe/London, for device clocks (default: the system's)",
    )
    receipt_timeout_s: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="send a reading again if the server has not confirmed it this long after the broker took it",
    )
    reserve_mb: int = Field(
        default=8,
        ge=0,
        le=1024,
        description="space held back on the card for the outbox, released when the card fills (0: none)",
    )
    clock_sync_flag: Path = Field(
        default=Path("/run/systemd/timesync/synchronized"),
        description=(
            "the file the NTP client keeps while the clock is synchronised (systemd-timesyncd's by default); "
            "'hub doctor' and the telemetry read it"
        ),
    )
    rescue_dir: Path | None = Field(
        default=None,
        description=(
            "where readings held in memory go when the outbox disk is full and the hub stops "
            "(default: systemd's RUNTIME_DIRECTORY, else /run/carewatch-hub: RAM, not the SD card)"
        ),
    )

    feedback: FeedbackSettings = Field(
        default_factory=FeedbackSettings, description="what the patient hears and sees (off by default)"
    )

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    @property
    def allowlist_path(self) -> Path:
        return self.allowlist_file or self.state_dir / "paired-devices.json"

    @property
    def seen_readings_path(self) -> Path:
        return self.state_dir / "seen-readings.sqlite3"

    @property
    def rescue_dirs(self) -> list[Path]:
        """Where held readings may be rescued to, best first: RAM, then the state directory
        (useful when the outbox failed for another reason than space)."""
        runtime = os.environ.get("RUNTIME_DIRECTORY")
        first = self.rescue_dir or (Path(runtime.split(":")[0]) if runtime else Path("/run/carewatch-hub"))
        return [first, self.state_dir / "rescued"]

    def household_tz(self) -> tzinfo:
        """The zone device clocks are set in and their naive timestamps are read in."""
        if self.timezone is None:
            local = datetime.now().astimezone().tzinfo
            assert local is not None
            return local
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"timezone {self.timezone!r} is not a known IANA time zone: {e}") from None

    def password(self) -> str:
        try:
            return self.broker.password_file.read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read the MQTT password file {self.broker.password_file}: {e}") from e


def load_hub_config(path: Path) -> HubConfig:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read hub config {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from e
    try:
        return HubConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{path}: {problems}") from None
