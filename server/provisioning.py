"""Register patients and hubs, and assign a hub to a patient (technician actions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from common.wire.messages import DeviceIdentity
from common.wire.topics import RESERVED_PREFIX, valid_hub_id
from common.wire.vocabulary import Condition
from server.hub_config import patient_changed
from server.nhs_number import InvalidNhsNumber, normalised
from server.patient_ids import InvalidPatientId, check_patient_id
from server.store.database import Database
from server.store.models import AuditEvent, Device, Hub, HubAssignment, Patient, now
from server.teams import InvalidTeam, check_team, ensure_team


class ProvisioningError(ValueError):
    """A provisioning request that would leave the records inconsistent."""


@dataclass(frozen=True)
class PatientDetails:
    """What enrolment records beside the name: none of it is needed to judge readings."""

    date_of_birth: date | None = None
    phone: str | None = None
    gp_practice: str | None = None


def add_patient(
    db: Database,
    patient_id: str,
    display_name: str,
    *,
    actor: str,
    nhs_number: str | None = None,
    team: str = "default",
    conditions: Sequence[Condition] = (),
    details: PatientDetails | None = None,
) -> None:
    """Enrol a patient. The NHS number must pass its Modulus 11 check (``server.nhs_number``)
    and be nobody else's; ``details`` are the date of birth, phone and GP practice."""
    try:
        check_patient_id(patient_id)
        check_team(team)
        nhs = None if nhs_number is None else normalised(nhs_number)
    except (InvalidPatientId, InvalidNhsNumber, InvalidTeam) as e:
        raise ProvisioningError(str(e)) from None
    details = details or PatientDetails()
    with db.session() as s:
        if s.get(Patient, patient_id) is not None:
            raise ProvisioningError(f"patient {patient_id!r} already exists")
        if nhs is not None and s.scalars(select(Patient.id).where(Patient.nhs_number == nhs)).first():
            raise ProvisioningError("a patient with this NHS number is already enrolled")
        ensure_team(s, team)
        wanted = sorted(set(conditions), key=list(Condition).index)
        s.add(
            Patient(
                id=patient_id,
                display_name=display_name,
                nhs_number=nhs,
                team=team,
                conditions=[c.value for c in wanted],
                date_of_birth=details.date_of_birth,
                phone=details.phone,
                gp_practice=details.gp_practice,
            )
        )
        detail = "conditions: " + ", ".join(c.value for c in wanted) if wanted else ""
        s.add(AuditEvent(actor=actor, action="patient_added", target=patient_id, detail=detail))


def add_hub(db: Database, hub_id: str, *, actor: str, label: str = "", patient_id: str | None = None) -> None:
    """Register a hub and, if ``patient_id`` is given, assign it from now: both or neither
    (a hub for a patient who does not exist is refused before anything is recorded)."""
    with db.session() as s:
        register_hub(s, hub_id, actor=actor, label=label, patient_id=patient_id)


def register_hub(
    s: Session,
    hub_id: str,
    *,
    actor: str,
    label: str = "",
    patient_id: str | None = None,
    at: datetime | None = None,
) -> Hub:
    """``add_hub`` inside the caller's transaction, so the broker identity can be issued
    before it commits (``server.hub_lifecycle``): the records and the broker, or neither."""
    if not valid_hub_id(hub_id):
        raise ProvisioningError(
            f"hub id {hub_id!r} must be 3-63 lower-case letters, digits or '-', "
            f"and not start with {RESERVED_PREFIX!r} (the server's own broker identities)"
        )
    if s.get(Hub, hub_id) is not None:
        raise ProvisioningError(f"hub {hub_id!r} already exists")
    if patient_id is not None and s.get(Patient, patient_id) is None:
        raise ProvisioningError(f"no patient {patient_id!r}; the hub was not registered")
    hub = Hub(id=hub_id, label=label)
    s.add(hub)
    s.add(AuditEvent(actor=actor, action="hub_added", target=hub_id))
    if patient_id is not None:
        s.flush()
        s.add(HubAssignment(hub_id=hub_id, patient_id=patient_id, start_at=at or now()))
        s.add(AuditEvent(actor=actor, action="hub_assigned", target=hub_id, detail=f"patient={patient_id}"))
    return hub


def hub_exists(db: Database, hub_id: str) -> bool:
    with db.session() as s:
        return s.get(Hub, hub_id) is not None


def assign_hub(
    db: Database, hub_id: str, patient_id: str, *, actor: str, start: datetime | None = None
) -> None:
    """Give the hub to a patient from ``start`` on, closing any current assignment.

    Giving it to the patient it already serves, from an earlier ``start``, moves the start of
    that assignment back (as far as the end of the one before): readings taken before the hub
    was recorded as theirs (a cuff's memory, a hub registered late) can then be replayed to
    them from the dead letters."""
    start = start or now()
    with db.session() as s:
        if s.get(Hub, hub_id) is None:
            raise ProvisioningError(f"no hub {hub_id!r}")
        if s.get(Patient, patient_id) is None:
            raise ProvisioningError(f"no patient {patient_id!r}")
        current = list(
            s.scalars(
                select(HubAssignment).where(HubAssignment.hub_id == hub_id, HubAssignment.end_at.is_(None))
            )
        )
        if len(current) == 1 and current[0].patient_id == patient_id and current[0].start_at > start:
            _backdate(s, current[0], start, actor=actor)
            return
        for assignment in current:
            if assignment.start_at >= start:
                raise ProvisioningError(
                    f"hub {hub_id!r} has an assignment starting at or after {start.isoformat()}"
                )
            assignment.end_at = start
        s.add(HubAssignment(hub_id=hub_id, patient_id=patient_id, start_at=start))
        s.add(AuditEvent(actor=actor, action="hub_assigned", target=hub_id, detail=f"patient={patient_id}"))
        s.flush()
        # The hub now speaks as this patient wants (a new configuration version, delivered by
        # the caller that has the broker: ``hub_config.deliver_each``).
        patient_changed(s, hub_id, actor=actor, why=f"now serves patient {patient_id}")


def _backdate(s: Session, assignment: HubAssignment, start: datetime, *, actor: str) -> None:
    earlier = s.scalars(
        select(HubAssignment).where(
            HubAssignment.hub_id == assignment.hub_id,
            HubAssignment.id != assignment.id,
            HubAssignment.end_at > start,
        )
    ).first()
    if earlier is not None:
        until = earlier.end_at.isoformat() if earlier.end_at else "now"
        raise ProvisioningError(
            f"hub {assignment.hub_id!r} served patient {earlier.patient_id!r} until {until}; "
            f"the assignment to {assignment.patient_id!r} cannot start before that"
        )
    was = assignment.start_at
    assignment.start_at = start
    s.add(
        AuditEvent(
            actor=actor,
            action="hub_assignment_backdated",
            target=assignment.hub_id,
            detail=f"patient={assignment.patient_id} from {was.isoformat()} to {start.isoformat()}",
        )
    )


def patient_at(s: Session, hub_id: str, when: datetime) -> str | None:
    """Whose hub it was at ``when``: the server, never the hub, attributes a reading, by the
    assignment in force when it was taken (a reading replayed from a device's memory after
    the hub changed hands goes to the patient who had it then)."""
    return s.scalars(
        select(HubAssignment.patient_id)
        .where(
            HubAssignment.hub_id == hub_id,
            HubAssignment.start_at <= when,
            or_(HubAssignment.end_at.is_(None), and_(HubAssignment.end_at > when)),
        )
        .order_by(HubAssignment.start_at.desc())
        .limit(1)
    ).first()


def record_device(s: Session, hub_id: str, device: DeviceIdentity, at: datetime) -> None:
    """Remember a device heard through a hub, with the identity it last reported."""
    row = s.scalars(select(Device).where(Device.hub_id == hub_id, Device.address == device.address)).first()
    if row is None:
        row = Device(hub_id=hub_id, address=device.address, model=device.model, first_seen_at=at)
        s.add(row)
    row.model = device.model
    row.manufacturer = device.manufacturer or row.manufacturer
    row.serial = device.serial or row.serial
    row.firmware = device.firmware or row.firmware
    row.last_seen_at = at
