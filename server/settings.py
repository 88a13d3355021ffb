"""Server settings from the environment (``CAREWATCH_*``), with defaults for a local run.

Nested settings use a double underscore: ``CAREWATCH_INFLUX__URL``,
``CAREWATCH_MQTT__PASSWORD_FILE``. Secrets are read from files, never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.mqtt import BrokerEndpoint
from common.wire.topics import RESERVED_PREFIX
from server.api.guesses import GuessSettings
from server.broker.identities import INGEST_USER, SERVER_USER
from server.store.influx.config import InfluxConfig


class MqttSettings(BaseModel):
    """The broker, and the server's two identities on it (``server.broker.identities``): the
    control plane (API, command line: hubs' configuration, broker administration) and the
    ingest worker (readings in, receipts out). Each has its own password file."""

    host: str = "localhost"
    port: int = 8883
    ca_file: Path = Path("/etc/carewatch/ca.crt")
    username: str = SERVER_USER
    password_file: Path = Path("/etc/carewatch/mqtt-password")
    ingest_username: str = INGEST_USER
    ingest_password_file: Path = Path("/etc/carewatch/mqtt-ingest-password")
    # The broker as hubs reach it (written into their enrolment bundles); default host/port.
    hub_host: str | None = None
    hub_port: int | None = None

    @field_validator("username", "ingest_username")
    @classmethod
    def _servers_namespace(cls, v: str) -> str:
        """The server's identities live in ``carewatch-…``, which no hub id may enter
        (``common.wire.topics.valid_hub_id``): a hub could otherwise be registered under the
        ingest's or the control plane's user name, and re-keying or revoking it would re-key
        or lock out the server itself. Refused at start-up, before anything connects."""
        if not v.startswith(RESERVED_PREFIX) or len(v) <= len(RESERVED_PREFIX):
            raise ValueError(
                f"the server's broker user {v!r} must start with {RESERVED_PREFIX!r} "
                "(hub ids never do, so a hub can never be given the server's own identity)"
            )
        return v

    @model_validator(mode="after")
    def _two_identities(self) -> MqttSettings:
        if self.username == self.ingest_username:
            raise ValueError(
                f"the control plane and the ingest worker need their own broker users; both are {self.username!r}"
            )
        return self

    def endpoint(self) -> BrokerEndpoint:
        """The control plane's identity."""
        return BrokerEndpoint(
            self.host, self.port, self.ca_file, self.username, self.password_file.read_text().strip()
        )

    def ingest_endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(
            self.host,
            self.port,
            self.ca_file,
            self.ingest_username,
            self.ingest_password_file.read_text().strip(),
        )


class NotificationSettings(BaseModel):
    """Where alerts are announced. With no routing file nothing is sent, and /health says so.

    Deliveries wait in the server's database (``notification_deliveries``), not in a file of
    their own: the outbox file and its setting (``outbox_path``) are gone since migration 0011.
    """

    routing_file: Path | None = Field(default=None, description="teams, channels, on-call hours (YAML/JSON)")
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    smtp_sender: str = "carewatch-alerts@localhost"
    govuk_notify_api_key_file: Path | None = None
    govuk_notify_sms_template_id: str | None = None
    govuk_notify_email_template_id: str | None = None
    webhook_secrets_dir: Path | None = Field(default=None, description="one file per secret_id")


class EscalationSettings(BaseModel):
    after_minutes: float = Field(
        default=30, gt=0, description="unacknowledged red alerts climb a tier after this"
    )
    max_tier: int = Field(default=2, ge=0)


class HealthSettings(BaseModel):
    """The bounds ``/health`` judges the workers by. The ingest worker beats every few
    seconds and the ticker after every tick, so a minute of silence means dead or stuck."""

    worker_stale_s: float = Field(
        default=60, gt=0, description="a worker silent for longer is reported as not running"
    )
    ingest_lag_s: float = Field(
        default=300, gt=0, description="the oldest message received and not yet acknowledged may be this old"
    )
    notification_pending_s: float = Field(
        default=300, gt=0, description="a notification may wait this long for delivery"
    )
    check_timeout_s: float = Field(
        default=2.0, gt=0, le=10, description="longest wait for the broker, InfluxDB or the database"
    )


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREWATCH_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(default="sqlite:////var/lib/carewatch/carewatch.sqlite3")
    influx: InfluxConfig = Field(default_factory=lambda: InfluxConfig(url="http://localhost:8086"))
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    public_url: str = "http://localhost:8000"
    page_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 7, description="how long a sign-in to the pages lasts (a shift)"
    )
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    tick_seconds: float = Field(default=15, gt=0, description="how often time-based work runs")
    health: HealthSettings = Field(default_factory=HealthSettings)
    enrol_guesses: GuessSettings = Field(
        default_factory=GuessSettings, description="how many wrong claim codes /api/v1/enrol takes"
    )
    timezone: str = Field(
        default="Europe/London",
        description="IANA zone of the service: local days for daily weights and morning schedules",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
