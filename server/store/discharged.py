"""A discharged patient's record is closed: it is kept, read and audited, but not changed.

Discharge used to end the hub's assignment and nothing else, so the record, the alert
limits, the conditions and what the hub says could all still be edited afterwards, with no
way to say the patient was back. Every change to a patient's record asks here first (the
store functions, so the pages, the API and the command line cannot differ), and the only way
back is the explicit, audited readmission (``server.enrolment.readmit``).
"""

from __future__ import annotations

from datetime import datetime

from server.store.models import Patient


class PatientDischarged(Exception):
    """A change to a discharged patient's record, refused (nothing stored)."""

    def __init__(self, patient_id: str, discharged_at: datetime) -> None:
        super().__init__(
            f"patient {patient_id} was discharged on {discharged_at:%d %b %Y}: the record cannot be "
            "changed unless they are readmitted"
        )
        self.patient_id = patient_id
        self.discharged_at = discharged_at


def refuse_if_discharged(patient: Patient) -> None:
    if patient.discharged_at is not None:
        raise PatientDischarged(patient.id, patient.discharged_at)
