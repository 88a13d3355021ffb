"""The API's response shapes (OpenAPI is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.wire.vocabulary import Measure, ReadingKind


class AlertOut(BaseModel):
    id: int
    patient_id: str
    rule_id: str
    severity: Literal["amber", "red"]
    status: Literal["open", "acknowledged", "resolved"]
    summary: str
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    outcome: str | None = None
    tier: int = Field(default=0, description="0 = the patient's team; raised by escalation")
    evidence: list[str] = Field(description="reading ids that support this alert, oldest first")


class AlertEventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: str


class AlertDetail(AlertOut):
    events: list[AlertEventOut] = Field(description="every change, oldest first: who, when, what")


class AcknowledgeIn(BaseModel):
    note: str = Field(default="", max_length=2000)


class ResolveIn(BaseModel):
    outcome: str = Field(
        min_length=3, max_length=2000, description="what was done, e.g. 'phoned patient, GP informed'"
    )


class ReadingOut(BaseModel):
    reading_id: str
    kind: ReadingKind
    taken_at: datetime
    time_source: str
    values: dict[Measure, float]
    units: dict[Measure, str] = Field(description="UCUM unit of each value")
    flags: list[str]
    device_model: str
    hub_id: str


class ComponentHealth(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    broker: ComponentHealth
    influxdb: ComponentHealth
    database: ComponentHealth
