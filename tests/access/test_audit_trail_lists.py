"""A patient's audit trail answers "who has seen this patient's data", so it must include the
list views that showed the patient (the caseload with their latest values, the work list
with their alerts), not only the visits to their own page; and a page visit is one record,
not two. On the real app and database, read back through the administrator's page."""

from __future__ import annotations

from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind
from server.api.auth import Role, create_user
from server.store.models import AuditEvent
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import Stack


def test_list_views_reach_the_patients_audit_trail_and_visits_count_once(stack: Stack) -> None:
    seen = stack.patient_with_hub("p-aud-1", "hub-aud-1", name="Ida Audited")
    stack.patient_with_hub("p-aud-11", "hub-aud-11", name="Ivo Eleven")  # an id holding p-aud-1
    seen.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 201, Measure.DIASTOLIC: 95})
    stack.wait_processed(1)
    matron = signed_in_client(
        stack.api.app, create_user(stack.db, "matron-lists", Role.CLINICIAN, teams=["default"])
    )
    admin = signed_in_client(stack.api.app, create_user(stack.db, "admin-lists", Role.ADMIN))

    assert matron.get("/patients").status_code == 200
    assert matron.get("/alerts").status_code == 200
    assert matron.get("/patients/p-aud-1").status_code == 200

    with stack.db.session() as s:
        visits = s.scalars(
            select(AuditEvent).where(
                AuditEvent.actor == "matron-lists",
                AuditEvent.action == "patient_viewed",
                AuditEvent.target == "p-aud-1",
            )
        ).all()
    assert len(visits) == 1, [v.detail for v in visits]

    trail = admin.get("/patients/p-aud-1/audit").text
    assert "caseload viewed" in trail and "alerts listed" in trail
    # The work list showed p-aud-1 (its alert), not p-aud-11 (no alert): the fence holds.
    other = admin.get("/patients/p-aud-11/audit").text
    assert "caseload viewed" in other
    assert "alerts listed" not in other
