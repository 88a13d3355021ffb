"""Columnar readings in, columnar findings out: the engine's data model.

One row is one measured number (a blood-pressure reading is a systolic, a diastolic and a
pulse row sharing time, kind and flags), because rules are per measure and NumPy is fast
on flat columns of one dtype. Codes for measures, kinds and flags are positions in the
vocabulary's enums, so the vocabulary stays the single source of truth.

Time is whole seconds since the Unix epoch (UTC) as int64: devices record to the second,
and integer time makes every window edge exact, in the engine and in the oracle alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.severity import Severity
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag

__all__ = [
    "FLAGS",
    "KINDS",
    "MEASURES",
    "NEVER",
    "REASONS",
    "FindingRecord",
    "Findings",
    "ReadingColumns",
    "flag_bit",
    "kind_code",
    "measure_code",
]

MEASURES: Final[tuple[Measure, ...]] = tuple(Measure)
KINDS: Final[tuple[ReadingKind, ...]] = tuple(ReadingKind)
FLAGS: Final[tuple[StatusFlag, ...]] = tuple(StatusFlag)

#: "No reading ever": the smallest int64, so that ``max`` with it is a no-op.
NEVER: Final[int] = int(np.iinfo(np.int64).min)

#: Readings are refused outside [0, 2**40) s (year 36812): the engine packs a patient and a
#: time into one int64 sort key, and a negative time is a decoding fault, never a reading.
MAX_TIME: Final[int] = 1 << 40

#: Machine-readable reasons, by code. Append only: codes may be stored.
REASONS: Final[tuple[str, ...]] = (
    "below_band",
    "above_band",
    "gain_in_window",
    "gain_on_consecutive_days",
    "below_baseline",
    "above_baseline",
    "missed_reading",
    "hub_silent",
    "irregular_pulse_repeated",
    "news2_aggregate",
    "news2_single_parameter",
    "retake_flagged",
    "retake_out_of_range",
)
REASON_CODE: Final[dict[str, int]] = {reason: code for code, reason in enumerate(REASONS)}

_MEASURE_CODE: Final[dict[Measure, int]] = {measure: code for code, measure in enumerate(MEASURES)}
_KIND_CODE: Final[dict[ReadingKind, int]] = {kind: code for code, kind in enumerate(KINDS)}


def measure_code(measure: Measure) -> int:
    return _MEASURE_CODE[measure]


def kind_code(kind: ReadingKind) -> int:
    return _KIND_CODE[kind]


def flag_bit(flag: StatusFlag) -> int:
    return 1 << FLAGS.index(flag)


def _column(values: npt.ArrayLike, dtype: type[np.generic], name: str) -> npt.NDArray[np.generic]:
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, slots=True)
class ReadingColumns:
    """Readings as parallel columns; any row order (the engine sorts once).

    ``patient`` indexes the ``RuleTable`` (0 … n_patients−1); ``value`` NaN means "this
    measure was not measured" and is ignored by every value rule; ``flags`` is a bitmask of
    ``flag_bit(StatusFlag…)``, repeated on every row of the reading.
    """

    patient: npt.NDArray[np.int32]
    time: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    measure: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]
    flags: npt.NDArray[np.uint32]

    def __post_init__(self) -> None:
        columns = {
            "patient": _column(self.patient, np.int32, "patient"),
            "time": _column(self.time, np.int64, "time"),
            "kind": _column(self.kind, np.int8, "kind"),
            "measure": _column(self.measure, np.int8, "measure"),
            "value": _column(self.value, np.float64, "value"),
            "flags": _column(self.flags, np.uint32, "flags"),
        }
        lengths = {name: len(column) for name, column in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns differ in length: {lengths}")
        for name, column in columns.items():
            object.__setattr__(self, name, column)
        if len(self):
            if columns["patient"].min() < 0:
                raise ValueError("patient indices must be non-negative")
            time = columns["time"]
            if time.min() < 0 or time.max() >= MAX_TIME:
                raise ValueError(f"times must be Unix seconds in [0, {MAX_TIME})")
            for name, limit in (("kind", len(KINDS)), ("measure", len(MEASURES))):
                codes = columns[name]
                if codes.min() < 0 or codes.max() >= limit:
                    raise ValueError(f"{name} codes must be in [0, {limit})")

    def __len__(self) -> int:
        return len(self.patient)

    @classmethod
    def empty(cls) -> ReadingColumns:
        return cls.from_rows([])

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[int, int, ReadingKind, Measure, float, Iterable[StatusFlag]]]
    ) -> ReadingColumns:
        """From ``(patient, time, kind, measure, value, flags)`` tuples: for tests and small
        batches; the server builds the columns directly."""
        rows = list(rows)
        return cls(
            patient=np.array([row[0] for row in rows], dtype=np.int32),
            time=np.array([row[1] for row in rows], dtype=np.int64),
            kind=np.array([_KIND_CODE[row[2]] for row in rows], dtype=np.int8),
            measure=np.array([_MEASURE_CODE[row[3]] for row in rows], dtype=np.int8),
            value=np.array([row[4] for row in rows], dtype=np.float64),
            flags=np.array([sum(flag_bit(flag) for flag in set(row[5])) for row in rows], dtype=np.uint32),
        )


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """One finding as plain Python values, for the server and for comparing with the oracle."""

    patient: int
    rule_id: str
    severity: Severity
    time: int
    reading: int | None
    reason: str
    value: float


@dataclass(frozen=True, slots=True)
class Findings:
    """One finding per offending batch reading and rule, and per clock finding.

    Sorted by patient, rule (``rule_ids`` order), time, then batch row. ``reading`` is the row in the
    *batch* that triggered the finding, −1 for clock-tick findings (missed readings, hub
    silence). ``time`` is that reading's time, a missed reading's deadline or the tick.
    ``value`` is the quantity the rule judged: the reading, the weight gain (kg), the
    deviation from the baseline median, seconds overdue or silent, or flagged readings.
    """

    rule_ids: tuple[str, ...]
    patient: npt.NDArray[np.int32]
    rule: npt.NDArray[np.int16]
    severity: npt.NDArray[np.int8]
    time: npt.NDArray[np.int64]
    reading: npt.NDArray[np.int64]
    reason: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.patient)

    def strongest(self) -> Findings:
        """One finding per patient and rule: the highest severity, then the latest, then the
        last in the batch (what a summary of "what is wrong now" shows)."""
        order = np.lexsort((self.reading, self.time, self.severity, self.rule, self.patient))
        patient, rule = self.patient[order], self.rule[order]
        last = np.ones(len(order), dtype=np.bool_)
        last[:-1] = (patient[1:] != patient[:-1]) | (rule[1:] != rule[:-1])
        keep = order[last]
        return Findings(
            self.rule_ids,
            self.patient[keep],
            self.rule[keep],
            self.severity[keep],
            self.time[keep],
            self.reading[keep],
            self.reason[keep],
            self.value[keep],
        )

    def records(self) -> list[FindingRecord]:
        return [
            FindingRecord(
                patient=patient,
                rule_id=self.rule_ids[rule],
                severity=Severity(severity),
                time=time,
                reading=None if reading < 0 else reading,
                reason=REASONS[reason],
                value=value,
            )
            for patient, rule, severity, time, reading, reason, value in zip(
                self.patient.tolist(),
                self.rule.tolist(),
                self.severity.tolist(),
                self.time.tolist(),
                self.reading.tolist(),
                self.reason.tolist(),
                self.value.tolist(),
                strict=True,
            )
        ]
