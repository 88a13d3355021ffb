"""An alert's title follows the newest evidence at its severity (issue 11: "an alert's title
keeps its first value while later evidence differs"), and weaker evidence never retitles it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alerts.severity import Severity
from server.provisioning import add_patient
from server.store.alerts import apply_finding
from server.store.database import Database
from server.store.models import Alert, AlertEvidence

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _finding(db: Database, severity: Severity, reading: str, summary: str, minutes: int) -> None:
    with db.session() as s:
        apply_finding(
            s,
            patient_id="p-title",
            rule_id="threshold.systolic",
            severity=severity,
            reading_id=reading,
            summary=summary,
            at=T0 + timedelta(minutes=minutes),
        )


def test_the_title_tells_the_newest_reading_at_the_alerts_level(database: Database) -> None:
    add_patient(database, "p-title", "Title Patient", actor="test")
    _finding(database, Severity.RED, "r1", "Systolic 182 mmHg", 0)
    _finding(database, Severity.RED, "r2", "Systolic 205 mmHg", 5)
    _finding(database, Severity.AMBER, "r3", "Systolic 165 mmHg", 10)
    with database.session() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.patient_id == "p-title")))
        evidence = sorted(e.detail for e in s.scalars(select(AlertEvidence)))
        assert len(alerts) == 1
        assert alerts[0].severity == "red"
        assert alerts[0].summary == "Systolic 205 mmHg"
    assert evidence == ["Systolic 165 mmHg", "Systolic 182 mmHg", "Systolic 205 mmHg"]
