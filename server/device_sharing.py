"""One device on two hubs: whichever hub hears a cuff first takes its reading, for that hub's
patient, so a cuff paired to a second patient's hub puts one patient's readings in the other's
record. This finds, for a hub's devices, the other hubs in service (not revoked) that have the
same device: the same Bluetooth address, or the same serial number of the same model (a
device whose address changed, or one the hub knows under a random address).

A hub's devices, here, are all it is known to have: the server's device list, the devices
readings came from through it (with the serial they reported) and the devices it reported in
its telemetry (paired at the hub). Nothing is refused: two hubs of one household may share
a scale on purpose. The technician is warned wherever a device meets a hub (pairing from the
command line or the API, giving a hub to a patient, the hub's page) and the warning is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.database import Database
from server.store.models import AuditEvent, Device, Hub, HubAssignment


@dataclass(frozen=True, slots=True)
class Known:
    """A device as one hub knows it."""

    address: str
    model: str | None = None
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class SharedDevice:
    """``address`` (on the hub asked about) is also on ``other_hub``."""

    address: str
    other_hub: str
    other_patient: str | None  # whom the other hub serves now
    other_address: str  # the same unless matched by serial
    serial: str | None = None  # set when matched by serial number

    @property
    def where(self) -> str:
        return f"{self.other_hub} (patient {self.other_patient})" if self.other_patient else self.other_hub

    def words(self) -> str:
        how = (
            f" as {self.other_address} (same serial number {self.serial})"
            if self.serial and self.other_address != self.address
            else ""
        )
        return f"{self.address} is also on hub {self.where}{how}"


def _known(s: Session, hub: Hub) -> dict[str, Known]:
    out: dict[str, Known] = {}

    def note(address: str, model: str | None, serial: str | None = None) -> None:
        key = address.upper()
        was = out.get(key, Known(key))
        out[key] = Known(key, was.model or model, was.serial or serial)

    for d in hub.paired_devices or []:
        note(str(d.get("address", "")), str(d["model_id"]) if d.get("model_id") else None)
    for heard in s.scalars(select(Device).where(Device.hub_id == hub.id)):
        note(heard.address, heard.model, heard.serial)
    telemetry = hub.telemetry or {}
    reported = telemetry.get("devices") if isinstance(telemetry, dict) else None
    for d in reported if isinstance(reported, list) else []:
        address, model = (d.get("address"), d.get("model")) if isinstance(d, dict) else (None, None)
        if isinstance(address, str):
            note(address, model if isinstance(model, str) else None)
    out.pop("", None)
    return out


def _same(mine: Known, theirs: Known) -> bool:
    if mine.address == theirs.address:
        return True
    return bool(mine.serial) and mine.serial == theirs.serial and (mine.model or "") == (theirs.model or "")


def _find(s: Session, hub_id: str, devices: Iterable[Known]) -> list[SharedDevice]:
    devices = list(devices)
    if not devices:
        return []
    serving = dict(
        s.execute(
            select(HubAssignment.hub_id, HubAssignment.patient_id).where(HubAssignment.end_at.is_(None))
        ).all()
    )
    found = []
    for other in s.scalars(select(Hub).where(Hub.id != hub_id, Hub.revoked_at.is_(None)).order_by(Hub.id)):
        theirs = _known(s, other)
        for mine in devices:
            match = next((t for t in theirs.values() if _same(mine, t)), None)
            if match is not None:
                by_serial = match.address != mine.address
                found.append(
                    SharedDevice(
                        mine.address,
                        other.id,
                        serving.get(other.id),
                        match.address,
                        mine.serial if by_serial else None,
                    )
                )
    return found


def sharing_device(db: Database, hub_id: str, address: str, serial: str | None = None) -> list[SharedDevice]:
    """Other hubs in service that have this device (before or after it is paired to ``hub_id``)."""
    key = address.strip().upper()
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        known = _known(s, hub) if hub is not None else {}
        was = known.get(key, Known(key))
        return _find(s, hub_id, [Known(key, was.model, serial or was.serial)])


def sharing_hub(db: Database, hub_id: str) -> dict[str, list[SharedDevice]]:
    """For each device of the hub that another hub in service also has: where else it is."""
    with db.session() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            return {}
        out: dict[str, list[SharedDevice]] = {}
        for shared in _find(s, hub_id, _known(s, hub).values()):
            out.setdefault(shared.address, []).append(shared)
        return out


def warning(shared: Iterable[SharedDevice]) -> str | None:
    """The technician's warning, in plain words; None when nothing is shared."""
    shared = list(shared)
    if not shared:
        return None
    return (
        "; ".join(x.words() for x in shared)
        + ". Whichever hub hears a device takes its readings, for its own "
        "patient: unpair it there unless both really share it."
    )


def warn(db: Database, hub_id: str, shared: Iterable[SharedDevice], *, actor: str, why: str) -> str | None:
    """The warning, recorded in the hub's audit trail (who was warned, about what, and when)."""
    text = warning(shared)
    if text is not None:
        with db.session() as s:
            s.add(
                AuditEvent(
                    actor=actor, action="device_shared_warning", target=hub_id, detail=f"{why}: {text}"
                )
            )
    return text
