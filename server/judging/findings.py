"""What ingest and the clock tick share about judging: each patient's rules and local time.

The engine works on patient *indices* and NumPy columns; the server works on patient ids,
stored conditions and overrides. This module is the translation, so that the judge on
arriving readings and the judge on the clock load the same rules the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerts.columns import FindingRecord
from alerts.rules.table import RuleTable
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import default_ruleset
from alerts.ruleset.models import RuleSet
from alerts.summaries import summary
from common.wire.vocabulary import ReadingKind
from server.store.overrides import conditions_of, current_overrides, effective_rules

#: Where the service is: local days for daily weights and morning schedules. Patients are
#: assumed to share the service's zone.
DEFAULT_TIMEZONE = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class PatientRules:
    """The rules in force for a set of patients, in the engine's patient order."""

    patients: tuple[str, ...]
    rulesets: Mapping[str, RuleSet]  # effective rules of patients with conditions or an override
    changes: Mapping[str, Mapping[str, Any]]  # the patients' stored override changes

    @classmethod
    def load(cls, s: Session, patient_ids: Iterable[str]) -> PatientRules:
        patients = tuple(dict.fromkeys(patient_ids))
        stored = current_overrides(s, patients)
        rulesets = effective_rules(stored, conditions_of(s, patients))
        return cls(patients, rulesets, {p: row.changes for p, row in stored.items()})

    def index(self) -> dict[str, int]:
        return {patient: i for i, patient in enumerate(self.patients)}

    def table(self) -> RuleTable:
        index = self.index()
        return compile_rules(
            default_ruleset(), len(self.patients), {index[p]: rules for p, rules in self.rulesets.items()}
        )

    def of(self, patient_id: str) -> RuleSet:
        return self.rulesets.get(patient_id, default_ruleset())

    def explicit_schedules(self) -> dict[int, set[ReadingKind]]:
        """Per patient index, the kinds a clinician scheduled for them explicitly: a missed
        reading of such a kind counts even before the first reading of it."""
        out: dict[int, set[ReadingKind]] = {}
        for i, patient_id in enumerate(self.patients):
            explicit = self.changes.get(patient_id, {}).get("missed_readings", {})
            if isinstance(explicit, dict):
                out[i] = {kind for k in explicit if (kind := ReadingKind.named(k)) is not None}
        return out

    def summary(
        self, record: FindingRecord, patient_id: str, tz: ZoneInfo, value: float | None = None
    ) -> str:
        return summary(record, self.of(patient_id), self.changes.get(patient_id, {}), tz, value)


def utc_offset_s(tz: ZoneInfo, at: datetime) -> int:
    """The zone's offset from UTC at ``at`` (seconds), for the engine's local days."""
    offset = at.astimezone(tz).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())
