"""A matron works an alert through the API: list, open, acknowledge, resolve — all recorded."""

from __future__ import annotations

from common.wire.vocabulary import Measure, ReadingKind
from server.api.auth import Role, create_user
from tests.fixtures.server import Stack


def test_acknowledge_and_resolve_are_recorded_and_resolving_twice_is_refused(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-life-1", "hub-life-1")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 200, Measure.DIASTOLIC: 90})
    stack.wait_processed(1)
    [alert] = stack.api.get("/api/v1/alerts", params={"patient_id": "p-life-1"}, headers=stack.auth()).json()

    ack = stack.api.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "calling now"}, headers=stack.auth()
    )
    assert ack.status_code == 200
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"].startswith("matron-")

    missing_outcome = stack.api.post(f"/api/v1/alerts/{alert['id']}/resolve", json={}, headers=stack.auth())
    assert missing_outcome.status_code == 422
    done = stack.api.post(
        f"/api/v1/alerts/{alert['id']}/resolve",
        json={"outcome": "phoned patient, GP informed"},
        headers=stack.auth(),
    ).json()
    assert done["status"] == "resolved"
    assert [(e["action"], e["detail"]) for e in done["events"]] == [
        ("opened", "Systolic 200 mmHg (red, NEWS2/NICE)"),
        ("acknowledged", "calling now"),
        ("resolved", "phoned patient, GP informed"),
    ]
    again = stack.api.post(
        f"/api/v1/alerts/{alert['id']}/resolve", json={"outcome": "again"}, headers=stack.auth()
    )
    assert again.status_code == 409

    # A new high reading after resolution opens a new alert rather than reviving the old one.
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 190, Measure.DIASTOLIC: 88})
    stack.wait_processed(2)
    alerts = stack.api.get("/api/v1/alerts", params={"patient_id": "p-life-1"}, headers=stack.auth()).json()
    assert [a["status"] for a in alerts] == ["open", "resolved"]


def test_a_technician_cannot_read_clinical_data(stack: Stack) -> None:
    token = create_user(stack.db, "tech-1", Role.TECHNICIAN)
    r = stack.api.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert stack.api.get("/api/v1/alerts/999", headers=stack.auth()).status_code == 404
