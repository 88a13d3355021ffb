"""Reading kinds, measures, canonical units and clinical codes: the one source of truth.

A *kind* is what a patient did (took a blood pressure); a *measure* is one number that came
out of it (systolic). Every measure has exactly one canonical unit; hubs convert before
sending, so the server, the rules and the pages never convert again. Units are UCUM codes,
the form HL7 FHIR uses, with a human label for pages and e-mails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class ReadingKind(StrEnum):
    BLOOD_PRESSURE = "blood_pressure"
    SPO2 = "spo2"
    PULSE = "pulse"
    WEIGHT = "weight"
    TEMPERATURE = "temperature"
    RESPIRATION_RATE = "respiration_rate"

    @classmethod
    def named(cls, name: str) -> ReadingKind | None:
        """The kind called ``name``, or None: rule ids and stored JSON carry kinds as text,
        and an unknown one is skipped there rather than raised."""
        try:
            return cls(name)
        except ValueError:
            return None


class Measure(StrEnum):
    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    MEAN_ARTERIAL = "mean_arterial"
    PULSE = "pulse"
    SPO2 = "spo2"
    PERFUSION_INDEX = "perfusion_index"
    WEIGHT = "weight"
    BMI = "bmi"
    HEIGHT = "height"
    TEMPERATURE = "temperature"
    RESPIRATION_RATE = "respiration_rate"


@dataclass(frozen=True, slots=True)
class Unit:
    ucum: str
    label: str


MMHG = Unit("mm[Hg]", "mmHg")
PERCENT = Unit("%", "%")
PER_MINUTE = Unit("/min", "/min")
KILOGRAM = Unit("kg", "kg")
METRE = Unit("m", "m")
CELSIUS = Unit("Cel", "°C")
KG_PER_M2 = Unit("kg/m2", "kg/m²")


@dataclass(frozen=True, slots=True)
class MeasureSpec:
    """A measure's canonical unit, codes, and two ranges.

    *Plausible*: what a human body produces. Deliberately wide; a value outside it is
    almost certainly a device or decoding fault, so it is flagged ``implausible`` and kept,
    never dropped: a clinician may still need to see it.

    *Possible*: what any measurement of a living person could be at all (a percentage
    within 0-100, no negative weight, the extremes of survival). A value outside it cannot
    be a reading, only a bug or an attack (SpO2 of -5 or 1e300), so the server refuses it
    (kept as a dead letter with the reason) instead of storing it or judging it.
    """

    unit: Unit
    loinc: str | None
    snomed: str | None
    plausible_min: float
    plausible_max: float
    possible_min: float
    possible_max: float
    label: str  # how people read it: alert summaries, pages, e-mails


# Possible bounds: SpO2 and perfusion index are percentages; blood pressure and pulse cover
# every cuff's measuring range (0-299 mmHg, 30-250 /min on common devices) with margin; weight
# up to the heaviest recorded person (about 635 kg); temperatures a body has survived
# (11.8-46.5 °C recorded) with margin.
MEASURES: dict[Measure, MeasureSpec] = {
    Measure.SYSTOLIC: MeasureSpec(MMHG, "8480-6", "72313002", 40, 300, 0, 400, "Systolic"),
    Measure.DIASTOLIC: MeasureSpec(MMHG, "8462-4", "1091811000000102", 20, 200, 0, 300, "Diastolic"),
    Measure.MEAN_ARTERIAL: MeasureSpec(MMHG, "8478-0", "6797001", 30, 250, 0, 350, "Mean arterial pressure"),
    Measure.PULSE: MeasureSpec(PER_MINUTE, "8867-4", "78564009", 20, 300, 0, 400, "Pulse"),
    Measure.SPO2: MeasureSpec(PERCENT, "59408-5", "431314004", 50, 100, 0, 100, "SpO2"),
    Measure.PERFUSION_INDEX: MeasureSpec(PERCENT, None, None, 0, 100, 0, 100, "Perfusion index"),
    Measure.WEIGHT: MeasureSpec(KILOGRAM, "29463-7", "27113001", 2, 400, 0.2, 700, "Weight"),
    Measure.BMI: MeasureSpec(KG_PER_M2, "39156-5", "60621009", 5, 150, 1, 300, "BMI"),
    Measure.HEIGHT: MeasureSpec(METRE, "8302-2", "50373000", 0.4, 2.6, 0.2, 3.0, "Height"),
    Measure.TEMPERATURE: MeasureSpec(CELSIUS, "8310-5", "276885007", 25, 45, 5, 50, "Temperature"),
    Measure.RESPIRATION_RATE: MeasureSpec(
        PER_MINUTE, "9279-1", "86290005", 2, 80, 0, 200, "Respiration rate"
    ),
}

#: How people read a kind of reading, in a sentence ("No blood pressure reading by 10:00").
KIND_LABELS: dict[ReadingKind, str] = {
    ReadingKind.BLOOD_PRESSURE: "blood pressure",
    ReadingKind.SPO2: "SpO2",
    ReadingKind.PULSE: "pulse",
    ReadingKind.WEIGHT: "weight",
    ReadingKind.TEMPERATURE: "temperature",
    ReadingKind.RESPIRATION_RATE: "respiration rate",
}

# Which measures a reading of each kind may carry, and which it must carry to be useful.
KIND_MEASURES: dict[ReadingKind, frozenset[Measure]] = {
    ReadingKind.BLOOD_PRESSURE: frozenset(
        {Measure.SYSTOLIC, Measure.DIASTOLIC, Measure.MEAN_ARTERIAL, Measure.PULSE}
    ),
    ReadingKind.SPO2: frozenset({Measure.SPO2, Measure.PULSE, Measure.PERFUSION_INDEX}),
    ReadingKind.PULSE: frozenset({Measure.PULSE}),
    ReadingKind.WEIGHT: frozenset({Measure.WEIGHT, Measure.BMI, Measure.HEIGHT}),
    ReadingKind.TEMPERATURE: frozenset({Measure.TEMPERATURE}),
    ReadingKind.RESPIRATION_RATE: frozenset({Measure.RESPIRATION_RATE}),
}

KIND_REQUIRED: dict[ReadingKind, frozenset[Measure]] = {
    ReadingKind.BLOOD_PRESSURE: frozenset({Measure.SYSTOLIC, Measure.DIASTOLIC}),
    ReadingKind.SPO2: frozenset({Measure.SPO2}),
    ReadingKind.PULSE: frozenset({Measure.PULSE}),
    ReadingKind.WEIGHT: frozenset({Measure.WEIGHT}),
    ReadingKind.TEMPERATURE: frozenset({Measure.TEMPERATURE}),
    ReadingKind.RESPIRATION_RATE: frozenset({Measure.RESPIRATION_RATE}),
}

# Blood-pressure panel and NEWS2 codes that belong to no single measure.
LOINC_BP_PANEL = "85354-9"
SNOMED_BP_PANEL = "75367002"
SNOMED_NEWS2_TOTAL = "1104051000000101"


class StatusFlag(StrEnum):
    """Conditions a device or the hub reports about one reading.

    Device flags come from the measurement-status fields of the Bluetooth profiles; hub
    flags say what the hub concluded (an implausible value, an untrusted clock).
    """

    BODY_MOVEMENT = "body_movement"
    CUFF_LOOSE = "cuff_loose"
    IRREGULAR_PULSE = "irregular_pulse"
    PULSE_ABOVE_RANGE = "pulse_above_range"
    PULSE_BELOW_RANGE = "pulse_below_range"
    IMPROPER_POSITION = "improper_position"
    LOW_PERFUSION = "low_perfusion"
    SIGNAL_QUESTIONABLE = "signal_questionable"
    FROM_STORAGE = "from_storage"
    IMPLAUSIBLE = "implausible"
    DEVICE_CLOCK_UNSET = "device_clock_unset"
    DEVICE_CLOCK_SKEWED = "device_clock_skewed"
    SIMULATED = "simulated"


#: Flags that say the value itself may be wrong: the device saw movement, a loose cuff, a
#: bad position or poor perfusion, or the hub found the value implausible. Such a reading is
#: kept and shown but *unconfirmed*: it raises no alert on its own (``alerts.rules.quality``);
#: an irregular pulse or a pulse out of the cuff's range is a finding, not an artefact.
QUALITY_FLAGS: frozenset[StatusFlag] = frozenset(
    {
        StatusFlag.BODY_MOVEMENT,
        StatusFlag.CUFF_LOOSE,
        StatusFlag.IMPROPER_POSITION,
        StatusFlag.LOW_PERFUSION,
        StatusFlag.SIGNAL_QUESTIONABLE,
        StatusFlag.IMPLAUSIBLE,
    }
)


class CheckStatus(StrEnum):
    """The outcome of one of the hub's self-checks (``carewatch hub doctor``, and its telemetry).

    ``skipped``: not checked because a check it depends on failed (no D-Bus, so no question to
    ask bluetoothd; the failed one already says what to do), or because what it checks is
    switched off (spoken feedback off in the hub's configuration): nothing to fix either way.
    """

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


class HubCheckName(StrEnum):
    """The hub's self-checks, in the order they are run and shown."""

    DBUS = "dbus"
    BLUETOOTHD = "bluetoothd"
    ADAPTER = "adapter"
    #: The hub is listening for its devices: a radio that is up but not scanning hears nothing.
    SCANNING = "scanning"
    CLOCK = "clock"
    DISK = "disk"
    #: Spoken feedback can be produced: espeak-ng renders a phrase and there is a speaker.
    SPEECH = "speech"
    BROKER = "broker"
    CERTIFICATES = "certificates"
    CREDENTIALS = "credentials"


class Condition(StrEnum):
    """Long-term conditions a patient is monitored for; each selects a condition profile of
    alert rules (``alerts/rules/profiles.yaml``)."""

    HEART_FAILURE = "heart_failure"
    COPD = "copd"
    #: A clinician's recorded decision (after blood gases) that the patient's saturation
    #: target is 88–92 %: RCP NEWS2 reserves SpO2 scale 2 for it, not for every COPD patient.
    HYPERCAPNIC_RESPIRATORY_FAILURE = "hypercapnic_respiratory_failure"
    HYPERTENSION = "hypertension"
    ATRIAL_FIBRILLATION = "atrial_fibrillation"
    FRAILTY = "frailty"


#: SNOMED CT concepts (clinical findings / disorders) for the conditions, for FHIR export.
CONDITION_SNOMED: Mapping[Condition, str] = MappingProxyType(
    {
        Condition.HEART_FAILURE: "84114007",  # Heart failure (disorder)
        Condition.COPD: "13645005",  # Chronic obstructive lung disease (disorder)
        # Chronic respiratory failure (disorder): the nearest concept we could verify; the
        # hypercapnic (type 2) qualifier is carried by the condition's own name.
        Condition.HYPERCAPNIC_RESPIRATORY_FAILURE: "39871006",
        Condition.HYPERTENSION: "38341003",  # Hypertensive disorder, systemic arterial (disorder)
        Condition.ATRIAL_FIBRILLATION: "49436004",  # Atrial fibrillation (disorder)
        Condition.FRAILTY: "248279007",  # Frailty (finding)
    }
)

CONDITION_LABELS: Mapping[Condition, str] = MappingProxyType(
    {
        Condition.HEART_FAILURE: "heart failure",
        Condition.COPD: "COPD",
        Condition.HYPERCAPNIC_RESPIRATORY_FAILURE: "hypercapnic respiratory failure (SpO2 target 88–92 %)",
        Condition.HYPERTENSION: "hypertension",
        Condition.ATRIAL_FIBRILLATION: "atrial fibrillation",
        Condition.FRAILTY: "frailty",
    }
)


class AlertOutcome(StrEnum):
    """What was done about an alert, recorded when it is resolved (with an optional note;
    ``other`` needs one)."""

    PHONED_PATIENT = "phoned_patient"
    VISIT_ARRANGED = "visit_arranged"
    GP_INFORMED = "gp_informed"
    EMERGENCY_SERVICES = "emergency_services"
    ARTEFACT = "artefact"
    OTHER = "other"


ALERT_OUTCOME_LABELS: Mapping[AlertOutcome, str] = MappingProxyType(
    {
        AlertOutcome.PHONED_PATIENT: "Phoned patient",
        AlertOutcome.VISIT_ARRANGED: "Visit arranged",
        AlertOutcome.GP_INFORMED: "GP informed",
        AlertOutcome.EMERGENCY_SERVICES: "Emergency services called",
        AlertOutcome.ARTEFACT: "Artefact or no action needed",
        AlertOutcome.OTHER: "Other",
    }
)
