"""The relational schema: patients, hubs, devices, assignments, rule overrides, alerts, users,
audit.

Readings themselves live in InfluxDB; here we keep only what must be consistent and
joinable: who a hub belongs to, which readings were already ingested (the idempotency
ledger), alerts and everything that happened to them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Always aware UTC in Python, whatever the database keeps (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    nhs_number: Mapped[str | None] = mapped_column(String(10), unique=True)
    team: Mapped[str] = mapped_column(String(64), default="default", server_default="default")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # common.wire.vocabulary.Condition values: they choose the patient's condition profiles.
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Enrolment details (migration 0013); discharge ends the hub assignment, keeps the record.
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    gp_practice: Mapped[str | None] = mapped_column(String(200))
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the patient's hub says aloud (migration 0017): a common.wire.feedback_prefs
    # PatientFeedback as JSON; None means the hub's own defaults.
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Team(Base):
    """A community team: it owns its patients (``Patient.team``) and its clinicians see only them."""

    __tablename__ = "teams"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class TeamMember(Base):
    """A user's membership of a team (a user may belong to several)."""

    __tablename__ = "team_members"
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), primary_key=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"), primary_key=True)


class LatestValue(Base):
    """The latest value of each measure of each patient, kept by the ingest in the transaction
    that ledgers the reading: the caseload shows 2,000 patients' latest values from one
    indexed SQL read, where InfluxDB's ``last()`` over every patient took seconds."""

    __tablename__ = "latest_values"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    measure: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reading_id: Mapped[str] = mapped_column(String(36))
    flagged: Mapped[bool] = mapped_column(default=False)


class Hub(Base):
    __tablename__ = "hubs"
    id: Mapped[str] = mapped_column(String(63), primary_key=True)  # = MQTT user name
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The hub's last telemetry message (common.wire.messages.HubTelemetry), as sent.
    telemetry: Mapped[dict[str, object] | None] = mapped_column(JSON)
    telemetry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the server wants the hub to run (common.wire.messages.RemoteConfig): the paired
    # devices and the version, which only grows; and which version reached the broker.
    paired_devices: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    config_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    config_delivered_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    telemetry_interval_s: Mapped[float | None] = mapped_column(Float)  # None: the hub's own setting
    # Whether the server's list is the hub's list: set by the first device paired (or unpaired)
    # on the server, never unset. Until then configurations leave the devices paired at the hub.
    devices_managed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Refused by the broker since then (lost, stolen, returned, replaced); None: may connect.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by: Mapped[str | None] = mapped_column(String(63))  # the hub that took over its patient
    # The last enrolment bundle issued (a working password, on paper or a card): until when it
    # works, and when the ticker disabled the hub because it expired before the hub connected.
    bundle_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bundle_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bundle_lapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HubClaimCode(Base):
    """A short code a technician types on a new hub to fetch its enrolment bundle: single
    use, expiring, stored as its SHA-256 only (the code is shown once)."""

    __tablename__ = "hub_claim_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HubAssignment(Base):
    """A hub serves one patient over a period; attribution follows the reading's time."""

    __tablename__ = "hub_assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_assignment_hub_start", "hub_id", "start_at"),)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id"))
    address: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    manufacturer: Mapped[str | None] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(64))
    firmware: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    __table_args__ = (UniqueConstraint("hub_id", "address", name="uq_device_hub_address"),)


class IngestedReading(Base):
    """The idempotency ledger: a reading id here has been stored and judged exactly once."""

    __tablename__ = "ingested_readings"
    reading_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    hub_id: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    batch_id: Mapped[str] = mapped_column(String(36))
    # SHA-256 of the reading as first stored (canonical JSON): a later copy with the same id
    # but other content is a conflict, kept as a dead letter, never taken for a duplicate.
    # None for rows ledgered before the digest existed.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # The clock tick asks for each patient's last reading of each kind: an index-only lookup.
    __table_args__ = (Index("ix_ingested_patient_kind_taken", "patient_id", "kind", "taken_at"),)


class RuleOverride(Base):
    """One version of a patient's alert-rule override (``alerts.ruleset.models.PatientOverride``).

    Append-only: a change is a new row and the newest row (highest id) is the one in force,
    so the history of who set what, when and why is the table itself. Empty ``changes``
    means "back to the defaults".
    """

    __tablename__ = "rule_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    changes: Mapped[dict[str, object]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    __table_args__ = (Index("ix_rule_override_patient_id", "patient_id", "id"),)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    summary: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    # Escalation: tier 0 is the patient's own team; each unanswered period moves one tier up.
    tier: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "I'm on it": who took the alert, so colleagues do not phone the patient twice.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # common.wire.vocabulary.AlertOutcome; ``outcome`` keeps the words (label and note).
    outcome_code: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (Index("ix_alert_patient_rule_status", "patient_id", "rule_id", "status"),)


class AlertEvidence(Base):
    __tablename__ = "alert_evidence"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class AlertEvent(Base):
    """Every change to an alert: who, when, what. Never updated, never deleted."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class AlertContact(Base):
    """One contact about an alert (a call, a visit, a message): what a colleague reads before
    phoning the patient again. Never updated, never deleted."""

    __tablename__ = "alert_contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)


class AlertNotification(Base):
    """A notification owed to the team, written in the same transaction as the alert change.

    The ticker routes each row with no ``enqueued_at`` into its deliveries
    (:class:`NotificationDelivery`) and sets ``enqueued_at`` in the same transaction, so an
    alert that was committed is never left unannounced, and never announced twice.
    """

    __tablename__ = "alert_notifications"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class NotificationDelivery(Base):
    """One notification to one target over one channel: the queue the ticker sends from.

    The id is the routing's deterministic delivery id, so routing the same notification again
    (two tickers, an import) adds nothing. A row leaves ``pending`` only when its notifier
    confirms (``sent``, with the receipt) or when it is given up on (``failed``, with the last
    error, kept for /health and for a requeue): nothing deletes it but the pruning of old sent
    rows. A dispatcher claims a row by setting ``leased_until``; one that dies mid-send leaves
    it to be claimed again once the lease has passed. ``payload`` is the notification as
    first routed (initials, severity, a link: never a name or a value), so a retry sends the
    same bytes. No foreign keys: a delivery stands on its own (its payload says everything it
    sends), and deliveries carried over from the old SQLite outbox need no alert row here.
    """

    __tablename__ = "notification_deliveries"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(100), index=True)
    alert_id: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    secret_id: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_notification_delivery_status"),
        # The dispatcher's claim and the ticker's stats: pending rows by when they are due.
        Index("ix_notification_delivery_due", "status", "next_attempt_at"),
    )


class DeadLetter(Base):
    """A message or reading the server refused, kept whole with the reason, for replay."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    topic: Mapped[str] = mapped_column(String(256))
    hub_id: Mapped[str | None] = mapped_column(String(63))
    reading_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="new")
    # What kind of refusal, for counting and filtering (server.ingest.refusals.RefusalCode).
    reason_code: Mapped[str | None] = mapped_column(String(32))
    # Replays that were refused again update this row rather than adding a new one.
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_dead_letter_lookup", "reading_id", "topic", "status"),)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    disabled: Mapped[bool] = mapped_column(default=False)


class PageSession(Base):
    """A browser's sign-in to the clinicians' pages. The cookie holds a random secret, only
    its SHA-256 is stored, and the session ends at sign-out or after a working shift."""

    __tablename__ = "page_sessions"
    secret_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The hash of the API token signed in with: once the user's token is rotated the session
    # no longer matches and ends with it. None only for sessions opened before this existed.
    token_hash: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """Who looked at or changed what: patient data access and administrative actions."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class WorkerHeartbeat(Base):
    """A long-running worker's sign of life (ingest, ticker), written every few seconds, so
    ``/health`` in another process can tell a live worker from a dead or stuck one."""

    __tablename__ = "worker_heartbeats"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))  # running, stopped, failed
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)
