"""The API's response shapes (OpenAPI is generated from these)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import AlertOutcome, Condition, Measure, ReadingKind

#: C0 control characters but tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def storable_text(text: str) -> str:
    """``text`` if every database we run on can store it and a page can show it. PostgreSQL
    refuses NUL in text (a 500 on insert before this check); a lone UTF-16 surrogate (valid
    in JSON as ``"\\ud800"``) cannot be encoded for any database (pydantic refuses it in a
    ``str`` field, but not inside the free-form rule changes). No person types the other
    control characters either; tabs and line breaks are kept."""
    if _CONTROL.search(text):
        raise ValueError("must not contain control characters (tabs and line breaks are fine)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it has a lone surrogate)") from None
    return text


#: Free text a person writes (a note, an outcome, a reason), stored and shown on pages.
PersonText = Annotated[str, AfterValidator(storable_text)]


def _storable_strings(value: Any) -> Any:
    """Every string in a JSON document (keys included) through :func:`storable_text`."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(k): _storable_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable_strings(v) for v in value]
    return value


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
    claimed_by: str | None = Field(default=None, description="who said \"I'm on it\" (the pages' claim)")
    claimed_at: datetime | None = None
    outcome_code: str | None = Field(
        default=None,
        description="the structured outcome (AlertOutcome) recorded at resolve; None for a free-text outcome",
    )
    evidence: list[str] = Field(description="reading ids that support this alert, oldest first")


class AlertEventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: str


class ContactOut(BaseModel):
    at: datetime
    actor: str
    note: str


class AlertDetail(AlertOut):
    events: list[AlertEventOut] = Field(description="every change, oldest first: who, when, what")
    contacts: list[ContactOut] = Field(
        default_factory=list, description="the contact log (calls, visits, messages), oldest first"
    )


class AcknowledgeIn(BaseModel):
    note: PersonText = Field(default="", max_length=2000)


class ContactIn(BaseModel):
    """One entry of the contact log: what was said or done, by whom is taken from the token."""

    model_config = ConfigDict(extra="forbid")

    note: PersonText = Field(min_length=1, max_length=2000, description="e.g. 'no answer, left a message'")

    @field_validator("note")
    @classmethod
    def _said_something(cls, note: str) -> str:
        if not note.strip():
            raise ValueError("say what was said or done")
        return note.strip()


class ResolveIn(BaseModel):
    """What was done: a structured ``outcome_code`` (the pages' choices) with an optional
    ``note`` (required for ``other``), or, from callers that predate the codes, a free-text
    ``outcome``."""

    outcome_code: AlertOutcome | None = Field(
        default=None, description="what was done, from the same list the pages offer"
    )
    note: PersonText = Field(
        default="", max_length=2000, description="with outcome_code; required for 'other'"
    )
    outcome: PersonText | None = Field(
        default=None,
        min_length=3,
        max_length=2000,
        description="free text instead of outcome_code, e.g. 'phoned patient, GP informed'",
    )

    @model_validator(mode="after")
    def _one_outcome(self) -> ResolveIn:
        if (self.outcome_code is None) == (self.outcome is None):
            raise ValueError("give either outcome_code (with an optional note) or a free-text outcome")
        if self.outcome is not None and self.note:
            raise ValueError("a note goes with outcome_code; put it in the free-text outcome instead")
        return self


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
    detail: str = Field(description="in plain words: what was checked, and what is wrong if anything")


class WorkerHealth(ComponentHealth):
    """A long-running worker, judged by its heartbeat (written by the worker itself)."""

    instance: str | None = Field(default=None, description="host:pid of its newest instance")
    state: str | None = Field(default=None, description="running, stopped or failed")
    last_seen_s: float | None = Field(default=None, description="seconds since its last heartbeat")


class IngestHealth(WorkerHealth):
    """None means the worker did not say (an older worker, or no heartbeat)."""

    connected: bool | None = Field(default=None, description="its MQTT session is up")
    inbox: int | None = Field(default=None, description="messages received and not yet acknowledged")
    oldest_unacked_s: float | None = Field(default=None, description="age of the oldest of them: the lag")
    messages_per_min: float | None = None
    readings_per_min: float | None = None
    processed: int | None = Field(default=None, description="messages processed since it started")
    dead_lettered: int | None = Field(default=None, description="messages refused since it started")
    store_down_since: datetime | None = Field(
        default=None, description="InfluxDB or the database unavailable to ingest since then"
    )


class TickerHealth(WorkerHealth):
    every_s: float | None = Field(default=None, description="how often it ticks")
    step_errors: dict[str, str] = Field(
        default_factory=dict, description="steps that failed in its last tick, and the error's class"
    )


class NotificationsHealth(ComponentHealth):
    """As the ticker saw the delivery queue at its last tick."""

    configured: bool | None = Field(default=None, description="a routing file is configured")
    pending: int | None = None
    failed_24h: int | None = Field(default=None, description="deliveries given up on in the last 24 h")
    oldest_pending_s: float | None = Field(default=None, description="how long the oldest pending one waits")


class DeadLettersHealth(ComponentHealth):
    """Refused messages are reported; degraded only while readings no clinician has seen (not
    stored, or not judged) wait to be replayed or dismissed."""

    last_24h: int | None = Field(default=None, description="messages refused in the last 24 h")
    unseen: int | None = Field(
        default=None,
        description="refused readings waiting for a replay or a dismissal, never seen by a clinician",
    )


class Health(BaseModel):
    """HTTP 200 only when every part on a reading's path is fine; 503 with this same body otherwise."""

    status: Literal["ok", "degraded"]
    broker: ComponentHealth
    influxdb: ComponentHealth
    database: ComponentHealth
    ingest: IngestHealth
    ticker: TickerHealth
    notifications: NotificationsHealth
    dead_letters: DeadLettersHealth


class RuleOverrideIn(BaseModel):
    """A clinician's change to one patient's rules; who made it is taken from the token."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="partial rule set shaped like alerts/rules/defaults.yaml, merged over the defaults; "
        '{} returns the patient to the defaults. E.g. {"thresholds": {"spo2": {"red": {"at_or_below": 85}, '
        '"amber": {"at_or_below": 87}}}}',
    )
    reason: PersonText = Field(min_length=3, max_length=2000, description="why, for the record")

    @field_validator("changes")
    @classmethod
    def _storable(cls, changes: dict[str, Any]) -> dict[str, Any]:
        stored: dict[str, Any] = _storable_strings(changes)
        return stored


class RuleOverrideOut(BaseModel):
    version: int
    changes: dict[str, Any]
    reason: str
    set_by: str
    set_at: datetime


class ConditionsIn(BaseModel):
    """The patient's long-term conditions, which choose their condition profiles."""

    model_config = ConfigDict(extra="forbid")

    conditions: list[Condition] = Field(
        max_length=len(Condition), description='e.g. ["copd", "atrial_fibrillation"]'
    )
    reason: PersonText = Field(min_length=3, max_length=2000, description="why (kept in the audit trail)")


class RulePreviewIn(BaseModel):
    """A rule change to try on the patient's history before saving it."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(default_factory=dict, description="as for PUT …/rules")
    days: int = Field(default=90, ge=1, le=365, description="how much history to replay")


class PreviewCount(BaseModel):
    opened: int = Field(description="alerts that would have opened")
    escalated: int = Field(description="open alerts whose severity would have risen")
    by_rule: dict[str, int] = Field(description="alerts opened, by alert rule")
    by_severity: dict[str, int] = Field(description="alerts opened, by the severity they opened at")


class RulePreviewOut(BaseModel):
    patient_id: str
    days: int
    readings: int = Field(description="readings replayed")
    current: PreviewCount = Field(description="under the rules in force now")
    proposed: PreviewCount = Field(description="under the rules with the change")
    note: str = Field(description="what the replay does and does not include")


class PatientRulesOut(BaseModel):
    patient_id: str
    conditions: list[Condition] = Field(
        description="the conditions whose profiles apply, in the profiles' order"
    )
    effective: RuleSet = Field(
        description="the rules this patient is judged by: defaults + condition profiles + current override"
    )
    override: RuleOverrideOut | None = Field(description="the override in force (newest version), if any")
    history: list[RuleOverrideOut] = Field(description="every override version, newest first")
