"""The hub overview technicians work from: every hub, who it serves now, its presence,
its last telemetry and what needs attention."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from common.wire.messages import HubTelemetry, PairedDeviceConfig
from server.hub_attention import HubState, attention
from server.hub_config import configured_devices
from server.store.database import Database
from server.store.models import Hub, HubAssignment, now


class HubOverview(BaseModel):
    """One hub as technicians see it (also the API's response model)."""

    id: str
    label: str
    patient_id: str | None
    status: str
    status_at: datetime | None
    last_seen_at: datetime | None
    telemetry: HubTelemetry | None
    telemetry_at: datetime | None
    config_version: int
    paired_devices: list[PairedDeviceConfig]
    attention: list[str]


def hub_overview(db: Database, at: datetime | None = None) -> list[HubOverview]:
    at = at or now()
    with db.session() as s:
        current = dict(
            s.execute(
                select(HubAssignment.hub_id, HubAssignment.patient_id).where(HubAssignment.end_at.is_(None))
            ).all()
        )
        out = []
        for hub in s.scalars(select(Hub).order_by(Hub.id)):
            telemetry = _parsed(hub.telemetry)
            state = HubState(
                hub.status,
                hub.status_at,
                telemetry,
                hub.telemetry_at,
                hub.config_version,
                hub.config_delivered_version,
            )
            out.append(
                HubOverview(
                    id=hub.id,
                    label=hub.label,
                    patient_id=current.get(hub.id),
                    status=hub.status,
                    status_at=hub.status_at,
                    last_seen_at=hub.last_seen_at,
                    telemetry=telemetry,
                    telemetry_at=hub.telemetry_at,
                    config_version=hub.config_version,
                    paired_devices=configured_devices(hub),
                    attention=attention(state, at),
                )
            )
        return out


def _parsed(stored: dict[str, object] | None) -> HubTelemetry | None:
    # Stored only after validation; a row written by an older schema version reads as none.
    if stored is None:
        return None
    try:
        return HubTelemetry.model_validate(stored)
    except ValidationError:
        return None
