"""Server settings from the environment (``CAREWATCH_*``), with defaults for a local run.

Nested settings use a double underscore: ``CAREWATCH_INFLUX__URL``,
``CAREWATCH_MQTT__PASSWORD_FILE``. Secrets are read from files, never from the command line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.mqtt.session import BrokerEndpoint
from server.local_services.mosquitto import SERVER_USER
from server.store.influx import InfluxConfig


class MqttSettings(BaseModel):
    host: str = "localhost"
    port: int = 8883
    ca_file: Path = Path("/etc/carewatch/ca.crt")
    username: str = SERVER_USER
    password_file: Path = Path("/etc/carewatch/mqtt-password")

    def endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(
            self.host, self.port, self.ca_file, self.username, self.password_file.read_text().strip()
        )


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREWATCH_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(default="sqlite:////var/lib/carewatch/carewatch.sqlite3")
    influx: InfluxConfig = Field(default_factory=lambda: InfluxConfig(url="http://localhost:8086"))
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    public_url: str = "http://localhost:8000"
