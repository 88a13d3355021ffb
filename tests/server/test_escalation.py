"""An unacknowledged red alert escalates once per period, up to the last tier, and stops when seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alerts.severity import Severity
from server.provisioning import add_patient
from server.store.alerts import acknowledge, apply_finding, escalate_overdue
from server.store.database import Database
from server.store.models import AlertEvent

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
AFTER = timedelta(minutes=30)


def open_alert(db: Database, patient: str, severity: Severity) -> int:
    add_patient(db, patient, patient, actor="test")
    with db.session() as s:
        alert = apply_finding(
            s,
            patient_id=patient,
            rule_id="threshold.systolic",
            severity=severity,
            reading_id=patient,
            summary="x",
            at=T0,
        )
        assert alert is not None
        s.flush()
        return alert.id


def tick(db: Database, at: datetime, max_tier: int = 2) -> list[int]:
    with db.session() as s:
        return [a.id for a in escalate_overdue(s, now=at, after=AFTER, max_tier=max_tier)]


def test_red_alert_escalates_once_per_period_and_stops_at_the_last_tier(database: Database) -> None:
    red = open_alert(database, "p-esc-red", Severity.RED)
    amber = open_alert(database, "p-esc-amber", Severity.AMBER)
    assert tick(database, T0 + AFTER - timedelta(seconds=1)) == []
    assert tick(database, T0 + AFTER) == [red]
    assert tick(database, T0 + AFTER + timedelta(minutes=1)) == []  # once, not on every tick
    assert tick(database, T0 + 2 * AFTER) == [red]
    assert tick(database, T0 + 10 * AFTER) == []  # tier 2 is the last
    with database.session() as s:
        actions = [(e.alert_id, e.action) for e in s.scalars(select(AlertEvent).order_by(AlertEvent.id))]
    assert actions.count((red, "escalated")) == 2
    assert (amber, "escalated") not in actions


def test_acknowledged_alerts_do_not_escalate(database: Database) -> None:
    red = open_alert(database, "p-esc-ack", Severity.RED)
    with database.session() as s:
        acknowledge(s, red, actor="matron", at=T0 + timedelta(minutes=5))
    assert tick(database, T0 + 3 * AFTER) == []
