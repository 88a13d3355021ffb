"""The API's response shapes (OpenAPI is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.ruleset import RuleSet
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


class RuleOverrideIn(BaseModel):
    """A clinician's change to one patient's rules; who made it is taken from the token."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="partial rule set shaped like alerts/rules/defaults.yaml, merged over the defaults; "
        '{} returns the patient to the defaults. E.g. {"thresholds": {"spo2": {"red": {"at_or_below": 85}, '
        '"amber": {"at_or_below": 87}}}}',
    )
    reason: str = Field(min_length=3, max_length=2000, description="why, for the record")


class RuleOverrideOut(BaseModel):
    version: int
    changes: dict[str, Any]
    reason: str
    set_by: str
    set_at: datetime


class PatientRulesOut(BaseModel):
    patient_id: str
    effective: RuleSet = Field(description="the rules this patient is judged by: defaults + current override")
    override: RuleOverrideOut | None = Field(description="the override in force (newest version), if any")
    history: list[RuleOverrideOut] = Field(description="every override version, newest first")
