"""One hub as a technician looks at it before a visit: the devices paired to it (the server's
list, what the hub takes readings from) beside the devices heard through it (what has
actually sent readings), with battery, firmware and the last reading of each; its software,
its truthful backlog and who it has served; each of its self-checks (what ``carewatch hub
doctor`` prints there) under a name a technician knows without knowing the software; and the
packets its devices sent that it could not decode, kept by the server as dead letters (how
many, the latest and why), since one may have been a patient's reading."""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Final

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.wire.messages import HubCheck
from common.wire.vocabulary import CheckStatus, HubCheckName
from server.device_sharing import sharing_hub
from server.hubs import HubOverview, hub_overview
from server.ingest.verdicts import RefusalCode
from server.store.database import Database
from server.store.models import DeadLetter, Device, HubAssignment

#: Where a device's radio signal, as the hub hears it, stops being good enough to count on:
#: BLE sessions start failing around -90 dBm, and at -85 a door or a body in between is enough.
STRONG_DBM = -70
WEAK_DBM = -85


def signal_words(rssi_dbm: int | None) -> str | None:
    """A technician's words for a signal strength: "weak (-88 dBm)"."""
    if rssi_dbm is None:
        return None
    word = "strong" if rssi_dbm >= STRONG_DBM else "fair" if rssi_dbm >= WEAK_DBM else "weak"
    return f"{word} ({rssi_dbm} dBm)"


#: Each self-check as a technician would name what it looks at.
CHECK_TITLES: Final = MappingProxyType(
    {
        HubCheckName.DBUS: "System message bus",
        HubCheckName.BLUETOOTHD: "Bluetooth service",
        HubCheckName.ADAPTER: "Bluetooth adapter",
        HubCheckName.SCANNING: "Listening for devices",
        HubCheckName.CLOCK: "Clock",
        HubCheckName.DISK: "Storage space",
        HubCheckName.SPEECH: "Spoken messages",
        HubCheckName.BROKER: "Connection to the server",
        HubCheckName.CERTIFICATES: "Certificates",
        HubCheckName.CREDENTIALS: "Hub's password",
    }
)
CHECK_WORDS: Final = MappingProxyType(
    {
        CheckStatus.OK: "working",
        CheckStatus.WARNING: "needs a look",
        CheckStatus.FAILED: "not working",
        CheckStatus.SKIPPED: "not checked",
    }
)


class CheckRow(BaseModel):
    name: HubCheckName
    title: str
    status: CheckStatus
    state: str  # the status in words
    found: str  # what the hub found
    fix: str | None


def check_rows(checks: list[HubCheck]) -> list[CheckRow]:
    """The hub's checks in the order it ran them, in words."""
    return [
        CheckRow(
            name=c.name,
            title=CHECK_TITLES[c.name],
            status=c.status,
            state=CHECK_WORDS[c.status],
            found=c.summary,
            fix=c.fix,
        )
        for c in checks
    ]


class DeviceRow(BaseModel):
    address: str
    model: str | None
    paired: bool  # in the server's list: the hub takes its readings
    heard: bool  # has sent readings through this hub
    user_index: int | None = None  # the patient's user slot on a shared device
    battery_percent: int | None = None
    firmware: str | None = None
    last_reading_at: datetime | None = None
    last_session_at: datetime | None = None
    last_error: str | None = None
    rssi_dbm: int | None = None  # the last advertisement the hub heard from it

    @property
    def signal(self) -> str | None:
        return signal_words(self.rssi_dbm)


class Assignment(BaseModel):
    patient_id: str
    start_at: datetime
    end_at: datetime | None


class Undecodable(BaseModel):
    """Packets from this hub's devices that it could not decode, as the server keeps them."""

    count: int  # every such dead letter from this hub
    waiting: int  # of those, not yet dismissed
    latest_id: int
    latest_at: datetime
    latest_reason: str  # device, characteristic, when, the decoder's error and the bytes


class HubDetail(BaseModel):
    hub: HubOverview
    devices: list[DeviceRow]
    assignments: list[Assignment]
    checks: list[CheckRow]
    shared: list[str] = []  # devices another hub in service also has, in words (device_sharing)
    undecodable: Undecodable | None = None

    @property
    def unpaired_but_heard(self) -> list[DeviceRow]:
        return [d for d in self.devices if d.heard and not d.paired]


def hub_detail(db: Database, hub_id: str) -> HubDetail | None:
    overview = next((h for h in hub_overview(db) if h.id == hub_id), None)
    if overview is None:
        return None
    rows: dict[str, DeviceRow] = {
        d.address: DeviceRow(
            address=d.address, model=d.model_id, paired=True, heard=False, user_index=d.user_index
        )
        for d in overview.paired_devices
    }
    with db.session() as s:
        for heard in s.scalars(select(Device).where(Device.hub_id == hub_id).order_by(Device.address)):
            row = rows.setdefault(
                heard.address, DeviceRow(address=heard.address, model=None, paired=False, heard=True)
            )
            row.heard = True
            row.model = row.model or heard.model
            row.firmware = heard.firmware
            row.last_reading_at = heard.last_seen_at
        undecodable = _undecodable(s, hub_id)
        assignments = [
            Assignment(patient_id=a.patient_id, start_at=a.start_at, end_at=a.end_at)
            for a in s.scalars(
                select(HubAssignment)
                .where(HubAssignment.hub_id == hub_id)
                .order_by(HubAssignment.start_at.desc())
            )
        ]
    for reported in overview.telemetry.devices if overview.telemetry else []:
        # A device the hub reports but the server never listed was paired at the hub only.
        row = rows.setdefault(
            reported.address,
            DeviceRow(address=reported.address, model=reported.model, paired=False, heard=False),
        )
        row.battery_percent = reported.battery_percent
        row.last_session_at = reported.last_session_at
        row.last_error = reported.last_error
        row.rssi_dbm = reported.rssi_dbm
        # What the device said in its last session is newer than what the server stored with
        # its last reading.
        row.firmware = reported.firmware or row.firmware
    ordered = sorted(rows.values(), key=lambda r: (not r.paired, r.address))
    shared = [x.words() for xs in sharing_hub(db, hub_id).values() for x in xs]
    checks = check_rows(overview.telemetry.checks) if overview.telemetry else []
    return HubDetail(
        hub=overview,
        devices=ordered,
        assignments=assignments,
        shared=shared,
        checks=checks,
        undecodable=undecodable,
    )


def _undecodable(s: Session, hub_id: str) -> Undecodable | None:
    mine = (DeadLetter.hub_id == hub_id, DeadLetter.reason_code == RefusalCode.UNDECODABLE.value)
    count, waiting = s.execute(
        select(func.count(), func.count().filter(DeadLetter.status == "new")).where(*mine)
    ).one()
    if not count:
        return None
    latest = s.scalars(select(DeadLetter).where(*mine).order_by(DeadLetter.id.desc()).limit(1)).one()
    return Undecodable(
        count=count,
        waiting=waiting,
        latest_id=latest.id,
        latest_at=latest.received_at,
        latest_reason=latest.reason,
    )
