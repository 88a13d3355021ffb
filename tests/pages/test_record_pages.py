"""The record pages and the API on the real stack: conditions that cannot be used with the
patient's personal limits are refused beside their box with the form as typed (an HTTP 500
before), and a discharged record answers every change with 409 until a clinician of the team
readmits the patient, which is audited and brings no hub back."""

from __future__ import annotations

from sqlalchemy import select

from server.api.auth import Role, create_user
from server.store.models import AuditEvent, Patient
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import Stack

OWN = {"Origin": "http://carewatch.test"}
RECORD = {
    "name": "Colin Oxley",
    "nhs_number": "943 476 5919",
    "dob_day": "27",
    "dob_month": "3",
    "dob_year": "1947",
    "phone": "01632 960 001",
    "team": "default",
}


def test_conditions_that_contradict_the_personal_limits_are_said_beside_their_box(stack: Stack) -> None:
    stack.patient_with_hub("p-rec-1", "hub-rec-1", name="Colin Oxley")
    put = stack.api.put(
        "/api/v1/patients/p-rec-1/rules",
        json={"changes": {"thresholds": {"spo2": {"red": {"at_or_below": 86}}}}, "reason": "usual sats low"},
        headers=stack.auth(),
    )
    assert put.status_code == 200, put.text
    tech = signed_in_client(stack.api.app, create_user(stack.db, "tech-rec", Role.TECHNICIAN))
    answer = tech.post(
        "/patients/p-rec-1/edit",
        data={**RECORD, "conditions": "hypercapnic_respiratory_failure", "reason": "blood gases"},
        headers=OWN,
    )
    assert answer.status_code == 422, answer.text[:500]
    error = answer.text.split('id="conditions-error"', 1)[1].split("</p>", 1)[0]
    assert "These conditions cannot be used with the personal SpO2 alert limits" in error
    assert '<a href="#conditions">These conditions cannot be used' in answer.text  # the summary links to it
    box = answer.text.split('id="condition-hypercapnic_respiratory_failure"', 1)[1].split(">", 1)[0]
    assert "checked" in box  # the form keeps what was entered
    assert 'value="943 476 5919"' in answer.text and 'value="blood gases"' in answer.text
    with stack.db.session() as s:
        patient = s.get(Patient, "p-rec-1")
        assert patient is not None and patient.conditions in (None, []) and patient.nhs_number is None


def test_a_discharged_record_is_read_only_until_a_clinician_of_the_team_readmits_them(stack: Stack) -> None:
    stack.patient_with_hub("p-rec-2", "hub-rec-2", name="Dora Discharged")
    tech = signed_in_client(stack.api.app, create_user(stack.db, "tech-dis", Role.TECHNICIAN))
    done = tech.post("/patients/p-rec-2/discharge", data={"reason": "monitoring ended"}, headers=OWN)
    assert done.status_code == 200 and "Discharged on" in done.text
    matron = signed_in_client(stack.api.app, stack.token)
    other = signed_in_client(stack.api.app, create_user(stack.db, "matron-south", Role.CLINICIAN, ["south"]))

    # Every change, on the pages and through the API, is refused and nothing is stored.
    for who, method, path, data in (
        (tech, "GET", "/patients/p-rec-2/edit", None),
        (tech, "POST", "/patients/p-rec-2/edit", {**RECORD, "reason": "late edit"}),
        (tech, "GET", "/patients/p-rec-2/hub", None),
        (tech, "POST", "/patients/p-rec-2/hub", {"hub_id": "hub-rec-2"}),
        (tech, "GET", "/patients/p-rec-2/discharge", None),
        (matron, "GET", "/patients/p-rec-2/thresholds/systolic", None),
        (
            matron,
            "POST",
            "/patients/p-rec-2/thresholds",
            {"measure": "systolic", "red_above": "170", "reason": "late edit", "confirm": "yes"},
        ),
        (
            matron,
            "POST",
            "/patients/p-rec-2/thresholds/systolic/remove",
            {"edge": "red_above", "confirm": "yes", "reason": "late"},
        ),
        (matron, "POST", "/patients/p-rec-2/rules/reset", {"reason": "late edit"}),
        (matron, "GET", "/patients/p-rec-2/feedback", None),
        (matron, "POST", "/patients/p-rec-2/feedback", {"speak_values": "no"}),
    ):
        answer = who.request(method, path, data=data, headers=OWN, follow_redirects=False)
        assert answer.status_code == 409, f"{method} {path}: {answer.status_code}"
        assert "This patient has been discharged" in answer.text, path
    for path, body in (
        ("rules", {"changes": {}, "reason": "late edit"}),
        ("conditions", {"conditions": ["copd"], "reason": "late edit"}),
        ("feedback", {"preferences": None}),
    ):
        answer = stack.api.put(f"/api/v1/patients/p-rec-2/{path}", json=body, headers=stack.auth())
        assert answer.status_code == 409, f"PUT {path}: {answer.status_code} {answer.text}"
    page = matron.get("/patients/p-rec-2").text  # still readable, with no way to change it
    assert "Discharged on" in page and "/thresholds/" not in page and "rules/reset" not in page
    assert "/patients/p-rec-2/feedback" not in page.split('id="feedback"', 1)[1]

    # Only a clinician of the team readmits: not a technician, not another team's clinician.
    assert tech.post("/patients/p-rec-2/readmit", data={"reason": "back"}, headers=OWN).status_code == 403
    assert other.post("/patients/p-rec-2/readmit", data={"reason": "back"}, headers=OWN).status_code == 404
    record = matron.get("/patients/p-rec-2/record").text
    assert record.count("Readmit the patient") == 1  # the form once, in the page, never in its <title>
    title = record.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<form" not in title and "record" in title
    refused = matron.post("/patients/p-rec-2/readmit", data={"reason": ""}, headers=OWN)
    assert refused.status_code == 422 and "Enter the reason for readmission" in refused.text
    back = matron.post("/patients/p-rec-2/readmit", data={"reason": "re-referred by the GP"}, headers=OWN)
    assert (
        back.status_code == 200
        and "Discharged on" not in back.text
        and "Readmit the patient" not in back.text
    )
    hub = back.text.split("Hub</dt>", 1)[1].split("</dd>", 1)[0]
    assert "Not recorded" in hub  # readmitted with no hub: one is given as for a new patient
    with stack.db.session() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "patient_readmitted"))
        assert event.target == "p-rec-2" and "re-referred by the GP" in event.detail
        assert event.actor.startswith("matron-")
    assert tech.get("/patients/p-rec-2/edit").status_code == 200  # open again
    put = stack.api.put(
        "/api/v1/patients/p-rec-2/rules", json={"changes": {}, "reason": "back again"}, headers=stack.auth()
    )
    assert put.status_code == 200
    again = stack.api.post("/api/v1/patients/p-rec-2/readmit", json={"reason": "twice"}, headers=stack.auth())
    assert again.status_code == 409  # not discharged
