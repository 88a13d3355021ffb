"""Patient ids: opaque, issued by us, strict enough to be safe as an InfluxDB tag value,
inside an InfluxQL string literal and in a URL path before any escaping. Never an NHS
number (that is personal data and would end up in every time-series tag)."""

from __future__ import annotations

import re

PATIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_PATIENT_ID = re.compile(PATIENT_ID_PATTERN)


class InvalidPatientId(ValueError):
    """A patient id that does not match :data:`PATIENT_ID_PATTERN`; refused before any I/O."""


def check_patient_id(patient_id: str) -> str:
    if not isinstance(patient_id, str) or not _PATIENT_ID.fullmatch(patient_id):
        raise InvalidPatientId(f"patient id must match {PATIENT_ID_PATTERN}: {patient_id!r}")
    return patient_id
