"""'No weight today' is for a patient who could have taken one: a patient with no hub (not
yet given one, or discharged) cannot, and is shown as having no hub instead. On the real
database, with the default schedule (weight due by 11:00)."""

from __future__ import annotations

from datetime import UTC, datetime

from server.access import scope_of
from server.api.auth import Principal, Role
from server.caseload import Query, Status, caseload
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database


def test_no_reading_today_only_for_patients_with_a_hub(database: Database) -> None:
    add_patient(database, "p-with-hub", "Hattie Hub", actor="test")
    add_patient(database, "p-no-hub", "Nina Nohub", actor="test")
    add_hub(database, "hub-today", actor="test")
    assign_hub(database, "hub-today", "p-with-hub", actor="test")
    evening = datetime.now(UTC).replace(hour=20, minute=0, second=0, microsecond=0)
    with database.session() as s:
        scope = scope_of(s, Principal("admin-today", Role.ADMIN))
        rows = {r.patient_id: r for r in caseload(s, scope, Query(), at=evening, zone=UTC).rows}
        missed = caseload(s, scope, Query(status=Status.NO_READING_TODAY), at=evening, zone=UTC).rows
    assert rows["p-with-hub"].missing_today == ["weight"]
    assert rows["p-no-hub"].missing_today == []
    assert [r.patient_id for r in missed] == ["p-with-hub"]
