"""``/health``: is every part the path of a reading depends on reachable? No token needed,
no patient data returned."""

from __future__ import annotations

import socket
import ssl

from fastapi import APIRouter, Request

from server.api.schemas import ComponentHealth, Health
from server.settings import MqttSettings

router = APIRouter(tags=["operations"])


def broker_health(mqtt: MqttSettings) -> ComponentHealth:
    """A TLS handshake with the broker: proves it is up and presents the expected certificate."""
    try:
        ctx = ssl.create_default_context(cafile=str(mqtt.ca_file))
        with (
            socket.create_connection((mqtt.host, mqtt.port), timeout=2) as raw,
            ctx.wrap_socket(raw, server_hostname=mqtt.host),
        ):
            return ComponentHealth(ok=True, detail=f"TLS handshake with {mqtt.host}:{mqtt.port} succeeded")
    except (OSError, ssl.SSLError) as e:
        return ComponentHealth(ok=False, detail=f"{mqtt.host}:{mqtt.port}: {e}")


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    state = request.app.state
    ping = state.influx.ping()
    influx_h = ComponentHealth(ok=bool(ping.get("reachable")), detail=str(ping.get("detail", ping)))
    db_h = ComponentHealth(ok=state.db.ping(), detail=state.db.engine.dialect.name)
    broker_h = broker_health(state.settings.mqtt)
    ok = influx_h.ok and db_h.ok and broker_h.ok
    return Health(status="ok" if ok else "degraded", broker=broker_h, influxdb=influx_h, database=db_h)
