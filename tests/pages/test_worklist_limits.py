"""The work list's edges: the resolved view is history (newest resolution first, whatever the
severity); a list cut at its limit says how many it holds in all; a selection beyond what one
"Acknowledge selected" takes is said, not silently dropped. The alerts here are rows in the
real database (the list's layout, not the rules, is under test; the rules raise real alerts
in test_worklist.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.pages import worklist
from server.provisioning import add_patient
from server.store.models import Alert
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import Stack

OWN = {"Origin": "http://carewatch.test"}


def _alert(
    stack: Stack, patient_id: str, severity: str, status: str, resolved_days_ago: float | None = None
) -> int:
    at = datetime.now(UTC)
    with stack.db.session() as s:
        alert = Alert(patient_id=patient_id, rule_id="threshold.spo2", severity=severity, status=status)
        alert.summary = f"SpO2 {severity} ({patient_id})"
        if resolved_days_ago is not None:
            alert.resolved_at = at - timedelta(days=resolved_days_ago)
            alert.resolved_by, alert.outcome = "matron-x", "Phoned patient"
        s.add(alert)
        s.flush()
        return alert.id


def test_resolved_alerts_come_newest_first_whatever_their_severity(stack: Stack) -> None:
    add_patient(stack.db, "p-hist-old", "Olive Old", actor="test")
    add_patient(stack.db, "p-hist-new", "Nell New", actor="test")
    _alert(stack, "p-hist-old", "red", "resolved", resolved_days_ago=30)
    _alert(stack, "p-hist-new", "amber", "resolved", resolved_days_ago=1)
    page = signed_in_client(stack.api.app, stack.token).get("/alerts?view=resolved").text
    assert page.index("Nell New") < page.index("Olive Old")


def test_a_cut_list_and_an_oversized_selection_say_so(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    add_patient(stack.db, "p-many", "Mary Many", actor="test")
    ids = [_alert(stack, "p-many", "amber", "open") for _ in range(3)]
    monkeypatch.setattr(worklist, "LIST_LIMIT", 2)
    monkeypatch.setattr(worklist, "MAX_SELECTED", 2)
    client = signed_in_client(stack.api.app, stack.token)
    assert "Showing the 2 most urgent of 3 alerts needing action" in client.get("/alerts").text

    done = client.post("/alerts/acknowledge", data={"alert_id": [str(i) for i in ids]}, headers=OWN)
    assert done.status_code == 200, done.text  # followed the redirect back to the list
    assert "2 alerts acknowledged." in done.text
    assert "Not acknowledged: 1 more you selected (at most 2 at once)" in done.text
    with stack.db.session() as s:
        statuses = sorted(s.get(Alert, i).status for i in ids)  # type: ignore[union-attr]
    assert statuses == ["acknowledged", "acknowledged", "open"]
