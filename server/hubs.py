"""The hub overview technicians work from: every hub, who it serves now, its presence,
its last telemetry and what needs attention."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.wire.messages import HubTelemetry, PairedDeviceConfig
from server.hub_attention import HubState, attention
from server.hub_config import configured_devices
from server.store.database import Database
from server.store.models import Hub, HubAssignment, IngestedReading, now


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
    devices_managed: bool = Field(
        default=False,
        description="the server's device list is the hub's list; false: the hub keeps the devices "
        "paired at it and configurations carry only its other settings (its patient's preferences)",
    )
    paired_devices: list[PairedDeviceConfig]
    attention: list[str]
    outbox_waiting: int | None = Field(
        default=None,
        description="readings waiting on the hub as far as the server knows: its last reported "
        "backlog, less those the server has received from it since (0 once delivered, even if "
        "the hub went offline before it could report again)",
    )
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    bundle_issued_at: datetime | None = Field(default=None, description="the last enrolment bundle issued")
    bundle_expires_at: datetime | None = Field(
        default=None, description="until when that bundle works if unused; none once the hub connected"
    )
    bundle_lapsed_at: datetime | None = Field(
        default=None,
        description="when the hub was shut out at the broker because its bundle expired before it connected",
    )


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
            reported = _parsed(hub.telemetry)
            telemetry = _less_delivered(s, hub, reported)
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
                    telemetry=reported,
                    telemetry_at=hub.telemetry_at,
                    config_version=hub.config_version,
                    devices_managed=hub.devices_managed,
                    paired_devices=configured_devices(hub),
                    attention=(["revoked: the broker refuses it"] if hub.revoked_at else [])
                    + (
                        ["its enrolment bundle expired unused: the broker refuses it until it gets a new one"]
                        if hub.bundle_lapsed_at and not hub.revoked_at
                        else []
                    )
                    + attention(state, at),
                    outbox_waiting=telemetry.outbox_depth if telemetry else None,
                    revoked_at=hub.revoked_at,
                    replaced_by=hub.replaced_by,
                    bundle_issued_at=hub.bundle_issued_at,
                    bundle_expires_at=hub.bundle_expires_at,
                    bundle_lapsed_at=hub.bundle_lapsed_at,
                )
            )
        return out


def _less_delivered(s: Session, hub: Hub, t: HubTelemetry | None) -> HubTelemetry | None:
    """The hub's last report, less the readings it was holding then that the server has
    received since: a hub that delivered its backlog and then went offline before its next
    report is not still "3 readings waiting". Readings the server took before the report
    but the hub had not yet heard the receipt for stay counted until the next report."""
    if t is None or not t.outbox_depth or hub.telemetry_at is None:
        return t
    delivered = s.scalar(
        select(func.count())
        .select_from(IngestedReading)
        .where(
            IngestedReading.hub_id == hub.id,
            IngestedReading.ingested_at > hub.telemetry_at,
            IngestedReading.taken_at <= t.at,
        )
    )
    if not delivered:
        return t
    waiting = max(0, t.outbox_depth - delivered)
    return t.model_copy(
        update={
            "outbox_depth": waiting,
            "awaiting_receipt": min(t.awaiting_receipt, waiting),
            "oldest_unsent_at": t.oldest_unsent_at if waiting else None,
        }
    )


def _parsed(stored: dict[str, object] | None) -> HubTelemetry | None:
    # Stored only after validation; a row written by an older schema version reads as none.
    if stored is None:
        return None
    try:
        return HubTelemetry.model_validate(stored)
    except ValidationError:
        return None
